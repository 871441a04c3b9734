"""The reply check in the real Debian Chromium: a forbidden word is caught as the operator
types, its suggestion goes into the reply with one click, and the reply is sent."""

import os
import shutil
from pathlib import Path

import pytest
from django.db import connections

from firstline.tickets.models import Message

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

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def test_the_operator_types_a_forbidden_word_and_takes_the_suggestion(
    django_db_setup, live_server, cast, browser
):
    # django_db_setup first: the session's live server, if this test starts it, then shares
    # the in-memory SQLite database's connection instead of opening one per request thread.
    ARTIFACTS.mkdir(exist_ok=True)
    ticket = cast.a.ticket
    page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", cast.operator.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/tickets/")
    page.goto(f"{live_server.url}/tickets/{ticket.pk}/")

    editor = page.locator("textarea[name=text]")
    editor.press_sequentially("Иван, ваша проблема решена, проверьте, пожалуйста.", delay=15)
    suggestion = page.locator("#reply-check button.suggestion", has_text="ситуация")
    suggestion.wait_for()
    panel = page.locator("#reply-check")
    assert "cannot be sent" in panel.text_content()
    assert page.locator("#reply-check mark.blocking").text_content() == "проблема"
    page.screenshot(path=str(ARTIFACTS / "reply-check-forbidden-word.png"), full_page=True)

    suggestion.click()

    assert editor.input_value() == "Иван, ваша ситуация решена, проверьте, пожалуйста."
    page.locator("#reply-check .summary-ok").wait_for()
    page.screenshot(path=str(ARTIFACTS / "reply-check-fixed.png"), full_page=True)
    page.click("form.reply-form button[type=submit]")
    page.wait_for_selector(".msg-reply")
    assert Message.objects.get(ticket=ticket, kind="reply").body_text.startswith(
        "Иван, ваша ситуация решена"
    )
    connections.close_all()
