"""The demo's Telegram tickets in Debian's Chromium, as the operator meets them after
`make run`: found in the queue, the ticket page in Russian with the customer's screenshot,
the refused video named with its reason; no policy violation. Screenshots in
test-artifacts/ (telegram-demo-*.png)."""

from datetime import timedelta

from django.db import connections

from firstline.core.clock import now
from firstline.core.demo import DEMO_PASSWORD, build_demo
from firstline.telegram.models import IncomingFile
from firstline.tickets.models import Channel, Message, Status, Ticket

from .browser import ARTIFACTS, BROWSER_TEST
from .test_csp_browser import Watched

pytestmark = BROWSER_TEST


def test_the_operator_opens_the_demo_telegram_tickets(django_db_setup, live_server, browser):
    build_demo(moment=now() - timedelta(minutes=1))
    new = Ticket.objects.get(channel=Channel.TELEGRAM, status=Status.NEW)
    photo = new.messages.get(kind=Message.Kind.INBOUND).attachments.get()
    refused = IncomingFile.objects.get(status=IncomingFile.Status.FAILED)
    waiting = refused.message.ticket

    desk = Watched(browser, live_server.url)
    page = desk.page
    page.context.add_cookies([{"name": "django_language", "value": "ru",
                               "url": live_server.url}])
    desk.visit("/login/")
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/tickets/**")

    # The queue: the new Telegram ticket is among the first line's, and opens from there.
    page.click(f"text={new.number}")
    page.wait_for_url(f"**/tickets/{new.pk}/")
    page.wait_for_load_state("load")
    facts = page.text_content("#ticket-facts")
    assert "Telegram" in facts and new.contact.name in facts
    conversation = page.text_content(".conversation")
    assert "Ошибка 403" in conversation
    assert new.number in conversation  # the bot's acknowledgement, with the number
    assert "Отправить номер телефона" in conversation  # it asked the unknown customer
    link = page.locator(f".attachments a:has-text('{photo.filename}')")
    assert link.count() == 1
    picture = page.request.get(live_server.url + link.get_attribute("href"))
    assert picture.status == 200 and picture.body()[:8] == b"\x89PNG\r\n\x1a\n"
    page.screenshot(path=str(ARTIFACTS / "telegram-demo-new.png"), full_page=True)

    desk.visit(f"/tickets/{waiting.pk}/")
    conversation = page.text_content(".conversation")
    assert refused.filename in conversation
    assert "20,0\u00a0МБ" in conversation  # the note says why the video is not there
    page.screenshot(path=str(ARTIFACTS / "telegram-demo-refused-file.png"), full_page=True)
    desk.assert_clean()
    connections.close_all()  # the live server's thread left one open (PostgreSQL teardown)
