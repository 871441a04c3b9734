"""/healthz (the process answers) and /readyz (the desk can do its work).

/readyz checks, each named in the JSON body:
- `database`: a query answers;
- `migrations`: no migration is left to apply;
- `heartbeat:<process>`: the task worker, the SLA clock, the outbox loop, the mail worker
  and the calls worker went round within FIRSTLINE_READY_HEARTBEAT_SECONDS (60): without
  the last two, letters and call events are stored and never become tickets and calls;
- `outbox`: fewer than FIRSTLINE_READY_OUTBOX_MAX (500) messages are due and unsent.
Any failing check makes the answer 503.
"""

import time
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse

from firstline.core.clock import now
from firstline.ops import conf, heartbeat

REQUIRED_LOOPS = (heartbeat.TASK_WORKER, heartbeat.SLA_CLOCK, heartbeat.OUTBOX_LOOP,
                  heartbeat.MAIL_WORKER, heartbeat.CALLS_WORKER)

_migrations_done = False


def healthz() -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database() -> dict[str, Any]:
    started = time.monotonic()
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "seconds": round(time.monotonic() - started, 4)}


def _migrations() -> dict[str, Any]:
    global _migrations_done
    if _migrations_done:  # applied migrations do not come undone; the graph costs ~0.1 s
        return {"ok": True, "unapplied": 0}
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    _migrations_done = not plan
    result: dict[str, Any] = {"ok": not plan, "unapplied": len(plan)}
    if plan:
        result["first"] = f"{plan[0][0].app_label}.{plan[0][0].name}"
    return result


def _heartbeats() -> dict[str, dict[str, Any]]:
    from firstline.ops.models import Heartbeat

    limit = conf.positive_int("FIRSTLINE_READY_HEARTBEAT_SECONDS")
    beats = dict(Heartbeat.objects.filter(name__in=REQUIRED_LOOPS).values_list("name", "beat_at"))
    moment = now()
    result = {}
    for name in REQUIRED_LOOPS:
        beat_at = beats.get(name)
        if beat_at is None:
            result[f"heartbeat:{name}"] = {"ok": False, "error": "never beat"}
            continue
        age = max(0.0, (moment - beat_at).total_seconds())
        result[f"heartbeat:{name}"] = {
            "ok": age <= limit, "age_seconds": round(age, 1), "limit_seconds": limit,
            "last_beat": beat_at.isoformat(),
        }
    return result


def _outbox() -> dict[str, Any]:
    from firstline.outbox.models import OutboxMessage, Status

    limit = conf.positive_int("FIRSTLINE_READY_OUTBOX_MAX")
    due = OutboxMessage.objects.filter(
        status__in=[Status.PENDING, Status.SENDING], next_attempt_at__lte=now()
    )[: limit + 1].count()
    return {"ok": due <= limit, "due": due, "limit": limit}


def readiness() -> tuple[bool, dict[str, dict[str, Any]]]:
    checks: dict[str, dict[str, Any]] = {}
    try:
        checks["database"] = _database()
    except DatabaseError as exc:
        checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()}
        return False, checks
    for name, check in (("migrations", _migrations), ("outbox", _outbox)):
        try:
            checks[name] = check()
        except DatabaseError as exc:
            checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()}
    try:
        checks.update(_heartbeats())
    except DatabaseError as exc:
        checks["heartbeats"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()}
    return all(check["ok"] for check in checks.values()), checks


def readyz() -> JsonResponse:
    ok, checks = readiness()
    failing = sorted(name for name, check in checks.items() if not check["ok"])
    body = {"status": "ok" if ok else "unhealthy", "failing": failing, "checks": checks}
    response = JsonResponse(body, status=200 if ok else 503)
    response["Cache-Control"] = "no-store"
    return response
