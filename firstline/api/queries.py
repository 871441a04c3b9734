"""Filters applied on top of the tenancy querysets; they narrow, never widen, a scope."""

from django.db.models import Exists, OuterRef, Q, QuerySet

from firstline.api.schemas import ContactFilters, TicketFilters
from firstline.contacts.models import Contact, ContactEmail
from firstline.tickets.models import Ticket
from firstline.tickets.queries import search_condition


def filter_tickets(tickets: QuerySet[Ticket], filters: TicketFilters) -> QuerySet[Ticket]:
    if filters.status is not None:
        tickets = tickets.filter(status=filters.status)
    if filters.priority is not None:
        tickets = tickets.filter(priority=filters.priority)
    if filters.partner_id is not None:
        tickets = tickets.filter(partner_id=filters.partner_id)
    if filters.assignee_id is not None:
        tickets = tickets.filter(assignee_id=filters.assignee_id)
    if filters.q and filters.q.strip():
        tickets = tickets.filter(search_condition(filters.q))
    return tickets


def filter_contacts(contacts: QuerySet[Contact], filters: ContactFilters) -> QuerySet[Contact]:
    if filters.partner_id is not None:
        contacts = contacts.filter(partner_id=filters.partner_id)
    if filters.q:
        text = filters.q.strip()
        # EXISTS rather than a join: a contact with two matching addresses is listed once.
        # `ucontains`: any case, Cyrillic included, on both databases.
        by_email = ContactEmail.objects.filter(contact=OuterRef("pk"), address__ucontains=text)
        contacts = contacts.filter(Q(name__ucontains=text) | Exists(by_email))
    return contacts
