"""The call events' inbox and its worker: failures leave the events, two workers apply each
event once, a running worker shows a call within a moment."""

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection, connections

from firstline.calls import inbox, services
from firstline.calls.events import BadEvent, Kind
from firstline.calls.models import Call, CallEventInbox, Outcome, RawCallEvent, Source
from firstline.core.clock import now
from tests import calls_support
from tests.calls_support import ALPHA_NUMBER, BETA_NUMBER

lines = calls_support.lines

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _events(call_id: str, dialled: str = ALPHA_NUMBER, at: datetime = T0) -> list[dict]:
    """A call as the JSON webhook's body gives it (validated and dumped)."""
    base = {"call_id": call_id, "direction": "inbound", "caller": "+79001112233",
            "dialled": "", "operator": "", "outcome": "", "talk_seconds": None,
            "recording_url": ""}
    return [
        {**base, "event": "start", "at": at.isoformat(), "dialled": dialled},
        {**base, "event": "offer", "at": (at + timedelta(seconds=5)).isoformat(),
         "operator": "101"},
        {**base, "event": "answer", "at": (at + timedelta(seconds=25)).isoformat(),
         "operator": "101"},
        {**base, "event": "end", "at": (at + timedelta(seconds=86)).isoformat()},
    ]


def _store(events: list[dict]) -> list[int]:
    return [inbox.store(source=Source.WEBHOOK, payload=data, dedupe_key=inbox.webhook_key(data),
                        external_id=data["call_id"], partner_id=None, received_at=now())
            for data in events]


def _work(batch: int = inbox.BATCH_SIZE) -> int:
    return inbox.work(stop=threading.Event(), batch=batch, once=True)


def _assert_answered(call: Call) -> None:
    assert (call.outcome, call.wait_seconds, call.talk_seconds) == (Outcome.ANSWERED, 25, 61), \
        call.external_id


@pytest.mark.django_db
def test_a_replay_already_waiting_or_applied_is_not_stored_again(lines):
    first = _store(_events("c-1"))
    assert None not in first and _store(_events("c-1")) == [None] * 4
    _work()
    assert _store(_events("c-1")) == [None] * 4
    assert not CallEventInbox.objects.exists() and RawCallEvent.objects.count() == 4


@pytest.mark.django_db
def test_a_database_failure_mid_batch_leaves_the_events_for_the_next_run(lines, monkeypatch):
    _store(_events("c-1") + _events("c-2", BETA_NUMBER))
    real = services.record_many
    calls = []

    def failing(**kwargs):  # the database goes away after part of the batch was written
        calls.append(kwargs["source"])
        real(**{**kwargs, "items": kwargs["items"][:3]})
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "record_many", failing)
    with pytest.raises(OperationalError):
        inbox.apply_batch()
    assert calls == ["webhook"]
    # Nothing of the batch was kept, and nothing of it is lost.
    assert CallEventInbox.objects.count() == 8
    assert not RawCallEvent.objects.exists() and not Call.objects.exists()
    monkeypatch.setattr(services, "record_many", real)
    assert _work() == 8
    for call in Call.objects.all():
        _assert_answered(call)
    assert not CallEventInbox.objects.exists()


@pytest.mark.django_db
def test_an_event_that_breaks_the_batch_is_kept_refused_and_the_others_are_applied(
        lines, monkeypatch):
    """A bug one event triggers must not hold up every event behind it."""
    _store(_events("c-1") + _events("poison") + _events("c-3"))
    real = services.record_many

    def breaks_on_poison(*, source, items):
        # Applying the poison call's answer breaks; storing it refused does not.
        for item in items:
            try:
                event = item.parse()
            except BadEvent:
                continue
            if (event.external_id, event.kind) == ("poison", Kind.ANSWER):
                raise RuntimeError("a bug")
        return real(source=source, items=items)

    monkeypatch.setattr(services, "record_many", breaks_on_poison)
    assert _work() == 12
    assert not CallEventInbox.objects.exists()
    _assert_answered(Call.objects.get(external_id="c-1"))
    _assert_answered(Call.objects.get(external_id="c-3"))
    kept = RawCallEvent.objects.get(state=RawCallEvent.State.FAILED)
    assert kept.payload["event"] == "answer" and "RuntimeError: a bug" in kept.reason
    assert RawCallEvent.objects.filter(state=RawCallEvent.State.PROCESSED).count() == 11


@pytest.mark.django_db
def test_the_worker_command_refuses_a_nonsense_batch(lines):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--batch"):
        call_command("calls_work", "--once", "--batch", "0")
    with pytest.raises(CommandError, match="--interval"):
        call_command("calls_work", "--interval", "0")


def _in_thread(target, *args):  # type: ignore[no-untyped-def]
    failures: list[BaseException] = []

    def run() -> None:
        try:
            target(*args)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, failures


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs several connections")
def test_two_workers_apply_each_event_exactly_once(lines):
    """150 calls, each call's events shuffled among the others (answers before starts,
    one call's events in both workers' batches at once): every event applied once, every
    call whole, none left waiting."""
    rng = random.Random(8)
    events = []
    for n in range(150):
        events.extend(_events(f"w-{n}", ALPHA_NUMBER if n % 2 else BETA_NUMBER,
                              T0 + timedelta(minutes=n)))
    # Shuffled within a sliding window: a call's events close together, in any order.
    keyed = sorted(enumerate(events), key=lambda pair: pair[0] + rng.uniform(0, 12))
    _store([data for _n, data in keyed])
    workers = [_in_thread(_work, 16) for _worker in range(2)]
    for thread, _failures in workers:
        thread.join(120)
    assert not any(failures for _thread, failures in workers), workers
    _work()  # what a worker that stopped early (all rows locked by the other) left
    assert not CallEventInbox.objects.exists()
    keys = list(RawCallEvent.objects.values_list("dedupe_key", flat=True))
    assert len(keys) == len(set(keys)) == 600
    assert not RawCallEvent.objects.exclude(state=RawCallEvent.State.PROCESSED).exists()
    assert Call.objects.count() == 150
    for call in Call.objects.all():
        _assert_answered(call)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs several connections")
def test_a_running_worker_applies_an_event_within_a_moment(lines):
    stop = threading.Event()
    thread, failures = _in_thread(lambda: inbox.work(stop=stop, interval=0.2))
    try:
        time.sleep(0.5)  # idle turns first
        stored = time.monotonic()
        _store(_events("live", at=now() - timedelta(seconds=3))[:2])
        while not Call.objects.exists() and time.monotonic() - stored < 5:
            time.sleep(0.02)
        elapsed = time.monotonic() - stored
    finally:
        stop.set()
        thread.join(10)
    assert not failures
    call = Call.objects.get()
    assert call.outcome == Outcome.RINGING and call.operator == lines.operator
    # The call card polls every 1.5 s: with this, a call shows within 2 s of its event.
    assert elapsed < 0.5, elapsed
