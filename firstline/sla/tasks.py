"""Background tasks of the SLA (django.tasks): a business calendar's new schedule reaching
the open tickets on it.

A calendar edit commits at once; the deadlines of its open tickets (thousands over a large
backlog) are recomputed afterwards by the task worker (`db_worker`), so the supervisor's
request stays short. Recomputing is idempotent: a ticket whose deadlines already follow the
schedule is left alone and not audited again, so a task enqueued twice (two edits, or a
retry) changes and audits each ticket once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.tasks import task
from django.utils.translation import gettext_lazy

from firstline.core.models import User
from firstline.sla.models import BusinessCalendar

DATABASE_BACKEND = "django_tasks_db.DatabaseBackend"
# What the page quotes of a failure: the exception's own words, not its traceback.
REASON_MAX = 300

# The deadline engine's errors (firstline.sla.calendar) a recompute can end with, as the
# calendar's page says them.
_KNOWN_REASONS = {
    "this schedule has no working time left": gettext_lazy(
        "the calendar has no working time left: give its week working hours, or make it "
        "24x7"),
}


@task
def recompute_calendar_deadlines(calendar_id: int | None, actor_id: int | None) -> int:
    """The open tickets on calendar `calendar_id` (None: on every calendar that follows the
    production calendar) follow its schedule now; how many tickets' deadlines changed, each
    audited as changed by `actor_id` ("sla.calendar_changed")."""
    from firstline.sla.calendar_services import recompute_open_tickets_on

    calendar = None
    if calendar_id is not None:
        calendar = BusinessCalendar.objects.filter(pk=calendar_id).first()
        if calendar is None:  # deleted since: no policy runs on it any more
            return 0
    actor = User.objects.filter(pk=actor_id).first() if actor_id is not None else None
    return recompute_open_tickets_on(calendar, actor=actor)


def enqueue_recompute(calendar: BusinessCalendar | None, actor: User | None) -> None:
    """Recompute the open tickets on `calendar` in the background, once the current
    transaction (the calendar's change) commits; at once outside a transaction."""
    calendar_id = calendar.pk if calendar is not None else None
    actor_id = actor.pk if actor is not None else None
    transaction.on_commit(lambda: recompute_calendar_deadlines.enqueue(
        calendar_id=calendar_id, actor_id=actor_id))


@dataclass(frozen=True)
class RecomputeState:
    """The latest recomputation of a calendar's open tickets, as its page tells it.

    `state` is "pending" (queued or running), "failed" (`reason`: the error, `task_id`: the
    failed task, to queue it again) or "succeeded" (`changed`: how many tickets' deadlines
    moved); `finished_at` is when a finished one ended."""

    state: str
    finished_at: datetime | None = None
    changed: int = 0
    reason: str = ""
    task_id: str = ""

    @property
    def pending(self) -> bool:
        return self.state == "pending"

    @property
    def failed(self) -> bool:
        return self.state == "failed"

    @property
    def succeeded(self) -> bool:
        return self.state == "succeeded"

    @property
    def reason_text(self) -> str:
        """The reason in the reader's language when it is one the deadline engine gives
        (its errors are in English, for the log and the audit trail); else as it is."""
        known = _KNOWN_REASONS.get(self.reason)
        return str(known) if known is not None else self.reason


def _results_for(calendar: BusinessCalendar | None) -> Any:
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(
        task_path=recompute_calendar_deadlines.module_path,
        args_kwargs__kwargs__calendar_id=calendar.pk if calendar is not None else None,
    )


def failure_reason(exception_class_path: str, traceback: str) -> str:
    """The failed task's exception in one line ("no working time left"), from the traceback
    the worker stored: the final "Class: message" lines, chained causes left out."""
    module, _dot, name = exception_class_path.rpartition(".")
    shown = name if module in ("", "builtins", "__main__") else exception_class_path
    lines = traceback.rstrip().splitlines()
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if line == shown or line.startswith(shown + ":"):
            text = " ".join([line[len(shown) + 1:], *lines[index + 1:]])
            text = " ".join(text.split())
            break
    else:
        text = ""
    text = text or name or exception_class_path
    return text if len(text) <= REASON_MAX else text[:REASON_MAX - 1] + "…"


def recompute_state(calendar: BusinessCalendar | None) -> RecomputeState | None:
    """How the recomputation of the open tickets on `calendar` (None: the production
    calendar) stands: pending while one is queued or running, else the latest one finished;
    None when none ever ran. Known only with the database task queue (the worker's result
    rows); other backends run a task at once or elsewhere and keep no row to read."""
    if settings.TASKS["default"]["BACKEND"] != DATABASE_BACKEND:
        return None
    from django.tasks import TaskResultStatus

    results = _results_for(calendar)
    if results.filter(status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]).exists():
        return RecomputeState("pending")
    latest = (results.filter(status__in=[TaskResultStatus.FAILED, TaskResultStatus.SUCCESSFUL])
              .order_by("-finished_at", "-enqueued_at").first())
    if latest is None:
        return None
    if latest.status == TaskResultStatus.FAILED:
        return RecomputeState(
            "failed", finished_at=latest.finished_at, task_id=str(latest.pk),
            reason=failure_reason(latest.exception_class_path, latest.traceback),
        )
    changed = latest.return_value if isinstance(latest.return_value, int) else 0
    return RecomputeState("succeeded", finished_at=latest.finished_at, changed=changed)

