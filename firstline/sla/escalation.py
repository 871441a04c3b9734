"""Escalation: when each step falls due for a ticket, and firing it exactly once.

Whenever a ticket's deadlines change, its unfired steps are rescheduled as PendingEscalation
rows. The SLA clock (firstline.sla.clock) sweeps the rows that are due with one indexed
query and claims each with a conditional UPDATE (`fired_at IS NULL` -> now) that only one
worker can win; the winner writes the notifications to the outbox, a note on the ticket's
timeline and an audit row in the same transaction. A worker that was stopped over a
deadline finds the row still unfired when it starts and fires it, marked late.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from firstline.core import audit, events
from firstline.core.models import User
from firstline.outbox import services as outbox
from firstline.sla import deadlines
from firstline.sla.models import EscalationStep, PendingEscalation
from firstline.tickets.html import text_to_html
from firstline.tickets.models import Message, Ticket

# A step fired more than this after it fell due was missed (the clock was down): say so.
LATE_AFTER = timedelta(minutes=2)


def reschedule(ticket: Ticket, *, new: bool = False) -> None:
    """Replace the ticket's unfired pending steps with ones matching its deadlines now.

    `new`: the ticket was inserted in this transaction, so it has no pending rows yet and
    the DELETE and the SELECT of fired steps are skipped."""
    if new:
        PendingEscalation.objects.bulk_create(_pending_rows(ticket, set()))
        return
    reschedule_many([ticket])


def reschedule_many(tickets: Sequence[Ticket], *, moment: datetime | None = None) -> None:
    """`reschedule` for a batch of tickets in three queries, whatever the batch size.

    With `moment` (the deadlines changed because the terms did, e.g. a policy's targets),
    a step that the change itself made overdue falls due at `moment`: it fires at the next
    sweep, not marked late, since the clock was running all along."""
    ids = [ticket.pk for ticket in tickets]
    PendingEscalation.objects.filter(ticket_id__in=ids, fired_at__isnull=True).delete()
    fired: dict[int, set[int]] = {}
    for ticket_id, step_id in PendingEscalation.objects.filter(ticket_id__in=ids).values_list(
        "ticket_id", "step_id"
    ):
        fired.setdefault(ticket_id, set()).add(step_id)
    rows = []
    for ticket in tickets:
        rows += _pending_rows(ticket, fired.get(ticket.pk, set()), moment)
    PendingEscalation.objects.bulk_create(rows)


def _pending_rows(
    ticket: Ticket, fired: set[int], moment: datetime | None = None
) -> list[PendingEscalation]:
    if ticket.sla_policy_id is None:
        return []
    terms = deadlines.terms_for(ticket, ticket.sla_policy)
    rows = []
    for step in deadlines.escalation_steps(ticket.sla_policy_id, ticket.priority):
        if step.pk in fired:
            continue
        due = deadlines.step_due(ticket, step, terms)
        if due is None:
            continue
        if moment is not None and due < moment:
            due = moment
        rows.append(PendingEscalation(
            partner_id=ticket.partner_id, ticket=ticket, step=step, due_at=due
        ))
    return rows


def due_ids(moment: datetime, limit: int) -> list[int]:
    return list(
        PendingEscalation.objects.filter(fired_at__isnull=True, due_at__lte=moment)
        .order_by("due_at")
        .values_list("pk", flat=True)[:limit]
    )


@dataclass
class Notification:
    user: User
    channel: str
    address: str


def recipients(step: EscalationStep, ticket: Ticket) -> list[User]:
    people: dict[int, User] = {}
    roles = set(step.roles)
    active = User.objects.filter(is_active=True)
    if EscalationStep.Role.LEAD in roles:
        people.update({u.pk: u for u in active.filter(role=User.Role.SUPERVISOR)})
    if EscalationStep.Role.PARTNER_ENGINEER in roles:
        people.update({u.pk: u for u in active.filter(
            role=User.Role.ENGINEER, partner_id=ticket.partner_id)})
    if EscalationStep.Role.PARTNER_MANAGER in roles:
        people.update({u.pk: u for u in active.filter(
            role=User.Role.MANAGER, partner_id=ticket.partner_id)})
    if EscalationStep.Role.ASSIGNEE in roles and ticket.assignee is not None:
        people[ticket.assignee.pk] = ticket.assignee
    for user in step.users.filter(is_active=True):
        people[user.pk] = user
    return list(people.values())


def _address(user: User, channel: str) -> str:
    return user.email if channel == EscalationStep.Channel.EMAIL else user.phone


def fire(pending_id: int, moment: datetime, worker: str) -> bool:
    """Fire one due step if this worker wins the claim; False if someone else did."""
    with transaction.atomic():
        pending = (
            PendingEscalation.objects.select_related("step", "ticket", "ticket__partner",
                                                     "ticket__assignee")
            .filter(pk=pending_id, fired_at__isnull=True).first()
        )
        if pending is None:
            return False
        late = moment - pending.due_at > LATE_AFTER
        claimed = PendingEscalation.objects.filter(pk=pending_id, fired_at__isnull=True).update(
            fired_at=moment, fired_by=worker[:100], fired_late=late
        )
        if claimed != 1:
            return False
        _notify(pending, moment, late)
    return True


def _notify(pending: PendingEscalation, moment: datetime, late: bool) -> None:
    # Notices and the timeline note are for the provider's and partners' Russian-speaking
    # staff, whatever language the worker process happens to run in.
    with translation.override("ru"):
        _notify_in_language(pending, moment, late)


def _notify_in_language(pending: PendingEscalation, moment: datetime, late: bool) -> None:
    ticket, step = pending.ticket, pending.step
    sent: list[str] = []
    skipped: list[str] = []
    subject = _("Escalation %(number)s: %(target)s %(percent)d%% — %(subject)s") % {
        "number": ticket.number, "target": step.get_target_display().lower(),
        "percent": step.percent, "subject": ticket.subject,
    }
    due = ticket.reaction_due_at if step.target == "reaction" else ticket.resolution_due_at
    local_due = (
        date_format(timezone.localtime(due, ZoneInfo(ticket.partner.time_zone)),
                    "d.m.Y H:i") + f" ({ticket.partner.time_zone})"
        if due else "—"
    )
    body = _(
        "Ticket %(number)s of %(partner)s, priority %(priority)s.\n%(subject)s\n"
        "Deadline: %(due)s."
    ) % {
        "number": ticket.number, "partner": ticket.partner.name,
        "priority": ticket.get_priority_display(), "subject": ticket.subject, "due": local_due,
    }
    if late:
        body += "\n" + _("Fired late: the SLA clock was not running.")
    for user in recipients(step, ticket):
        for channel in step.channels:
            label = f"{user.display_name} ({EscalationStep.Channel(channel).label})"
            address = _address(user, channel)
            if not address:
                skipped.append(label)
                continue
            try:
                with transaction.atomic():
                    outbox.enqueue(
                        partner=ticket.partner, channel=channel, recipient=address,
                        subject=subject, body=body, ticket=ticket,
                        dedupe_key=f"escalation:{pending.pk}:{user.pk}:{channel}",
                    )
            except ValidationError:
                # A malformed address must not cost the other recipients their notice.
                skipped.append(f"{label}: {address}")
                continue
            sent.append(label)
    if skipped:
        note = _("Escalation: %(step)s. Notified: %(sent)s. No usable address for: "
                 "%(skipped)s.") % {"step": str(step), "sent": ", ".join(sent) or "—",
                                    "skipped": ", ".join(skipped)}
    else:
        note = _("Escalation: %(step)s. Notified: %(sent)s.") % {
            "step": str(step), "sent": ", ".join(sent) or "—"
        }
    Message.objects.create(
        partner_id=ticket.partner_id, ticket=ticket, kind=Message.Kind.NOTE,
        is_automatic=True, body_text=note, body_html=text_to_html(note), created_at=moment,
    )
    audit.record(
        actor=None, partner=ticket.partner, action="escalation.fired", target=ticket,
        after={"step": str(step), "due": pending.due_at, "late": late,
               "notified": sent, "skipped": skipped},
    )
    events.publish("escalation.fired", partner_id=ticket.partner_id, moment=moment,
                   ticket=ticket, step=step, late=late)
    if step.percent >= 100:
        events.publish("sla.breached", partner_id=ticket.partner_id, moment=moment,
                       ticket=ticket, target=step.target)
