"""The queue page in the real Debian Chromium after the rows moved to Python: it looks and
works as before (filters, rows, deadline badges), and a screenshot is kept for review."""

from datetime import timedelta

from django.db import connections
from playwright.sync_api import expect

from firstline.core.clock import now
from firstline.tickets.models import Ticket
from firstline.tickets.services import TicketChange, change_ticket

from .browser import ARTIFACTS, BROWSER_TEST
from .test_desk_browser import signed_in_page

pytestmark = BROWSER_TEST


def test_queue_page_shows_rows_badges_and_filters(django_db_setup, live_server, cast, browser):
    change_ticket(ticket=cast.a.ticket, actor=cast.operator,
                  change=TicketChange(priority="critical", assignee=cast.operator))
    Ticket.objects.filter(pk=cast.b.ticket.pk).update(due_at=now() - timedelta(hours=3))
    page = signed_in_page(browser, live_server, cast.operator)
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{live_server.url}/tickets/?status=active")
    rows = page.locator("table.queue tbody tr")
    assert rows.count() == 4
    assert page.locator("table.queue .due-breach").count() >= 1
    assert page.locator("table.queue .prio-critical").count() == 1
    assert page.locator("select[name=partner] option").count() == 3  # all + two partners
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)
    # The filters still work: choosing a partner narrows the rows (HTMX swap).
    page.select_option("select[name=partner]", str(cast.a.partner.pk))
    expect(rows).to_have_count(2)
    page.click("table.queue tbody tr a >> nth=0")
    page.wait_for_url("**/tickets/*/")
    # The live server's thread keeps its connection to the test database: closed here,
    # while the page is still open, so the database can be dropped at the end of the run
    # (on PostgreSQL) whichever test runs last.
    connections.close_all()
