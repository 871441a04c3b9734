"""Delivering the outbox: claims, retries with back-off, giving up, workers side by side."""

import threading
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.tasks import TaskResultStatus

from firstline.core.clock import now
from firstline.outbox import delivery
from firstline.outbox.management.commands.deliver_outbox import Command as DeliverCommand
from firstline.outbox.models import Channel, OutboxMessage, Status
from firstline.outbox.services import enqueue
from firstline.outbox.tasks import deliver_outbox
from tests.test_outbox_http import (
    FakeServer,
    Seen,
    closed_port,
    skip_unless_concurrent_connections_work,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def sms_webhook(settings):
    """SMS through the JSON webhook adapter; the test points the URL at its server."""
    settings.FIRSTLINE_SMS_PROVIDER = "webhook"
    settings.FIRSTLINE_SMS_WEBHOOK_URL = "http://127.0.0.1:9/unset"
    return settings


def sms(text: str = "Тест", phone: str = "+79255070602", **extra) -> OutboxMessage:
    return enqueue(partner=None, channel=Channel.SMS, recipient=phone, body=text, **extra)


def hook(url: str, body: str = '{"event": "test"}') -> OutboxMessage:
    return enqueue(partner=None, channel=Channel.WEBHOOK, recipient=url, body=body)


def test_backoff_doubles_from_a_minute_up_to_an_hour_with_jitter() -> None:
    """1, 2, 4 … minutes, never above the cap, each up to a quarter earlier (jitter)."""
    for attempt in range(1, 31):
        nominal = min(3600, 60 * 2 ** (attempt - 1))
        waits = {delivery.backoff(attempt).total_seconds() for _ in range(50)}
        assert all(0.75 * nominal <= wait <= nominal for wait in waits)
        assert len(waits) > 1  # jittered, not one fixed value


def test_backoff_follows_the_settings(settings) -> None:
    settings.FIRSTLINE_OUTBOX_BACKOFF_BASE_SECONDS = 10
    settings.FIRSTLINE_OUTBOX_BACKOFF_MAX_SECONDS = 30
    assert 7.5 <= delivery.backoff(1).total_seconds() <= 10
    assert 22.5 <= delivery.backoff(5).total_seconds() <= 30


def test_a_failed_send_is_retried_later_and_then_sent_once(db, sms_webhook) -> None:
    replies = iter([(503, {"error": "maintenance"}), (200, {"id": "sms-1"})])
    with FakeServer(lambda seen: next(replies)) as server, time_machine.travel(
        NOW, tick=False
    ) as clock:
        sms_webhook.FIRSTLINE_SMS_WEBHOOK_URL = server.url("/sms")
        message = sms()
        assert delivery.deliver_due() == 0
        message.refresh_from_db()
        assert (message.status, message.attempts) == (Status.PENDING, 1)
        assert message.last_error.startswith("SMS webhook: HTTP 503")
        wait = message.next_attempt_at - NOW
        assert timedelta(seconds=45) <= wait <= timedelta(seconds=60)
        assert message.claimed_until is None

        clock.shift(wait - timedelta(seconds=1))
        assert delivery.deliver_due() == 0  # not due yet: nothing sent
        assert len(server.requests) == 1

        clock.shift(timedelta(seconds=1))
        assert delivery.deliver_due() == 1
        assert delivery.deliver_due() == 0
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.SENT, 2)
    assert message.sent_at == NOW + wait
    assert message.provider_message_id == "sms-1"
    assert len(server.requests) == 2


def test_after_the_last_attempt_the_message_is_failed(db, sms_webhook) -> None:
    sms_webhook.FIRSTLINE_OUTBOX_MAX_ATTEMPTS = 3
    with FakeServer(lambda seen: (500, "boom")) as server, time_machine.travel(
        NOW, tick=False
    ) as clock:
        sms_webhook.FIRSTLINE_SMS_WEBHOOK_URL = server.url("/sms")
        message = sms()
        for _ in range(5):
            delivery.deliver_due()
            clock.shift(timedelta(hours=2))
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.FAILED, 3)
    assert message.last_error == "SMS webhook: HTTP 500 boom (gave up after 3 attempts)"
    assert len(server.requests) == 3


def test_the_default_schedule_keeps_trying_for_about_a_day(db, sms_webhook) -> None:
    """"A delivery down for an hour delays messages, it loses none" — nor for most of a day."""
    with time_machine.travel(NOW, tick=False) as clock:
        sms_webhook.FIRSTLINE_SMS_WEBHOOK_URL = f"http://127.0.0.1:{closed_port()}/down"
        message = sms()
        while True:
            delivery.deliver_due()
            message.refresh_from_db()
            if message.status != Status.PENDING:
                break
            clock.move_to(message.next_attempt_at)
        gave_up_after = now() - NOW
    assert message.status == Status.FAILED
    assert message.attempts == 30
    assert timedelta(hours=18) < gave_up_after < timedelta(hours=25)


def test_a_failing_message_does_not_hold_up_the_others(db) -> None:
    with FakeServer(lambda seen: (500, "down")) as bad, FakeServer() as good:
        stuck = hook(bad.url("/hook"))
        fine = hook(good.url("/hook"))
        crashed = enqueue(partner=None, channel=Channel.EMAIL, recipient="a@b.example",
                          body="x")
        with pytest.MonkeyPatch.context() as patch:
            # A bug in an adapter is caught like any other failure, message by message.
            patch.setattr(
                "firstline.outbox.adapters.EmailAdapter.send",
                lambda self, message: 1 / 0,
            )
            result = delivery.run_pass()
    assert (result.claimed, result.sent, result.retrying, result.failed) == (3, 1, 2, 0)
    statuses = dict(OutboxMessage.objects.values_list("pk", "status"))
    assert statuses == {stuck.pk: "pending", fine.pk: "sent", crashed.pk: "pending"}
    crashed.refresh_from_db()
    assert crashed.last_error == "ZeroDivisionError: division by zero"


def test_a_missing_mailer_is_retried_not_lost(db, settings) -> None:
    settings.FIRSTLINE_OUTBOX_MAILER = "no-such-mailer"
    message = enqueue(partner=None, channel=Channel.EMAIL, recipient="a@b.example", body="x")
    assert delivery.deliver_due() == 0
    message.refresh_from_db()
    assert message.status == Status.PENDING
    assert "no-such-mailer" in message.last_error


def test_a_claim_succeeds_for_exactly_one_worker(db) -> None:
    message = hook("http://127.0.0.1:9/x")
    first = delivery.claim(message.pk, "worker-1")
    assert first is not None
    assert delivery.claim(message.pk, "worker-2") is None
    message.refresh_from_db()
    assert (message.status, message.claimed_by, message.attempts) == ("sending", "worker-1", 1)
    assert message.claimed_until == first[1]


def test_a_message_of_a_worker_that_died_is_taken_over_when_its_lease_runs_out(
    db, settings
) -> None:
    settings.FIRSTLINE_OUTBOX_LEASE_SECONDS = 300
    with FakeServer() as server, time_machine.travel(NOW, tick=False) as clock:
        message = hook(server.url("/hook"))
        assert delivery.claim(message.pk, "dead-worker") is not None  # and then it died
        clock.shift(timedelta(seconds=299))
        assert delivery.deliver_due(worker_id="live-worker") == 0  # the lease still holds
        clock.shift(timedelta(seconds=2))
        assert delivery.deliver_due(worker_id="live-worker") == 1
    message.refresh_from_db()
    assert (message.status, message.claimed_by, message.attempts) == ("sent", "live-worker", 2)
    assert len(server.requests) == 1


def test_a_worker_whose_lease_ran_out_does_not_overwrite_the_new_owner(db, settings) -> None:
    settings.FIRSTLINE_OUTBOX_LEASE_SECONDS = 60
    with FakeServer() as server, time_machine.travel(NOW, tick=False) as clock:
        message = hook(server.url("/hook"))
        slow = delivery.claim(message.pk, "slow-worker")
        clock.shift(timedelta(seconds=61))
        fresh = delivery.claim(message.pk, "fresh-worker")
        assert slow is not None and fresh is not None
        delivery.attempt(*slow, "slow-worker")
        message.refresh_from_db()
        assert (message.status, message.claimed_by) == ("sending", "fresh-worker")
        assert delivery.attempt(*fresh, "fresh-worker") == Status.SENT
    message.refresh_from_db()
    assert (message.status, message.claimed_by) == ("sent", "fresh-worker")


def test_a_message_that_keeps_killing_its_worker_is_given_up(db, settings) -> None:
    """Each claim counts as an attempt, so a send that crashes the worker cannot loop forever."""
    settings.FIRSTLINE_OUTBOX_MAX_ATTEMPTS = 3
    with FakeServer() as server, time_machine.travel(NOW, tick=False) as clock:
        message = hook(server.url("/hook"))
        OutboxMessage.objects.filter(pk=message.pk).update(
            status=Status.SENDING, attempts=3, claimed_by="crashed",
            claimed_until=NOW - timedelta(seconds=1), last_error="HTTP 500",
        )
        clock.shift(timedelta(seconds=1))
        assert delivery.deliver_due() == 0
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.FAILED, 4)
    assert message.last_error.startswith("gave up after 3 attempts that did not finish")
    assert server.requests == []


def test_sent_failed_and_cancelled_messages_are_never_sent_again(db) -> None:
    with FakeServer() as server:
        for status in (Status.SENT, Status.FAILED, Status.CANCELLED):
            OutboxMessage.objects.filter(pk=hook(server.url("/")).pk).update(status=status)
        assert delivery.deliver_due() == 0
    assert server.requests == []


def test_the_limit_bounds_one_pass(db) -> None:
    with FakeServer() as server:
        for number in range(5):
            hook(server.url(f"/{number}"))
        assert delivery.deliver_due(limit=2) == 2
        assert delivery.deliver_due(limit=10) == 3
    assert sorted(seen.path for seen in server.requests) == ["/0", "/1", "/2", "/3", "/4"]


@pytest.mark.django_db(transaction=True)
def test_two_workers_deliver_a_hundred_messages_each_exactly_once(sms_webhook) -> None:
    skip_unless_concurrent_connections_work()
    with FakeServer(lambda seen: (200, {"id": seen.json()["phone"]}), delay=0.002) as server:
        sms_webhook.FIRSTLINE_SMS_WEBHOOK_URL = server.url("/sms")
        OutboxMessage.objects.bulk_create(
            OutboxMessage(channel=Channel.SMS, recipient=f"+7900000{number:04d}",
                          body=f"Сообщение {number}")
            for number in range(100)
        )
        sent, errors = two_workers_deliver(limit=10, timeout=60)

    assert errors == []
    phones = [seen.json()["phone"] for seen in server.requests]
    assert len(phones) == 100
    assert len(set(phones)) == 100
    assert sent["w1"] + sent["w2"] == 100
    assert min(sent.values()) > 0  # both workers really took part
    assert OutboxMessage.objects.filter(status=Status.SENT, attempts=1).count() == 100


def test_the_command_runs_one_pass(db) -> None:
    with FakeServer() as server:
        hook(server.url("/a"))
        out = StringIO()
        call_command("deliver_outbox", stdout=out)
    assert out.getvalue() == "outbox: 1 sent, 0 to retry, 0 failed\n"
    assert len(server.requests) == 1


def test_the_command_loop_sends_retries_when_due_and_stops_when_told(db, settings) -> None:
    """The worker: keeps passing over the outbox, so a retry goes out once it falls due."""
    settings.FIRSTLINE_OUTBOX_BACKOFF_BASE_SECONDS = 1
    settings.FIRSTLINE_OUTBOX_BACKOFF_MAX_SECONDS = 1
    out = StringIO()
    command = DeliverCommand(stdout=out)
    replies = iter([(503, "busy"), (200, {"id": "2"}), (200, {"id": "1"})])

    def respond(seen: Seen) -> tuple[int, object]:
        reply = next(replies)
        if len(server.requests) == 3:
            command.stop.set()  # as SIGTERM would: the loop ends after this pass
        return reply

    with FakeServer(respond) as server:
        first = hook(server.url("/first"))
        second = hook(server.url("/second"))
        call_command(command, "--loop", "--interval", "0.02", "--worker-id", "loop")
    assert [seen.path for seen in server.requests] == ["/first", "/second", "/first"]
    statuses = set(OutboxMessage.objects.values_list("status", "claimed_by", "attempts"))
    assert statuses == {("sent", "loop", 1), ("sent", "loop", 2)}
    assert OutboxMessage.objects.get(pk=first.pk).attempts == 2
    assert OutboxMessage.objects.get(pk=second.pk).attempts == 1
    assert out.getvalue().splitlines() == [
        "outbox: 1 sent, 1 to retry, 0 failed",
        "outbox: 1 sent, 0 to retry, 0 failed",
    ]


def test_the_task_delivers_what_is_due(db) -> None:
    with FakeServer() as server:
        hook(server.url("/a"))
        hook(server.url("/b"))
        result = deliver_outbox.enqueue()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 2
    assert len(server.requests) == 2


def two_workers_deliver(*, limit: int, timeout: float) -> tuple[dict[str, int], list]:
    """Workers w1 and w2, each on its own connection, start together and run delivery
    passes of `limit` (small batches, so both take part) until nothing is left; what each
    sent, and what they raised."""
    start = threading.Barrier(2)
    sent: dict[str, int] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            start.wait(timeout=10)
            sent[name] = 0
            while (result := delivery.run_pass(limit=limit, worker_id=name)).claimed:
                sent[name] += result.sent
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(name,)) for name in ("w1", "w2")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=timeout)
    return sent, errors
