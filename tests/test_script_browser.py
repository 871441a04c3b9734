"""In the real Chromium: the operator works a ticket by the partner's script and hands it
over; the partner's engineer sees the classification and the diagnostic results."""

from django.db import connections

from firstline.tickets.models import Status, Ticket
from tests.browser import ARTIFACTS, BROWSER_TEST
from tests.conftest import PASSWORD
from tests.test_script_support import CODE_WORD, configure

pytestmark = BROWSER_TEST


def sign_in(browser, live_server, user):
    page = browser.new_page(locale="en-US", viewport={"width": 1400, "height": 1000})
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/tickets/")
    return page


def test_the_operator_works_the_script_and_the_partner_sees_the_results(
    django_db_setup, live_server, cast, browser
):
    ARTIFACTS.mkdir(exist_ok=True)
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    operator = sign_in(browser, live_server, cast.operator)
    operator.goto(f"{live_server.url}/tickets/{ticket.pk}/")

    operator.fill("input[name=identify-contract_number]", cast.a.organisation.contract_number)
    operator.fill("input[name=identify-code_word]", CODE_WORD)
    operator.click("form[action$='/script/identify/'] button[type=submit]")
    operator.wait_for_selector("text=Identification recorded.")
    operator.select_option(f"select[name=classify-field_{cfg.service_field.pk}]", "Облако → ВМ")
    operator.click("form[action$='/script/classify/'] button[type=submit]")
    operator.wait_for_selector("text=Classification saved.")
    operator.fill(f"textarea[name=diagnose-param_{cfg.vm_id.pk}]", "vm-4711")
    operator.fill(f"textarea[name=diagnose-param_{cfg.tracert.pk}]",
                  "1  10.0.0.1  0.4 ms\n2  vm-4711.alpha  1.2 ms")
    operator.click("form[action$='/script/diagnose/'] button[type=submit]")
    operator.wait_for_selector("text=Diagnostic results saved.")
    operator.check(f"input[name=prioritise-question_{cfg.everyone.pk}]")
    operator.click("form[action$='/script/prioritise/'] button[type=submit]")
    operator.wait_for_selector("text=Urgency answers recorded.")
    operator.screenshot(path=str(ARTIFACTS / "script-checklist.png"), full_page=True)
    operator.click("form[action$='/script/handover/'] button[type=submit]")
    operator.wait_for_selector("text=Handed over to the partner.")

    handed = Ticket.objects.get(pk=ticket.pk)
    assert handed.status == Status.WAITING_PARTNER and handed.assignee == cast.a.engineer
    assert handed.priority == "critical"

    engineer = sign_in(browser, live_server, cast.a.engineer)
    engineer.goto(f"{live_server.url}/tickets/{ticket.pk}/")
    card = engineer.text_content("#script")
    assert "Облако → ВМ" in card and "vm-4711.alpha" in card
    engineer.screenshot(path=str(ARTIFACTS / "script-partner-view.png"), full_page=True)
    connections.close_all()
