"""The desk's incident pages: an announcement with a part missing is refused naming it,
tickets are linked from the suggestions, resolving answers them; tenancy holds."""

from datetime import timedelta

from django.utils import timezone

from firstline.incidents import services
from firstline.incidents.models import Announcement, Incident
from firstline.tickets.models import Status
from tests.conftest import client_for


def open_one(cast) -> Incident:
    return services.open_incident(
        partner=cast.a.partner, actor=cast.operator, title="VPS недоступны",
        services=[cast.a.service], impact="full", started_at=cast.a.ticket.created_at,
        time_zone="Europe/Moscow")


def test_the_desk_refuses_an_announcement_naming_the_missing_part(cast):
    incident = open_one(cast)
    desk = client_for(cast.operator)
    response = desk.post(f"/incidents/{incident.pk}/announce/", {"workaround": ""},
                         HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 422
    page = response.content.decode()
    assert "Не заполнен обязательный компонент: Ожидаемое время устранения инцидента." in page
    assert not Announcement.objects.exists()
    fix = (timezone.localtime(timezone.now() + timedelta(hours=2))
           .strftime("%Y-%m-%dT%H:%M"))
    response = desk.post(f"/incidents/{incident.pk}/announce/", {"expected_fix_at": fix})
    assert response.status_code == 302
    assert Announcement.objects.get().status == "sent"


def test_link_suggested_tickets_and_resolve_them_from_the_desk(cast):
    incident = open_one(cast)
    desk = client_for(cast.operator)
    page = desk.get(f"/incidents/{incident.pk}/").content.decode()
    assert cast.a.ticket.number in page  # suggested: same service, since the incident began
    refused = desk.post(f"/incidents/{incident.pk}/link/",
                        {"ticket": [cast.a.ticket.pk, cast.b.ticket.pk]}, follow=True)
    assert cast.b.ticket.number in refused.content.decode()  # named, and nothing linked
    assert not incident.links.exists()
    desk.post(f"/incidents/{incident.pk}/link/", {"ticket": [cast.a.ticket.pk]})
    assert list(incident.links.values_list("ticket_id", flat=True)) == [cast.a.ticket.pk]
    response = desk.post(f"/incidents/{incident.pk}/resolve/", {
        "symptoms": "Сайты не открывались", "cause": "", "measures": "Резервный канал",
        "how_to_check": "Откройте сайт", "support_contacts": "+7 495 000-00-00"},
        HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 422
    assert "Причина инцидента" in response.content.decode()
    response = desk.post(f"/incidents/{incident.pk}/resolve/", {
        "symptoms": "Сайты не открывались", "cause": "Отказ коммутатора",
        "measures": "Резервный канал", "how_to_check": "Откройте сайт",
        "support_contacts": "+7 495 000-00-00"})
    assert response.status_code == 302
    cast.a.ticket.refresh_from_db()
    assert cast.a.ticket.status == Status.RESOLVED


def test_another_partner_and_customers_cannot_see_the_incident(cast):
    incident = open_one(cast)
    assert client_for(cast.b.engineer).get(f"/incidents/{incident.pk}/").status_code == 404
    assert client_for(cast.a.customer).get("/incidents/").status_code == 403
    listing = client_for(cast.b.engineer).get("/incidents/").content.decode()
    assert "VPS недоступны" not in listing
    response = client_for(cast.a.engineer).post("/incidents/", {
        "partner": cast.a.partner.pk, "title": "Почта", "services": [cast.a.service.pk],
        "impact": "partial", "started_at": "2026-12-05T10:00", "time_zone": "Europe/Moscow"})
    assert response.status_code == 302
    assert Incident.objects.filter(title="Почта", partner=cast.a.partner).exists()


def test_alert_sources_and_maintenance_are_set_in_the_admin(cast, admin_client):
    from firstline.incidents.models import AlertSource

    source = AlertSource.objects.create(name="Prometheus", kind="alertmanager")
    for path in ("/admin/incidents/alertsource/",
                 f"/admin/incidents/alertsource/{source.pk}/change/",
                 "/admin/incidents/alert/", "/admin/incidents/maintenancepolicy/add/",
                 "/admin/incidents/contactservice/"):
        response = admin_client.get(path)
        assert response.status_code == 200, path
    assert source.token in admin_client.get(
        f"/admin/incidents/alertsource/{source.pk}/change/").content.decode()
