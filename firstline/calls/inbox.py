"""The call events' inbox: a way in stores an event as received and answers at once; the
`calls_work` worker applies the stored events in batches.

Why: applying an event in the request costs a few milliseconds and several statements
(the raw event, the call, its lock), and the webhook must take hundreds of events a second
with two web workers. Storing is one INSERT (`store`). `apply_batch` claims the oldest
events (PostgreSQL: `DELETE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n)
RETURNING ...`, so two workers take disjoint batches) and applies them with
`services.record_many` in the same transaction: an event leaves the inbox exactly when it
is stored as a `RawCallEvent` (processed, waiting or failed with its reason), so nothing is
lost and nothing is applied twice.

Events of one call are never applied by two transactions at once (a transaction-level
advisory lock per call id, taken in a fixed order): an answer applied while its call's start
is still uncommitted in another worker would wait for a start it cannot see, for good.
"""

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils.translation import gettext as _

from firstline.calls import services, zadarma
from firstline.calls.events import BadEvent, CallEvent, Kind
from firstline.calls.models import CallEventInbox, RawCallEvent, Source
from firstline.core.models import Partner

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# After a part-filled batch, the worker waits this long before the next (a busy line then
# gives batches of tens of events instead of one or two, for 0.1 s of delay).
LINGER = 0.1
# What an event is while it waits in the inbox (the other states are RawCallEvent.State).
ACCEPTED = "accepted"
# The ways in that store into the inbox, and how the worker reads what they stored.
SOURCES = (Source.WEBHOOK, Source.ZADARMA)
# pg_advisory_xact_lock(namespace, key): "call" in ASCII, apart from other advisory locks.
_LOCK_NAMESPACE = 0x63616C6C


# --- Reading what a way in stored ----------------------------------------------------------


def webhook_event(data: dict[str, Any]) -> CallEvent:
    """The JSON webhook's body (as `CallEventIn` validated and dumped it) as a `CallEvent`.

    The request reads it to check the event before storing it, the worker again to apply
    it: one reading for both."""
    return CallEvent(
        kind=Kind(data["event"]), external_id=data["call_id"],
        at=datetime.fromisoformat(data["at"]), direction=data.get("direction") or "inbound",
        caller=data.get("caller") or "", dialled=data.get("dialled") or "",
        operator=data.get("operator") or "", outcome=data.get("outcome") or "",
        talk_seconds=data.get("talk_seconds"), recording_url=data.get("recording_url") or "",
    )


def webhook_key(data: dict[str, Any]) -> str:
    """The same event twice (keys in any order) has the same key."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _reader(row: CallEventInbox) -> Callable[[], CallEvent]:
    if row.source == Source.WEBHOOK:
        return partial(webhook_event, row.payload)
    if row.source == Source.ZADARMA:
        # The answer and the end are placed when they arrived, not when they are applied.
        return partial(zadarma.to_event, row.payload, arrived=row.received_at)
    return partial(_refused, BadEvent("source", f"{row.source!r} is not read from the inbox"))


def _refused(exc: BadEvent) -> CallEvent:
    raise exc


# --- Storing -------------------------------------------------------------------------------


_COLUMNS = ("source", "dedupe_key", "external_id", "partner_id", "payload", "received_at")


def store(*, source: str, payload: dict[str, Any], dedupe_key: str, external_id: str,
          partner_id: int | None, received_at: datetime) -> int | None:
    """Store one event for the worker; its inbox id, or None for a replay (the same key is
    in the inbox or was applied already), which is not stored again.

    One statement, no savepoint: INSERT ... SELECT ... WHERE NOT EXISTS (applied) ON
    CONFLICT (waiting here) DO NOTHING RETURNING id. A replay racing the worker that is
    applying its twin may still be stored: the worker then finds the key applied and
    counts it a duplicate."""
    table, raw_table = CallEventInbox._meta.db_table, RawCallEvent._meta.db_table
    # PostgreSQL types a parameter in a SELECT list as text unless told.
    json_value = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    partner_value = "%s::bigint" if connection.vendor == "postgresql" else "%s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(_COLUMNS)}) "  # noqa: S608 - constants
            f"SELECT %s, %s, %s, {partner_value}, {json_value}, %s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {raw_table} WHERE source = %s AND dedupe_key = %s)"
            " ON CONFLICT (source, dedupe_key) DO NOTHING RETURNING id",
            [source, dedupe_key[:64], external_id[:120], partner_id, json.dumps(payload),
             received_at, source, dedupe_key[:64]],
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


@dataclass(frozen=True)
class EventState:
    """What became of a stored event, as the API reports it."""

    key: str
    event_id: int
    state: str  # ACCEPTED, or a RawCallEvent.State
    partner_id: int | None
    reason: str = ""
    field: str = ""
    call_id: int | None = None


def state_of(source: str, key: str) -> EventState | None:
    """The event with this key: waiting in the inbox, or what applying it gave.

    The inbox is read first: the worker deletes an event from it in the transaction that
    stores its raw event, so one of the two always shows it."""
    waiting = CallEventInbox.objects.filter(source=source, dedupe_key=key).values_list(
        "pk", "partner_id").first()
    if waiting is not None:
        return EventState(key, waiting[0], ACCEPTED, waiting[1])
    raw = RawCallEvent.objects.filter(source=source, dedupe_key=key).only(
        "pk", "state", "reason", "partner_id", "call_id").first()
    if raw is None:
        return None
    field = raw.reason.partition(": ")[0] if raw.state == RawCallEvent.State.FAILED else ""
    return EventState(key, raw.pk, raw.state, raw.partner_id, raw.reason, field, raw.call_id)


# --- Applying ------------------------------------------------------------------------------


def pending() -> bool:
    """Whether anything waits: a plain read, no lock (SQLite's write lock is not taken)."""
    return CallEventInbox.objects.exists()


def _claim(limit: int, only: int | None = None) -> list[CallEventInbox]:
    """Delete and return the oldest `limit` events (or the one with id `only`), in the
    order received; on PostgreSQL skipping those another worker is claiming."""
    table = CallEventInbox._meta.db_table
    which, params = ("", [limit]) if only is None else ("WHERE id = %s ", [only, limit])
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    rows = list(CallEventInbox.objects.raw(
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} {which}"  # noqa: S608
        f"ORDER BY id LIMIT %s{lock}) RETURNING {', '.join(('id', *_COLUMNS))}",
        params,
    ))
    rows.sort(key=lambda row: row.pk)
    return rows


def _lock_key(source: str, external_id: str) -> int:
    digest = hashlib.blake2b(f"{source}\x1f{external_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_calls(rows: list[CallEventInbox]) -> None:
    """Wait until no other transaction applies events of these calls (PostgreSQL; SQLite
    has one writer at a time anyway). Sorted, so two workers never wait for each other."""
    if connection.vendor != "postgresql":
        return
    keys = sorted({_lock_key(row.source, row.external_id) for row in rows})
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_advisory_xact_lock(%s, key)) FROM unnest(%s::int[]) "
                       "AS key", [_LOCK_NAMESPACE, keys])


def _apply(rows: list[CallEventInbox], broken: Exception | None = None) -> dict[str, int]:
    """Apply claimed events with record_many, one call per source; with `broken`, store
    them refused instead (they failed to apply on their own)."""
    _lock_calls(rows)
    partners = Partner.objects.in_bulk({row.partner_id for row in rows if row.partner_id})
    by_source: dict[str, list[services.Incoming]] = {}
    for row in rows:
        read = _reader(row)
        if broken is not None:
            read = partial(_refused, BadEvent("event", _(
                "could not be applied (%(error)s); kept for an operator")
                % {"error": f"{type(broken).__name__}: {broken}"}))
        by_source.setdefault(row.source, []).append(services.Incoming(
            payload=row.payload, dedupe_key=row.dedupe_key, parse=read,
            partner=partners.get(row.partner_id) if row.partner_id else None))
    counts: dict[str, int] = {}
    for source, items in by_source.items():
        for state in services.record_many(source=source, items=items):
            counts[state] = counts.get(state, 0) + 1
    return counts


def apply_batch(limit: int = BATCH_SIZE) -> dict[str, int]:
    """Apply up to `limit` stored events in one transaction; how many ended in each state
    (empty: nothing was waiting).

    A database failure (a deadlock, the server gone) rolls the batch back and raises: its
    events stay in the inbox for the next turn. Any other failure is a bug one event
    triggers: the batch is rolled back and its events are applied one by one, and one that
    still fails alone is stored refused, with the error, for an operator, so it cannot
    hold up every event behind it."""
    rows: list[CallEventInbox] = []
    try:
        with transaction.atomic():
            rows = _claim(limit)
            if not rows:
                return {}
            return _apply(rows)
    except DatabaseError:
        raise
    except Exception:
        if not rows:
            raise
        logger.exception("call events %s..%s: the batch failed; applying them one by one",
                         rows[0].pk, rows[-1].pk)
    counts: dict[str, int] = {}
    for row_id in [row.pk for row in rows]:
        try:
            with transaction.atomic():
                single = _claim(1, row_id)
                result = _apply(single) if single else {}
        except DatabaseError:
            raise
        except Exception as exc:
            logger.exception("call event %s: could not be applied; kept refused", row_id)
            with transaction.atomic():
                single = _claim(1, row_id)
                result = _apply(single, broken=exc) if single else {}
        for state, count in result.items():
            counts[state] = counts.get(state, 0) + count
    return counts


def work(*, stop: threading.Event, batch: int = BATCH_SIZE, interval: float = 0.2,
         once: bool = False) -> int:
    """Apply stored events until stopped (with `once`, until the inbox is empty); return
    how many were taken.

    Idle, it looks every `interval` seconds with a plain read (no lock, no write), so the
    call card still shows a call within a poll of its event; busy, it takes the next batch
    at once when the last was full, LINGER seconds later when it was not."""
    from firstline.ops.heartbeat import CALLS_WORKER, beat

    taken = 0
    idle_turns = 0
    while not stop.is_set():
        beat(CALLS_WORKER, every=10.0)
        try:
            counts = apply_batch(batch) if pending() else {}
        except DatabaseError:
            # The database is away or a deadlock was broken: the events wait, stored.
            logger.exception("calls worker: the database failed")
            close_old_connections()
            if once:
                raise
            stop.wait(max(interval, 1.0))
            continue
        count = sum(counts.values())
        taken += count
        if count:
            idle_turns = 0
            if count < batch and not once:
                # The inbox is keeping up: let a few more events come in, so that the next
                # batch shares its statements and its commit among more of them.
                stop.wait(LINGER)
            continue
        if once:
            break
        idle_turns += 1
        if idle_turns % 25 == 0:
            close_old_connections()  # drops a connection past its age or broken
        stop.wait(interval)
    return taken
