"""A request id that follows a ticket's work from the web request to the task worker.

- `OpsMiddleware` (firstline/ops/middleware.py) takes `X-Request-ID` from the client or the
  proxy (letters, digits and `._-:`, at most 128 characters; anything else is replaced) or
  makes one, keeps it in a context variable for the request's log lines and sends it back.
- A background task enqueued during the request (the outbox's delivery nudge after a ticket
  is created, a sign-in link letter) remembers the id in `ops.TaskOrigin` through the
  `task_enqueued` signal; the worker takes it back when the task starts (`task_started`),
  so the worker's log lines about that delivery carry the request's id.
- `RequestIdFilter` puts `request_id` on every log record; `JsonFormatter` writes one JSON
  object per line (LOG_FORMAT=json).
"""

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError

logger = logging.getLogger(__name__)

HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
current: contextvars.ContextVar[str] = contextvars.ContextVar("firstline_request_id", default="")


def new_id() -> str:
    return uuid.uuid4().hex


def accept(value: str | None) -> str:
    """The client's id when it is well-formed, else a new one."""
    value = (value or "").strip()
    return value if _VALID.match(value) else new_id()


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = current.get()
        return True


_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id,
    the exception's traceback when there is one, and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or current.get(),
            "process": record.process,
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _runs_in_place(sender: object) -> bool:
    """The immediate backend runs the task inside the enqueuing request: the id is there."""
    from django.tasks.backends.immediate import ImmediateBackend

    return isinstance(sender, type) and issubclass(sender, ImmediateBackend)


def _remember_origin(sender: object, task_result: Any, **kwargs: Any) -> None:
    request_id = current.get()
    if not request_id or _runs_in_place(sender):
        return
    from firstline.ops.models import TaskOrigin

    try:
        TaskOrigin.objects.create(task_id=str(task_result.id), request_id=request_id)
    except DatabaseError:
        # Tracing must never cost the task: the enqueue goes on without it.
        logger.warning("request id of task %s not recorded", task_result.id, exc_info=True)


_worker_tokens: dict[str, contextvars.Token[str]] = {}


def _task_started(sender: object, task_result: Any, **kwargs: Any) -> None:
    from firstline.ops.models import TaskOrigin

    task_id = str(task_result.id)
    if _runs_in_place(sender):
        return
    try:
        origin = TaskOrigin.objects.filter(task_id=task_id).first()
        if origin is not None:
            TaskOrigin.objects.filter(task_id=task_id).delete()
    except DatabaseError:
        origin = None
    request_id = origin.request_id if origin is not None else f"task-{task_id}"
    _worker_tokens[task_id] = current.set(request_id)
    logger.info("task %s started (%s)", task_id, getattr(task_result.task, "name", "?"))


def _task_finished(sender: object, task_result: Any, **kwargs: Any) -> None:
    task_id = str(task_result.id)
    if _runs_in_place(sender):
        return
    logger.info("task %s finished: %s", task_id, task_result.status)
    token = _worker_tokens.pop(task_id, None)
    if token is not None:
        try:
            current.reset(token)
        except ValueError:  # finished in another context than it started: just clear
            current.set("")


def connect_task_signals() -> None:
    from django.tasks.signals import task_enqueued, task_finished, task_started

    task_enqueued.connect(_remember_origin, dispatch_uid="firstline.ops.task_origin")
    task_started.connect(_task_started, dispatch_uid="firstline.ops.task_started")
    task_finished.connect(_task_finished, dispatch_uid="firstline.ops.task_finished")
