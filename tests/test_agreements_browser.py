"""The SLA document page in Debian's Chromium: Russian first, no policy violation; adding an
authorised person and generating two versions shows what changed between them."""

from django.db import connections
from django.urls import reverse

from .browser import ARTIFACTS, BROWSER_TEST
from .test_agreements import settings_a  # noqa: F401  (the fixture)
from .test_csp_browser import Watched

pytestmark = BROWSER_TEST


def test_manager_generates_versions_and_sees_the_changes(
    django_db_setup, live_server, cast, browser, settings_a  # noqa: F811
):
    desk = Watched(browser, live_server.url)
    desk.page.context.add_cookies([{"name": "django_language", "value": "ru",
                                    "url": live_server.url}])
    desk.sign_in("alpha-manager")
    desk.visit(reverse("agreements:partner", args=[settings_a.pk]))
    desk.page.click("#generate button[type=submit]")
    desk.page.wait_for_load_state("load")
    assert "Версия 1 — первая" in desk.page.text_content("main")
    desk.page.select_option("#persons select[name=organisation]",
                            str(cast.a.organisation.pk))
    desk.page.fill("#persons input[name=name]", "Сидорова Анна")
    desk.page.fill("#persons input[name=position]", "Бухгалтер")
    desk.page.click("#persons button.primary")
    desk.page.wait_for_load_state("load")
    desk.page.click("#generate button[type=submit]")
    desk.page.wait_for_load_state("load")
    changes = desk.page.text_content("#changes")
    assert "Что изменилось в версии 2 по сравнению с версией 1" in changes
    assert "3. Процедуры взаимодействия сторон" in changes and "Сидорова Анна" in changes
    assert "DOCX" in desk.page.text_content("#versions")
    desk.page.screenshot(path=str(ARTIFACTS / "agreements-partner.png"), full_page=True)
    desk.assert_clean()
    connections.close_all()  # the live server's thread left one open (PostgreSQL teardown)
