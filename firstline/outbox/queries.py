"""Read queries of the outbox."""

from django.db.models import QuerySet

from firstline.outbox.models import UNDELIVERED_STATUSES, OutboxMessage


def pending_for_ticket(ticket_id: int) -> QuerySet[OutboxMessage]:
    """The ticket's messages still waiting to be delivered (pending or being sent), oldest first.

    The caller has already checked that the user may see the ticket.
    """
    return OutboxMessage.objects.filter(
        ticket_id=ticket_id, status__in=UNDELIVERED_STATUSES
    ).order_by("created_at", "id")
