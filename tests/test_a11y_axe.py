"""axe-core, run in the real Debian Chromium, finds nothing serious or critical on the pages
an operator and a customer use most: the queue, the ticket page, the new-ticket form, and the
portal's sign-in page, a customer's tickets, one ticket and the new-ticket page.

axe-core comes from the npm registry (package.json, pinned in package-lock.json; `make test`
installs it). In CI a missing axe fails the run instead of skipping it.
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections
from django.test import Client

from firstline.core.clock import now
from firstline.quality.script_models import ClassificationField, DiagnosticParameter
from firstline.tickets.models import Ticket

from .browser import ARTIFACTS, BROWSER_TEST

pytestmark = BROWSER_TEST

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}

if not AXE.exists():
    message = f"axe-core is not installed ({AXE}): run `make node-deps` (npm ci)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytestmark = [*BROWSER_TEST, pytest.mark.skip(reason=message)]


def signed_in_page(browser, live_server, user):
    """A page whose browser context carries `user`'s session (no sign-in form to drive)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(locale="ru-RU")
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])
    return context.new_page()


def violations(page, name):
    """axe's serious and critical findings on the page as loaded, as readable lines."""
    page.screenshot(path=str(ARTIFACTS / f"a11y-{name}.png"), full_page=True)
    # Evaluated through the DevTools protocol, so the page's CSP does not block it.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    found = [
        f"{item['impact']}: {item['id']} ({item['help']}) at "
        + json.dumps([node["target"] for node in item["nodes"]][:5], ensure_ascii=False)
        for item in result["violations"] if item["impact"] in BLOCKING
    ]
    return found


def test_axe_does_report_a_field_without_a_label(browser):
    """The control: the check below can fail, a text box with no label is critical."""
    page = browser.new_page()
    page.set_content('<html lang="ru"><head><title>t</title></head><body><main>'
                     '<p>Код ошибки</p><textarea name="x"></textarea></main></body></html>')
    assert [line for line in violations(page, "control") if line.startswith("critical: label")]


def test_desk_pages_have_no_serious_accessibility_violation(django_db_setup, live_server,
                                                            cast, browser):
    # A script with diagnostics and classification, so the checklist's fields are checked.
    partner = cast.a.partner
    ClassificationField.objects.create(partner=partner, name="Компонент", values=["Почта", "FTP"],
                                       required=True)
    DiagnosticParameter.objects.create(partner=partner, name="Код ошибки",
                                       request_text="Какой код ошибки вы видите?")
    # Every badge colour on the queue: amber and red deadlines, each priority.
    moment = now()
    soon, late = moment + timedelta(minutes=5), moment - timedelta(minutes=30)
    Ticket.objects.filter(pk=cast.a.ticket.pk).update(
        priority="high", due_at=soon, reaction_due_at=soon)
    Ticket.objects.filter(pk=cast.b.ticket.pk).update(
        priority="critical", due_at=late, reaction_due_at=late)
    Ticket.objects.filter(pk=cast.b.other_ticket.pk).update(priority="low")
    page = signed_in_page(browser, live_server, cast.operator)
    checked = {}
    page.goto(f"{live_server.url}/tickets/?status=any")
    for badge in (".due-warning", ".due-breach", ".due-ok", ".prio-high", ".prio-critical",
                  ".prio-low", ".prio-normal", "th"):
        assert page.locator(f"table.queue {badge}").count(), badge
    checked["queue"] = violations(page, "queue")
    page.goto(f"{live_server.url}/tickets/{cast.a.ticket.pk}/")
    assert page.locator("#script").count() == 1  # the checklist is on the page checked
    checked["ticket"] = violations(page, "ticket")
    page.goto(f"{live_server.url}/tickets/new/")
    checked["new-ticket"] = violations(page, "new-ticket")
    connections.close_all()
    assert checked == {"queue": [], "ticket": [], "new-ticket": []}


def test_portal_pages_have_no_serious_accessibility_violation(django_db_setup, live_server,
                                                              cast, browser):
    anonymous = browser.new_page(locale="ru-RU")
    anonymous.goto(f"{live_server.url}/portal/{cast.a.partner.slug}/login/")
    checked = {"sign-in": violations(anonymous, "portal-sign-in")}
    customer = signed_in_page(browser, live_server, cast.a.customer)
    customer.goto(f"{live_server.url}/portal/tickets/{cast.a.ticket.pk}/")
    assert cast.a.ticket.subject in customer.text_content("h1")
    checked["ticket"] = violations(customer, "portal-ticket")
    customer.goto(f"{live_server.url}/portal/")
    checked["tickets"] = violations(customer, "portal-tickets")
    customer.goto(f"{live_server.url}/portal/new/")
    checked["new"] = violations(customer, "portal-new-ticket")
    connections.close_all()
    assert checked == {"sign-in": [], "ticket": [], "tickets": [], "new": []}
