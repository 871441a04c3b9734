"""`beat(name)`: a loop says it went round; readiness and /metrics read the rows.

One call per loop iteration. A beat that cannot be written (the database restarting) is
logged and skipped: the loop itself decides what a database outage means for it.
"""

import logging
import os
import socket
import time

from django.db import DatabaseError, transaction

from firstline.core.clock import now
from firstline.ops.models import Heartbeat

logger = logging.getLogger(__name__)

TASK_WORKER = "task worker"
SLA_CLOCK = "SLA clock"
OUTBOX_LOOP = "outbox loop"
SURVEY_CLOCK = "survey clock"
INCIDENTS_CLOCK = "incidents clock"
REPORT_CLOCK = "report clock"
MAIL_POLLER = "mail poller"
MAIL_WORKER = "mail worker"
CALLS_WORKER = "calls worker"

_last_beat: dict[str, float] = {}


def beat(name: str, *, every: float = 0.0) -> None:
    """Record that `name` is alive now; with `every`, at most once per `every` seconds."""
    moment = time.monotonic()
    if every and moment - _last_beat.get(name, -every) < every:
        return
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        with transaction.atomic():
            Heartbeat.objects.bulk_create(
                [Heartbeat(name=name, beat_at=now(), worker=worker)],
                update_conflicts=True, unique_fields=["name"],
                update_fields=["beat_at", "worker"],
            )
    except DatabaseError:
        logger.warning("heartbeat of the %s not recorded", name, exc_info=True)
        return
    _last_beat[name] = moment
