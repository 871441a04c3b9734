"""The reply check in the real Debian Chromium: a forbidden word is caught as the operator
types, its suggestion goes into the reply with one click, and the reply is sent."""

from django.db import connections

from firstline.tickets.models import Message

from .browser import ARTIFACTS, BROWSER_TEST
from .conftest import PASSWORD

pytestmark = BROWSER_TEST


def test_the_operator_types_a_forbidden_word_and_takes_the_suggestion(
    django_db_setup, live_server, cast, browser
):
    # django_db_setup first: the session's live server, if this test starts it, then shares
    # the in-memory SQLite database's connection instead of opening one per request thread.
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
