"""A ticket registered by hand at the desk: a call taken, a walk-in, a letter forwarded.

The intake rules (urgency rules, SLA deadlines, the audit row) are those of
tickets.services.create_ticket; this only adds what "taken by hand" means: the member of
staff who registered it works on it, so it is theirs from the start.
"""

from django.db import transaction

from firstline.contacts.models import Contact
from firstline.core.models import Partner, Service, User
from firstline.tickets import services
from firstline.tickets.models import Ticket


@transaction.atomic
def register_by_hand(
    *,
    partner: Partner,
    actor: User,
    channel: str,
    subject: str,
    text: str,
    contact: Contact | None = None,
    service: Service | None = None,
) -> Ticket:
    ticket = services.create_ticket(
        partner=partner, actor=actor, channel=channel, subject=subject, text=text,
        contact=contact, service=service,
    )
    if actor.is_provider_staff:
        ticket = services.change_ticket(
            ticket=ticket, actor=actor, change=services.TicketChange(assignee=actor)
        )
    return ticket
