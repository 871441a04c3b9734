"""Internal metrics of processing by script (F27, F28), from a ticket's own history.

- solved on the first line (доля решенных на 1 линии): resolved without a hand-over to the
  partner, and not by a partner account;
- solved within the first contact (FCR, доля решенных в течение первого контакта): not
  handed over, one customer message and one human public reply before the resolution; or,
  for a phone ticket, resolved during the call — approximated as resolved before any second
  customer message;
- time of classification and primary diagnostics (срок классификации и первичной
  диагностики): from the ticket's creation to the later of the two steps;
- routing time and correctness (срок и правильность маршрутизации): creation to the first
  hand-over, and the number of corrections (a re-route or a return from the partner).

The two "solved" facts are decided at resolution and stored on the ticket (like the SLA's
in-time facts), so the share per partner and period is one aggregate query
(`resolution_shares`). The functions taking messages and steps are pure.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.db.models import Count, Q, QuerySet, Sum

from firstline.core.models import User
from firstline.quality.script_models import ROUTING_STEPS, StepKind, TicketStep
from firstline.tickets.models import ACTIVE_STATUSES, Channel, Message, Status, Ticket

FACT_FIELDS = ["first_line_resolved", "first_contact_resolved"]


class _Message(Protocol):
    kind: str
    is_automatic: bool


class _Step(Protocol):
    kind: str


def solved_on_first_line(steps: Iterable[_Step], resolver: User | None) -> bool:
    """Resolved without a hand-over (and not by the partner's own people)."""
    if resolver is not None and resolver.is_partner_user:
        return False
    return not any(step.kind == StepKind.HAND_OVER for step in steps)


def solved_within_first_contact(
    channel: str, messages: Iterable[_Message], steps: Iterable[_Step]
) -> bool:
    """One customer message and one human public reply, without a hand-over; on the phone,
    resolved before the customer had to come back a second time."""
    if any(step.kind == StepKind.HAND_OVER for step in steps):
        return False
    inbound = replies = 0
    for message in messages:
        if message.kind == Message.Kind.INBOUND:
            inbound += 1
        elif message.kind == Message.Kind.REPLY and not message.is_automatic:
            replies += 1
    if inbound != 1:
        return False
    return channel == Channel.PHONE or replies == 1


def record_resolution(ticket: Ticket, resolver: User | None) -> None:
    """Called by the tickets' lifecycle on every status change: at resolution decide both
    facts; on a reopen forget them (the next resolution decides again). Does not save."""
    if ticket.status == Status.RESOLVED:
        steps = list(TicketStep.objects.filter(ticket_id=ticket.pk, kind__in=ROUTING_STEPS)
                     .only("kind"))
        messages = list(Message.objects.filter(ticket_id=ticket.pk).only("kind", "is_automatic"))
        ticket.first_line_resolved = solved_on_first_line(steps, resolver)
        ticket.first_contact_resolved = solved_within_first_contact(
            ticket.channel, messages, steps
        )
    elif ticket.status in ACTIVE_STATUSES:
        ticket.first_line_resolved = None
        ticket.first_contact_resolved = None


def _minutes(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(int((end - start).total_seconds() // 60), 0)


def classification_minutes(ticket: Ticket) -> int | None:
    """Minutes from creation to the later of classification and diagnostics (either alone
    when the partner's script has only one of them)."""
    done = [moment for moment in (ticket.classified_at, ticket.diagnosed_at) if moment]
    return _minutes(ticket.created_at, max(done)) if done else None


def routing_minutes(ticket: Ticket) -> int | None:
    return _minutes(ticket.created_at, ticket.handed_over_at)


def script_facts(ticket: Ticket) -> dict[str, Any]:
    """What the ticket page and the API show of the script; reads the ticket only."""
    return {
        "identified_by": ticket.identified_by,
        "classification": [
            {"name": item["name"], "value": item["value"]} for item in ticket.classification or []
        ],
        "diagnostics": [
            {"name": item["name"], "result": item["result"]} for item in ticket.diagnostics or []
        ],
        "classified_at": ticket.classified_at,
        "diagnosed_at": ticket.diagnosed_at,
        "classification_minutes": classification_minutes(ticket),
        "handed_over_at": ticket.handed_over_at,
        "routing_minutes": routing_minutes(ticket),
        "partner_group": ticket.partner_group,
        "routing_corrections": ticket.routing_corrections,
        "first_line_resolved": ticket.first_line_resolved,
        "first_contact_resolved": ticket.first_contact_resolved,
    }


@dataclass(frozen=True)
class ResolutionShare:
    partner_id: int
    resolved: int
    first_line: int
    first_contact: int
    handed_over: int
    routing_corrections: int

    @property
    def first_line_share(self) -> float | None:
        return self.first_line / self.resolved if self.resolved else None

    @property
    def first_contact_share(self) -> float | None:
        return self.first_contact / self.resolved if self.resolved else None

    @property
    def routed_right_share(self) -> float | None:
        """Share of handed-over tickets that needed no routing correction (approximate: a
        ticket corrected twice counts twice)."""
        if not self.handed_over:
            return None
        return max(self.handed_over - self.routing_corrections, 0) / self.handed_over


def resolution_shares(
    tickets: QuerySet[Ticket], start: datetime, end: datetime
) -> list[ResolutionShare]:
    """Per partner, of the tickets resolved in [start, end): how many were solved on the first
    line and within the first contact — one query. Pass a tenancy-scoped queryset."""
    rows = (
        tickets.filter(resolved_at__gte=start, resolved_at__lt=end)
        .order_by()
        .values("partner_id")
        .annotate(
            resolved=Count("pk"),
            first_line=Count("pk", filter=Q(first_line_resolved=True)),
            first_contact=Count("pk", filter=Q(first_contact_resolved=True)),
            handed_over=Count("pk", filter=Q(handed_over_at__isnull=False)),
            corrections=Sum("routing_corrections"),
        )
        .order_by("partner_id")
    )
    return [
        ResolutionShare(
            partner_id=row["partner_id"], resolved=row["resolved"], first_line=row["first_line"],
            first_contact=row["first_contact"], handed_over=row["handed_over"],
            routing_corrections=row["corrections"] or 0,
        )
        for row in rows
    ]
