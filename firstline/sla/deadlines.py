"""Deadlines of a ticket, kept up to date on every event.

The terms (business calendar, reaction and resolution targets, pausing statuses) come from
the ticket's SLA policy: the one named on the customer's contract, else the partner's
default. Without a policy the provider's fallback targets apply around the clock.

Semantics (DESIGN "SLA semantics"):
- reaction is met by the first human public reply; it is never paused;
- the resolution clock stops while the ticket is in a pausing status (waiting for the
  customer by default) and while it is resolved; a reopen resumes the same clock, so the
  resolution deadline moves by the business time spent paused;
- a priority change recomputes both deadlines from the creation time.
All deadlines are derived from created_at, the targets and paused_minutes, so they can be
recomputed at any time and always agree.
"""

from dataclasses import dataclass
from datetime import datetime
from math import ceil

from firstline.core import config_cache
from firstline.core.models import Partner
from firstline.sla.calendar import TWENTY_FOUR_SEVEN, Schedule, schedule_for
from firstline.sla.models import EscalationStep, SlaPolicy, SlaTarget
from firstline.tickets.models import ACTIVE_STATUSES, Priority, Status, Ticket

# Used when a partner has no SLA policy yet: minutes around the clock.
FALLBACK_TARGETS = {
    Priority.CRITICAL: (15, 4 * 60),
    Priority.HIGH: (30, 8 * 60),
    Priority.NORMAL: (60, 24 * 60),
    Priority.LOW: (4 * 60, 72 * 60),
}
ALWAYS_PAUSED = frozenset({Status.RESOLVED, Status.CLOSED})

DEADLINE_FIELDS = [
    "sla_policy", "reaction_due_at", "resolution_due_at", "due_at", "paused_since",
    "paused_minutes", "reaction_minutes", "reaction_in_time", "resolution_minutes",
    "resolution_in_time",
]

# The partner's default policy, its targets and escalation steps are read for every new
# ticket: cached per process for a few seconds (see firstline.core.config_cache), dropped
# at once when this process changes one.
config_cache.watch(Partner, SlaPolicy, SlaTarget, EscalationStep)


@dataclass(frozen=True)
class Terms:
    policy: SlaPolicy | None
    schedule: Schedule
    reaction_minutes: int
    resolution_minutes: int
    paused_statuses: frozenset[str]


def policy_for(ticket: Ticket) -> SlaPolicy | None:
    contact = ticket.contact
    organisation = contact.organisation if contact is not None else None
    if organisation is not None and organisation.sla_policy_id is not None:
        return organisation.sla_policy
    return default_policy(ticket.partner_id)


def default_policy(partner_id: int) -> SlaPolicy | None:
    """The partner's default SLA policy (cached briefly per process: read-only)."""
    return config_cache.get(
        ("sla.default_policy", partner_id),
        lambda: SlaPolicy.objects.filter(partner_id=partner_id, is_default=True).first(),
    )


def _load_target(policy_id: int, priority: str) -> tuple[int, int] | None:
    target = SlaTarget.objects.filter(policy_id=policy_id, priority=priority).first()
    return None if target is None else (target.reaction_minutes, target.resolution_minutes)


def policy_target(policy_id: int, priority: str) -> tuple[int, int] | None:
    """(reaction, resolution) minutes of the policy for the priority (cached briefly)."""
    return config_cache.get(
        ("sla.target", policy_id, priority), lambda: _load_target(policy_id, priority)
    )


def escalation_steps(policy_id: int, priority: str) -> list[EscalationStep]:
    """The policy's escalation steps for the priority (cached briefly per process:
    read-only)."""
    return config_cache.get(
        ("sla.steps", policy_id, priority),
        lambda: list(EscalationStep.objects.filter(policy_id=policy_id, priority=priority)),
    )


def terms_for(ticket: Ticket, policy: SlaPolicy | None) -> Terms:
    reaction, resolution = FALLBACK_TARGETS[Priority(ticket.priority)]
    schedule = TWENTY_FOUR_SEVEN
    paused = frozenset({Status.WAITING_CUSTOMER})
    if policy is not None:
        target = policy_target(policy.pk, ticket.priority)
        if target is not None:
            reaction, resolution = target
        if policy.calendar_id is not None:
            schedule = schedule_for(policy.calendar)
        paused = frozenset(policy.paused_statuses)
    if ticket.typical_request_id is not None and ticket.typical_request is not None:
        resolution = ticket.typical_request.resolution_minutes
    return Terms(policy, schedule, reaction, resolution, paused)


def is_paused_status(status: str, terms: Terms) -> bool:
    return status in ALWAYS_PAUSED or status in terms.paused_statuses


def start(ticket: Ticket) -> None:
    """Deadlines of a new ticket (before it is saved)."""
    ticket.sla_policy = policy_for(ticket)
    terms = terms_for(ticket, ticket.sla_policy)
    ticket.paused_minutes = 0
    ticket.paused_since = ticket.created_at if is_paused_status(ticket.status, terms) else None
    _derive(ticket, terms)


def recompute(ticket: Ticket) -> None:
    """After a priority or typical-request change: same clock, new targets."""
    _derive(ticket, terms_for(ticket, ticket.sla_policy))


def status_changed(ticket: Ticket, old: str, moment: datetime) -> None:
    """Pause or resume the resolution clock; record the facts at resolution."""
    terms = terms_for(ticket, ticket.sla_policy)
    was_paused = ticket.paused_since is not None
    now_paused = is_paused_status(ticket.status, terms)
    if was_paused and not now_paused:
        ticket.paused_minutes += terms.schedule.between(ticket.paused_since, moment)
        ticket.paused_since = None
    elif now_paused and not was_paused:
        ticket.paused_since = moment
    if ticket.status == Status.RESOLVED:
        worked = terms.schedule.between(ticket.created_at, moment) - ticket.paused_minutes
        ticket.resolution_minutes = max(worked, 0)
        ticket.resolution_in_time = (
            ticket.resolution_due_at is not None and moment <= ticket.resolution_due_at
        )
    elif old == Status.RESOLVED and ticket.status in ACTIVE_STATUSES:
        ticket.resolution_minutes = None
        ticket.resolution_in_time = None
    _derive(ticket, terms)


def first_response(ticket: Ticket, moment: datetime) -> None:
    terms = terms_for(ticket, ticket.sla_policy)
    ticket.reaction_minutes = terms.schedule.between(ticket.created_at, moment)
    ticket.reaction_in_time = (
        ticket.reaction_due_at is not None and moment <= ticket.reaction_due_at
    )
    _derive(ticket, terms)


def _derive(ticket: Ticket, terms: Terms) -> None:
    ticket.reaction_due_at = terms.schedule.add(ticket.created_at, terms.reaction_minutes)
    ticket.resolution_due_at = terms.schedule.add(
        ticket.created_at, terms.resolution_minutes + ticket.paused_minutes
    )
    upcoming = []
    if ticket.status in ACTIVE_STATUSES:
        if ticket.first_response_at is None:
            upcoming.append(ticket.reaction_due_at)
        if ticket.paused_since is None:
            upcoming.append(ticket.resolution_due_at)
    ticket.due_at = min(upcoming) if upcoming else None


def share_used(ticket: Ticket, moment: datetime) -> float | None:
    """How much of the next target is used up: 0.5 at half time, 1.0 at the breach."""
    if ticket.due_at is None:
        return None
    terms = terms_for(ticket, ticket.sla_policy)
    if ticket.first_response_at is None and ticket.due_at == ticket.reaction_due_at:
        total, start_at = terms.reaction_minutes, ticket.created_at
        used = terms.schedule.between(start_at, moment)
    else:
        total = terms.resolution_minutes
        used = terms.schedule.between(ticket.created_at, moment) - ticket.paused_minutes
    return used / total if total else None


def step_due(ticket: Ticket, step: EscalationStep, terms: Terms) -> datetime | None:
    """When an escalation step falls due for this ticket, or None if it cannot now."""
    if ticket.status not in ACTIVE_STATUSES or step.priority != ticket.priority:
        return None
    if step.target == EscalationStep.Target.REACTION:
        if ticket.first_response_at is not None:
            return None
        return terms.schedule.add(
            ticket.created_at, ceil(terms.reaction_minutes * step.percent / 100)
        )
    if ticket.paused_since is not None:
        return None
    minutes = ceil(terms.resolution_minutes * step.percent / 100) + ticket.paused_minutes
    return terms.schedule.add(ticket.created_at, minutes)
