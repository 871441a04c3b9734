"""The demo's Telegram channel: one partner's bot that never reaches Telegram, its chats and
their tickets as the channel leaves them (updates in the documented shape, a fetched photo
and log, a video refused as over 20 MB), shown in the queue and on the ticket page."""

import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client, override_settings

from firstline.core.demo import build_demo
from firstline.telegram import files, services
from firstline.telegram.models import Bot, Chat, IncomingFile, Update
from firstline.telegram.parsing import parse
from firstline.tickets.models import Channel, Message, Status, Ticket
from tests.conftest import client_for
from tests.telegram_standin import TelegramStandIn

pytestmark = pytest.mark.django_db

MOMENT = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def demo():
    build_demo(moment=MOMENT)


def test_one_partner_has_a_bot_that_never_reaches_telegram(demo):
    (bot,) = Bot.objects.select_related("partner")
    assert bot.partner.slug == "oblakoteka" and bot.username == "oblakoteka_support_bot"
    assert not bot.is_active and bot.mode == Bot.Mode.POLLING
    assert "DEMO" in str(bot.token)
    with TelegramStandIn() as api, override_settings(FIRSTLINE_TELEGRAM_API_URL=api.url):
        assert services.poll_all() == 0
        assert files.fetch_due() == 0  # no file left to fetch
        assert not api.calls and not api.downloads
    # Its webhook is closed too: an inactive bot's address is a 404.
    answer = Client().post(f"/telegram/{bot.bot_id}/webhook", "{}",
                           content_type="application/json",
                           headers={"X-Telegram-Bot-Api-Secret-Token": str(bot.secret_token)})
    assert answer.status_code == 404
    assert bot.last_update_id == max(Update.objects.values_list("update_id", flat=True))


def test_telegram_tickets_with_their_chats_updates_and_files(demo):
    tickets = Ticket.objects.filter(channel=Channel.TELEGRAM).order_by("created_at")
    assert tickets.count() == 4
    assert {ticket.status for ticket in tickets} == {
        Status.NEW, Status.OPEN, Status.WAITING_CUSTOMER, Status.RESOLVED}
    for ticket in tickets:
        chat = Chat.objects.get(ticket=ticket)
        assert chat.contact == ticket.contact and chat.partner == ticket.partner
        inbound = ticket.messages.filter(kind=Message.Kind.INBOUND)
        updates = Update.objects.filter(ticket=ticket, ticket_message__isnull=False)
        assert updates.count() == inbound.count() > 0
        for update in updates:
            # Stored as Telegram sends it: the parser reads it back.
            incoming = parse(update.raw)
            assert incoming.kind == "message" and incoming.chat_id == chat.chat_id
            assert update.status == Update.Status.PROCESSED
            assert incoming.text == update.ticket_message.body_text
            assert sorted(ref.file_id for ref in incoming.files) == sorted(
                IncomingFile.objects.filter(update=update).values_list("file_id", flat=True))
        # The bot's acknowledgement: automatic, with the ticket's number.
        ack = ticket.messages.filter(kind=Message.Kind.REPLY, is_automatic=True).first()
        assert ack is not None and ticket.number in ack.body_text
    fetched = IncomingFile.objects.filter(status=IncomingFile.Status.FETCHED)
    assert {item.content_type for item in fetched} == {"image/png", "text/plain"}
    for item in fetched:
        content = item.attachment.file.read()
        item.attachment.file.close()
        assert len(content) == item.attachment.size == item.size
    assert fetched.get(content_type="image/png").attachment.file.name.endswith(".png")
    (refused,) = IncomingFile.objects.filter(status=IncomingFile.Status.FAILED)
    assert refused.reason == IncomingFile.Reason.TOO_BIG and refused.size > 20 * 1024 * 1024
    ticket = refused.message.ticket
    assert refused.filename in ticket.messages.get(kind=Message.Kind.NOTE).body_text
    told = ticket.messages.filter(kind=Message.Kind.REPLY, is_automatic=True,
                                  body_text__contains=refused.filename)
    assert told.count() == 1
    # The customer who shared their phone number is the partner's contact with it.
    shared = Update.objects.get(ticket_message__isnull=True)
    phone = json.loads(shared.raw)["message"]["contact"]["phone_number"]
    chat = Chat.objects.get(chat_id=shared.chat_id)
    assert chat.phone == f"+{phone}"
    assert chat.contact.phones.exists() and chat.contact.organisation is not None


def test_the_operator_sees_them_in_the_queue_and_on_the_ticket_page(demo):
    from firstline.core.models import User

    desk = client_for(User.objects.get(username="operator"))
    newest = Ticket.objects.get(channel=Channel.TELEGRAM, status=Status.NEW)
    queue = desk.get("/tickets/").content.decode()
    assert newest.number in queue
    page = desk.get(f"/tickets/{newest.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Telegram" in html
    assert newest.messages.get(kind=Message.Kind.INBOUND).attachments.get().filename in html


def test_the_demo_tickets_telegram_card_says_the_bot_is_off(demo):
    from firstline.core.models import User

    desk = client_for(User.objects.get(username="operator"))
    desk.cookies["django_language"] = "ru"
    ticket = Ticket.objects.get(channel=Channel.TELEGRAM, status=Status.OPEN)
    html = desk.get(f"/telegram/tickets/{ticket.pk}/chat/").content.decode()
    chat = Chat.objects.get(ticket=ticket)
    assert chat.phone in html and "клиент отправил его в чате" in html
    assert "@oblakoteka_support_bot" in html and "Выключен" in html
    assert "ждут в очереди отправки, пока бот не включат" in html


def test_a_reply_on_a_demo_telegram_ticket_waits_and_never_reaches_telegram(demo):
    from firstline.core.models import User
    from firstline.outbox import delivery
    from firstline.outbox.models import Channel as OutboxChannel
    from firstline.outbox.models import OutboxMessage
    from firstline.tickets.services import add_message

    ticket = Ticket.objects.get(channel=Channel.TELEGRAM, status=Status.NEW)
    operator = User.objects.get(username="operator")
    first_name = ticket.contact.name.split()[0]
    with TelegramStandIn() as api, override_settings(FIRSTLINE_TELEGRAM_API_URL=api.url), \
            time_machine.travel(MOMENT, tick=False):
        add_message(ticket=ticket, actor=operator, kind=Message.Kind.REPLY,
                    text=f"Здравствуйте, {first_name}! Проверили доступ: войдите снова.\n\n"
                         "С уважением,\nОльга, техническая поддержка «Облакотека»")
        delivery.run_pass()
        assert not api.calls
    row = OutboxMessage.objects.get(ticket=ticket, channel=OutboxChannel.TELEGRAM)
    assert row.status == "pending"  # kept until the bot is switched on
