"""A database that is busy for longer than its lock timeout answers 503, not 500.

SQLite lets one writer in at a time and waits `timeout` seconds for the lock; PostgreSQL
gives up on a lock after `lock_timeout` or breaks a deadlock. Either is a passing state of
the server, not a fault of the request: the client is told to come back (`Retry-After`)
instead of seeing a 500. The API answers JSON (`firstline.api.errors` uses the same
functions, because ninja handles its endpoints' exceptions itself); other pages get a
short page. Every other database error still propagates as the 500 it is.
"""

import logging
from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import format_html
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
API_PREFIX = "/api/"
# PostgreSQL: lock_not_available (lock_timeout, NOWAIT) and deadlock_detected.
_PG_LOCK_STATES = frozenset({"55P03", "40P01"})
_SQLITE_LOCK_MESSAGES = ("database is locked", "database table is locked")


def is_lock_error(exc: BaseException) -> bool:
    """Whether `exc` means "the database is busy with someone else's lock"."""
    if not isinstance(exc, OperationalError):
        return False
    state = getattr(exc.__cause__, "sqlstate", None)
    if state in _PG_LOCK_STATES:
        return True
    message = str(exc).lower()
    return any(text in message for text in _SQLITE_LOCK_MESSAGES)


def busy_message() -> str:
    return _("The database is busy. Please try again in a few seconds.")


def busy_response(request: HttpRequest) -> HttpResponse:
    response: HttpResponse
    if request.path.startswith(API_PREFIX):
        response = JsonResponse({"detail": busy_message()}, status=503)
    else:
        page = format_html(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head>"
            "<body><h1>{}</h1><p>{}</p></body></html>",
            _("Try again in a moment"),
            _("Try again in a moment"),
            busy_message(),
        )
        response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseBusyMiddleware:
    """Turns a lock timeout raised by a view into 503 with `Retry-After`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_lock_error(exception):
            return None
        logger.warning("Database busy on %s %s: %s", request.method, request.path, exception)
        return busy_response(request)
