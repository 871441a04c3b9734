"""New tickets about a service with an open incident get the incident's acknowledgement.

The ticket domain does not know about incidents: we listen for the opening message of a
ticket (saved in the transaction that creates the ticket) and, when the ticket's service is
down, link the ticket to the incident and answer it with what is known, in the same
transaction — an automatic reply, so the ticket's reaction clock still waits for a person.
"""

from typing import Any

from django.db.models.signals import post_save

from firstline.contacts.models import letter_language
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
    post_save.connect(_on_message, sender=Message, dispatch_uid="incidents.intake")


def _on_message(sender: Any, instance: Message, created: bool, **kwargs: Any) -> None:
    if not created or kwargs.get("raw") or instance.kind != Message.Kind.INBOUND:
        return
    ticket = instance.ticket
    if ticket.service_id is None or instance.created_at != ticket.created_at:
        return  # not the opening message of a ticket about a service
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
    IncidentTicket.objects.get_or_create(incident=incident, ticket=ticket,
                                         defaults={"partner_id": ticket.partner_id})
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
