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
    """Fire every step due at `moment`; returns how many this worker fired."""
    moment = moment or now()
    worker = worker or worker_name()
    fired = 0
    while True:
        ids = escalation.due_ids(moment, limit)
        for pending_id in ids:
            try:
                fired += escalation.fire(pending_id, moment, worker)
            except Exception:
                # One broken row must not stop the clock: try it again a minute later.
                log.exception("escalation %s failed; retrying later", pending_id)
                PendingEscalation.objects.filter(pk=pending_id, fired_at__isnull=True).update(
                    due_at=moment + RETRY_FAILED_STEP_AFTER
                )
        if len(ids) < limit:
            return fired
