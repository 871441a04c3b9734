"""`firstline db_worker`: django-tasks-db's worker, beating the `task worker` heartbeat.

The ops app is listed before django_tasks_db in INSTALLED_APPS, so this command takes the
name `db_worker` (the command line of `firstline run` and of the systemd unit stay as they
were). It is django-tasks-db's worker with two additions: every pass of its loop (it asks
`self.running` once per pass) beats the heartbeat, at most every 5 seconds; and a task whose
row is deleted while it runs (a purge of old results) costs that task's record, not the
worker: django-tasks-db's worker would die on the failed save of its outcome. It also prunes
finished results kept past their time (`firstline.ops.taskresults`), at most once an hour.
"""

import logging
from typing import Any

from django.core.exceptions import ObjectNotUpdated
from django_tasks_db.management.commands import db_worker

from firstline.ops import heartbeat
from firstline.ops.taskresults import Pruner

BEAT_EVERY_SECONDS = 5.0
logger = logging.getLogger(__name__)


class BeatingWorker(db_worker.Worker):
    pruner = Pruner()

    @property  # type: ignore[override]
    def running(self) -> bool:
        if self._running:
            heartbeat.beat(heartbeat.TASK_WORKER, every=BEAT_EVERY_SECONDS)
            self.pruner.maybe_prune()
        return self._running

    @running.setter
    def running(self, value: bool) -> None:
        self._running = value

    def run_task(self, db_task_result: Any) -> None:
        try:
            super().run_task(db_task_result)
        except ObjectNotUpdated:
            logger.warning("task %s was deleted while it ran; its outcome is not recorded",
                           db_task_result.pk)


class Command(db_worker.Command):
    def handle(self, **options: Any) -> None:
        original = db_worker.Worker
        db_worker.Worker = BeatingWorker  # type: ignore[misc]
        try:
            super().handle(**options)
        finally:
            db_worker.Worker = original  # type: ignore[misc]
