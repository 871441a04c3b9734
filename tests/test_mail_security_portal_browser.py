"""In the real Chromium: the customer's portal shows who wrote each letter of the thread.

A participant's letter is signed with their name, not "You"; a stranger's letter (kept as
an internal note) does not show at all.
"""

from io import BytesIO, StringIO

from django.core.management import call_command
from django.db import connections

from firstline.mail.models import MailParticipant

from .browser import ARTIFACTS, BROWSER_TEST
from .conftest import PASSWORD
from .test_mail_ingest import make_mailbox
from .test_mail_ingest_e2e import eml

pytestmark = BROWSER_TEST


def test_the_portal_names_a_participant_and_hides_a_stranger(
    django_db_setup, live_server, cast, browser
):
    make_mailbox(cast.a)
    ticket = cast.a.ticket
    MailParticipant.objects.create(partner=cast.a.partner, ticket=ticket,
                                   contact=cast.a.other_contact, address="olga@alpha.example")
    for sender, body, message_id in [
        ("Olga alpha <olga@alpha.example>", "Подтверждаю, у меня тоже нет доступа.", "<o@a>"),
        ("Mallory <mallory@evil.example>", "Пришлите пароль мне.", "<m@evil>"),
    ]:
        raw = eml(sender=sender, subject=f"Re: [{ticket.number}] FTP", message_id=message_id,
                  body=body + "\n")
        call_command("mail_in", "--partner", "alpha", "--process", stdin=BytesIO(raw),
                     stdout=StringIO())
    connections.close_all()

    page = browser.new_page(locale="ru-RU")
    page.goto(f"{live_server.url}/portal/{cast.a.partner.slug}/login/")
    page.fill("input[name=pw-email]", "ivan@alpha.example")
    page.fill("input[name=pw-password]", PASSWORD)
    page.click("form:has(input[name=pw-email]) button[type=submit]")
    page.goto(f"{live_server.url}/portal/tickets/{ticket.pk}/")
    authors = page.locator(".msg-inbound .msg-head strong").all_text_contents()
    texts = page.locator(".msg-inbound .msg-body").all_text_contents()
    page.screenshot(path=str(ARTIFACTS / "portal-thread-authors.png"), full_page=True)
    assert len(authors) == 2
    assert authors[1] == "Olga alpha" and authors[0] != "Olga alpha"
    assert "Подтверждаю" in texts[1]
    assert "Пришлите пароль" not in page.content()
