"""The metrics API: the same numbers as the page, tenancy by the token's user, clear 422s."""

import pytest

from firstline.metrics import report
from tests.test_api_support import token_client
from tests.test_metrics_registry import MONTH, facts  # noqa: F401  (the fixture)


def test_metrics_for_a_partner_and_month(cast, facts):  # noqa: F811
    api = token_client(cast.supervisor)
    answer = api.get("/api/metrics", {"partner": cast.a.partner.pk, "month": "2026-03"})
    assert answer.status_code == 200
    rows = {row["key"]: row for row in answer.json()["metrics"]}
    assert rows["first_line_share"]["value"] == pytest.approx(
        sum(not spec["handed"] for spec in facts) / len(facts))
    assert rows["reaction_time"]["definition"]


def test_a_manager_gets_only_their_partner_and_its_reports(cast, facts):  # noqa: F811
    issued = report.issue(cast.a.partner, MONTH, "en")
    other = token_client(cast.b.manager)
    answer = other.get("/api/metrics", {"partner": cast.a.partner.pk, "month": "2026-03"})
    assert answer.json()["partner"] == cast.b.partner.pk
    assert other.get("/api/metrics/reports").json()["reports"] == []
    assert other.get(f"/api/metrics/reports/{issued.pk}/pdf").status_code == 404
    own = token_client(cast.a.manager)
    listed = own.get("/api/metrics/reports").json()["reports"]
    assert [row["id"] for row in listed] == [issued.pk]
    download = own.get(listed[0]["xlsx"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content)[:2] == b"PK"


def test_bad_period_and_wrong_roles(cast):
    api = token_client(cast.supervisor)
    answer = api.get("/api/metrics", {"start": "2026-03-31", "end": "2026-03-01"})
    assert answer.status_code == 422 and "end" in answer.json()["detail"]
    assert token_client(cast.a.engineer).get("/api/metrics").status_code == 403
    assert api.get("/api/metrics/assessment").status_code == 422


def test_assessment(cast):
    answer = token_client(cast.supervisor).get(
        "/api/metrics/assessment", {"partner": cast.a.partner.pk, "month": "2026-03"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["level"] == "initial"
    assert any(item["text"] == "Deadlines (SLA) agreed" for item in body["criteria"])
