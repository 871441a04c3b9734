"""The partners' comparison in Debian's Chromium: Russian, no policy violation, verdicts in
symbols and words."""

from django.db import connections
from django.urls import reverse

from .browser import ARTIFACTS, BROWSER_TEST
from .test_csp_browser import Watched
from .test_metrics_compare import MONTH, two_partners  # noqa: F401  (the fixture)

pytestmark = BROWSER_TEST


def test_comparison_table_in_russian(django_db_setup, live_server, cast, browser,
                                     two_partners):  # noqa: F811
    desk = Watched(browser, live_server.url)
    desk.page.context.add_cookies([{"name": "django_language", "value": "ru",
                                    "url": live_server.url}])
    desk.sign_in("supervisor")
    desk.visit(reverse("metrics:dashboard") + f"?month={MONTH:%Y-%m}")
    table = desk.page.text_content(".metric-compare")
    assert "Сравнение партнёров" in table
    assert "✓ выполнено" in table and "✗ не выполнено" in table
    desk.page.locator(".metric-compare").screenshot(path=str(ARTIFACTS / "metrics-compare.png"))
    desk.assert_clean()
    connections.close_all()  # the live server's thread left one open (PostgreSQL teardown)
