"""Finished task results are kept for a while, then dropped, so the task table stays small.

Every background task (an invoice's files, a Telegram file, a calendar recompute) leaves a row
in django-tasks-db's result table; nothing else deletes them, and pages that ask whether a task
is still queued or running read that table. The task worker prunes what finished long ago, at
most once an hour per worker: successful results after
`FIRSTLINE_TASK_RESULTS_KEEP_DAYS` days, failed ones after
`FIRSTLINE_TASK_RESULTS_KEEP_FAILED_DAYS` (longer: someone may still be looking into them).
Queued and running tasks are never touched.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from firstline.core.clock import now

PRUNE_EVERY_SECONDS = 3600.0
logger = logging.getLogger(__name__)


def prune_finished() -> int:
    """Delete the finished results older than their keeping period; how many went."""
    moment = now()
    kept_until = moment - timedelta(days=settings.FIRSTLINE_TASK_RESULTS_KEEP_DAYS)
    failed_until = moment - timedelta(days=settings.FIRSTLINE_TASK_RESULTS_KEEP_FAILED_DAYS)
    deleted, _by_model = DBTaskResult.objects.finished().filter(
        Q(status=TaskResultStatus.SUCCESSFUL, finished_at__lte=kept_until)
        | Q(status=TaskResultStatus.FAILED, finished_at__lte=failed_until)
    ).delete()
    if deleted:
        logger.info("pruned %s finished task results", deleted)
    return deleted


class Pruner:
    """Calls `prune_finished` when an hour has passed since this process last did."""

    def __init__(self, every: float = PRUNE_EVERY_SECONDS) -> None:
        self.every = every
        self.last = 0.0

    def maybe_prune(self) -> int:
        if time.monotonic() - self.last < self.every and self.last:
            return 0
        self.last = time.monotonic()
        try:
            return prune_finished()
        except Exception:  # a failed prune must not stop the worker; the next hour retries
            logger.exception("pruning finished task results failed")
            return 0
