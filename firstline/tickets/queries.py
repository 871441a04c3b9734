"""Read queries over tickets: the queue and the ticket page's timeline."""

from dataclasses import dataclass

from django.db.models import F, Q, QuerySet

from firstline.contacts.models import ContactEmail
from firstline.core.models import User
from firstline.tickets.models import (
    ACTIVE_STATUSES,
    NUMBER_PREFIX,
    Status,
    Ticket,
    parse_number,
)

ACTIVE = "active"
ANY = "any"
# What needs the first line: new, open (which a customer's answer or a hand-back returns a
# ticket to); not what waits for the partner or the customer, not what is resolved.
FIRST_LINE = "first_line"
FIRST_LINE_STATUSES = (Status.NEW, Status.OPEN)
UNASSIGNED = "none"
MINE = "me"


@dataclass
class QueueFilter:
    partner_id: int | None = None
    status: str = ACTIVE
    priority: str = ""
    assignee: str = ""  # "", MINE, UNASSIGNED or a user id
    search: str = ""


def queue(tickets: QuerySet[Ticket], filters: QueueFilter, user: User) -> QuerySet[Ticket]:
    """The tickets a desk user works next: filtered, what is due first on top."""
    if filters.partner_id:
        tickets = tickets.filter(partner_id=filters.partner_id)
    if filters.status == ACTIVE:
        tickets = tickets.filter(status__in=ACTIVE_STATUSES)
    elif filters.status == FIRST_LINE:
        tickets = tickets.filter(status__in=FIRST_LINE_STATUSES)
    elif filters.status and filters.status != ANY:
        tickets = tickets.filter(status=filters.status)
    if filters.priority:
        tickets = tickets.filter(priority=filters.priority)
    if filters.assignee == MINE:
        tickets = tickets.filter(assignee=user)
    elif filters.assignee == UNASSIGNED:
        tickets = tickets.filter(assignee__isnull=True)
    elif filters.assignee.isdigit():
        tickets = tickets.filter(assignee_id=int(filters.assignee))
    if filters.search.strip():
        tickets = tickets.filter(search_condition(filters.search))
    # The deadline already reflects the priority; ordering by it alone (and the id as the
    # tie-break) lets the database walk the partial "active, due first" index.
    return tickets.select_related(
        "partner", "contact", "assignee", "service", "typical_request"
    ).order_by(
        F("due_at").asc(nulls_last=True), "id"
    )


def search_condition(text: str) -> Q:
    text = text.strip()
    if text.upper().startswith(NUMBER_PREFIX[:2]) and (number := parse_number(text)):
        return Q(pk=number)  # an explicit ticket number: one index lookup, nothing fuzzy
    # `ucontains` folds Cyrillic case and ё on SQLite too (firstline/core/textsearch.py).
    condition = Q(subject__ucontains=text) | Q(contact__name__ucontains=text)
    # A subquery, not a join, so a contact with several addresses does not repeat rows.
    condition |= Q(
        contact__in=ContactEmail.objects.filter(address=text.lower()).values("contact_id")
    )
    number = parse_number(text)
    if number is not None:
        condition |= Q(pk=number)
    return condition
