"""Telegram as a customer channel, against a stand-in Bot API server (tests/telegram_standin.py):
updates in the documented shape open and thread tickets, the operator's reply and the
acknowledgement go back to the chat through the outbox, files become attachments, bad
updates are refused or kept with their reason."""

import io
import json
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client, override_settings

from firstline.contacts.models import ContactPhone
from firstline.core.audit import AuditEvent
from firstline.core.clock import now
from firstline.outbox import delivery
from firstline.outbox.models import Channel as OutboxChannel
from firstline.outbox.models import OutboxMessage
from firstline.outbox.models import Status as OutboxStatus
from firstline.telegram import services
from firstline.telegram.models import Bot, Chat, Update
from firstline.tickets.models import Attachment, Channel, IdentifiedBy, Message, Status, Ticket
from firstline.tickets.services import TicketChange, add_message, change_ticket
from tests.telegram_standin import TelegramStandIn

TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
OTHER_TOKEN = "7099999999:AAFzzTcvCH1vGWJxfSeofSAs0K5PALDsaw9"
CHAT = 55501
REPLY = "Иван, добрый день! Проверьте, пожалуйста, пароль: мы его сбросили."
JPEG = b"\xff\xd8\xff\xe0" + b"photo-bytes" * 100


@pytest.fixture
def api():
    with TelegramStandIn() as standin:
        standin.add_bot(TOKEN, "alpha_support_bot")
        with override_settings(FIRSTLINE_TELEGRAM_API_URL=standin.url):
            yield standin


@pytest.fixture
def bot(cast, api) -> Bot:
    return services.save_bot(partner=cast.a.partner, actor=cast.supervisor, token=TOKEN,
                             mode=Bot.Mode.WEBHOOK, is_active=True)


def update(update_id: int, text: str | None = "Не работает FTP, помогите", *,
           chat: int = CHAT, **message) -> dict:
    body = {
        "message_id": update_id * 10, "date": 1765000000,
        "from": {"id": chat, "is_bot": False, "first_name": "Иван", "last_name": "Петров",
                 "username": "ivan_p", "language_code": "ru"},
        "chat": {"id": chat, "type": "private", "first_name": "Иван"},
        **message,
    }
    if text is not None:
        body["text"] = text
    return {"update_id": update_id, "message": body}


def post(bot: Bot, payload, *, secret: str | None = "right"):  # noqa: S107
    headers = {}
    if secret == "right":
        headers["X-Telegram-Bot-Api-Secret-Token"] = str(bot.secret_token)
    elif secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return Client().post(f"/telegram/{bot.bot_id}/webhook", body,
                         content_type="application/json", headers=headers)


def telegram_rows(ticket: Ticket) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(ticket=ticket, channel=OutboxChannel.TELEGRAM)
                .order_by("id"))


def test_an_update_opens_a_ticket_and_the_reply_is_posted_back_to_the_chat(cast, api, bot):
    answer = post(bot, update(1))
    assert answer.status_code == 200, answer.content
    row = Update.objects.get(bot=bot, update_id=1)
    assert row.status == Update.Status.PROCESSED, row.error
    ticket = row.ticket
    assert ticket.channel == Channel.TELEGRAM
    assert ticket.partner == cast.a.partner
    assert ticket.subject == "Не работает FTP, помогите"
    assert ticket.identified_by == IdentifiedBy.NONE  # unknown customer: still a ticket
    assert ticket.contact.name == "Иван Петров"
    # The acknowledgement: on the ticket and in the outbox for the chat, asking for the phone.
    (ack,) = telegram_rows(ticket)
    assert ack.recipient == str(CHAT)
    assert ticket.number in ack.body and "Иван Петров" in ack.body
    assert delivery.run_pass().sent == 1
    (sent,) = api.sent("sendMessage")
    assert sent.params["chat_id"] == CHAT
    assert ticket.number in sent.params["text"]
    (button,) = sent.params["reply_markup"]["keyboard"][0]
    assert button["request_contact"] is True

    reply = add_message(ticket=ticket, actor=cast.operator, kind=Message.Kind.REPLY,
                        text=REPLY)
    rows = telegram_rows(ticket)
    assert len(rows) == 2 and rows[-1].body.startswith(REPLY)
    # Answered in the chat only: no letter goes out for a Telegram ticket.
    assert not OutboxMessage.objects.filter(ticket=ticket, channel=OutboxChannel.EMAIL).exists()
    assert delivery.run_pass().sent == 1
    last = api.sent("sendMessage")[-1]
    assert last.params["chat_id"] == CHAT and last.params["text"].startswith(REPLY)
    assert "reply_markup" not in last.params
    assert OutboxMessage.objects.get(pk=rows[-1].pk).provider_message_id
    assert reply.kind == Message.Kind.REPLY


def test_a_reply_with_a_file_sends_the_file_to_the_chat(cast, api, bot):
    post(bot, update(1))
    ticket = Update.objects.get(update_id=1).ticket
    pdf = SimpleUploadedFile("Инструкция «VPN».pdf", b"%PDF-1.4 vpn", "application/pdf")
    add_message(ticket=ticket, actor=cast.operator, kind=Message.Kind.REPLY, text=REPLY,
                attachments=[pdf])
    assert delivery.run_pass().sent == 3  # the acknowledgement, the reply, the file
    (sent,) = api.sent("sendDocument")
    assert sent.params["chat_id"] == str(CHAT)
    assert sent.params["caption"] == "Инструкция «VPN».pdf"
    assert sent.params["document"]["content"] == b"%PDF-1.4 vpn"
    assert sent.params["document"]["filename"] == "Инструкция «VPN».pdf"
    assert sent.params["document"]["content_type"] == "application/pdf"


def test_one_bots_secret_does_not_open_another_bots_webhook(cast, api, bot):
    api.add_bot(OTHER_TOKEN, "beta_bot")
    other = services.save_bot(partner=cast.b.partner, actor=cast.supervisor,
                              token=OTHER_TOKEN, mode=Bot.Mode.WEBHOOK, is_active=True)
    assert post(other, update(1), secret=str(bot.secret_token)).status_code == 403
    assert post(bot, update(1), secret=str(other.secret_token)).status_code == 403
    assert not Update.objects.exists()
    assert post(other, update(1)).status_code == 200
    assert Update.objects.get().ticket.partner == cast.b.partner


@pytest.mark.parametrize("secret", [None, "wrong", ""])
def test_an_update_without_the_right_secret_is_refused_and_nothing_is_stored(
        cast, api, bot, secret):
    answer = post(bot, update(1), secret=secret)
    assert answer.status_code == 403
    assert not Update.objects.exists()
    assert not Ticket.objects.filter(channel=Channel.TELEGRAM).exists()


def test_an_unknown_bot_and_a_get_are_refused(cast, api, bot):
    assert Client().post("/telegram/42/webhook", "{}", content_type="application/json",
                         headers={"X-Telegram-Bot-Api-Secret-Token": "x"}).status_code == 404
    assert Client().get(f"/telegram/{bot.bot_id}/webhook").status_code == 405
    assert not Update.objects.exists()


def test_the_same_update_twice_is_processed_once(cast, api, bot):
    assert post(bot, update(7)).json()["duplicate"] is False
    assert post(bot, update(7)).json()["duplicate"] is True
    assert Update.objects.filter(bot=bot).count() == 1
    (ticket,) = Ticket.objects.filter(channel=Channel.TELEGRAM)
    assert ticket.messages.filter(kind=Message.Kind.INBOUND).count() == 1
    assert len(telegram_rows(ticket)) == 1  # one acknowledgement


def test_later_messages_of_the_chat_join_its_ticket_reopen_it_or_open_a_new_one(
        cast, api, bot):
    post(bot, update(1))
    ticket = Update.objects.get(update_id=1).ticket
    post(bot, update(2, "И почта тоже"))
    assert Update.objects.get(update_id=2).ticket == ticket
    assert ticket.messages.filter(kind=Message.Kind.INBOUND).count() == 2
    assert len(telegram_rows(ticket)) == 1  # no second acknowledgement

    change_ticket(ticket=ticket, actor=cast.supervisor, change=TicketChange(status=Status.OPEN))
    change_ticket(ticket=ticket, actor=cast.supervisor,
                  change=TicketChange(status=Status.RESOLVED))
    post(bot, update(3, "Опять не работает"))
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN  # reopened, as mail does

    Ticket.objects.filter(pk=ticket.pk).update(status=Status.CLOSED)
    post(bot, update(4, "Новая проблема с DNS"))
    newer = Update.objects.get(update_id=4)
    assert newer.ticket != ticket and newer.ticket.subject == "Новая проблема с DNS"
    assert "closed" in newer.problems
    # Another chat is another customer and another ticket.
    post(bot, update(5, "У меня свой вопрос", chat=777))
    assert Update.objects.get(update_id=5).ticket not in (ticket, newer.ticket)


def test_a_photo_and_a_document_become_attachments_with_safe_names(
        cast, api, bot, django_capture_on_commit_callbacks):
    """The files are fetched by the task enqueued on commit (run at once in the tests)."""
    api.add_file(TOKEN, "ph-big", JPEG, path="photos/file_1.jpg")
    api.add_file(TOKEN, "doc-1", b"%PDF-1.4 invoice", path="documents/file_2.pdf")
    photo = [{"file_id": "ph-small", "file_unique_id": "s", "width": 90, "height": 90,
              "file_size": 900},
             {"file_id": "ph-big", "file_unique_id": "b", "width": 1280, "height": 960,
              "file_size": len(JPEG)}]
    with django_capture_on_commit_callbacks(execute=True):
        post(bot, update(1, None, photo=photo, caption="Вот скриншот ошибки"))
    ticket = Update.objects.get(update_id=1).ticket
    (attachment,) = Attachment.objects.filter(message__ticket=ticket)
    assert attachment.file.read() == JPEG
    attachment.file.close()
    assert attachment.filename == "photo_10.jpg" and attachment.content_type == "image/jpeg"
    assert ticket.messages.first().body_text == "Вот скриншот ошибки"
    assert api.sent("getFile")[0].params == {"file_id": "ph-big"}  # the largest size only

    document = {"file_id": "doc-1", "file_unique_id": "d", "file_name": "../../Счёт\u202efdp.exe",
                "mime_type": "application/pdf", "file_size": 16}
    with django_capture_on_commit_callbacks(execute=True):
        post(bot, update(2, None, document=document))
    message = Update.objects.get(update_id=2).ticket_message
    (attachment,) = message.attachments.all()
    assert attachment.filename == "Счёт_fdp.exe"  # no directories, no disguising override
    assert "/" not in attachment.file.name.rsplit("attachments/", 1)[1].split("/", 3)[-1]


def test_a_24_mb_photo_is_refused_with_a_note_and_the_customer_is_told(cast, api, bot):
    size = 24 * 1024 * 1024
    photo = [{"file_id": "huge", "file_unique_id": "h", "width": 8000, "height": 6000,
              "file_size": size}]
    post(bot, update(1, None, photo=photo, caption="Фото стойки"))
    row = Update.objects.get(update_id=1)
    assert row.status == Update.Status.PROCESSED
    ticket = row.ticket
    assert ticket.messages.filter(kind=Message.Kind.INBOUND).first().body_text == "Фото стойки"
    assert not Attachment.objects.filter(message__ticket=ticket).exists()
    note = ticket.messages.get(kind=Message.Kind.NOTE)
    assert "photo_10.jpg" in note.body_text and "24.0\u00a0MB" in note.body_text
    assert "20.0\u00a0MB" in note.body_text
    told = [row for row in telegram_rows(ticket) if "photo_10.jpg" in row.body]
    assert len(told) == 1 and "20,0\u00a0МБ" in told[0].body
    assert not api.sent("getFile") and not api.downloads  # never fetched


def test_a_file_telegram_refuses_to_serve_is_named_in_a_note(
        cast, api, bot, django_capture_on_commit_callbacks):
    """No file_size in the update: getFile answers 'file is too big' (over 20 MB)."""
    api.add_file(TOKEN, "vid", b"x", path="videos/v.mp4", size=30 * 1024 * 1024)
    document = {"file_id": "vid", "file_unique_id": "v", "file_name": "запись.mp4"}
    with django_capture_on_commit_callbacks(execute=True):
        post(bot, update(1, "Запись звонка", document=document))
    ticket = Update.objects.get(update_id=1).ticket
    note = ticket.messages.get(kind=Message.Kind.NOTE)
    assert "запись.mp4" in note.body_text and "20.0\u00a0MB" in note.body_text
    assert not Attachment.objects.filter(message__ticket=ticket).exists()


def test_long_polling_picks_up_updates_once(cast, api):
    bot = services.save_bot(partner=cast.a.partner, actor=cast.supervisor, token=TOKEN,
                            mode=Bot.Mode.POLLING, is_active=True)
    api.queue_update(TOKEN, update(100))
    api.queue_update(TOKEN, update(101, "И ещё вопрос"))
    out = io.StringIO()
    call_command("telegram_poll", stdout=out)
    assert "2 Telegram update(s)" in out.getvalue()
    bot.refresh_from_db()
    assert bot.last_update_id == 101
    ticket = Update.objects.get(update_id=100).ticket
    assert Update.objects.get(update_id=101).ticket == ticket
    assert Update.objects.filter(source=Update.Source.POLLING).count() == 2
    services.poll_all()
    offsets = [call.params["offset"] for call in api.sent("getUpdates")]
    assert offsets == [1, 102]  # the second call confirms both, and gets nothing new
    assert Update.objects.count() == 2


def test_polling_with_no_polling_bot_asks_telegram_nothing(cast, api, bot):
    assert services.poll_all() == 0
    assert not api.calls  # save_bot does not call Telegram either
    assert not api.sent("getUpdates")


def test_flood_control_429_is_retried_and_a_blocked_bot_fails_for_good(cast, api, bot):
    post(bot, update(1))
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    with time_machine.travel(now(), tick=False) as clock:
        result = delivery.run_pass()
        assert (result.sent, result.retrying) == (0, 1)
        (row,) = OutboxMessage.objects.filter(channel=OutboxChannel.TELEGRAM)
        assert row.status == OutboxStatus.PENDING and "retry after 3" in row.last_error
        clock.shift(timedelta(hours=1))
        assert delivery.run_pass().sent == 1
    assert len(api.sent("sendMessage")) == 2

    post(bot, update(2, "Другой вопрос", chat=888))
    api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    assert delivery.run_pass().failed == 1
    failed = OutboxMessage.objects.get(recipient="888")
    assert failed.status == OutboxStatus.FAILED and "blocked" in failed.last_error


def test_the_shared_phone_number_finds_the_partners_contact(cast, api, bot):
    ContactPhone.objects.create(partner=cast.a.partner, contact=cast.a.contact,
                                number="+7 (912) 345-67-89")
    # Partner B's contact with the same number is not partner A's customer.
    ContactPhone.objects.create(partner=cast.b.partner, contact=cast.b.contact,
                                number="+79123456789")
    post(bot, update(1))
    ticket = Update.objects.get(update_id=1).ticket
    stranger = ticket.contact
    shared = {"phone_number": "79123456789", "first_name": "Иван", "user_id": CHAT}
    row = post(bot, update(2, None, contact=shared)) and Update.objects.get(update_id=2)
    assert row.status == Update.Status.PROCESSED, row.error
    ticket.refresh_from_db()
    assert ticket.contact == cast.a.contact  # found by the phone, the ticket is theirs now
    assert Chat.objects.get(chat_id=CHAT).contact == cast.a.contact
    assert stranger != cast.a.contact
    assert "+79123456789" in ticket.messages.get(kind=Message.Kind.NOTE).body_text
    assert AuditEvent.objects.filter(action="telegram.contact_found").exists()
    # The message written before the phone was shared is theirs too (the portal's «Вы»).
    assert [m.author_contact for m in ticket.messages.filter(kind=Message.Kind.INBOUND)] == [
        cast.a.contact]
    # The same number shared again changes nothing and fails nothing.
    post(bot, update(4, None, contact=shared))
    assert Update.objects.get(update_id=4).status == Update.Status.PROCESSED
    post(bot, update(3, "Спасибо"))
    assert ticket.messages.filter(kind=Message.Kind.INBOUND).last().author_contact == \
        cast.a.contact


def test_somebody_elses_phone_number_identifies_nobody(cast, api, bot):
    ContactPhone.objects.create(partner=cast.a.partner, contact=cast.a.contact,
                                number="+79123456789")
    post(bot, update(1))
    shared = {"phone_number": "+79123456789", "first_name": "Иван", "user_id": 999}
    post(bot, update(2, None, contact=shared))
    ticket = Update.objects.get(update_id=1).ticket
    ticket.refresh_from_db()
    assert ticket.contact != cast.a.contact
    assert "not the sender's own" in Update.objects.get(update_id=2).problems


def test_a_contract_number_in_the_text_identifies_the_customer(cast, api, bot):
    post(bot, update(1, "Договор № alpha-001: не работает FTP"))
    ticket = Update.objects.get(update_id=1).ticket
    assert ticket.identified_by == IdentifiedBy.CONTRACT_NUMBER
    assert ticket.contact.organisation == cast.a.organisation
    (ack,) = telegram_rows(ticket)
    assert "X-Telegram-Keyboard" not in ack.headers  # identified: no phone asked


@pytest.mark.parametrize("payload, status, reason", [
    ("{not json", Update.Status.FAILED, "not JSON"),
    ({"update_id": 9}, Update.Status.IGNORED, "Not a message"),
    ({"update_id": 10, "edited_message": {"text": "x"}}, Update.Status.IGNORED, "Not a message"),
    ({"update_id": 11, "message": {"text": "x"}}, Update.Status.FAILED, "chat.id"),
])
def test_a_bad_update_is_kept_with_its_reason_and_opens_nothing(
        cast, api, bot, payload, status, reason):
    answer = post(bot, payload)
    assert answer.status_code == 200
    (row,) = Update.objects.all()
    assert row.status == status and reason in (row.error + row.problems)
    assert row.raw == (payload if isinstance(payload, str) else json.dumps(payload))
    assert not Ticket.objects.filter(channel=Channel.TELEGRAM).exists()


def test_a_bots_message_is_never_answered(cast, api, bot):
    payload = update(1)
    payload["message"]["from"]["is_bot"] = True
    post(bot, payload)
    row = Update.objects.get()
    assert row.status == Update.Status.IGNORED and "bot" in row.problems
    assert not OutboxMessage.objects.filter(channel=OutboxChannel.TELEGRAM).exists()


def test_automatic_replies_to_a_chat_are_rate_limited(cast, api, bot):
    for number in range(1, 8):
        post(bot, update(number, f"Вопрос {number}"))
        Ticket.objects.filter(channel=Channel.TELEGRAM).update(status=Status.CLOSED)
    acks = OutboxMessage.objects.filter(channel=OutboxChannel.TELEGRAM).count()
    assert 0 < acks < 7
    assert "most automatic replies" in Update.objects.get(update_id=7).problems


def test_a_failed_update_can_be_processed_again(cast, api, bot):
    post(bot, {"update_id": 11, "message": {"text": "x"}})
    row = Update.objects.get()
    Update.objects.filter(pk=row.pk).update(raw=json.dumps(update(11)))
    row = services.reprocess(update=Update.objects.get(pk=row.pk), actor=cast.supervisor)
    assert row.status == Update.Status.PROCESSED and row.ticket is not None
    with pytest.raises(Exception, match="failed"):
        services.reprocess(update=row, actor=cast.supervisor)
