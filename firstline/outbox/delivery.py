"""Delivering due outbox messages, safely with any number of workers, in batches.

A pass claims a batch of due messages with one statement (PostgreSQL: an UPDATE over a
`FOR UPDATE SKIP LOCKED` subquery, so two workers take disjoint batches without waiting for
each other; elsewhere a conditional UPDATE over the ids just read, which re-checks "due" on
every row, then a read of the rows this claim won). The claim is a lease: every row of the
batch gets `claimed_by` = this worker and the same `claimed_until`; a worker that dies
leaves its rows in "sending" until the lease runs out, then another worker takes them over.
Outcomes are recorded with a compare-and-set on that lease, so a worker whose lease ran out
never overwrites the new owner's result.

Why a batch cannot outlive its lease: no send *starts* later than `lease - SEND_BUDGET ·
http timeout` after the claim (`Claim.send_deadline`), and one send is bounded by the HTTP
timeouts (connect, write, read: `SEND_BUDGET` of them). Messages of the batch that were not
started by then are handed back at once (pending again, the attempt not counted), so a slow
receiver shortens a batch rather than letting a lease expire under a send in flight. With
the defaults (lease 300 s, timeout 10 s) a batch may spend 270 s starting sends, whatever
its size; the batch size (`--limit`) only trades latency against statements per message.
The lease must still exceed the slowest single send (SMTP's own timeout for mail).

Results are written with few statements: one UPDATE for all the rows that were sent, one
per row only for failures (each gets its own back-off, with jitter), one to hand back the
rows not started. An adapter may send a whole batch at once (`send_batch`: the webhooks'
adapter looks subscriptions up once per batch and sends over kept-alive connections from a
small thread pool); the others send message by message.

Delivery is at least once: a send that succeeds just before the worker dies (or before its
result is recorded) is repeated. The lease and the claim make that the only way a message
goes twice: a message is never sent by two live workers.

Call these functions outside a transaction: claims must commit at once to be seen by the
other workers.
"""

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Case, CharField, F, Q, Value, When

from firstline.core.clock import now
from firstline.outbox import conf
from firstline.outbox.adapters import Sent, adapter_for
from firstline.outbox.errors import DeliveryError, NotStarted, PermanentError
from firstline.outbox.models import OutboxMessage, Status

logger = logging.getLogger(__name__)

# How many HTTP timeouts one send may take at worst (connect, send, read).
SEND_BUDGET = 3


@dataclass
class PassResult:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    handed_back: int = 0


@dataclass(frozen=True)
class Claim:
    """One worker's lease on a batch: the compare-and-set token of every result."""

    worker_id: str
    until: datetime
    # time.monotonic() after which no send of the batch starts (see the module docstring).
    send_deadline: float

    def ours(self, pks: Sequence[int]) -> Any:
        return OutboxMessage.objects.filter(
            pk__in=list(pks), status=Status.SENDING, claimed_by=self.worker_id,
            claimed_until=self.until,
        )


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:100]


def backoff(attempt: int) -> timedelta:
    """The wait after the attempt-th failure: base · 2^(attempt-1), capped, with jitter.

    The jitter takes up to a quarter off, so messages that failed together in an outage do
    not all come back in the same second, and no wait exceeds the cap.
    """
    exponent = min(max(attempt - 1, 0), 30)
    nominal = min(conf.backoff_max_seconds(), conf.backoff_base_seconds() * 2**exponent)
    return timedelta(seconds=nominal * random.uniform(0.75, 1.0))


def _due(at: datetime) -> Q:
    # Waiting and due, or claimed by a worker whose lease has run out.
    return Q(status=Status.PENDING, next_attempt_at__lte=at) | Q(
        status=Status.SENDING, claimed_until__lt=at
    )


def due_ids(limit: int) -> list[int]:
    return list(
        OutboxMessage.objects.filter(_due(now()))
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


def _start_window() -> float:
    """Seconds after the claim in which a send of the batch may still start."""
    return conf.lease_seconds() - SEND_BUDGET * conf.http_timeout()


# Only the quoted table name and the fixed condition are formatted in; values are parameters.
# A MATERIALIZED CTE, not `id IN (subquery)`: the planner may rescan such a subquery once
# per outer row (a nested-loop semi-join), and every rescan locks more rows past the LIMIT.
_CLAIM_SQL = (
    "WITH batch AS MATERIALIZED (SELECT id FROM {table} WHERE {due} "
    "ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
    "UPDATE {table} AS message SET status = %s, claimed_by = %s, claimed_until = %s, "
    "attempts = message.attempts + 1 "
    "FROM batch WHERE message.id = batch.id "
    "RETURNING message.id"
)


def _claim_on_postgresql(claim: Claim, at: datetime, limit: int) -> list[int]:
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    due = "(status = %s AND next_attempt_at <= %s) OR (status = %s AND claimed_until < %s)"
    # SKIP LOCKED: rows another worker is claiming right now are left to it, not waited
    # for; the rows it locks are re-checked against "due" on their newest version.
    sql = _CLAIM_SQL.format(table=table, due=due)
    params = [Status.PENDING, at, Status.SENDING, at, limit,
              Status.SENDING, claim.worker_id, claim.until]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _claim_portable(claim: Claim, at: datetime, limit: int) -> list[int]:
    candidates = due_ids(limit)
    if not candidates:
        return []
    # The UPDATE repeats "due": a row another worker claimed since the read is left alone.
    won = OutboxMessage.objects.filter(_due(at), pk__in=candidates).update(
        status=Status.SENDING, claimed_by=claim.worker_id, claimed_until=claim.until,
        attempts=F("attempts") + 1,
    )
    if not won:
        return []
    return list(claim.ours(candidates).values_list("pk", flat=True))


def claim_batch(worker_id: str, limit: int) -> tuple[list[OutboxMessage], Claim]:
    """Take up to `limit` due messages for this worker (oldest due first) under one lease.

    Each claim counts an attempt, so a send that kills the worker still uses one up.
    """
    at = now()
    window = _start_window()
    if window <= 0:
        # A lease shorter than a send's worst case: one message at a time, as it always
        # could (the lease must then exceed the send itself; see conf.DEFAULT_LEASE_SECONDS).
        limit, deadline = 1, float("inf")
    else:
        deadline = time.monotonic() + window
    claim = Claim(worker_id, at + timedelta(seconds=conf.lease_seconds()), deadline)
    if connection.vendor == "postgresql":
        pks = _claim_on_postgresql(claim, at, limit)
    else:
        pks = _claim_portable(claim, at, limit)
    if not pks:
        return [], claim
    messages = list(
        OutboxMessage.objects.select_related("partner").filter(pk__in=pks)
        .order_by("next_attempt_at", "id")
    )
    return messages, claim


def claim(pk: int, worker_id: str) -> tuple[OutboxMessage, datetime] | None:
    """Take one due message for this worker, or None if it is no longer due or not ours.

    The UPDATE repeats the "due" condition, so of two workers racing for the row exactly
    one changes it: on PostgreSQL the second waits for the first's row lock, re-checks the
    condition on the new row version and finds nothing; SQLite runs writers one at a time.
    """
    at = now()
    lease_until = at + timedelta(seconds=conf.lease_seconds())
    won = (
        OutboxMessage.objects.filter(_due(at), pk=pk)
        .update(
            status=Status.SENDING,
            claimed_by=worker_id,
            claimed_until=lease_until,
            attempts=F("attempts") + 1,
        )
    )
    if won != 1:
        return None
    message = OutboxMessage.objects.select_related("partner").get(pk=pk)
    return message, lease_until


def _lease_lost(pks: Sequence[int], done: int) -> None:
    if done < len(pks):
        logger.warning(
            "outbox: %s of %s results not recorded (messages %s…): the lease ran out before "
            "the send finished; raise FIRSTLINE_OUTBOX_LEASE_SECONDS above the slowest send",
            len(pks) - done, len(pks), list(pks)[:5],
        )


def _finish_one(message: OutboxMessage, claim: Claim, **fields: object) -> bool:
    """Record one outcome, only if the claim is still ours (compare-and-set on the lease)."""
    done = claim.ours([message.pk]).update(claimed_until=None, **fields)
    _lease_lost([message.pk], done)
    return bool(done)


def _finish_sent(sent: Sequence[tuple[OutboxMessage, Sent]], claim: Claim) -> None:
    """One UPDATE for every row of the batch that went out."""
    if not sent:
        return
    ids = {message.pk: result.provider_message_id[:255] for message, result in sent}
    distinct = set(ids.values())
    provider_id: Any = Value(next(iter(distinct))) if len(distinct) == 1 else Case(
        *[When(pk=pk, then=Value(value)) for pk, value in ids.items()],
        output_field=CharField(),
    )
    done = claim.ours(list(ids)).update(
        status=Status.SENT, sent_at=now(), claimed_until=None, provider_message_id=provider_id,
    )
    _lease_lost(list(ids), done)


def _hand_back(messages: Sequence[OutboxMessage], claim: Claim) -> None:
    """Messages of the batch not started before the deadline: due again at once, the attempt
    not counted (nothing was tried)."""
    if messages:
        claim.ours([message.pk for message in messages]).update(
            status=Status.PENDING, claimed_until=None, attempts=F("attempts") - 1,
        )


def _describe(exc: BaseException) -> str:
    # Our own errors already say where they come from; anything else gets its type.
    if isinstance(exc, DeliveryError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _record_failure(message: OutboxMessage, claim: Claim, exc: BaseException) -> str:
    """Failed for good, or pending again after its back-off; returns the new status."""
    error = _describe(exc)
    limit = conf.max_attempts()
    if isinstance(exc, PermanentError):
        logger.warning("outbox message %s failed for good: %s", message.pk, error)
        _finish_one(message, claim, status=Status.FAILED, last_error=error)
        return Status.FAILED
    # Anything else — timeouts, 5xx, a gateway out of money, a bug in an adapter — is
    # worth another try; one bad message must not stop the others.
    if message.attempts >= limit:
        logger.warning("outbox message %s failed after %s attempts: %s",
                       message.pk, message.attempts, error)
        _finish_one(message, claim, status=Status.FAILED,
                    last_error=f"{error} (gave up after {message.attempts} attempts)")
        return Status.FAILED
    logger.info("outbox message %s: attempt %s failed, will retry: %s",
                message.pk, message.attempts, error)
    _finish_one(message, claim, status=Status.PENDING, last_error=error,
                next_attempt_at=now() + backoff(message.attempts))
    return Status.PENDING


def _send_all(channel: str, messages: list[OutboxMessage],
              claim: Claim) -> list[Sent | BaseException]:
    """Each message's outcome: what the adapter returned, or what it raised."""
    try:
        adapter = adapter_for(channel)
    except Exception as exc:
        return [exc] * len(messages)
    send_batch = getattr(adapter, "send_batch", None)
    if send_batch is not None:
        try:
            outcomes: list[Sent | BaseException] = send_batch(
                messages, deadline=claim.send_deadline)
            return outcomes
        except Exception as exc:
            return [exc] * len(messages)
    results: list[Sent | BaseException] = []
    for message in messages:
        if time.monotonic() > claim.send_deadline:
            results.append(NotStarted())
            continue
        try:
            results.append(adapter.send(message))
        except Exception as exc:
            results.append(exc)
    return results


def deliver(messages: Sequence[OutboxMessage], claim: Claim) -> PassResult:
    """Send claimed messages (channel by channel) and record every outcome."""
    result = PassResult(claimed=len(messages))
    limit = conf.max_attempts()
    by_channel: dict[str, list[OutboxMessage]] = {}
    for message in messages:
        if message.attempts > limit:
            # Claimed more often than allowed: earlier attempts never finished, most likely
            # because sending this very message kills the worker. Stop instead of looping.
            _finish_one(
                message, claim, status=Status.FAILED,
                last_error=f"gave up after {limit} attempts that did not finish; "
                f"last recorded error: {message.last_error or 'none'}",
            )
            result.failed += 1
            continue
        by_channel.setdefault(message.channel, []).append(message)
    sent: list[tuple[OutboxMessage, Sent]] = []
    not_started: list[OutboxMessage] = []
    for channel, group in by_channel.items():
        for message, outcome in zip(group, _send_all(channel, group, claim), strict=True):
            if isinstance(outcome, Sent):
                sent.append((message, outcome))
            elif isinstance(outcome, NotStarted):
                not_started.append(message)
            else:
                try:
                    status = _record_failure(message, claim, outcome)
                except Exception:
                    # Recording failed (the database went away): the lease runs out and
                    # the message is tried again. The others go on.
                    logger.exception("outbox message %s: delivery could not be recorded",
                                     message.pk)
                    continue
                if status == Status.FAILED:
                    result.failed += 1
                else:
                    result.retrying += 1
    try:
        _finish_sent(sent, claim)
        _hand_back(not_started, claim)
    except Exception:
        # The sends happened; recording them failed. The lease runs out and they go again
        # (at least once).
        logger.exception("outbox: the results of %s sends could not be recorded", len(sent))
    result.sent = len(sent)
    result.handed_back = len(not_started)
    return result


def attempt(message: OutboxMessage, lease_until: datetime, worker_id: str) -> str:
    """Send one message claimed with `claim` and record the outcome; returns the new status."""
    single = Claim(worker_id, lease_until, float("inf"))
    result = deliver([message], single)
    if result.sent:
        return Status.SENT
    if result.failed:
        return Status.FAILED
    return Status.PENDING


def run_pass(*, limit: int = 50, worker_id: str | None = None) -> PassResult:
    """One pass: claim up to `limit` due messages as one batch, send them, record outcomes."""
    worker = worker_id or default_worker_id()
    messages, batch_claim = claim_batch(worker, limit)
    if not messages:
        return PassResult()
    return deliver(messages, batch_claim)


def deliver_due(limit: int = 50, worker_id: str | None = None) -> int:
    """Deliver up to `limit` due messages; return how many were sent."""
    return run_pass(limit=limit, worker_id=worker_id).sent
