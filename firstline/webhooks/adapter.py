"""The outbox adapter of the `event_hook` channel: sign at send time and POST.

The outbox claims the row, counts the attempt and schedules retries; this adapter re-checks
the URL (DNS can change after the subscription was saved), signs the body with the
subscription's current secret and a fresh timestamp, POSTs it through the outbox's HTTP
client and records what the receiver answered.

Per send it costs no query of its own when the receiver answers 2xx: the subscription comes
from a short per-process cache (`CACHE_SECONDS`; a change made in this process clears it at
once, one made elsewhere reaches every worker within that time), and the 2xx code travels
in the outbox row's provider id ("HTTP 200"). A failure writes its code on the delivery.
"""

import threading
import time
from dataclasses import dataclass

from firstline.core.secret_field import reveal
from firstline.outbox import conf, httpclient
from firstline.outbox.adapters import Sent, idempotency_key
from firstline.outbox.errors import PermanentError, TemporaryError
from firstline.outbox.models import OutboxMessage
from firstline.webhooks import addresses, signing
from firstline.webhooks.models import Delivery, Subscription

DELIVERY_HEADER = "X-Firstline-Delivery"
# Internal: which subscription an outbox row is for; not sent to the receiver.
SUBSCRIPTION_HEADER = "X-Firstline-Subscription"
CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class _Target:
    url: str
    secret: str
    is_active: bool
    expires: float


_cache: dict[int, _Target] = {}
_lock = threading.Lock()


def forget(subscription_id: int | None = None) -> None:
    """Drop cached subscriptions (all, or one) in this process."""
    with _lock:
        if subscription_id is None:
            _cache.clear()
        else:
            _cache.pop(subscription_id, None)


def _target(subscription_id: int) -> _Target | None:
    moment = time.monotonic()
    with _lock:
        cached = _cache.get(subscription_id)
    if cached is not None and cached.expires > moment:
        return cached
    row = Subscription.objects.filter(pk=subscription_id).values_list(
        "url", "secret", "is_active").first()
    if row is None:
        return None
    # The encrypted field decrypts in values_list too; reveal() names a missing key.
    url, secret, is_active = row
    target = _Target(url, reveal(secret, "webhook secret"), is_active, moment + CACHE_SECONDS)
    with _lock:
        _cache[subscription_id] = target
    return target


def _subscription_id(message: OutboxMessage) -> int | None:
    for name, value in message.headers.items():
        if name.lower() == SUBSCRIPTION_HEADER.lower():
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    # Rows written before the header existed.
    return Delivery.objects.filter(message_id=message.pk).values_list(
        "subscription_id", flat=True).first()


def _record_failure(message: OutboxMessage, code: int | None) -> None:
    Delivery.objects.filter(message_id=message.pk).update(response_code=code)


class EventHookAdapter:
    def ready(self) -> bool:
        return True

    def send(self, message: OutboxMessage) -> Sent:
        subscription_id = _subscription_id(message)
        target = _target(subscription_id) if subscription_id is not None else None
        if target is None:
            raise PermanentError("the webhook subscription no longer exists")
        if not target.is_active:
            raise PermanentError("the webhook subscription is switched off")
        # The subscription's URL now: a corrected URL serves the retries too.
        url = target.url
        try:
            addresses.check(url)
        except addresses.RefusedURL as exc:
            raise PermanentError(f"refused URL {httpclient.printable_url(url)}: {exc}") from exc
        except LookupError as exc:
            raise TemporaryError(str(exc)) from exc
        body = message.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "firstline-webhooks/1",
            "Idempotency-Key": idempotency_key(message),
            DELIVERY_HEADER: str(message.pk),
            **{str(name): str(value) for name, value in message.headers.items()
               if name.lower() != SUBSCRIPTION_HEADER.lower()},
            signing.SIGNATURE_HEADER: signing.header(target.secret, body),
        }
        try:
            answer = httpclient.post(url, body, headers, timeout=conf.http_timeout())
        except TemporaryError:
            # No answer this time (refused, timed out): the log must not show an old code.
            _record_failure(message, None)
            raise
        if not 200 <= answer.status < 300:
            _record_failure(message, answer.status)
        httpclient.raise_for_status(answer, "webhook")
        return Sent(f"HTTP {answer.status}")
