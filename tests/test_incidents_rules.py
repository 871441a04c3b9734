"""Mass incidents and announcements (issue 9): required parts, linked tickets, recovery,
the incident's acknowledgement, unsubscribing, availability minutes and tenancy."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from firstline.incidents import services
from firstline.incidents.models import (
    Announcement,
    AnnouncementDelivery,
    ContactService,
    Impact,
    Incident,
    IncidentStatus,
)
from firstline.mail.models import MailReference
from firstline.outbox.models import OutboxMessage
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel, Message, Status

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2027, 3, 2, 10, 0, tzinfo=MSK)

RECOVERY = {
    "symptoms": "Сайты на VPS не открывались",
    "cause": "Отказ коммутатора в стойке 4",
    "measures": "Коммутатор заменён, добавлен резервный канал",
    "how_to_check": "Откройте свой сайт и войдите в панель",
    "support_contacts": "+7 495 000-00-00, support@alpha.example",
}


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def incident_for(cast, **extra):
    values = {"partner": cast.a.partner, "actor": cast.operator, "title": "VPS недоступны",
              "services": [cast.a.service], "impact": Impact.FULL,
              "started_at": NOW - timedelta(hours=1), "time_zone": "Europe/Moscow"}
    values.update(extra)
    return services.open_incident(**values)


def test_an_incident_announcement_with_parts_missing_is_refused_naming_each(cast, frozen):
    incident = incident_for(cast)
    with pytest.raises(ValidationError) as refused:
        services.create_announcement(
            partner=cast.a.partner, actor=cast.operator, kind="incident", incident=incident,
            values={"began_at": incident.started_at, "time_zone": "Europe/Moscow",
                    "services": [cast.a.service]})
    errors = refused.value.message_dict
    assert set(errors) == {"service_impact", "expected_fix"}
    assert "Which service is partly or fully unavailable" in errors["service_impact"][0]
    assert "Expected time to fix" in errors["expected_fix"][0]
    assert not Announcement.objects.exists()
    assert not OutboxMessage.objects.filter(subject__contains="incident").exists()


def test_every_recovery_part_is_named_in_russian(cast, frozen):
    from django.utils import translation

    with translation.override("ru"), pytest.raises(ValidationError) as refused:
        services.validate_announcement("recovery", {})
    text = " ".join(refused.value.messages)
    for words in ("Причина инцидента", "Контакты технической поддержки",
                  "Продолжительность недоступности"):
        assert words in text


def test_one_public_reply_reaches_every_linked_customer_in_their_own_ticket(cast, frozen):
    incident = incident_for(cast)
    linked = services.link_tickets(incident=incident, actor=cast.operator,
                                   tickets=[cast.a.ticket, cast.a.other_ticket])
    assert linked == 2
    assert services.link_tickets(incident=incident, actor=cast.operator,
                                 tickets=[cast.a.ticket]) == 0
    before = OutboxMessage.objects.count()
    announcement = services.create_announcement(
        partner=cast.a.partner, actor=cast.operator, kind="incident", incident=incident,
        audience="linked",
        values={"began_at": incident.started_at, "time_zone": "Europe/Moscow",
                "services": [cast.a.service], "impact": "full",
                "expected_fix_at": NOW + timedelta(hours=2)})
    assert announcement.status == "sent"
    assert OutboxMessage.objects.count() == before + 2
    for ticket, address in ((cast.a.ticket, "ivan@alpha.example"),
                            (cast.a.other_ticket, "olga@alpha.example")):
        reply = Message.objects.filter(ticket=ticket, kind=Message.Kind.REPLY).get()
        assert "Ожидаемое время устранения: 02.03.2027 12:00 (Europe/Moscow)" in reply.body_text
        letter = OutboxMessage.objects.get(ticket=ticket, recipient=address)
        assert f"[{ticket.number}" in letter.subject  # threaded into their own ticket
        assert MailReference.objects.filter(ticket=ticket, ticket_message=reply).exists()
    assert AnnouncementDelivery.objects.filter(announcement=announcement).count() == 2


def test_another_partners_ticket_cannot_be_linked(cast, frozen):
    incident = incident_for(cast)
    with pytest.raises(ValidationError) as refused:
        services.link_tickets(incident=incident, actor=cast.operator, tickets=[cast.b.ticket])
    assert "tickets" in refused.value.message_dict
    with pytest.raises(PermissionDenied):
        services.link_tickets(incident=incident, actor=cast.b.engineer, tickets=[])
    with pytest.raises(ValidationError) as refused:
        incident_for(cast, services=[cast.b.service])
    assert "services" in refused.value.message_dict


def test_candidates_are_tickets_of_the_service_opened_since_the_incident(cast, frozen):
    incident = incident_for(cast)
    fresh = ticket_services.create_ticket(
        partner=cast.a.partner, actor=cast.a.customer, channel=Channel.PORTAL,
        contact=cast.a.contact, subject="Сайт лежит", text="Не открывается", service=None)
    by_words = ticket_services.create_ticket(
        partner=cast.a.partner, actor=cast.a.customer, channel=Channel.PORTAL,
        contact=cast.a.contact, subject="Мои VPS недоступны с утра", text="Что случилось?")
    found = list(services.candidate_tickets(incident))
    assert by_words in found
    assert fresh not in found
    assert cast.b.ticket not in found


def test_resolving_resolves_linked_tickets_with_the_recovery_as_their_reply(cast, frozen):
    incident = incident_for(cast)
    services.link_tickets(incident=incident, actor=cast.operator,
                          tickets=[cast.a.ticket, cast.a.other_ticket])
    frozen.move_to(NOW + timedelta(minutes=30))
    announcement = services.resolve_incident(incident=incident, actor=cast.operator,
                                             recovery=RECOVERY)
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert announcement is not None and announcement.kind == "recovery"
    for ticket in (cast.a.ticket, cast.a.other_ticket):
        ticket.refresh_from_db()
        assert ticket.status == Status.RESOLVED
        reply = ticket.messages.filter(kind=Message.Kind.REPLY).get()
        assert "Причина: Отказ коммутатора в стойке 4" in reply.body_text
        assert "Продолжительность недоступности: 90 мин" in reply.body_text
        # Each ticket keeps its own SLA facts: the reaction was this reply, to its deadline.
        assert ticket.first_response_at == NOW + timedelta(minutes=30)
        assert ticket.resolution_minutes is not None


def test_resolving_with_a_recovery_part_missing_changes_nothing(cast, frozen):
    incident = incident_for(cast)
    services.link_tickets(incident=incident, actor=cast.operator, tickets=[cast.a.ticket])
    with pytest.raises(ValidationError) as refused:
        services.resolve_incident(incident=incident, actor=cast.operator,
                                  recovery={**RECOVERY, "cause": " "})
    assert list(refused.value.message_dict) == ["cause"]
    incident.refresh_from_db()
    cast.a.ticket.refresh_from_db()
    assert incident.status == IncidentStatus.OPEN
    assert cast.a.ticket.status == Status.NEW


def test_a_new_ticket_about_the_service_gets_the_incidents_acknowledgement(cast, frozen):
    incident = incident_for(cast)
    services.create_announcement(
        partner=cast.a.partner, actor=cast.operator, kind="incident", incident=incident,
        audience="linked",
        values={"began_at": incident.started_at, "time_zone": "Europe/Moscow",
                "services": [cast.a.service], "impact": "full",
                "expected_fix_at": NOW + timedelta(hours=2),
                "workaround": "Используйте резервный адрес"})
    ticket = ticket_services.create_ticket(
        partner=cast.a.partner, actor=cast.a.customer, channel=Channel.PORTAL,
        contact=cast.a.contact, subject="Не работает VPS", text="Сервер недоступен",
        service=cast.a.service)
    assert incident.links.filter(ticket=ticket).exists()
    reply = ticket.messages.get(kind=Message.Kind.REPLY)
    assert reply.is_automatic
    assert "Обходной путь: Используйте резервный адрес" in reply.body_text
    assert OutboxMessage.objects.filter(ticket=ticket, recipient="ivan@alpha.example").exists()
    ticket.refresh_from_db()
    assert ticket.first_response_at is None  # the reaction still waits for a person
    other = ticket_services.create_ticket(
        partner=cast.a.partner, actor=cast.a.customer, channel=Channel.PORTAL,
        contact=cast.a.contact, subject="Вопрос по счёту", text="Где счёт?")
    assert not other.messages.filter(kind=Message.Kind.REPLY).exists()


def test_users_of_the_service_get_it_and_an_unsubscribed_one_does_not(cast, frozen, client):
    incident = incident_for(cast)
    services.link_tickets(incident=incident, actor=cast.operator, tickets=[cast.a.ticket])
    ContactService.objects.create(partner=cast.a.partner, contact=cast.a.contact,
                                  service=cast.a.service)
    ContactService.objects.create(partner=cast.a.partner, contact=cast.a.other_contact,
                                  service=cast.a.service)
    token_url = services.unsubscribe_url(cast.a.partner, "olga@alpha.example")
    path = token_url.split("://", 1)[1].split("/", 1)[1]
    assert client.get(f"/{path}").status_code == 200  # a scanner's GET changes nothing
    assert client.post(f"/{path}").status_code == 200
    announcement = services.create_announcement(
        partner=cast.a.partner, actor=cast.operator, kind="incident", incident=incident,
        values={"began_at": incident.started_at, "time_zone": "Europe/Moscow",
                "services": [cast.a.service], "impact": "partial",
                "expected_fix_at": NOW + timedelta(hours=1)})
    addresses = set(announcement.deliveries.values_list("address", flat=True))
    # Ivan's copy is the reply in his ticket (once); Olga unsubscribed.
    assert addresses == {"ivan@alpha.example"}
    assert OutboxMessage.objects.filter(recipient="olga@alpha.example").count() == 0
    # Unsubscribing does not stop replies to her own ticket.
    ticket_services.add_message(ticket=cast.a.other_ticket, actor=cast.operator,
                                kind=Message.Kind.REPLY, text="Проверьте, пожалуйста, сейчас.")
    assert OutboxMessage.objects.filter(recipient="olga@alpha.example").count() == 1
    assert client.post("/incidents/unsubscribe/forged/").status_code == 400


def test_unavailability_minutes_per_service_and_month(cast, frozen):
    vps = cast.a.service
    first = incident_for(cast, started_at=datetime(2027, 2, 28, 23, 0, tzinfo=MSK))
    services.resolve_incident(incident=first, actor=cast.operator,
                              ended_at=datetime(2027, 3, 1, 1, 0, tzinfo=MSK))
    partial = incident_for(cast, impact=Impact.PARTIAL,
                           started_at=datetime(2027, 3, 1, 0, 30, tzinfo=MSK))
    services.resolve_incident(incident=partial, actor=cast.operator,
                              ended_at=datetime(2027, 3, 1, 2, 0, tzinfo=MSK))
    incident_for(cast, started_at=datetime(2027, 3, 2, 9, 0, tzinfo=MSK))  # still open
    minutes = services.unavailability_minutes(cast.a.partner, date(2027, 3, 1))
    # Full: 00:00-01:00 on the 1st (clipped at the month) + 09:00-10:00 (now) on the 2nd.
    # Partial: 00:30-02:00 minus the full minutes up to 01:00.
    assert minutes == {vps.pk: {"full": 120, "partial": 60}}
    assert services.unavailability_minutes(cast.b.partner, date(2027, 3, 1)) == {}
    assert Incident.objects.count() == 3


def test_subscription_by_double_opt_in(cast, client):
    from firstline.incidents.models import Subscription

    assert client.post("/status/alpha/subscribe/", {"email": "not-mail"}).status_code == 422
    response = client.post("/status/alpha/subscribe/", {"email": "Petr@Example.ru"})
    assert response.status_code == 200
    letter = OutboxMessage.objects.get(recipient="petr@example.ru")
    sub = Subscription.objects.get(address="petr@example.ru")
    assert sub.confirmed_at is None
    link = next(word for word in letter.body.split() if "/status/subscribe/" in word)
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    assert client.get(path).status_code == 200  # a scanner's GET confirms nothing
    sub.refresh_from_db()
    assert sub.confirmed_at is None
    assert client.post(path).status_code == 200
    sub.refresh_from_db()
    assert sub.confirmed_at is not None
    assert client.post("/status/subscribe/forged/").status_code == 400
    # Asking again the same day sends no second letter.
    client.post("/status/alpha/subscribe/", {"email": "petr@example.ru"})
    assert OutboxMessage.objects.filter(recipient="petr@example.ru").count() == 1
