"""The webhook pages in Debian's Chromium, in Russian: a partner's manager creates a webhook
(a private address refused on its field first), copies the secret shown once, and sees the
delivery log; no policy violation."""

import pytest
from django.db import connections

from firstline.outbox.delivery import run_pass
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel as TicketChannel

from .browser import ARTIFACTS, BROWSER_TEST
from .test_csp_browser import Watched
from .test_outbox_http import FakeServer

pytestmark = BROWSER_TEST


@pytest.fixture(autouse=True)
def no_cached_subscriptions():
    from firstline.webhooks import adapter

    adapter.forget()
    yield
    adapter.forget()


def test_a_manager_creates_a_webhook_and_reads_its_log(django_db_setup, live_server, cast,
                                                      browser, settings):
    settings.FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE = False
    desk = Watched(browser, live_server.url)
    page = desk.page
    page.context.add_cookies([{"name": "django_language", "value": "ru",
                               "url": live_server.url}])
    desk.sign_in("alpha-manager")
    page.click("header a:text('Вебхуки')")
    page.wait_for_url("**/webhooks/")
    page.fill("input[name=url]", "http://169.254.169.254/latest/meta-data/")
    page.check("input[value='ticket.created']")
    page.click("main form.webhook-form button[type=submit]")
    error = page.locator(".field.invalid .errorlist")
    assert "не публичный адрес" in error.text_content()
    page.screenshot(path=str(ARTIFACTS / "webhooks-refused.png"), full_page=True)

    settings.FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE = True
    with FakeServer() as receiver:
        page.fill("input[name=name]", "CRM Альфы")
        page.fill("input[name=url]", receiver.url("/hook"))
        page.click("main form.webhook-form button[type=submit]")
        secret = page.locator("[data-testid=secret]").text_content()
        assert secret.startswith("whsec_")
        assert "показывается только один раз" in page.text_content(".webhook-secret")
        ticket_services.create_ticket(
            partner=cast.a.partner, actor=cast.operator, channel=TicketChannel.PHONE,
            subject="Не печатает", text="Принтер", contact=cast.a.contact)
        run_pass(limit=10)
        page.reload()
        # A reload shows the page, not the secret again.
        assert page.locator("[data-testid=secret]").count() == 0
        log = page.locator("table.webhook-log").text_content()
        assert "ticket.created" in log and "Отправлено" in log and "200" in log
        page.screenshot(path=str(ARTIFACTS / "webhooks-subscription.png"), full_page=True)
        desk.assert_clean()
    assert len(receiver.requests) == 1
    connections.close_all()  # the live server's thread left one open (PostgreSQL teardown)
