"""The KPI targets and evidence registers in Debian's Chromium, reached from the metrics
dashboard's tabs: a supervisor sets a target and adds a record; no policy violation."""

from django.db import connections
from django.urls import reverse

from firstline.metrics.models import Evidence, MetricTarget

from .browser import ARTIFACTS, BROWSER_TEST
from .test_csp_browser import Watched

pytestmark = BROWSER_TEST


def test_supervisor_sets_a_target_and_adds_a_record(django_db_setup, live_server, cast,
                                                    browser):
    desk = Watched(browser, live_server.url)
    desk.page.context.add_cookies([{"name": "django_language", "value": "ru",
                                    "url": live_server.url}])
    desk.sign_in("supervisor")
    desk.visit(reverse("metrics:dashboard"))
    desk.page.click("nav.tabs a[href='/metrics/targets/']")
    desk.page.wait_for_load_state("load")
    desk.page.select_option("#add-target select[name=partner]", str(cast.a.partner.pk))
    desk.page.select_option("#add-target select[name=metric]", "reaction_time")
    desk.page.fill("#add-target input[name=target]", "92")
    desk.page.click("#add-target button.primary")
    desk.page.wait_for_load_state("load")
    assert "92 %" in desk.page.text_content("#targets")
    assert MetricTarget.objects.get(partner=cast.a.partner).target == 0.92
    desk.page.screenshot(path=str(ARTIFACTS / "metrics-targets.png"), full_page=True)
    desk.page.click("nav.tabs a[href='/metrics/evidence/']")
    desk.page.wait_for_load_state("load")
    desk.page.select_option("#add-evidence select[name=kind]", Evidence.Kind.CONTROL)
    desk.page.fill("#add-evidence input[name=title]", "Проверка скрипта диагностики VPS")
    desk.page.fill("#add-evidence input[name=person]", "Петрова, супервизор")
    desk.page.fill("#add-evidence input[name=next_due]", "2027-03-01")
    desk.page.click("#add-evidence button.primary")
    desk.page.wait_for_load_state("load")
    assert "Проверка скрипта диагностики VPS" in desk.page.text_content("#evidence")
    desk.page.screenshot(path=str(ARTIFACTS / "metrics-evidence.png"), full_page=True)
    desk.assert_clean()
    connections.close_all()  # the live server's thread left one open (PostgreSQL teardown)
