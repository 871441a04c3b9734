"""A Telegram message's files are fetched in the background, against the stand-in Bot API
(tests/telegram_standin.py): the update is processed without calling Telegram, the message
shows at once with a placeholder, the task (enqueued on commit) attaches the file; network
errors are retried, a file Telegram does not serve ends failed with the reason, and no
update or message is ever lost on the way."""

import io
import socket
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections
from django.template.loader import render_to_string
from django.test import Client, override_settings
from django.utils import translation

from firstline.core.audit import AuditEvent
from firstline.core.clock import now
from firstline.outbox.models import Channel as OutboxChannel
from firstline.outbox.models import OutboxMessage
from firstline.telegram import files, services
from firstline.telegram.models import Bot, IncomingFile, Update
from firstline.tickets.models import Attachment, Message
from tests.conftest import client_for
from tests.telegram_standin import TelegramStandIn
from tests.test_telegram import CHAT, JPEG, TOKEN, post, update

PHOTO = [{"file_id": "ph-small", "file_unique_id": "s", "width": 90, "height": 90,
          "file_size": 900},
         {"file_id": "ph-big", "file_unique_id": "b", "width": 1280, "height": 960,
          "file_size": len(JPEG)}]


@pytest.fixture
def api():
    with TelegramStandIn() as standin:
        standin.add_bot(TOKEN, "alpha_support_bot")
        with override_settings(FIRSTLINE_TELEGRAM_API_URL=standin.url,
                               FIRSTLINE_TELEGRAM_TIMEOUT=3):
            yield standin


@pytest.fixture
def bot(cast, api) -> Bot:
    return services.save_bot(partner=cast.a.partner, actor=cast.supervisor, token=TOKEN,
                             mode=Bot.Mode.WEBHOOK, is_active=True)


def closed_port_url() -> str:
    """An address where nothing listens: a real connection refusal, as when the Bot API
    is unreachable."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def shown(message: Message) -> str:
    with translation.override("ru"):
        return render_to_string("telegram/message_files.html",
                                {"message": Message.objects.get(pk=message.pk)})


def the_file() -> IncomingFile:
    return IncomingFile.objects.get()


def test_the_message_shows_at_once_and_the_worker_attaches_the_file(
        cast, api, bot, django_capture_on_commit_callbacks):
    api.add_file(TOKEN, "ph-big", JPEG, path="photos/file_1.png")
    with django_capture_on_commit_callbacks() as callbacks:
        answer = post(bot, update(1, None, photo=PHOTO))
    assert answer.status_code == 200 and answer.json()["status"] == "processed"
    # Processed with no call to Telegram: the ticket and message are there, the file pending.
    assert not api.sent("getFile") and not api.downloads
    row = Update.objects.get(update_id=1)
    message = row.ticket_message
    assert message.body_text == "[photo_10.jpg]"  # where the file will be
    assert not message.attachments.exists()
    item = the_file()
    assert (item.status, item.file_id, item.message, item.update) == (
        IncomingFile.Status.PENDING, "ph-big", message, row)
    assert "photo_10.jpg" in shown(message) and "загружается из Telegram" in shown(message)

    for callback in callbacks:  # the commit: the task is enqueued (run at once in tests)
        callback()
    (attachment,) = message.attachments.all()
    assert attachment.file.read() == JPEG
    attachment.file.close()
    # A photo takes its type from the file Telegram keeps.
    assert attachment.filename == "photo_10.png" and attachment.size == len(JPEG)
    item.refresh_from_db()
    assert (item.status, item.attachment, item.attempts) == (
        IncomingFile.Status.FETCHED, attachment, 1)
    assert [call.params for call in api.sent("getFile")] == [{"file_id": "ph-big"}]
    assert api.downloads == ["photos/file_1.png"]
    assert shown(message).strip() == ""  # an attachment now, shown as every attachment
    # Done once: the same task again does nothing.
    assert files.fetch(item.pk) == "skipped"
    assert message.attachments.count() == 1


def test_a_network_error_is_retried_later_and_nothing_is_lost(
        cast, api, bot, django_capture_on_commit_callbacks):
    api.add_file(TOKEN, "ph-big", JPEG, path="photos/file_1.jpg")
    with time_machine.travel(now(), tick=False) as clock:
        with override_settings(FIRSTLINE_TELEGRAM_API_URL=closed_port_url()), \
                django_capture_on_commit_callbacks(execute=True):
            post(bot, update(1, "Скриншот ошибки", photo=PHOTO))
        row = Update.objects.get(update_id=1)
        assert row.status == Update.Status.PROCESSED
        assert row.ticket_message.body_text == "Скриншот ошибки"
        item = the_file()
        assert item.status == IncomingFile.Status.PENDING and item.attempts == 1
        assert "transport" in item.error and "ConnectionRefused" in item.error
        assert item.next_attempt_at == now() + files.BACKOFF_FIRST
        assert item.leased_until is None
        assert files.fetch_due() == 0  # not due yet

        clock.shift(files.BACKOFF_FIRST)
        out = io.StringIO()
        call_command("telegram_poll", stdout=out)  # the poller's pass: the sweep
        assert "1 Telegram file(s) handed to the task worker" in out.getvalue()
    item.refresh_from_db()
    assert item.status == IncomingFile.Status.FETCHED and item.attempts == 2
    assert row.ticket_message.attachments.get().size == len(JPEG)
    assert not row.ticket.messages.filter(kind=Message.Kind.NOTE).exists()


def test_flood_control_waits_as_long_as_telegram_asks(
        cast, api, bot, django_capture_on_commit_callbacks):
    api.add_file(TOKEN, "ph-big", JPEG, path="photos/file_1.jpg")
    api.fail_next("getFile", 429, "Too Many Requests: retry after 120", retry_after=120)
    with time_machine.travel(now(), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            post(bot, update(1, None, photo=PHOTO))
        item = the_file()
        assert item.status == IncomingFile.Status.PENDING
        assert item.next_attempt_at == now() + timedelta(seconds=120)
        assert "retry after 120" in item.error


def test_a_file_still_unreachable_after_every_attempt_fails_with_the_reason(
        cast, api, bot, django_capture_on_commit_callbacks):
    dead = closed_port_url()
    with time_machine.travel(now(), tick=False) as clock, \
            override_settings(FIRSTLINE_TELEGRAM_API_URL=dead):
        with django_capture_on_commit_callbacks(execute=True):
            post(bot, update(1, "Фото счётчика", photo=PHOTO))
        for _attempt in range(files.MAX_ATTEMPTS - 1):
            clock.shift(files.BACKOFF_MAX)
            assert files.fetch_due() == 1
    item = the_file()
    assert item.attempts == files.MAX_ATTEMPTS
    assert (item.status, item.reason) == (IncomingFile.Status.FAILED,
                                          IncomingFile.Reason.UNREACHABLE)
    assert "ConnectionRefused" in item.error
    row = Update.objects.get(update_id=1)
    assert row.status == Update.Status.PROCESSED  # the update stays processed, not lost
    ticket = row.ticket
    assert row.ticket_message.body_text == "Фото счётчика"
    note = ticket.messages.get(kind=Message.Kind.NOTE)
    assert "photo_10.jpg" in note.body_text and "ConnectionRefused" in note.body_text
    told = [item.body for item in OutboxMessage.objects.filter(
        ticket=ticket, channel=OutboxChannel.TELEGRAM) if "photo_10.jpg" in item.body]
    assert len(told) == 1 and str(CHAT) in OutboxMessage.objects.filter(
        ticket=ticket).values_list("recipient", flat=True)
    page = shown(row.ticket_message)
    assert "не получен" in page and "Telegram не ответил" in page
    assert "Запросить снова" in page
    assert files.fetch_due() == 0  # failed for good: the sweep leaves it


def test_a_file_telegram_no_longer_has_fails_and_can_be_asked_for_again(
        cast, api, bot, django_capture_on_commit_callbacks):
    document = {"file_id": "doc-gone", "file_unique_id": "g", "file_name": "акт.pdf",
                "mime_type": "application/pdf", "file_size": 16}
    with django_capture_on_commit_callbacks(execute=True):
        post(bot, update(1, "Акт сверки", document=document))
    item = the_file()
    assert (item.status, item.reason, item.attempts) == (
        IncomingFile.Status.FAILED, IncomingFile.Reason.GONE, 1)  # no retries: it is gone
    assert "invalid file_id" in item.error
    ticket = Update.objects.get(update_id=1).ticket
    assert "акт.pdf" in ticket.messages.get(kind=Message.Kind.NOTE).body_text

    # Another partner's engineer cannot reach it; the operator asks again.
    other = client_for(cast.b.engineer)
    assert other.post(f"/telegram/files/{item.pk}/retry/").status_code == 404
    api.add_file(TOKEN, "doc-gone", b"%PDF-1.4 act", path="documents/file_9.pdf")
    desk = client_for(cast.operator)
    with django_capture_on_commit_callbacks(execute=True):
        answer = desk.post(f"/telegram/files/{item.pk}/retry/")
    assert answer.status_code == 302 and answer["Location"] == f"/tickets/{ticket.pk}/"
    item.refresh_from_db()
    assert item.status == IncomingFile.Status.FETCHED
    assert item.attachment.filename == "акт.pdf"
    assert item.attachment.content_type == "application/pdf"
    assert AuditEvent.objects.filter(action="telegram.file_retry", actor=cast.operator).exists()
    # Fetched: nothing to ask again, and a GET does nothing.
    assert desk.get(f"/telegram/files/{item.pk}/retry/").status_code == 405
    desk.post(f"/telegram/files/{item.pk}/retry/")
    item.refresh_from_db()
    assert item.status == IncomingFile.Status.FETCHED


def test_a_file_over_20_mb_found_by_getfile_fails_and_cannot_be_asked_for_again(
        cast, api, bot, django_capture_on_commit_callbacks):
    api.add_file(TOKEN, "vid", b"x", path="videos/v.mp4", size=30 * 1024 * 1024)
    document = {"file_id": "vid", "file_unique_id": "v", "file_name": "запись.mp4"}
    with django_capture_on_commit_callbacks(execute=True):
        post(bot, update(1, "Запись звонка", document=document))
    item = the_file()
    assert (item.status, item.reason) == (IncomingFile.Status.FAILED,
                                          IncomingFile.Reason.TOO_BIG)
    assert not api.downloads
    assert "20 МБ" in shown(item.message)
    assert "Запросить снова" not in shown(item.message)
    answer = client_for(cast.operator).post(f"/telegram/files/{item.pk}/retry/")
    assert answer.status_code == 302
    item.refresh_from_db()
    assert item.status == IncomingFile.Status.FAILED
    assert not AuditEvent.objects.filter(action="telegram.file_retry").exists()


@override_settings(FIRSTLINE_MAX_ATTACHMENT_BYTES=1000)
def test_a_file_over_the_desks_limit_is_refused_by_the_size_getfile_gives(
        cast, api, bot, django_capture_on_commit_callbacks):
    api.add_file(TOKEN, "doc", b"z" * 5000, path="documents/file_3.zip")
    document = {"file_id": "doc", "file_unique_id": "d", "file_name": "логи.zip"}
    with django_capture_on_commit_callbacks(execute=True):
        post(bot, update(1, "Логи", document=document))
    item = the_file()
    assert (item.status, item.reason) == (IncomingFile.Status.FAILED,
                                          IncomingFile.Reason.OVER_LIMIT)
    assert not api.downloads  # the size getFile gave was enough
    note = item.message.ticket.messages.get(kind=Message.Kind.NOTE)
    assert "логи.zip" in note.body_text


def test_a_file_a_worker_is_fetching_is_not_fetched_twice(
        cast, api, bot, django_capture_on_commit_callbacks):
    api.add_file(TOKEN, "ph-big", JPEG, path="photos/file_1.jpg")
    with django_capture_on_commit_callbacks() as callbacks:
        post(bot, update(1, None, photo=PHOTO))
    item = the_file()
    assert files._claim(item.pk) is not None  # a worker has it, mid-download
    for callback in callbacks:
        callback()  # the task enqueued on commit: skipped
    assert files.fetch_due() == 0  # nor does the sweep hand it out while it is leased
    assert not api.sent("getFile")
    assert the_file().status == IncomingFile.Status.PENDING
    with time_machine.travel(now() + files.LEASE + timedelta(seconds=1), tick=False):
        # That worker died: after its lease the sweep hands the file to another.
        assert files.fetch_due() == 1
    assert the_file().status == IncomingFile.Status.FETCHED
    assert Attachment.objects.count() == 1


def test_a_message_with_several_files_gets_each(cast, api, bot,
                                                django_capture_on_commit_callbacks):
    api.add_file(TOKEN, "ph-big", JPEG, path="photos/file_1.jpg")
    document = {"file_id": "doc-1", "file_unique_id": "d", "file_name": "счёт.pdf",
                "mime_type": "application/pdf", "file_size": 16}
    api.add_file(TOKEN, "doc-1", b"%PDF-1.4 invoice", path="documents/file_2.pdf")
    with django_capture_on_commit_callbacks(execute=True):
        post(bot, update(1, "Фото и счёт", photo=PHOTO, document=document))
    message = Update.objects.get(update_id=1).ticket_message
    assert sorted(message.attachments.values_list("filename", flat=True)) == [
        "photo_10.jpg", "счёт.pdf"]


@override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend",
                                      "QUEUES": ["default"]}})
def test_the_task_worker_fetches_the_file(transactional_db, cast, api, bot):
    """The real queue: the task is a row after the commit, and `db_worker` runs it."""
    from django_tasks_db.models import DBTaskResult

    api.add_file(TOKEN, "ph-big", JPEG, path="photos/file_1.jpg")
    post(bot, update(1, "Скриншот", photo=PHOTO))
    tasks = DBTaskResult.objects.filter(task_path="firstline.telegram.tasks.fetch_files")
    assert tasks.count() == 1  # besides the outbox's delivery of the acknowledgement
    assert the_file().status == IncomingFile.Status.PENDING
    call_command("db_worker", batch=True, interval=0, startup_delay=False, verbosity=0)
    assert the_file().status == IncomingFile.Status.FETCHED
    assert Update.objects.get(update_id=1).ticket_message.attachments.get().size == len(JPEG)
    assert tasks.get().status == "SUCCESSFUL"
    connections.close_all()


def test_the_ticket_page_answers_with_a_pending_file(cast, api, bot):
    post(bot, update(1, None, photo=PHOTO))
    ticket = Update.objects.get(update_id=1).ticket
    answer = Client()
    answer.force_login(cast.operator)
    page = answer.get(f"/tickets/{ticket.pk}/")
    assert page.status_code == 200
    assert "photo_10.jpg" in page.content.decode()


def test_a_long_message_gives_its_first_sentence_as_the_subject(cast, api, bot):
    post(bot, update(1, "Здравствуйте! Не уходит почта с сервера mail01. Уже час ошибка "
                        "550 при отправке, клиенты жалуются."))
    ticket = Update.objects.get(update_id=1).ticket
    assert ticket.subject == "Не уходит почта с сервера mail01"
    assert ticket.customer_words.startswith("Здравствуйте! Не уходит почта")


def test_the_subject_keeps_the_customers_quotes_and_is_cut_at_a_word(cast, api, bot):
    post(bot, update(1, "Не могу зайти в панель: пишет «Ошибка 403». Скриншот прилагаю."))
    assert Update.objects.get(update_id=1).ticket.subject == \
        "Не могу зайти в панель: пишет «Ошибка 403»"
    post(bot, update(2, "очень " * 60, chat=777))
    subject = Update.objects.get(update_id=2).ticket.subject
    assert subject.endswith("очень…") and len(subject) <= services.SUBJECT_WORDS + 1


def test_the_ticket_pages_telegram_card_names_the_chat_the_bot_and_the_files(
        cast, api, bot):
    post(bot, update(1, "Скриншот", photo=PHOTO))  # no commit here: the file stays pending
    ticket = Update.objects.get(update_id=1).ticket
    slot = render_to_string("telegram/ticket_slot.html", {"ticket": ticket})
    assert f'hx-get="/telegram/tickets/{ticket.pk}/chat/"' in slot
    assert render_to_string("telegram/ticket_slot.html", {"ticket": cast.a.ticket}).strip() == ""

    card = client_for(cast.operator).get(f"/telegram/tickets/{ticket.pk}/chat/")
    assert card.status_code == 200
    html = card.content.decode()
    assert "Иван Петров" in html and 'href="https://t.me/ivan_p"' in html
    assert "not shared" in html and "@alpha_support_bot" not in html  # getMe never called
    assert "1 being fetched from Telegram" in html
    assert "Bot settings" not in html  # an operator does not configure bots
    assert "Bot settings" in client_for(cast.supervisor).get(
        f"/telegram/tickets/{ticket.pk}/chat/").content.decode()

    Bot.objects.filter(pk=bot.pk).update(is_active=False)
    html = client_for(cast.operator).get(f"/telegram/tickets/{ticket.pk}/chat/").content.decode()
    assert "wait in the outbox until the bot is switched on" in html
    # Another partner's people, and a ticket of another channel: nothing to see.
    assert client_for(cast.b.engineer).get(
        f"/telegram/tickets/{ticket.pk}/chat/").status_code == 404
    assert client_for(cast.operator).get(
        f"/telegram/tickets/{cast.a.ticket.pk}/chat/").status_code == 404


def test_a_storage_failure_is_tried_again_and_the_file_arrives(
        cast, api, bot, tmp_path, django_capture_on_commit_callbacks):
    """The download works but the file cannot be written (here: a file where the
    attachments directory should be); the row is retried, not lost."""
    api.add_file(TOKEN, "ph-big", JPEG, path="photos/file_1.jpg")
    (tmp_path / "attachments").write_text("not a directory")
    with override_settings(MEDIA_ROOT=str(tmp_path)), \
            time_machine.travel(now(), tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            post(bot, update(1, "Скриншот", photo=PHOTO))
        item = the_file()
        assert item.status == IncomingFile.Status.PENDING and item.attempts == 1
        assert "NotADirectoryError" in item.error and not Attachment.objects.exists()
        (tmp_path / "attachments").unlink()
        clock.shift(files.BACKOFF_FIRST)
        assert files.fetch_due() == 1
        item.refresh_from_db()
        assert item.status == IncomingFile.Status.FETCHED
        assert item.attachment.file.read() == JPEG
        item.attachment.file.close()
