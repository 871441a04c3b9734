"""Delivering due outbox messages, safely with any number of workers.

Each message is claimed just before it is sent, by one conditional UPDATE that succeeds
for exactly one worker (the database re-checks the condition on the row it locks). The
claim is a lease: a worker that dies mid-send leaves the row in "sending" until the lease
runs out, then another worker takes it over. Messages are claimed one at a time rather than
in a batch so that the lease only has to cover one send, not a whole batch of slow ones.

Delivery is at least once: a send that succeeds just before the worker dies is repeated.
The lease and the claim make that the only way a message goes twice.

Call these functions outside a transaction: claims must commit at once to be seen by the
other workers.
"""

import logging
import os
import random
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, Q

from firstline.core.clock import now
from firstline.outbox import conf
from firstline.outbox.adapters import adapter_for
from firstline.outbox.errors import DeliveryError, PermanentError
from firstline.outbox.models import OutboxMessage, Status

logger = logging.getLogger(__name__)


@dataclass
class PassResult:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0


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
            # Counted at the claim, so a send that kills the worker still uses up an attempt.
            attempts=F("attempts") + 1,
        )
    )
    if won != 1:
        return None
    message = OutboxMessage.objects.select_related("partner").get(pk=pk)
    return message, lease_until


def _finish(
    message: OutboxMessage, lease_until: datetime, worker_id: str, **fields: object
) -> bool:
    """Record the outcome, only if the claim is still ours (compare-and-set on the lease)."""
    done = OutboxMessage.objects.filter(
        pk=message.pk, status=Status.SENDING, claimed_by=worker_id, claimed_until=lease_until
    ).update(claimed_until=None, **fields)
    if not done:
        logger.warning(
            "outbox message %s: the lease ran out before the send finished; "
            "raise FIRSTLINE_OUTBOX_LEASE_SECONDS above the slowest send", message.pk,
        )
    return bool(done)


def _describe(exc: Exception) -> str:
    # Our own errors already say where they come from; anything else gets its type.
    if isinstance(exc, DeliveryError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def attempt(message: OutboxMessage, lease_until: datetime, worker_id: str) -> str:
    """Send one claimed message and record the outcome; returns the new status."""
    limit = conf.max_attempts()
    if message.attempts > limit:
        # Claimed more often than allowed: earlier attempts never finished, most likely
        # because sending this very message kills the worker. Stop instead of crash-looping.
        _finish(
            message, lease_until, worker_id, status=Status.FAILED,
            last_error=f"gave up after {limit} attempts that did not finish; "
            f"last recorded error: {message.last_error or 'none'}",
        )
        return Status.FAILED
    try:
        sent = adapter_for(message.channel).send(message)
    except PermanentError as exc:
        error = _describe(exc)
        logger.warning("outbox message %s failed for good: %s", message.pk, error)
        _finish(message, lease_until, worker_id, status=Status.FAILED, last_error=error)
        return Status.FAILED
    except Exception as exc:
        # Anything else — timeouts, 5xx, a gateway out of money, a bug in an adapter — is
        # worth another try; one bad message must not stop the others.
        error = _describe(exc)
        if message.attempts >= limit:
            logger.warning("outbox message %s failed after %s attempts: %s",
                           message.pk, message.attempts, error)
            _finish(
                message, lease_until, worker_id, status=Status.FAILED,
                last_error=f"{error} (gave up after {message.attempts} attempts)",
            )
            return Status.FAILED
        logger.info("outbox message %s: attempt %s failed, will retry: %s",
                    message.pk, message.attempts, error)
        _finish(
            message, lease_until, worker_id, status=Status.PENDING, last_error=error,
            next_attempt_at=now() + backoff(message.attempts),
        )
        return Status.PENDING
    _finish(
        message, lease_until, worker_id, status=Status.SENT, sent_at=now(),
        provider_message_id=sent.provider_message_id[:255],
    )
    return Status.SENT


def run_pass(*, limit: int = 50, worker_id: str | None = None) -> PassResult:
    """One pass over up to `limit` due messages: claim each, send it, record the outcome."""
    worker = worker_id or default_worker_id()
    result = PassResult()
    for pk in due_ids(limit):
        try:
            claimed = claim(pk, worker)
            if claimed is None:
                continue  # another worker got it first
            result.claimed += 1
            outcome = attempt(*claimed, worker)
        except Exception:
            # Not the send (attempt() catches those) but recording it; the lease runs out
            # and the message is tried again. The other messages go on.
            logger.exception("outbox message %s: delivery could not be recorded", pk)
            continue
        if outcome == Status.SENT:
            result.sent += 1
        elif outcome == Status.FAILED:
            result.failed += 1
        else:
            result.retrying += 1
    return result


def deliver_due(limit: int = 50, worker_id: str | None = None) -> int:
    """Deliver up to `limit` due messages; return how many were sent."""
    return run_pass(limit=limit, worker_id=worker_id).sent
