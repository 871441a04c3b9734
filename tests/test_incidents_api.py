"""The incidents API: an announcement with a part missing is refused naming it; tenancy."""

from datetime import timedelta

import pytest
from django.utils import timezone

from firstline.incidents.models import Announcement, Incident
from firstline.tickets.models import Status
from tests.test_api_support import token_client


@pytest.fixture
def incident(cast):
    api = token_client(cast.operator)
    started = (timezone.now() - timedelta(hours=1)).isoformat()
    response = api.post("/api/incidents", {
        "partner_id": cast.a.partner.pk, "title": "VPS недоступны",
        "service_ids": [cast.a.service.pk], "impact": "full", "started_at": started,
        "time_zone": "Europe/Moscow"}, content_type="application/json")
    assert response.status_code == 201, response.json()
    return Incident.objects.get(pk=response.json()["id"])


def test_an_announcement_missing_a_part_is_refused_naming_it(cast, incident):
    api = token_client(cast.operator)
    response = api.post(f"/api/incidents/{incident.pk}/announcements",
                        {"kind": "incident", "impact": "full"},
                        content_type="application/json")
    assert response.status_code == 422
    fields = [error["field"] for error in response.json()["errors"]]
    assert fields == ["expected_fix"]
    assert "Expected time to fix the incident" in response.json()["errors"][0]["message"]
    assert not Announcement.objects.exists()
    fix = (timezone.now() + timedelta(hours=2)).isoformat()
    response = api.post(f"/api/incidents/{incident.pk}/announcements",
                        {"kind": "incident", "impact": "full", "expected_fix_at": fix},
                        content_type="application/json")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "sent"


def test_link_and_resolve_through_the_api(cast, incident):
    api = token_client(cast.a.engineer)
    response = api.post(f"/api/incidents/{incident.pk}/links",
                        {"ticket_ids": [cast.a.ticket.pk]}, content_type="application/json")
    assert response.json() == {"linked": 1}
    response = api.post(f"/api/incidents/{incident.pk}/links",
                        {"ticket_ids": [cast.b.ticket.pk]}, content_type="application/json")
    assert response.status_code == 422  # another partner's ticket looks like a missing one
    response = api.post(f"/api/incidents/{incident.pk}/resolve", {"recovery": {
        "symptoms": "Сайты не открывались", "cause": "Отказ коммутатора",
        "measures": "Резервный канал", "how_to_check": "Откройте сайт",
        "support_contacts": "+7 495 000-00-00"}}, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "resolved"
    cast.a.ticket.refresh_from_db()
    assert cast.a.ticket.status == Status.RESOLVED


def test_another_partner_sees_no_incident(cast, incident):
    assert token_client(cast.b.engineer).get(f"/api/incidents/{incident.pk}").status_code == 404
    response = token_client(cast.b.engineer).post(
        "/api/incidents", {"partner_id": cast.a.partner.pk, "title": "x",
                           "service_ids": [cast.a.service.pk], "impact": "full",
                           "started_at": timezone.now().isoformat(),
                           "time_zone": "Europe/Moscow"}, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "partner_id"
