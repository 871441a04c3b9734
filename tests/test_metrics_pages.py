"""The metrics pages and JSON: tenancy (a partner's manager sees only their partner; another
partner's id is a 404), bad parameters answered with the field named, the same numbers as
the registry."""

import pytest
from django.urls import reverse

from firstline.metrics.models import MonthlyReport
from tests.conftest import client_for
from tests.test_metrics_registry import MONTH, facts  # noqa: F401  (the fixture)

MONTH_PARAM = MONTH.strftime("%Y-%m")


def test_supervisor_sees_every_metric_with_targets(cast, facts):  # noqa: F811
    client = client_for(cast.supervisor)
    page = client.get(reverse("metrics:dashboard"),
                      {"partner": cast.a.partner.pk, "month": MONTH_PARAM})
    assert page.status_code == 200
    text = page.content.decode()
    assert "Reaction time" in text and "≥ 95 %" in text
    assert "Share of tickets created in the period whose first human reply" in text
    assert "met" in text or "missed" in text


def test_json_gives_the_registry_numbers(cast, facts):  # noqa: F811
    client = client_for(cast.supervisor)
    answer = client.get(reverse("metrics:data"),
                        {"partner": cast.a.partner.pk, "month": MONTH_PARAM}).json()
    by_key = {row["key"]: row for row in answer["metrics"]}
    expected = sum(spec["reaction_in_time"] for spec in facts) / len(facts)
    assert by_key["reaction_time"]["value"] == pytest.approx(expected)
    assert by_key["reaction_time"]["target"] == 0.95


def test_partner_manager_sees_only_their_partner(cast, facts):  # noqa: F811
    manager = client_for(cast.b.manager)
    # Asking for partner A is ignored: a manager's scope is their own partner.
    answer = manager.get(reverse("metrics:data"),
                         {"partner": cast.a.partner.pk, "month": MONTH_PARAM}).json()
    assert answer["partner"] == cast.b.partner.pk
    by_key = {row["key"]: row for row in answer["metrics"]}
    assert by_key["reaction_time"]["n"] == 1  # partner B's one March ticket, not A's 40
    report = MonthlyReport.objects.create(partner=cast.a.partner, month=MONTH)
    url = reverse("metrics:report-file", args=[report.pk, "pdf"])
    assert manager.get(url).status_code == 404


def test_engineers_and_customers_do_not_reach_the_metrics(cast):
    assert client_for(cast.a.engineer).get(reverse("metrics:dashboard")).status_code == 403
    assert client_for(cast.a.customer).get(reverse("metrics:dashboard")).status_code == 403


def test_another_partner_for_staff_that_does_not_exist_is_404(cast):
    client = client_for(cast.supervisor)
    assert client.get(reverse("metrics:data"), {"partner": 999999}).status_code == 404


@pytest.mark.parametrize("params, field", [
    ({"start": "2026-03-10", "end": "2026-03-01"}, "end"),
    ({"month": "March"}, "month"),
    ({"start": "2026-03-01", "end": "not a date"}, "end"),
    ({"priority": "urgent!"}, "priority"),
    ({"channel": "pigeon"}, "channel"),
    ({"service": "abc"}, "service"),
])
def test_bad_parameters_name_the_field(cast, params, field):
    client = client_for(cast.supervisor)
    answer = client.get(reverse("metrics:data"), params)
    assert answer.status_code == 422
    assert field in answer.json()["detail"]
    page = client.get(reverse("metrics:dashboard"), params)
    assert page.status_code == 400


def test_another_partners_service_is_refused(cast):
    manager = client_for(cast.a.manager)
    answer = manager.get(reverse("metrics:data"), {"service": cast.b.service.pk})
    assert answer.status_code == 422
    assert "service" in answer.json()["detail"]


def test_assessment_page_shows_the_level_and_next_steps(cast):
    client = client_for(cast.supervisor)
    page = client.get(reverse("metrics:assessment"),
                      {"partner": cast.a.partner.pk, "month": MONTH_PARAM})
    text = page.content.decode()
    assert page.status_code == 200
    assert "Level reached" in text and "Initial" in text
    assert "Deadlines (SLA) agreed" in text


def test_drill_down_lists_the_tickets_behind_a_figure_late_first(cast, facts):  # noqa: F811
    client = client_for(cast.supervisor)
    url = reverse("metrics:drill", args=["reaction_time"])
    page = client.get(url, {"partner": cast.a.partner.pk, "month": MONTH_PARAM})
    assert page.status_code == 200
    rows = list(page.context["tickets"])
    assert page.context["total"] == len(facts) == len(rows)
    late = sum(not spec["reaction_in_time"] for spec in facts)
    assert [t.reaction_in_time for t in rows[:late]] == [False] * late
    assert rows[0].number in page.content.decode()
    dashboard = client.get(reverse("metrics:dashboard"),
                           {"partner": cast.a.partner.pk, "month": MONTH_PARAM})
    assert url in dashboard.content.decode()


def test_drill_down_keeps_tenancy_and_refuses_unknown_metrics(cast, facts):  # noqa: F811
    manager = client_for(cast.b.manager)
    url = reverse("metrics:drill", args=["reaction_time"])
    page = manager.get(url, {"partner": cast.a.partner.pk, "month": MONTH_PARAM})
    assert all(t.partner_id == cast.b.partner.pk for t in page.context["tickets"])
    assert manager.get(reverse("metrics:drill", args=["csat"])).status_code == 404
    assert manager.get(reverse("metrics:drill", args=["nothing"])).status_code == 404


def test_trend_by_month_counts_each_month_in_the_partners_zone(cast, facts):  # noqa: F811
    from firstline.metrics import services

    client = client_for(cast.supervisor)
    page = client.get(reverse("metrics:dashboard"),
                      {"partner": cast.a.partner.pk, "month": MONTH_PARAM})
    charts = {chart["key"]: chart for chart in page.context["charts"]}
    march = charts["reaction_time"]["bars"][-1]
    expected = 100 * sum(spec["reaction_in_time"] for spec in facts) / len(facts)
    assert march["month"] == "03.26" and march["n"] == len(facts)
    assert float(march["text"].rstrip("%")) == pytest.approx(expected, abs=0.05)
    february = charts["resolution_time"]["bars"][-2]
    assert february["n"] == 1 and february["text"] == "0%"  # the one late February ticket
    assert len(charts["reaction_time"]["bars"]) == services.TREND_MONTHS
    assert "Trend by month" in page.content.decode()
