"""The SLA clock: fires the escalation steps that are due.

Run continuously by `firstline clock` (started by `firstline run`); any number of clocks may
run against the same PostgreSQL database, each step still fires once.
"""

import logging
import os
import socket
from datetime import datetime, timedelta

from firstline.core.clock import now
from firstline.sla import escalation
from firstline.sla.models import PendingEscalation

log = logging.getLogger(__name__)
RETRY_FAILED_STEP_AFTER = timedelta(minutes=1)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def sweep(moment: datetime | None = None, limit: int = 200, worker: str | None = None) -> int:
    """Fire every step due at `moment`; returns how many this worker fired.

    Batches of `limit` steps, each claimed and fired in one transaction. A batch that fails
    is rolled back and its steps fired one by one, so one broken row costs only itself a
    retry a minute later, never the other steps their notices."""
    moment = moment or now()
    worker = worker or worker_name()
    fired = 0
    while True:
        try:
            count = escalation.fire_due(moment, worker, limit)
        except Exception:
            log.exception("a batch of escalations failed; firing its steps one by one")
            count = _one_by_one(moment, worker, limit)
            fired += count
            if count == 0:
                return fired
            continue
        fired += count
        if count < limit:
            return fired


def _one_by_one(moment: datetime, worker: str, limit: int) -> int:
    fired = 0
    for pending_id in escalation.due_ids(moment, limit):
        try:
            fired += escalation.fire(pending_id, moment, worker)
        except Exception:
            # One broken row must not stop the clock: try it again a minute later.
            log.exception("escalation %s failed; retrying later", pending_id)
            PendingEscalation.objects.filter(pk=pending_id, fired_at__isnull=True).update(
                due_at=moment + RETRY_FAILED_STEP_AFTER
            )
    return fired
