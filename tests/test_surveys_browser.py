"""Survey pages in the real Chromium under the Content-Security-Policy: the answer page from
the letter (GET shows, the button votes), the desk's feedback, follow-up, risk and win-back
pages, and the portal rating, with no policy violation; screenshots in test-artifacts/."""

from datetime import timedelta

import time_machine
from django.db import connections
from django.urls import reverse

from firstline.core.clock import now
from firstline.surveys import services
from firstline.surveys.models import Kind, Survey, WinBackCase
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Status, Ticket

from .browser import ARTIFACTS, BROWSER_TEST
from .test_csp_browser import Watched

pytestmark = BROWSER_TEST


def test_survey_pages_work_under_the_policy(django_db_setup, live_server, cast, browser):
    ticket_services.change_ticket(ticket=cast.a.ticket, actor=cast.operator,
                                  change=ticket_services.TicketChange(
                                      status=Status.RESOLVED, assignee=cast.operator))
    Ticket.objects.filter(pk=cast.a.ticket.pk).update(resolution_in_time=False)
    survey = Survey.objects.get(ticket=cast.a.ticket, kind=Kind.CSAT)
    with time_machine.travel(now() + timedelta(minutes=61), tick=False):
        services.send_due()
    path = reverse("surveys:vote", args=[services.vote_token(survey, 2)])

    customer = Watched(browser, live_server.url)
    customer.page.close()
    customer.page = browser.new_page(locale="ru-RU", viewport={"width": 900, "height": 900})
    customer.page.on("console", customer._console)
    customer.visit(path)
    assert customer.page.is_checked("input[name=score][value='2']")
    survey.refresh_from_db()
    assert survey.score is None  # looking is not voting
    customer.page.fill("textarea[name=comment]", "Долго ждали ответа")
    customer.page.screenshot(path=str(ARTIFACTS / "surveys-vote.png"), full_page=True)
    customer.page.click("main button[type=submit]")
    customer.page.wait_for_load_state("load")
    assert "Спасибо" in customer.page.text_content("main")
    survey.refresh_from_db()
    assert survey.score == 2 and survey.comment == "Долго ждали ответа"
    customer.assert_clean()

    desk = Watched(browser, live_server.url)
    desk.sign_in("supervisor")
    for name in ("feedback", "tasks", "risk", "winback"):
        desk.visit(reverse(f"surveys:{name}"))
        desk.page.screenshot(path=str(ARTIFACTS / f"surveys-{name}.png"), full_page=True)
    desk.visit(reverse("surveys:settings", args=[cast.a.partner.pk]))
    desk.page.screenshot(path=str(ARTIFACTS / "surveys-settings.png"), full_page=True)
    assert "Долго ждали ответа" in desk.page.goto(
        live_server.url + reverse("surveys:feedback")).text()
    desk.visit(reverse("surveys:winback-new", args=[cast.a.organisation.pk]))
    # The operator who handled the breached ticket is named and cannot be chosen.
    assert cast.a.ticket.number in desk.page.text_content("main")
    assert desk.page.is_disabled(f"select[name=assignee] option[value='{cast.operator.pk}']")
    desk.page.screenshot(path=str(ARTIFACTS / "surveys-winback-new.png"), full_page=True)
    desk.page.select_option("select[name=assignee]", str(cast.a.manager.pk))
    desk.page.click("main button[type=submit]")
    desk.page.wait_for_load_state("load")
    assert WinBackCase.objects.get().assignee == cast.a.manager
    desk.page.screenshot(path=str(ARTIFACTS / "surveys-winback-case.png"), full_page=True)
    desk.assert_clean()
    connections.close_all()
