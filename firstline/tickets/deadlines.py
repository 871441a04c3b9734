"""When a ticket is due.

A first, wall-clock version: a fixed resolution target per priority counted from creation.
The SLA module (business calendars, per-partner policies, pauses) replaces `resolution_due`
without changing its callers.
"""

from datetime import datetime, timedelta

from firstline.tickets.models import Priority

DEFAULT_RESOLUTION_TARGET = {
    Priority.CRITICAL: timedelta(hours=4),
    Priority.HIGH: timedelta(hours=8),
    Priority.NORMAL: timedelta(hours=24),
    Priority.LOW: timedelta(hours=72),
}


def resolution_due(priority: str, created_at: datetime) -> datetime:
    return created_at + DEFAULT_RESOLUTION_TARGET[Priority(priority)]
