"""The task worker drops finished task results past their keeping time, and nothing else."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from firstline.core.clock import now
from firstline.ops.management.commands.db_worker import BeatingWorker
from firstline.ops.taskresults import Pruner, prune_finished

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def _result(name: str, status: str, finished_days_ago: float | None) -> DBTaskResult:
    finished = None if finished_days_ago is None else now() - timedelta(days=finished_days_ago)
    return DBTaskResult.objects.create(
        status=status, finished_at=finished, args_kwargs={"args": [], "kwargs": {}},
        task_path=f"tests.{name}", queue_name="default", backend_name="default",
        run_after=now() + timedelta(days=365),  # never due: the worker must not run them
        exception_class_path="", traceback="",
    )


def _rows() -> dict[str, DBTaskResult]:
    return {
        "old success": _result("old_success", "SUCCESSFUL", 15),
        "recent success": _result("recent_success", "SUCCESSFUL", 13),
        "failed 20 days ago": _result("failed_20", "FAILED", 20),
        "failed 31 days ago": _result("failed_31", "FAILED", 31),
        "queued long ago": _result("queued", "READY", None),
        "running": _result("running", "RUNNING", None),
    }


def _left() -> set[str]:
    return set(DBTaskResult.objects.values_list("task_path", flat=True))


@pytest.mark.django_db
def test_finished_results_go_after_their_days_failed_ones_later_unfinished_never():
    _rows()
    assert prune_finished() == 2
    assert _left() == {"tests.recent_success", "tests.failed_20", "tests.queued",
                       "tests.running"}
    assert prune_finished() == 0


@pytest.mark.django_db
@override_settings(FIRSTLINE_TASK_RESULTS_KEEP_DAYS=1, FIRSTLINE_TASK_RESULTS_KEEP_FAILED_DAYS=1)
def test_the_keeping_days_are_settings():
    _rows()
    assert prune_finished() == 4
    assert _left() == {"tests.queued", "tests.running"}


@pytest.mark.django_db
def test_a_pruner_prunes_at_most_once_an_hour():
    pruner = Pruner()
    _rows()
    assert pruner.maybe_prune() == 2
    _result("another_old", "SUCCESSFUL", 20)
    assert pruner.maybe_prune() == 0  # within the hour
    pruner.last -= pruner.every
    assert pruner.maybe_prune() == 1


@override_settings(TASKS=TASKS)
def test_the_task_worker_prunes_as_it_runs(transactional_db, monkeypatch):
    monkeypatch.setattr(BeatingWorker, "pruner", Pruner())
    _rows()
    call_command("db_worker", batch=True, interval=0, startup_delay=False, verbosity=0)
    assert _left() == {"tests.recent_success", "tests.failed_20", "tests.queued",
                       "tests.running"}
