"""End to end in the real Debian Chromium: a customer's portal ticket answered by an operator."""

from django.db import connections

from firstline.tickets.models import Message, Ticket

from .browser import ARTIFACTS, BROWSER_TEST
from .conftest import PASSWORD

pytestmark = BROWSER_TEST


def test_customer_ticket_is_answered_by_operator_and_the_answer_shows_in_the_portal(
    django_db_setup, live_server, cast, browser
):
    # django_db_setup first: a session live server started before the test database would
    # give every request thread its own SQLite connection.
    customer = browser.new_page(locale="en-US")
    customer.goto(f"{live_server.url}/portal/{cast.a.partner.slug}/login/")
    customer.fill("input[name=pw-email]", "ivan@alpha.example")
    customer.fill("input[name=pw-password]", PASSWORD)
    customer.click("form:has(input[name=pw-email]) button[type=submit]")
    customer.click("a[href='/portal/new/']")
    customer.fill("input[name=subject]", "Нет доступа на FTP")
    customer.fill("textarea[name=text]", "С утра не могу зайти на FTP, пишет timeout.")
    customer.click("main button[type=submit]")
    customer.wait_for_url("**/portal/tickets/*/")
    ticket = Ticket.objects.get(subject="Нет доступа на FTP")
    assert ticket.number in customer.text_content("h1")
    customer.screenshot(path=str(ARTIFACTS / "portal-ticket-created.png"), full_page=True)

    operator = browser.new_page(locale="en-US")
    operator.goto(f"{live_server.url}/login/")
    operator.fill("input[name=username]", cast.operator.username)
    operator.fill("input[name=password]", PASSWORD)
    operator.click("main button[type=submit]")
    operator.wait_for_url("**/tickets/")
    operator.click(f"text={ticket.number}")
    operator.fill("textarea[name=text]", "Иван, доступ восстановлен, проверьте, пожалуйста.")
    operator.click("form:has(textarea[name=text]) button[type=submit]")
    operator.wait_for_selector(".msg-reply")
    operator.screenshot(path=str(ARTIFACTS / "desk-ticket-answered.png"), full_page=True)
    assert Message.objects.filter(ticket=ticket, kind="reply", author=cast.operator).exists()

    customer.reload()
    assert "доступ восстановлен" in customer.text_content(".conversation")
    customer.screenshot(path=str(ARTIFACTS / "portal-ticket-answered.png"), full_page=True)
    # ORM calls made while Playwright's loop is running get a connection of their own
    # context; close it here, or PostgreSQL cannot drop the test database at the end.
    connections.close_all()
