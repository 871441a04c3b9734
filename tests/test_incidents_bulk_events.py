"""The incident's bulk reply is told as "message.public_reply" (issue 9), like a reply from
the desk: a linked ticket opened in Telegram gets the answer in its chat, a mail customer
exactly one letter (written by the bulk path, not again by the mail subscriber), and an
outbound webhook subscription one event per reply; the monitoring system's recovery too."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from firstline.contacts.models import ContactEmail
from firstline.incidents import services
from firstline.incidents.models import Impact
from firstline.outbox.models import Channel as OutboxChannel
from firstline.outbox.models import OutboxMessage
from firstline.telegram.models import Update
from firstline.tickets.models import Channel, Message, Status
from firstline.webhooks import adapter
from firstline.webhooks import services as webhook_services
from firstline.webhooks.models import Delivery
from tests.test_telegram import CHAT, api, bot, post, update  # noqa: F401 (fixtures)

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2027, 3, 2, 10, 0, tzinfo=MSK)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def hook(cast, settings):
    settings.FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE = True
    adapter.forget()
    subscription, _secret = webhook_services.create_subscription(
        actor=cast.supervisor, partner=cast.a.partner, url="http://127.0.0.1:9/hook",
        events=["message.public_reply"])
    yield subscription
    adapter.forget()


@pytest.fixture
def telegram_ticket(cast, bot):  # noqa: F811
    answer = post(bot, update(1))
    assert answer.status_code == 200, answer.content
    ticket = Update.objects.get(bot=bot, update_id=1).ticket
    assert ticket.channel == Channel.TELEGRAM
    # Even with an address on file, a Telegram customer is answered in the chat only.
    ContactEmail.objects.create(partner=cast.a.partner, contact=ticket.contact,
                                address="chat-customer@alpha.example", is_confirmed=True)
    return ticket


def linked_incident(cast, tickets):
    incident = services.open_incident(
        partner=cast.a.partner, actor=cast.operator, title="VPS недоступны",
        services=[cast.a.service], impact=Impact.FULL, started_at=NOW - timedelta(hours=1),
        time_zone="Europe/Moscow")
    services.link_tickets(incident=incident, actor=cast.operator, tickets=tickets)
    return incident


def announce(cast, incident):
    return services.create_announcement(
        partner=cast.a.partner, actor=cast.operator, kind="incident", incident=incident,
        audience="linked",
        values={"began_at": incident.started_at, "time_zone": "Europe/Moscow",
                "services": [cast.a.service], "impact": "full",
                "expected_fix_at": NOW + timedelta(hours=2)})


def chat_rows(ticket, reply):
    return OutboxMessage.objects.filter(ticket=ticket, channel=OutboxChannel.TELEGRAM,
                                        dedupe_key=f"telegram:reply:{reply.pk}")


def test_the_bulk_reply_reaches_the_chat_the_mailbox_once_and_the_webhook(
        cast, frozen, telegram_ticket, hook):
    incident = linked_incident(cast, [telegram_ticket, cast.a.ticket])
    announce(cast, incident)

    chat_reply = telegram_ticket.messages.get(kind=Message.Kind.REPLY, is_automatic=False)
    (chat_row,) = chat_rows(telegram_ticket, chat_reply)
    assert chat_row.recipient == str(CHAT)
    assert chat_row.body.startswith(chat_reply.body_text.rstrip())
    assert not OutboxMessage.objects.filter(ticket=telegram_ticket,
                                            channel=OutboxChannel.EMAIL).exists()
    assert not OutboxMessage.objects.filter(recipient="chat-customer@alpha.example").exists()

    mail_reply = cast.a.ticket.messages.get(kind=Message.Kind.REPLY)
    letters = OutboxMessage.objects.filter(ticket=cast.a.ticket,
                                           channel=OutboxChannel.EMAIL,
                                           dedupe_key__startswith="mail:reply:")
    assert list(letters.values_list("recipient", flat=True)) == ["ivan@alpha.example"]
    assert not chat_rows(cast.a.ticket, mail_reply).exists()

    told = Delivery.objects.filter(subscription=hook, event_type="message.public_reply")
    assert sorted(told.values_list("message__ticket_id", flat=True)) == sorted(
        [telegram_ticket.pk, cast.a.ticket.pk])
    assert len(set(told.values_list("event_id", flat=True))) == 2


def test_the_monitoring_systems_recovery_is_told_as_well(cast, frozen, telegram_ticket, hook):
    incident = linked_incident(cast, [telegram_ticket, cast.a.ticket])
    services.resolve_incident(
        incident=incident, actor=None, ended_at=NOW,
        recovery={"symptoms": "VPS недоступны", "cause": "Отказ коммутатора",
                  "measures": "Заменили коммутатор", "how_to_check": "Откройте панель",
                  "support_contacts": "support@alpha.example"})
    for ticket in (telegram_ticket, cast.a.ticket):
        ticket.refresh_from_db()
        assert ticket.status == Status.RESOLVED
    # The latest reply (the first is the chat's acknowledgement).
    recovery = telegram_ticket.messages.filter(kind=Message.Kind.REPLY).latest("id")
    assert recovery.is_automatic and "коммутатор" in recovery.body_text
    assert chat_rows(telegram_ticket, recovery).count() == 1
    assert OutboxMessage.objects.filter(ticket=cast.a.ticket, channel=OutboxChannel.EMAIL,
                                        dedupe_key__startswith="mail:reply:").count() == 1
    told = Delivery.objects.filter(subscription=hook, event_type="message.public_reply")
    assert told.count() == 2
