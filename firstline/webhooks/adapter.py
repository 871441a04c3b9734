"""The outbox adapter of the `event_hook` channel: sign at send time and POST, a batch at once.

The outbox claims the rows, counts the attempts and schedules retries; this adapter re-checks
each URL (DNS can change after the subscription was saved), signs each body with the
subscription's current secret and a fresh timestamp, POSTs it and records what the
receiver answered.

A batch (`send_batch`, what the worker calls) costs:
- subscriptions: from a short per-process cache (`CACHE_SECONDS`; a change made in this
  process clears it at once, one made elsewhere reaches every worker within that time),
  the missing ones in one query;
- the URL check: once per URL per batch; it returns the address it checked, and the POST
  connects to exactly that address (no second DNS answer: closes DNS rebinding), over a
  kept-alive connection to that address (httpclient.post_to_address);
- the sends: up to `conf.send_threads()` at once from a small thread pool. The threads do
  HTTP only, never the database (a test's transaction and Django's per-thread connections
  stay out of it);
- the answers: a 2xx costs no query here (its code travels in the outbox row's provider id,
  "HTTP 200"); failures write their code on the deliveries, one UPDATE per code.
"""

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from firstline.core.secret_field import reveal
from firstline.outbox import conf, httpclient
from firstline.outbox.adapters import Sent, idempotency_key
from firstline.outbox.errors import NotStarted, PermanentError, TemporaryError
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
_senders: ThreadPoolExecutor | None = None
_senders_size = 0


def forget(subscription_id: int | None = None) -> None:
    """Drop cached subscriptions (all, or one) in this process."""
    with _lock:
        if subscription_id is None:
            _cache.clear()
        else:
            _cache.pop(subscription_id, None)


def _targets(subscription_ids: set[int]) -> dict[int, _Target]:
    """The subscriptions, from the cache or (the missing ones) in one query."""
    moment = time.monotonic()
    found: dict[int, _Target] = {}
    with _lock:
        for pk in subscription_ids:
            cached = _cache.get(pk)
            if cached is not None and cached.expires > moment:
                found[pk] = cached
    missing = subscription_ids - found.keys()
    if missing:
        rows = Subscription.objects.filter(pk__in=missing).values_list(
            "pk", "url", "secret", "is_active")
        loaded = {
            # The encrypted field decrypts in values_list too; reveal() names a missing key.
            pk: _Target(url, reveal(secret, "webhook secret"), is_active,
                        moment + CACHE_SECONDS)
            for pk, url, secret, is_active in rows
        }
        with _lock:
            _cache.update(loaded)
        found.update(loaded)
    return found


def _header_subscription_id(message: OutboxMessage) -> int | None:
    for name, value in message.headers.items():
        if name.lower() == SUBSCRIPTION_HEADER.lower():
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


def _subscription_ids(messages: Sequence[OutboxMessage]) -> dict[int, int]:
    """message pk → subscription pk; rows written before the header existed are looked up
    in one query."""
    found = {message.pk: _header_subscription_id(message) for message in messages}
    older = [pk for pk, subscription_id in found.items() if subscription_id is None]
    if older:
        found.update(Delivery.objects.filter(message_id__in=older).values_list(
            "message_id", "subscription_id"))
    return {pk: subscription_id for pk, subscription_id in found.items()
            if subscription_id is not None}


@dataclass(frozen=True)
class _Job:
    message: OutboxMessage
    url: str
    address: httpclient.Address
    secret: str
    # Whether the environment sends this URL through a proxy (checked once per batch).
    proxied: bool


@dataclass(frozen=True)
class _Outcome:
    result: Sent | BaseException
    # The receiver's answer when it was not a 2xx; None when there was no answer at all.
    failed_code: int | None = None
    answered_failure: bool = False


def _checked_address(url: str) -> httpclient.Address | BaseException:
    try:
        return addresses.checked_address(url)
    except addresses.RefusedURL as exc:
        return PermanentError(f"refused URL {httpclient.printable_url(url)}: {exc}")
    except LookupError as exc:
        return TemporaryError(str(exc))


def _post(job: _Job, deadline: float) -> _Outcome:
    """One send (in a pool thread: HTTP only, no database)."""
    if time.monotonic() > deadline:
        return _Outcome(NotStarted())
    message = job.message
    body = message.body.encode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "firstline-webhooks/1",
        "Idempotency-Key": idempotency_key(message),
        DELIVERY_HEADER: str(message.pk),
        **{str(name): str(value) for name, value in message.headers.items()
           if name.lower() != SUBSCRIPTION_HEADER.lower()},
        signing.SIGNATURE_HEADER: signing.header(job.secret, body),
    }
    try:
        answer = httpclient.post_to_address(job.url, job.address, body, headers,
                                            timeout=conf.http_timeout(),
                                            through_proxy=job.proxied)
    except TemporaryError as exc:
        # No answer this time (refused, timed out): the log must not show an old code.
        return _Outcome(exc, None, answered_failure=True)
    try:
        httpclient.raise_for_status(answer, "webhook")
    except (TemporaryError, PermanentError) as exc:
        return _Outcome(exc, answer.status, answered_failure=True)
    return _Outcome(Sent(f"HTTP {answer.status}"))


def _sender_pool(size: int) -> ThreadPoolExecutor:
    """The process's sending threads, made again when the setting changed."""
    global _senders, _senders_size
    with _lock:
        if _senders is None or _senders_size != size:
            if _senders is not None:
                _senders.shutdown(wait=False)
            _senders, _senders_size = ThreadPoolExecutor(
                size, thread_name_prefix="webhook"), size
        return _senders


def _run(jobs: list[_Job], deadline: float) -> list[_Outcome]:
    threads = conf.send_threads()
    if len(jobs) <= 1 or threads == 1:
        return [_post(job, deadline) for job in jobs]
    return list(_sender_pool(threads).map(lambda job: _post(job, deadline), jobs))


def _record_failures(outcomes: dict[int, _Outcome]) -> None:
    """The failed sends' answers on their deliveries: one UPDATE per code."""
    by_code: dict[int | None, list[int]] = {}
    for pk, outcome in outcomes.items():
        if outcome.answered_failure:
            by_code.setdefault(outcome.failed_code, []).append(pk)
    for code, pks in by_code.items():
        Delivery.objects.filter(message_id__in=pks).update(response_code=code)


class EventHookAdapter:
    def ready(self) -> bool:
        return True

    def send(self, message: OutboxMessage) -> Sent:
        (result,) = self.send_batch([message], deadline=float("inf"))
        if isinstance(result, BaseException):
            raise result
        return result

    def send_batch(self, messages: Sequence[OutboxMessage], *,
                   deadline: float) -> list[Sent | BaseException]:
        """Each message's outcome, in order: Sent, or the error (NotStarted when the
        deadline passed before it could start)."""
        subscription_of = _subscription_ids(messages)
        targets = _targets(set(subscription_of.values()))
        checked: dict[str, httpclient.Address | BaseException] = {}
        proxied: dict[str, bool] = {}
        results: dict[int, Sent | BaseException] = {}
        jobs: list[_Job] = []
        for message in messages:
            target = targets.get(subscription_of.get(message.pk, -1))
            if target is None:
                results[message.pk] = PermanentError(
                    "the webhook subscription no longer exists")
                continue
            if not target.is_active:
                results[message.pk] = PermanentError("the webhook subscription is switched off")
                continue
            # The subscription's URL now: a corrected URL serves the retries too.
            if target.url not in checked:
                checked[target.url] = _checked_address(target.url)
                proxied[target.url] = httpclient.uses_proxy(target.url)
            address = checked[target.url]
            if isinstance(address, BaseException):
                results[message.pk] = address
                continue
            jobs.append(_Job(message, target.url, address, target.secret,
                             proxied[target.url]))
        outcomes = {job.message.pk: outcome
                    for job, outcome in zip(jobs, _run(jobs, deadline), strict=True)}
        _record_failures(outcomes)
        results.update((pk, outcome.result) for pk, outcome in outcomes.items())
        return [results[message.pk] for message in messages]
