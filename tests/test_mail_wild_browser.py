"""In the real Chromium: an operator sees the letter a customer attached under the message,
and downloads an attachment under the name the customer gave it."""

from io import BytesIO, StringIO
from pathlib import Path

from django.core.management import call_command
from django.db import connections

from firstline.mail.models import InboundMail

from .browser import ARTIFACTS, BROWSER_TEST
from .test_desk_browser import signed_in_page
from .test_mail_ingest import make_mailbox

pytestmark = BROWSER_TEST

WILD = Path(__file__).resolve().parent / "data" / "mail" / "wild"


def _pipe(name: str) -> InboundMail:
    raw = (WILD / f"{name}.eml").read_bytes()
    call_command("mail_in", "--partner", "alpha", "--process", stdin=BytesIO(raw),
                 stdout=StringIO())
    return InboundMail.objects.order_by("-id").first()


def test_the_operator_reads_the_attached_letter_and_downloads_under_the_real_name(
    django_db_setup, live_server, cast, browser
):
    make_mailbox(cast.a)
    forwarded = _pipe("w13-05-apple-mail-inline-rfc822-cp1251")
    with_file = _pipe("w17-01-outlook-rfc2231-number-sign-parentheses")
    connections.close_all()

    page = signed_in_page(browser, live_server, cast.operator)
    page.goto(f"{live_server.url}/tickets/{forwarded.ticket_id}/")
    body = page.locator(".msg-body").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "wild-attached-letter.png"), full_page=True)
    assert "Нужно ли менять что-то в договоре?" in body
    assert "Сообщаем о смене реквизитов с 1 апреля." in body
    assert page.get_by_role("link", name="Смена реквизитов.eml").is_visible()

    page.goto(f"{live_server.url}/tickets/{with_file.ticket_id}/")
    link = page.get_by_role("link", name="Счёт №15 (март), итог.pdf")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "Счёт №15 (март), итог.pdf"
