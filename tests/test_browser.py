"""End to end in the real Debian Chromium: a customer's portal ticket answered by an operator."""

import os
import shutil
from pathlib import Path

import pytest
from django.db import connections

from firstline.tickets.models import Message, Ticket

from .conftest import PASSWORD

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]

if CHROMIUM is None and os.environ.get("CI"):
    pytest.fail("CI must have Debian's chromium for the browser test", pytrace=False)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test
    # makes between steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def test_customer_ticket_is_answered_by_operator_and_the_answer_shows_in_the_portal(
    live_server, cast, browser
):
    ARTIFACTS.mkdir(exist_ok=True)
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
