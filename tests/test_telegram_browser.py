"""The bot's settings page in Debian's Chromium: Russian first, no policy violation; a
supervisor connects a bot and the page shows its status and webhook address."""

from django.db import connections
from django.test import override_settings
from django.urls import reverse

from .browser import ARTIFACTS, BROWSER_TEST
from .telegram_standin import TelegramStandIn
from .test_csp_browser import Watched

pytestmark = BROWSER_TEST
TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


def test_a_supervisor_connects_a_bot_in_russian(django_db_setup, live_server, cast, browser):
    with TelegramStandIn() as api, override_settings(FIRSTLINE_TELEGRAM_API_URL=api.url):
        api.add_bot(TOKEN, "alpha_support_bot")
        desk = Watched(browser, live_server.url)
        desk.page.context.add_cookies([{"name": "django_language", "value": "ru",
                                        "url": live_server.url}])
        desk.sign_in("supervisor")
        desk.visit(reverse("telegram:partners"))
        desk.page.click(f"text={cast.a.partner.name}")
        desk.page.wait_for_load_state("load")
        assert "Создайте его в @BotFather" in desk.page.text_content("main")
        desk.page.fill("input[name=token]", "неверный")
        desk.page.click("#bot button.primary")
        desk.page.wait_for_load_state("load")
        assert "Это не токен бота" in desk.page.text_content("#bot")
        desk.page.fill("input[name=token]", TOKEN)
        desk.page.select_option("select[name=mode]", "webhook")
        desk.page.click("#bot button.primary")
        desk.page.wait_for_load_state("load")
        status = desk.page.text_content("#status")
        assert "Telegram-бот сохранён" in desk.page.text_content("main")
        assert "/telegram/7012345678/webhook" in status
        assert "Установить вебхук" in status
        desk.page.screenshot(path=str(ARTIFACTS / "telegram-settings.png"), full_page=True)
        desk.assert_clean()
    connections.close_all()  # the live server's thread left one open (PostgreSQL teardown)
