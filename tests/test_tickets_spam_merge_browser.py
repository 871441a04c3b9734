"""Spam and merge on the ticket page in the real Debian Chromium, in Russian: the operator
types the number, confirms, and lands on the target; the source shows its badge."""

from django.db import connections

from firstline.tickets.models import Channel, Ticket
from firstline.tickets.services import create_ticket

from .browser import ARTIFACTS, BROWSER_TEST
from .test_desk_browser import CSP_WATCH, signed_in_page

pytestmark = BROWSER_TEST


def test_an_operator_merges_a_duplicate_and_marks_spam(django_db_setup, live_server, cast,
                                                        browser):
    side = cast.a
    source = create_ticket(partner=side.partner, actor=side.customer, channel=Channel.PORTAL,
                           contact=side.contact, subject="FTP again", text="Still no FTP.")
    page = signed_in_page(browser, live_server, cast.operator)
    page.add_init_script(CSP_WATCH)

    page.goto(f"{live_server.url}/tickets/{source.pk}/")
    page.fill("#merge-into", "12345678")
    page.click("#ticket-cleanup button:has-text('Объединить…')")
    assert "Заявки 12345678 нет." in page.locator("#merge-into-errors").inner_text()
    page.fill("#merge-into", side.ticket.number)
    page.click("#ticket-cleanup button:has-text('Объединить…')")
    page.click("button:has-text('Объединить')")
    page.wait_for_url(f"**/tickets/{side.ticket.pk}/")
    page.screenshot(path=ARTIFACTS / "spam-merge-target.png", full_page=True)
    assert Ticket.objects.get(pk=source.pk).merged_into_id == side.ticket.pk

    page.goto(f"{live_server.url}/tickets/{source.pk}/")
    badge = page.locator("#ticket-head .tag-merged")
    assert badge.inner_text() == f"Объединена с {side.ticket.number}"
    page.screenshot(path=ARTIFACTS / "spam-merge-source.png", full_page=True)

    page.goto(f"{live_server.url}/tickets/{side.other_ticket.pk}/")
    page.click("#ticket-cleanup a:has-text('Спам')")
    page.click("button:has-text('Отметить как спам')")
    page.wait_for_url(f"**/tickets/{side.other_ticket.pk}/")
    assert page.locator("#ticket-head .tag-spam").inner_text() == "Спам"
    page.screenshot(path=ARTIFACTS / "spam-merge-spam.png", full_page=True)
    assert page.evaluate("window.cspViolations") == []
    connections.close_all()  # the live server's, so the test database can be dropped
