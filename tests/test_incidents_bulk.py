"""Issue 9 remainders: the intake step on "ticket.created", one reply in many tickets in bulk
(same effects as the one-ticket path), the monitoring system's resolution and the incident
domain events."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from firstline.core import events
from firstline.core.models import AuditEvent
from firstline.incidents import services
from firstline.incidents.models import Impact, IncidentTicket
from firstline.mail.models import MailReference
from firstline.outbox.models import OutboxMessage
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel, Message, Status
from tests.test_mail_ingest import acks, letter, make_mailbox, receive

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2027, 3, 2, 10, 0, tzinfo=MSK)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def told():
    """The incident events as a subscriber sees them (disconnected after the test)."""
    seen: list[tuple[str, dict]] = []

    def receiver(sender, **kwargs):
        kwargs.pop("signal", None)
        seen.append((sender, kwargs))

    for name in ("incident.opened", "incident.resolved"):
        events._signal(name).connect(receiver, weak=False, dispatch_uid=f"test:{name}")
    yield seen
    for name in ("incident.opened", "incident.resolved"):
        events._signal(name).disconnect(dispatch_uid=f"test:{name}")


def incident_for(cast):
    return services.open_incident(
        partner=cast.a.partner, actor=cast.operator, title="VPS недоступны",
        services=[cast.a.service], impact=Impact.FULL, started_at=NOW - timedelta(hours=1),
        time_zone="Europe/Moscow")


def announce(cast, incident, **values):
    return services.create_announcement(
        partner=cast.a.partner, actor=cast.operator, kind="incident", incident=incident,
        audience="linked",
        values={"began_at": incident.started_at, "time_zone": "Europe/Moscow",
                "services": [cast.a.service], "impact": "full",
                "expected_fix_at": NOW + timedelta(hours=2), **values})


def test_the_intake_is_the_ticket_created_step_not_a_saved_message(cast, frozen):
    incident = incident_for(cast)
    announce(cast, incident)
    # A message saved on its own (an import, a fixture) is not a new ticket.
    Message.objects.create(partner=cast.a.partner, ticket=cast.a.ticket,
                           kind=Message.Kind.INBOUND, body_text="ещё", created_at=NOW)
    assert not IncidentTicket.objects.filter(ticket=cast.a.ticket).exists()
    ticket = ticket_services.create_ticket(
        partner=cast.a.partner, actor=cast.a.customer, channel=Channel.PORTAL,
        contact=cast.a.contact, subject="VPS", text="Сервер недоступен",
        service=cast.a.service)
    assert IncidentTicket.objects.filter(incident=incident, ticket=ticket).exists()
    assert ticket.messages.filter(kind=Message.Kind.REPLY, is_automatic=True).count() == 1
    linked = AuditEvent.objects.get(action="incident.linked", after__by="intake")
    assert linked.after["tickets"] == [ticket.number] and linked.actor is None


def test_a_mailed_new_ticket_during_an_incident_gets_one_acknowledgement(cast, frozen):
    incident = incident_for(cast)
    announce(cast, incident)
    inbound = receive(make_mailbox(cast.a), letter(subject="VPS не отвечает"))
    replies = inbound.ticket.messages.filter(kind=Message.Kind.REPLY, is_automatic=True)
    assert replies.count() == 1
    assert len(acks(inbound.ticket)) == 1


def test_one_reply_in_many_tickets_mails_each_customer_once(cast, frozen):
    incident = incident_for(cast)
    second = ticket_services.create_ticket(
        partner=cast.a.partner, actor=cast.a.customer, channel=Channel.PORTAL,
        contact=cast.a.contact, subject="И второй VPS", text="Тоже не работает")
    services.link_tickets(incident=incident, actor=cast.operator,
                          tickets=[cast.a.ticket, second, cast.a.other_ticket])
    audits = AuditEvent.objects.count()
    announcement = announce(cast, incident)
    for ticket in (cast.a.ticket, second, cast.a.other_ticket):
        ticket.refresh_from_db()
        reply = ticket.messages.get(kind=Message.Kind.REPLY)
        assert reply.author == cast.operator and not reply.is_automatic
        assert "Ожидаемое время устранения: 02.03.2027 12:00" in reply.body_text
        assert ticket.status == Status.OPEN and ticket.first_response_at == NOW
        assert ticket.reaction_in_time is not None
    # Ivan has two linked tickets and gets one letter, threaded into the first.
    ivan = OutboxMessage.objects.filter(recipient="ivan@alpha.example",
                                        subject__contains="[FL-")
    assert ivan.count() == 1 and ivan.get().ticket == cast.a.ticket
    assert ivan.get().headers["Message-ID"] and "Auto-Submitted" not in ivan.get().headers
    assert MailReference.objects.filter(ticket=cast.a.ticket, outbox_id=ivan.get().pk,
                                        direction="out").exists()
    assert OutboxMessage.objects.filter(recipient="olga@alpha.example").count() == 1
    assert set(announcement.deliveries.values_list("address", flat=True)) == {
        "ivan@alpha.example", "olga@alpha.example"}
    replies = AuditEvent.objects.filter(pk__gt=audits, action="message.reply")
    assert replies.count() == 3
    assert {event.before["status"] for event in replies} == {"new"}
    assert all(event.actor == cast.operator for event in replies)


def test_a_reply_rule_refuses_the_whole_answer_and_nothing_is_written(cast, frozen):
    incident = incident_for(cast)
    services.link_tickets(incident=incident, actor=cast.operator,
                          tickets=[cast.a.ticket, cast.a.other_ticket])
    counts = (Message.objects.count(), OutboxMessage.objects.count())
    with pytest.raises(ValidationError) as refused:
        announce(cast, incident, workaround="Я не знаю, когда это кончится")
    assert "text" in refused.value.message_dict
    assert (Message.objects.count(), OutboxMessage.objects.count()) == counts
    cast.a.ticket.refresh_from_db()
    assert cast.a.ticket.status == Status.NEW and cast.a.ticket.first_response_at is None


def test_the_incident_events_are_told_on_opening_and_resolving(cast, frozen, told):
    incident = incident_for(cast)
    services.resolve_incident(incident=incident, actor=cast.operator)
    assert [name for name, _kwargs in told] == ["incident.opened", "incident.resolved"]
    for _name, kwargs in told:
        assert kwargs["incident"] == incident and kwargs["actor"] == cast.operator
        assert kwargs["partner_id"] == cast.a.partner.pk and kwargs["moment"] is not None
    with pytest.raises(ValidationError):
        services.resolve_incident(incident=incident, actor=cast.operator)
    assert len(told) == 2  # a refused resolution tells nothing
