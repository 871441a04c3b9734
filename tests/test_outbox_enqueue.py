"""Enqueueing outgoing messages: in the caller's transaction, deduplicated, nudged on commit."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from firstline.core.models import Partner
from firstline.outbox.models import Channel, OutboxMessage, Status
from firstline.outbox.queries import pending_for_ticket
from firstline.outbox.services import enqueue
from firstline.tickets.models import Ticket
from tests.test_outbox_http import (
    make_partner,
    make_ticket,
    skip_unless_concurrent_connections_work,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def partner(db) -> Partner:
    return make_partner("alpha")


@pytest.fixture
def ticket(partner: Partner) -> Ticket:
    return make_ticket(partner)


def letter(partner: Partner | None, **extra) -> OutboxMessage:
    fields = {"channel": Channel.EMAIL, "recipient": "ivan@customer.example",
              "subject": "Заявка принята", "body": "Мы получили вашу заявку."}
    return enqueue(partner=partner, **{**fields, **extra})


def test_enqueue_writes_a_pending_row_that_is_due_at_once(partner, ticket) -> None:
    with time_machine.travel(NOW, tick=False):
        message = enqueue(
            partner=partner, ticket=ticket, channel=Channel.SMS, recipient="+7 925 507-06-02",
            body="Заявка FL-000001 просрочена",
        )
    message.refresh_from_db()
    assert (message.partner, message.ticket, message.channel) == (partner, ticket, "sms")
    assert message.recipient == "+7 925 507-06-02"
    assert (message.status, message.attempts) == (Status.PENDING, 0)
    assert message.next_attempt_at == message.created_at == NOW
    assert message.dedupe_key is None
    assert (message.sent_at, message.claimed_until, message.last_error) == (None, None, "")


def test_a_letter_gets_its_message_id_when_enqueued(partner) -> None:
    """Every retry then sends the same Message-ID, so a duplicate threads with the first."""
    message = letter(partner)
    assert message.headers["Message-ID"].endswith("@alpha.example>")
    given = letter(partner, headers={"message-id": "<given@alpha.example>",
                                     "In-Reply-To": "<customer@mail.example>"})
    assert given.headers == {"message-id": "<given@alpha.example>",
                             "In-Reply-To": "<customer@mail.example>"}


def test_the_same_dedupe_key_enqueued_twice_makes_one_row(partner, ticket) -> None:
    key = f"escalation:{ticket.pk}:1:+79255070602:sms"
    first = enqueue(partner=partner, ticket=ticket, channel=Channel.SMS,
                    recipient="+79255070602", body="Эскалация", dedupe_key=key)
    second = enqueue(partner=partner, ticket=ticket, channel=Channel.SMS,
                     recipient="+79255070602", body="Эскалация (повтор)", dedupe_key=key)
    assert second.pk == first.pk
    assert second.body == "Эскалация"
    assert OutboxMessage.objects.count() == 1


def test_messages_without_a_dedupe_key_are_all_kept(partner) -> None:
    letter(partner)
    letter(partner, dedupe_key="")
    assert OutboxMessage.objects.filter(dedupe_key__isnull=True).count() == 2


def test_a_dedupe_key_taken_by_another_partner_is_refused(partner) -> None:
    """A colliding key must never hand one partner another partner's message."""
    letter(partner, dedupe_key="welcome:1")
    with pytest.raises(ValidationError) as error:
        letter(make_partner("beta"), dedupe_key="welcome:1")
    assert "dedupe_key" in error.value.message_dict


def test_a_rolled_back_transaction_leaves_no_message_and_sends_nothing(
    partner, django_capture_on_commit_callbacks
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        letter(partner)
        raise RuntimeError("the change that caused the letter failed")
    assert OutboxMessage.objects.count() == 0
    assert callbacks == []
    assert mail.outbox == []


def test_delivery_starts_only_after_commit_through_the_real_task(
    partner, django_capture_on_commit_callbacks
) -> None:
    """The on-commit nudge enqueues the deliver_outbox task (immediate backend in tests)."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        message = letter(partner)
        assert mail.outbox == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    assert len(mail.outbox) == 1
    message.refresh_from_db()
    assert message.status == Status.SENT


def test_one_nudge_per_transaction_however_many_messages(
    partner, django_capture_on_commit_callbacks
) -> None:
    """One delivery run sends them all: one task, not one per message."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        letter(partner)
        letter(partner, recipient="maria@customer.example")
        with transaction.atomic():
            letter(partner, recipient="oleg@customer.example")
    assert len(callbacks) == 1
    assert OutboxMessage.objects.filter(status=Status.SENT).count() == 3


def test_a_rolled_back_savepoint_does_not_take_the_later_nudge_with_it(
    partner, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            letter(partner)
            raise RuntimeError("this part is undone")
        letter(partner, recipient="maria@customer.example")
    assert len(callbacks) == 1
    assert OutboxMessage.objects.get().status == Status.SENT


def test_a_deduplicated_enqueue_does_not_nudge_again(
    partner, django_capture_on_commit_callbacks
) -> None:
    letter(partner, dedupe_key="once")
    with django_capture_on_commit_callbacks() as callbacks:
        letter(partner, dedupe_key="once")
    assert callbacks == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"channel": "pigeon"}, "channel"),
        ({"channel": Channel.EMAIL, "recipient": "not an address"}, "recipient"),
        ({"channel": Channel.SMS, "recipient": "call me"}, "recipient"),
        ({"channel": Channel.VOICE, "recipient": "123"}, "recipient"),
        ({"channel": Channel.WEBHOOK, "recipient": "ftp://hooks.example/x"}, "recipient"),
        ({"channel": Channel.EMAIL, "recipient": "  "}, "recipient"),
        ({"body": "   "}, "body"),
        ({"headers": {"X-Evil": "a\r\nBcc: victim@example.com"}}, "headers"),
        ({"headers": {"Bad Name": "x"}}, "headers"),
        ({"dedupe_key": "k" * 256}, "dedupe_key"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    partner, fields, field
) -> None:
    with pytest.raises(ValidationError) as error:
        letter(partner, **fields)
    assert field in error.value.message_dict
    assert OutboxMessage.objects.count() == 0


def test_a_message_about_a_ticket_belongs_to_the_tickets_partner(partner, ticket) -> None:
    other = make_partner("beta")
    with pytest.raises(ValidationError) as error:
        letter(other, ticket=ticket)
    assert "ticket" in error.value.message_dict
    with pytest.raises(ValidationError):
        letter(None, ticket=ticket)


def test_a_provider_message_needs_no_partner(db) -> None:
    message = letter(None, recipient="admin@provider.example")
    assert message.partner is None
    assert message.headers["Message-ID"].endswith("@localhost>")


def test_pending_for_ticket_lists_what_still_waits_oldest_first(partner, ticket) -> None:
    with time_machine.travel(NOW, tick=False) as clock:
        waiting = letter(partner, ticket=ticket)
        clock.shift(timedelta(minutes=1))
        in_flight = letter(partner, ticket=ticket)
        for status in (Status.SENT, Status.FAILED, Status.CANCELLED):
            OutboxMessage.objects.filter(pk=letter(partner, ticket=ticket).pk).update(
                status=status
            )
        letter(partner, ticket=make_ticket(partner))  # another ticket
        letter(partner)  # no ticket
    OutboxMessage.objects.filter(pk=in_flight.pk).update(status=Status.SENDING)
    assert list(pending_for_ticket(ticket.pk)) == [waiting, in_flight]


@pytest.mark.django_db(transaction=True)
def test_two_transactions_enqueueing_one_key_at_the_same_time_make_one_row() -> None:
    """The loser of the race gets the winner's row, in its own still-usable transaction.

    On PostgreSQL the second INSERT waits for the first transaction and then fails on the
    unique key inside a savepoint, and the second transaction goes on with the first row.
    """
    skip_unless_concurrent_connections_work()
    partner = make_partner("race")
    inserted = threading.Event()
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                results["first"] = letter(partner, dedupe_key="race-key").pk
                inserted.set()
                time.sleep(0.3)  # hold the uncommitted row while the other one tries
        except BaseException as exc:
            errors.append(exc)
        finally:
            inserted.set()
            connection.close()

    def second() -> None:
        try:
            inserted.wait(5)
            with transaction.atomic():
                results["second"] = letter(partner, dedupe_key="race-key").pk
                # The caller's transaction goes on after the duplicate was detected.
                results["after"] = OutboxMessage.objects.count()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert results["first"] == results["second"]
    assert OutboxMessage.objects.filter(dedupe_key="race-key").count() == 1
