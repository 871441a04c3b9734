"""The metrics dashboard in Debian's Chromium: no policy violation, Russian first, targets
met and missed readable without colour (✓/✗ and words), each definition on the page."""

from django.db import connections
from django.urls import reverse

from .browser import ARTIFACTS, BROWSER_TEST
from .test_csp_browser import Watched
from .test_metrics_registry import MONTH, facts  # noqa: F401  (the fixture)

pytestmark = BROWSER_TEST


def test_dashboard_and_assessment_in_russian_keep_the_policy(
    django_db_setup, live_server, cast, browser, facts  # noqa: F811
):
    desk = Watched(browser, live_server.url)
    desk.page.context.add_cookies([{"name": "django_language", "value": "ru",
                                    "url": live_server.url}])
    desk.sign_in("supervisor")
    query = f"?partner={cast.a.partner.pk}&month={MONTH:%Y-%m}"
    desk.visit(reverse("metrics:dashboard") + query)
    text = desk.page.text_content("main")
    assert "Время реакции" in text and "≥ 95 %" in text
    assert "не выполнено" in text and "✗" in text
    assert "Доля решенных на 1 линии" in text
    desk.page.screenshot(path=str(ARTIFACTS / "metrics-dashboard.png"), full_page=True)
    desk.visit(reverse("metrics:assessment") + query)
    assert "Достигнутый уровень" in desk.page.text_content("main")
    desk.page.screenshot(path=str(ARTIFACTS / "metrics-assessment.png"), full_page=True)
    desk.visit(reverse("metrics:drill", args=["resolution_time"]) + query)
    assert "FL-" in desk.page.text_content("main")
    desk.page.screenshot(path=str(ARTIFACTS / "metrics-drill.png"), full_page=True)
    desk.visit(reverse("metrics:reports"))
    desk.page.fill("textarea[name=notes]", "Переезд ЦОД")
    desk.page.click("main form button[type=submit]")
    desk.page.wait_for_load_state("load")
    assert "PDF" in desk.page.text_content("main table")
    desk.page.screenshot(path=str(ARTIFACTS / "metrics-reports.png"), full_page=True)
    desk.assert_clean()
    connections.close_all()  # the live server's thread left one open (PostgreSQL teardown)
