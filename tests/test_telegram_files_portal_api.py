"""A customer's Telegram files that are not attachments (yet) outside the desk: the portal
shows the customer each one still being fetched and each one not received with the reason,
in their language and with nothing of the desk's (file ids, Telegram's errors, the notes);
the API lists them under each message as `pending_files`. Both with the caller's tenancy,
and at one query for the whole conversation, however many messages it has."""

from dataclasses import dataclass

import pytest
from django.db import connection, connections
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from firstline.contacts.models import ContactPhone
from firstline.telegram import files, services
from firstline.telegram.models import Bot, IncomingFile, Update
from firstline.tickets.models import Message, Ticket
from tests.browser import ARTIFACTS, BROWSER_TEST
from tests.conftest import PASSWORD, client_for
from tests.telegram_standin import TelegramStandIn
from tests.test_api_support import token_client
from tests.test_csp_browser import Watched
from tests.test_telegram import CHAT, JPEG, OTHER_TOKEN, TOKEN, post, update

PHOTO = [{"file_id": "ph-small", "file_unique_id": "s", "width": 90, "height": 90,
          "file_size": 900},
         {"file_id": "ph-big", "file_unique_id": "b", "width": 1280, "height": 960,
          "file_size": len(JPEG)}]
# Declared over Telegram's 20 MB for bots: refused as the update is processed.
VIDEO = {"file_id": "vid-huge", "file_unique_id": "v", "file_name": "запись.mp4",
         "file_size": 30 * 1024 * 1024}
# A file_id Telegram does not know: getFile answers 400 "invalid file_id".
GONE = {"file_id": "doc-gone", "file_unique_id": "g", "file_name": "акт.pdf",
        "mime_type": "application/pdf", "file_size": 16}


@pytest.fixture
def api():
    with TelegramStandIn() as standin:
        standin.add_bot(TOKEN, "alpha_support_bot")
        standin.add_bot(OTHER_TOKEN, "beta_support_bot")
        with override_settings(FIRSTLINE_TELEGRAM_API_URL=standin.url,
                               FIRSTLINE_TELEGRAM_TIMEOUT=3):
            yield standin


@dataclass
class Chat:
    ticket: Ticket
    pending: Message  # its photo is still being fetched
    too_big: Message  # its video is over 20 MB
    gone: Message  # Telegram no longer has its document
    other_partner: Ticket  # partner B's Telegram ticket, with a file of its own


@pytest.fixture
def chat(cast, api, django_capture_on_commit_callbacks) -> Chat:
    """Partner A's customer Ivan writes to the bot, shares his phone (so the ticket is his
    in the portal) and sends three files: Telegram no longer has the first, the second is
    over 20 MB, the third is still being fetched (Telegram answered 502: tried again
    later). Partner B's bot gets a file too, from somebody else."""
    bot = services.save_bot(partner=cast.a.partner, actor=cast.supervisor, token=TOKEN,
                            mode=Bot.Mode.WEBHOOK, is_active=True)
    ContactPhone.objects.create(partner=cast.a.partner, contact=cast.a.contact,
                                number="+79123456789")
    post(bot, update(1, "Не работает FTP, помогите"))
    shared = {"phone_number": "79123456789", "first_name": "Иван", "user_id": CHAT}
    post(bot, update(2, None, contact=shared))
    # Each file's task runs as it would after the commit (at once on a live server too).
    with django_capture_on_commit_callbacks(execute=True):  # gone: failed at once
        post(bot, update(3, "Акт сверки", document=GONE))
    post(bot, update(4, "Запись звонка", video=VIDEO))  # refused before any task
    api.fail_next("getFile", 502, "Bad Gateway")
    with django_capture_on_commit_callbacks(execute=True):  # tried again later: pending
        post(bot, update(5, "Фото счётчика", photo=PHOTO))

    other_bot = services.save_bot(partner=cast.b.partner, actor=cast.supervisor,
                                  token=OTHER_TOKEN, mode=Bot.Mode.WEBHOOK, is_active=True)
    with django_capture_on_commit_callbacks(execute=True):
        post(other_bot, update(6, "Чужая заявка", chat=77701,
                               document={**GONE, "file_name": "чужой-счёт.pdf",
                                         "file_id": "doc-beta"}))

    def message(update_id: int, bot_id: int = bot.pk) -> Message:
        row = Update.objects.get(bot_id=bot_id, update_id=update_id)
        assert row.status == Update.Status.PROCESSED, row.error
        return row.ticket_message

    pending = message(5)
    assert pending.ticket.contact == cast.a.contact
    by_name = {item.filename: item for item in IncomingFile.objects.all()}
    assert (by_name["photo_50.jpg"].status, by_name["photo_50.jpg"].attempts,
            by_name["запись.mp4"].reason, by_name["акт.pdf"].reason,
            by_name["чужой-счёт.pdf"].reason) == (
        IncomingFile.Status.PENDING, 1, IncomingFile.Reason.TOO_BIG, IncomingFile.Reason.GONE,
        IncomingFile.Reason.GONE)
    return Chat(ticket=pending.ticket, pending=pending, too_big=message(4), gone=message(3),
                other_partner=message(6, other_bot.pk).ticket)


def portal_page(user, ticket: Ticket, language: str = "ru") -> str:
    answer = client_for(user).get(reverse("portal:ticket", args=[ticket.pk]),
                                  headers={"Accept-Language": language})
    assert answer.status_code == 200
    return answer.content.decode()


# --- the portal ------------------------------------------------------------------------


def test_the_customer_sees_a_file_being_fetched_and_files_not_received_with_the_reason(
        cast, chat):
    page = portal_page(cast.a.customer, chat.ticket)
    assert "photo_50.jpg" in page and "Файл загружается…" in page
    assert "запись.mp4" in page
    assert "Файл не получен: Telegram отдаёт ботам файлы не больше 20,0\u00a0МБ." in page
    assert "акт.pdf" in page
    assert "Файл не получен: его не удалось получить от Telegram." in page
    assert page.count("Вы можете приложить его к ответу ниже.") == 2  # the two failed ones
    # Nothing of the desk's: no file ids, no token, not Telegram's error, not the notes
    # naming the refused files.
    notes = [note.body_text for note in chat.ticket.messages.filter(kind=Message.Kind.NOTE)]
    assert len([note for note in notes if "акт.pdf" in note or "запись.mp4" in note]) == 2
    for secret in ["ph-big", "doc-gone", "vid-huge", TOKEN, TOKEN.split(":")[1],
                   "invalid file_id", "Bad Gateway", "не сохранён",
                   *notes]:
        assert secret not in page, secret
    # Partner B's file is not partner A's customer's business.
    assert "чужой-счёт.pdf" not in page


def test_the_customer_reads_the_same_in_english(cast, chat):
    page = portal_page(cast.a.customer, chat.ticket, "en")
    assert "File is being uploaded…" in page
    assert "File not received: Telegram gives bots files of at most 20.0\u00a0MB." in page
    assert "File not received: it could not be fetched from Telegram." in page


@override_settings(FIRSTLINE_MAX_ATTACHMENT_BYTES=1000)
def test_a_file_over_the_desks_limit_names_the_limit_to_the_customer(cast, chat):
    IncomingFile.objects.filter(filename="запись.mp4").update(
        reason=IncomingFile.Reason.OVER_LIMIT)
    page = portal_page(cast.a.customer, chat.ticket)
    assert "Файл не получен: файлы больше 1\u00a0КБ мы не принимаем." in page


def test_a_fetched_file_is_an_attachment_and_its_placeholder_is_gone(cast, api, chat):
    api.add_file(TOKEN, "ph-big", JPEG, path="photos/file_1.jpg")
    item = IncomingFile.objects.get(filename="photo_50.jpg")
    assert files.fetch(item.pk) == "fetched"
    page = portal_page(cast.a.customer, chat.ticket)
    attachment = chat.pending.attachments.get()
    assert f'href="/attachments/{attachment.pk}/"' in page
    assert "Файл загружается…" not in page
    assert page.count("Файл не получен") == 2


def test_a_closed_ticket_does_not_invite_an_answer_with_the_file(cast, chat):
    Ticket.objects.filter(pk=chat.ticket.pk).update(status="closed")
    page = portal_page(cast.a.customer, chat.ticket)
    assert page.count("Файл не получен") == 2
    assert "Вы можете приложить его к ответу ниже." not in page


def test_nobody_elses_customer_sees_the_files(cast, chat):
    for user in [cast.a.other_customer, cast.b.customer, cast.b.other_customer]:
        answer = client_for(user).get(reverse("portal:ticket", args=[chat.ticket.pk]))
        assert answer.status_code == 404, user
    # Partner B's customer's own ticket shows none of partner A's files.
    page = portal_page(cast.b.customer, cast.b.ticket)
    assert "photo_50.jpg" not in page and "акт.pdf" not in page
    assert "Файл не получен" not in page and "Файл загружается" not in page


def test_the_portal_page_costs_the_same_queries_however_many_files_arrive(
        cast, api, chat):
    bot = Bot.objects.get(partner=cast.a.partner)
    client = client_for(cast.a.customer)
    url = reverse("portal:ticket", args=[chat.ticket.pk])
    client.get(url)  # caches warmed, not counted
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).content.decode().count("telegram-file-") == 3
    for n in range(4):
        post(bot, update(10 + n, f"Ещё фото {n}", photo=PHOTO))
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).content.decode().count("telegram-file-") == 7
    assert len(many) == len(few), [query["sql"] for query in many.captured_queries]


# --- the API ---------------------------------------------------------------------------


def messages_url(ticket: Ticket) -> str:
    return f"/api/tickets/{ticket.pk}/messages"


def test_the_api_lists_each_messages_files_that_are_not_attachments(cast, chat):
    answer = token_client(cast.a.engineer).get(messages_url(chat.ticket),
                                               headers={"Accept-Language": "en"})
    assert answer.status_code == 200
    by_id = {item["id"]: item for item in answer.json()}
    assert by_id[chat.pending.pk]["pending_files"] == [
        {"filename": "photo_50.jpg", "size": len(JPEG), "status": "pending", "reason": None,
         "reason_text": ""}]
    assert by_id[chat.too_big.pk]["pending_files"] == [
        {"filename": "запись.mp4", "size": 30 * 1024 * 1024, "status": "failed",
         "reason": "too_big", "reason_text": "Over Telegram's 20 MB for bots"}]
    assert by_id[chat.gone.pk]["pending_files"] == [
        {"filename": "акт.pdf", "size": 16, "status": "failed", "reason": "gone",
         "reason_text": "Telegram no longer has it"}]
    others = [item for pk, item in by_id.items()
              if pk not in {chat.pending.pk, chat.too_big.pk, chat.gone.pk}]
    assert others and all(item["pending_files"] == [] for item in others)
    # The desk's note names the file and Telegram's error; the files themselves do not.
    (note,) = [item for item in by_id.values()
               if item["kind"] == "note" and "акт.pdf" in item["body_text"]]
    assert "invalid file_id" in note["body_text"]
    assert "doc-gone" not in answer.content.decode()


def test_the_api_gives_the_reason_in_the_callers_language(cast, chat):
    answer = token_client(cast.operator).get(messages_url(chat.ticket),
                                             headers={"Accept-Language": "ru"})
    by_id = {item["id"]: item for item in answer.json()}
    assert by_id[chat.gone.pk]["pending_files"][0]["reason_text"] == \
        "Telegram его больше не отдаёт"


def test_the_api_keeps_each_partners_files_to_itself(cast, chat):
    assert token_client(cast.b.engineer).get(messages_url(chat.ticket)).status_code == 404
    answer = token_client(cast.b.engineer).get(messages_url(chat.other_partner))
    assert answer.status_code == 200
    listed = [item["filename"] for message in answer.json() for item in message["pending_files"]]
    assert listed == ["чужой-счёт.pdf"]
    assert token_client(cast.a.engineer).get(messages_url(chat.other_partner)).status_code \
        == 404


def test_a_new_message_from_the_api_has_no_files_pending(cast, chat):
    answer = token_client(cast.a.engineer).post(
        messages_url(chat.ticket), {"kind": "note", "text": "Проверим акт по почте."},
        content_type="application/json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["pending_files"] == []


def test_the_api_costs_the_same_queries_however_many_files_arrive(cast, api, chat):
    bot = Bot.objects.get(partner=cast.a.partner)
    client = token_client(cast.a.engineer)
    url = messages_url(chat.ticket)
    client.get(url)  # the token's last use is written once, not counted

    def listed() -> int:
        return sum(len(message["pending_files"]) for message in client.get(url).json())

    with CaptureQueriesContext(connection) as few:
        assert listed() == 3
    for n in range(4):
        post(bot, update(10 + n, f"Ещё фото {n}", photo=PHOTO))
    with CaptureQueriesContext(connection) as many:
        assert listed() == 7
    assert len(many) == len(few), [query["sql"] for query in many.captured_queries]


def test_the_openapi_document_describes_the_pending_files(db):
    schema = Client().get("/api/openapi.json").json()
    components = schema["components"]["schemas"]
    field = components["MessageOut"]["properties"]["pending_files"]
    assert "still being fetched" in field["description"]
    assert "pending_files" in components["MessageOut"]["required"]
    item = components["PendingFileOut"]
    assert set(item["properties"]) == {"filename", "size", "status", "reason", "reason_text"}
    assert item["properties"]["status"]["enum"] == ["pending", "failed"]
    assert "too_big" in item["properties"]["reason"]["description"]


# --- in Chromium -----------------------------------------------------------------------


def browser_test(function):
    """The marks of a browser test module (tests.browser), on one test of this module."""
    for mark in BROWSER_TEST:
        function = mark(function)
    return function


@browser_test
def test_the_portal_shows_both_states_in_chromium(django_db_setup, live_server, cast, chat,
                                                  browser):
    portal = Watched(browser, live_server.url)
    portal.page.context.add_cookies([{"name": "django_language", "value": "ru",
                                      "url": live_server.url}])
    portal.visit(reverse("portal:login", args=[cast.a.partner.slug]))
    portal.page.fill("input[name=pw-email]", "ivan@alpha.example")
    portal.page.fill("input[name=pw-password]", PASSWORD)
    portal.page.click("form:has(input[name=pw-email]) button[type=submit]")
    portal.page.wait_for_url("**/portal/")
    portal.visit(reverse("portal:ticket", args=[chat.ticket.pk]))
    pending = portal.page.locator(".telegram-file-pending")
    failed = portal.page.locator(".telegram-file-failed")
    assert pending.count() == 1 and failed.count() == 2
    assert "photo_50.jpg" in pending.inner_text() and "Файл загружается…" in \
        pending.inner_text()
    assert "Файл не получен: его не удалось получить от Telegram." in failed.nth(0).inner_text()
    assert "Файл не получен: Telegram отдаёт ботам файлы не больше 20,0" in \
        failed.nth(1).inner_text()
    assert pending.is_visible() and failed.nth(1).is_visible()
    pending.scroll_into_view_if_needed()
    portal.page.screenshot(path=str(ARTIFACTS / "portal-telegram-files.png"), full_page=True)
    portal.assert_clean()
    connections.close_all()  # the live server's thread left one open (PostgreSQL teardown)
