"""Report reads from a PostgreSQL read replica, when DATABASE_REPLICA_URL names one.

The quality pages and their API (`/metrics/...`, `/api/metrics...`: dashboards, drill-downs,
monthly reports' downloads) aggregate over months of tickets; with a replica configured, the
ops middleware marks such GET requests and this router sends their reads to the `replica`
alias. Everything else, every write, and the reads of accounts and sessions (a replica a
second behind would sign a user out) stay on `default`. Migrations run on `default` only.
"""

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings

REPLICA = "replica"
PRIMARY_ONLY_APPS = frozenset({"auth", "sessions", "core", "accounts", "ops", "contenttypes",
                               "admin", "django_tasks_db"})
REPORT_PATHS = ("/metrics/", "/api/metrics")
_reading_reports = contextvars.ContextVar("firstline_reading_reports", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def reports_from_replica() -> Iterator[None]:
    token = _reading_reports.set(True)
    try:
        yield
    finally:
        _reading_reports.reset(token)


def is_report_request(path: str, method: str) -> bool:
    return method in ("GET", "HEAD") and path.startswith(REPORT_PATHS)


class ReportsToReplica:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        if (_reading_reports.get() and replica_configured()
                and model._meta.app_label not in PRIMARY_ONLY_APPS):
            return REPLICA
        return None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # one database, copied

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return db == "default"
