"""Intake: a new ticket about a service with an open incident joins it and gets its answer.

An explicit intake step on the "ticket.created" domain event (firstline.core.events): the
tickets app does not know about incidents. Inside the transaction that creates the ticket,
when its service is down, the ticket is linked to the incident and answered with the
incident's announcement, an automatic reply (the ticket's reaction clock still waits for a
person). The mail channel sends no acknowledgement of its own to a ticket that got this one
(see firstline.mail.handling), so the customer gets one automatic answer, the one that says
what is going on.
"""

from typing import Any

from firstline.contacts.models import letter_language
from firstline.core import audit, events
from firstline.incidents.models import (
    Announcement,
    AnnouncementKind,
    AnnouncementStatus,
    Incident,
    IncidentStatus,
    IncidentTicket,
)
from firstline.incidents.render import body
from firstline.tickets.models import Message, Ticket


def connect() -> None:
    events.subscribe("ticket.created", on_ticket_created)


def on_ticket_created(*, ticket: Ticket, **_event: Any) -> None:
    if ticket.service_id is not None:
        acknowledge(ticket)


def open_incident_for(ticket: Ticket) -> Incident | None:
    return (Incident.objects.filter(partner_id=ticket.partner_id, status=IncidentStatus.OPEN,
                                    services=ticket.service_id)
            .order_by("-started_at").first())


def acknowledge(ticket: Ticket) -> Message | None:
    """Link the new ticket to the open incident of its service and tell the customer."""
    incident = open_incident_for(ticket)
    if incident is None:
        return None
    _link, created = IncidentTicket.objects.get_or_create(
        incident=incident, ticket=ticket, defaults={"partner_id": ticket.partner_id})
    if created:
        audit.record(actor=None, partner=ticket.partner, action="incident.linked",
                     target=incident, after={"tickets": [ticket.number], "by": "intake"})
    announcement = (Announcement.objects.filter(incident=incident,
                                                kind=AnnouncementKind.INCIDENT,
                                                status=AnnouncementStatus.SENT)
                    .order_by("-sent_at").first())
    if announcement is None or ticket.contact is None:
        return None
    # Imported here: the mail and ticket services import the models this module is
    # loaded with.
    from firstline.mail import outbound
    from firstline.tickets import services as ticket_services

    language = letter_language(ticket.contact, ticket.partner)
    names = list(incident.services.order_by("name").values_list("name", flat=True))
    message = ticket_services.add_message(ticket=ticket, actor=None, kind=Message.Kind.REPLY,
                                          text=body(announcement, language, names),
                                          automatic=True)
    for address in outbound.recipients(ticket):
        outbound.send(ticket=ticket, message=message, recipient=address,
                      subject=outbound.ticket_subject(ticket), body=message.body_text,
                      html="", automatic=True, files=[],
                      dedupe_key=f"incident:ack:{message.pk}:{address}"[:255])
    return message
