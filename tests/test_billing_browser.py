"""The billing pages in Debian's Chromium, in Russian: the usage meter, issuing an invoice and
a credit note from the partner's page, the partner manager's read-only view; no policy
violation. Screenshots go to test-artifacts/."""

from datetime import date

import pytest
from django.db import connections

from firstline.billing import services
from firstline.billing.models import Invoice, Plan
from firstline.tickets.models import Channel, Ticket
from tests.billing_support import billing_seed  # noqa: F401

from .browser import ARTIFACTS, BROWSER_TEST
from .test_csp_browser import Watched

pytestmark = [*BROWSER_TEST, pytest.mark.usefixtures("billing_seed")]


def test_supervisor_issues_and_corrects_an_invoice_manager_sees_the_meter(
    django_db_setup, live_server, cast, browser
):
    partner = cast.a.partner
    services.subscribe(partner=partner, plan=Plan.objects.get(code="start"),
                       starts_on=date(2025, 11, 1), actor=None)
    Ticket.objects.bulk_create(
        Ticket(partner=partner, contact=cast.a.contact, channel=Channel.EMAIL,
               subject=f"Request {n}") for n in range(7))  # + the cast's 2: 9 of 10
    desk = Watched(browser, live_server.url)
    desk.page.context.add_cookies([{"name": "django_language", "value": "ru",
                                    "url": live_server.url}])
    desk.sign_in("supervisor")
    desk.visit("/billing/")
    assert "9 из 10 заявок" in desk.page.text_content("main")
    desk.page.screenshot(path=str(ARTIFACTS / "billing-overview.png"), full_page=True)
    desk.visit(f"/billing/partners/{partner.pk}/")
    desk.page.fill("input[name=month]", "2025-11")
    desk.page.click("text=Выставить счёт")
    desk.page.wait_for_load_state("load")
    assert "Счёт 2026-00001 выставлен" in desk.page.text_content("main")
    assert Invoice.objects.get().total == services.money(Invoice.objects.get().subtotal * 120 / 100)
    desk.page.fill("input[name=reason]", "Неверный тариф")
    desk.page.click("text=Выставить корректировочный счёт")
    desk.page.wait_for_load_state("load")
    assert "CN-" in desk.page.text_content("main table:last-of-type")
    desk.page.screenshot(path=str(ARTIFACTS / "billing-partner.png"), full_page=True)
    desk.visit("/billing/plans/")
    desk.page.screenshot(path=str(ARTIFACTS / "billing-plans.png"), full_page=True)
    desk.assert_clean()

    manager = Watched(browser, live_server.url)
    manager.page.context.add_cookies([{"name": "django_language", "value": "ru",
                                       "url": live_server.url}])
    manager.sign_in("alpha-manager")
    manager.visit(f"/billing/partners/{partner.pk}/")
    text = manager.page.text_content("main")
    assert "9 из 10 заявок" in text and "Выставить счёт" not in text
    manager.page.screenshot(path=str(ARTIFACTS / "billing-manager.png"), full_page=True)
    manager.assert_clean()
    connections.close_all()
