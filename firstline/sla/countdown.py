"""What the queue and the ticket page show: business time left to the next deadline.

Computed for a page of tickets with two queries however long the page is: the targets and
the calendars of the policies on it. Colours: breached when the deadline has passed, warning
once WARNING_SHARE of the target's business time is used up.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from firstline.sla.calendar import TWENTY_FOUR_SEVEN, Schedule, schedule_for
from firstline.sla.deadlines import FALLBACK_TARGETS
from firstline.sla.models import SlaPolicy, SlaTarget
from firstline.tickets.models import Priority, Ticket

WARNING_SHARE = 0.8


@dataclass(frozen=True)
class Countdown:
    minutes_left: int  # business minutes; negative once breached
    level: str  # "ok", "warning" or "breach"
    target: str  # "reaction" or "resolution"


def countdowns(tickets: Iterable[Ticket], moment: datetime) -> dict[int, Countdown]:
    tickets = [ticket for ticket in tickets if ticket.due_at is not None]
    policy_ids = {ticket.sla_policy_id for ticket in tickets if ticket.sla_policy_id}
    policies = {
        policy.pk: policy
        for policy in SlaPolicy.objects.filter(pk__in=policy_ids).select_related("calendar")
    }
    targets = {
        (target.policy_id, target.priority): target
        for target in SlaTarget.objects.filter(policy_id__in=policy_ids)
    }
    schedules: dict[int | None, Schedule] = {None: TWENTY_FOUR_SEVEN}
    result = {}
    for ticket in tickets:
        policy = policies.get(ticket.sla_policy_id) if ticket.sla_policy_id else None
        key = policy.calendar_id if policy is not None else None
        if key not in schedules and policy is not None:
            schedules[key] = schedule_for(policy.calendar)
        schedule = schedules[key]
        target = targets.get((ticket.sla_policy_id, ticket.priority))
        reaction, resolution = (
            (target.reaction_minutes, target.resolution_minutes) if target
            else FALLBACK_TARGETS[Priority(ticket.priority)]
        )
        if ticket.typical_request_id is not None and ticket.due_at == ticket.resolution_due_at:
            resolution = ticket.typical_request.resolution_minutes
        is_reaction = ticket.first_response_at is None and ticket.due_at == ticket.reaction_due_at
        total = reaction if is_reaction else resolution
        left = schedule.between(moment, ticket.due_at)
        if ticket.due_at <= moment:
            level = "breach"
        elif total and (total - left) / total >= WARNING_SHARE:
            level = "warning"
        else:
            level = "ok"
        result[ticket.pk] = Countdown(left, level, "reaction" if is_reaction else "resolution")
    return result


def attach(tickets: Iterable[Ticket], moment: datetime) -> None:
    """Set `countdown` on each ticket (None when it has no running deadline)."""
    tickets = list(tickets)
    found = countdowns(tickets, moment)
    for ticket in tickets:
        ticket.countdown = found.get(ticket.pk)
