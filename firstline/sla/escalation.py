"""Escalation: when each step falls due for a ticket, and firing it exactly once.

Whenever a ticket's deadlines change, its unfired steps are rescheduled as PendingEscalation
rows. The SLA clock (firstline.sla.clock) sweeps the rows that are due with one indexed
query and claims each with a conditional UPDATE (`fired_at IS NULL` -> now) that only one
worker can win; the winner writes the notifications to the outbox, a note on the ticket's
timeline and an audit row in the same transaction. A worker that was stopped over a
deadline finds the row still unfired when it starts and fires it, marked late.

The clock fires a batch at a time (`fire_due`): one claim, the batch's steps, partners and
assignees read once, the notices' texts translated once, and the outbox rows, notes and
audit rows written with one statement each (COPY on PostgreSQL). The events
(escalation.fired, sla.breached) are still published once per fired step, inside the
batch's transaction: their receivers' cost per event is part of every step's.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, Q, QuerySet, Value, When
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from firstline.core import audit, events
from firstline.core.bulk import insert_all
from firstline.core.clock import now
from firstline.core.models import AuditEvent, Partner, User
from firstline.outbox import services as outbox
from firstline.outbox.models import OutboxMessage
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
    return _Recipients.load([(step, ticket)]).of(step, ticket)


class _Recipients:
    """Everyone a batch of steps may notify, read with two queries whatever the batch size."""

    def __init__(self, users: list[User], named: dict[int, list[User]]) -> None:
        self.supervisors = [u for u in users if u.role == User.Role.SUPERVISOR]
        self.by_partner: dict[tuple[int | None, str], list[User]] = {}
        for user in users:
            if user.role in (User.Role.ENGINEER, User.Role.MANAGER):
                self.by_partner.setdefault((user.partner_id, user.role), []).append(user)
        self.named = named

    @classmethod
    def load(cls, pairs: Sequence[tuple[EscalationStep, Ticket]]) -> "_Recipients":
        roles: set[str] = set()
        partners: set[int] = set()
        step_ids: set[int] = set()
        for step, ticket in pairs:
            roles.update(step.roles)
            partners.add(ticket.partner_id)
            step_ids.add(step.pk)
        wanted = Q(pk__in=[])
        if EscalationStep.Role.LEAD in roles:
            wanted |= Q(role=User.Role.SUPERVISOR)
        partner_roles = [role for step_role, role in (
            (EscalationStep.Role.PARTNER_ENGINEER, User.Role.ENGINEER),
            (EscalationStep.Role.PARTNER_MANAGER, User.Role.MANAGER)) if step_role in roles]
        if partner_roles:
            wanted |= Q(role__in=partner_roles, partner_id__in=partners)
        users = list(User.objects.filter(wanted, is_active=True).order_by("pk")) if (
            roles & {EscalationStep.Role.LEAD, EscalationStep.Role.PARTNER_ENGINEER,
                     EscalationStep.Role.PARTNER_MANAGER}) else []
        named: dict[int, list[User]] = {}
        through = EscalationStep.users.through
        for link in (through.objects.filter(escalationstep_id__in=step_ids, user__is_active=True)
                     .select_related("user").order_by("user_id")):
            named.setdefault(link.escalationstep_id, []).append(link.user)
        return cls(users, named)

    def of(self, step: EscalationStep, ticket: Ticket) -> list[User]:
        people: dict[int, User] = {}
        roles = set(step.roles)
        if EscalationStep.Role.LEAD in roles:
            people.update({u.pk: u for u in self.supervisors})
        if EscalationStep.Role.PARTNER_ENGINEER in roles:
            people.update({u.pk: u for u in self.by_partner.get(
                (ticket.partner_id, User.Role.ENGINEER), [])})
        if EscalationStep.Role.PARTNER_MANAGER in roles:
            people.update({u.pk: u for u in self.by_partner.get(
                (ticket.partner_id, User.Role.MANAGER), [])})
        if EscalationStep.Role.ASSIGNEE in roles and ticket.assignee is not None:
            people[ticket.assignee.pk] = ticket.assignee
        for user in self.named.get(step.pk, []):
            people[user.pk] = user
        return list(people.values())


def _address(user: User, channel: str) -> str:
    return user.email if channel == EscalationStep.Channel.EMAIL else user.phone


def _due(moment: datetime) -> QuerySet[PendingEscalation]:
    return PendingEscalation.objects.filter(fired_at__isnull=True, due_at__lte=moment)


def _attach_related(batch: Sequence[PendingEscalation]) -> None:
    """Give a claimed batch its steps, partners and assignees, one query each.

    A batch holds a few dozen steps and partners and a few operators, however many rows:
    reading them once and sharing the instances costs far less than joining them onto
    every row (and building a model instance of each per row)."""
    tickets = [pending.ticket for pending in batch]
    steps = EscalationStep.objects.in_bulk({pending.step_id for pending in batch})
    partners = Partner.objects.in_bulk({ticket.partner_id for ticket in tickets})
    assignees = User.objects.in_bulk(
        {ticket.assignee_id for ticket in tickets if ticket.assignee_id is not None})
    for pending in batch:
        pending.step = steps[pending.step_id]
        ticket = pending.ticket
        ticket.partner = partners[ticket.partner_id]
        ticket.assignee = assignees.get(ticket.assignee_id) if ticket.assignee_id else None


def fire_due(moment: datetime, worker: str, limit: int) -> int:
    """Claim up to `limit` due steps and fire them all in one transaction; how many fired.

    The claim locks the rows it takes (PostgreSQL: FOR UPDATE SKIP LOCKED, so a second clock
    takes the next rows instead of waiting; SQLite's IMMEDIATE transactions admit one writer)
    and marks them fired with one UPDATE; the outbox rows, timeline notes and audit rows of
    the whole batch are then inserted with one statement each. Fewer than `limit` means
    nothing else was due (or another clock holds it)."""
    with transaction.atomic():
        batch = list(_due(moment).select_related("ticket")
                     .select_for_update(skip_locked=True, of=("self",))
                     .order_by("due_at", "pk")[:limit])
        if not batch:
            return 0
        claimed = PendingEscalation.objects.filter(
            pk__in=[p.pk for p in batch], fired_at__isnull=True
        ).update(
            fired_at=moment, fired_by=worker[:100],
            fired_late=Case(When(due_at__lt=moment - LATE_AFTER, then=Value(True)),
                            default=Value(False)),
        )
        if claimed != len(batch):  # pragma: no cover - the rows are locked by this claim
            raise RuntimeError("escalation claim lost rows it had locked")
        _attach_related(batch)
        _notify([(p, moment - p.due_at > LATE_AFTER) for p in batch], moment)
    return len(batch)


def fire(pending_id: int, moment: datetime, worker: str) -> bool:
    """Fire one due step if this worker wins the claim; False if someone else did."""
    with transaction.atomic():
        pending = PendingEscalation.objects.select_related(
            "step", "ticket", "ticket__partner", "ticket__assignee"
        ).filter(pk=pending_id, fired_at__isnull=True).first()
        if pending is None:
            return False
        late = moment - pending.due_at > LATE_AFTER
        claimed = PendingEscalation.objects.filter(pk=pending_id, fired_at__isnull=True).update(
            fired_at=moment, fired_by=worker[:100], fired_late=late
        )
        if claimed != 1:
            return False
        _notify([(pending, late)], moment)
    return True


def _notify(batch: Sequence[tuple[PendingEscalation, bool]], moment: datetime) -> None:
    # Notices and the timeline note are for the provider's and partners' Russian-speaking
    # staff, whatever language the worker process happens to run in.
    with translation.override("ru"):
        _notify_in_language(batch, moment)


class _Texts:
    """The words of a batch's notices, translated once per batch rather than once per step:
    a batch has a handful of distinct steps, priorities, channels, people and time zones."""

    def __init__(self) -> None:
        self.subject = _("Escalation %(number)s: %(target)s %(percent)d%% — %(subject)s")
        self.body = _("Ticket %(number)s of %(partner)s, priority %(priority)s.\n%(subject)s\n"
                      "Deadline: %(due)s.")
        self.late = "\n" + _("Fired late: the SLA clock was not running.")
        self._steps: dict[tuple[str, int, str], tuple[str, str]] = {}
        self._priorities: dict[str, str] = {}
        self._labels: dict[tuple[int, str], str] = {}
        self._zones: dict[str, ZoneInfo] = {}

    def step(self, step: EscalationStep) -> tuple[str, str]:
        """The step's name (as in the note and audit) and its target, lower case.

        Keyed by what the name is made of: a batch's steps share a few of them."""
        key = (step.target, step.percent, step.priority)
        if key not in self._steps:
            self._steps[key] = (str(step), step.get_target_display().lower())
        return self._steps[key]

    def priority(self, ticket: Ticket) -> str:
        if ticket.priority not in self._priorities:
            self._priorities[ticket.priority] = str(ticket.get_priority_display())
        return self._priorities[ticket.priority]

    def label(self, user: User, channel: str) -> str:
        key = (user.pk, channel)
        if key not in self._labels:
            self._labels[key] = (f"{user.display_name} "
                                 f"({EscalationStep.Channel(channel).label})")
        return self._labels[key]

    def local(self, moment: datetime | None, time_zone: str) -> str:
        if moment is None:
            return "—"
        if time_zone not in self._zones:
            self._zones[time_zone] = ZoneInfo(time_zone)
        # The "d.m.Y H:i" of date_format, without its per-call localisation lookups.
        return (f"{timezone.localtime(moment, self._zones[time_zone]):%d.%m.%Y %H:%M} "
                f"({time_zone})")


def _notify_in_language(batch: Sequence[tuple[PendingEscalation, bool]],
                        moment: datetime) -> None:
    people = _Recipients.load([(p.step, p.ticket) for p, _late in batch])
    texts = _Texts()
    outgoing: list[tuple[int, str, OutboxMessage]] = []  # (batch index, label, message)
    sent: list[list[str]] = [[] for _ in batch]
    skipped: list[list[str]] = [[] for _ in batch]
    queued_at = now()
    cleaned: dict[tuple[str, str], str | None] = {}
    for index, (pending, late) in enumerate(batch):
        ticket, step = pending.ticket, pending.step
        partner = ticket.partner
        _name, target = texts.step(step)
        subject = texts.subject % {
            "number": ticket.number, "target": target, "percent": step.percent,
            "subject": ticket.subject,
        }
        due = ticket.reaction_due_at if step.target == "reaction" else ticket.resolution_due_at
        body = texts.body % {
            "number": ticket.number, "partner": partner.name,
            "priority": texts.priority(ticket), "subject": ticket.subject,
            "due": texts.local(due, partner.time_zone),
        }
        if late:
            body += texts.late
        for user in people.of(step, ticket):
            for channel in step.channels:
                label = texts.label(user, channel)
                address = _address(user, channel)
                if not address:
                    skipped[index].append(label)
                    continue
                # The checks outbox.enqueue makes, once per address in the batch (the same
                # leads are on most steps) and without a query per message.
                if (channel, address) not in cleaned:
                    try:
                        cleaned[channel, address] = outbox.clean_recipient(channel, address)
                    except ValidationError:
                        cleaned[channel, address] = None
                if cleaned[channel, address] is None:
                    # A malformed address must not cost the other recipients their notice.
                    skipped[index].append(f"{label}: {address}")
                    continue
                address = cleaned[channel, address]
                headers = (outbox.with_message_id({}, partner)
                           if channel == EscalationStep.Channel.EMAIL else {})
                outgoing.append((index, label, OutboxMessage(
                    partner_id=partner.pk, ticket_id=ticket.pk, channel=channel,
                    recipient=address, subject=subject.strip(), body=body, headers=headers,
                    dedupe_key=f"escalation:{pending.pk}:{user.pk}:{channel}",
                    next_attempt_at=queued_at,
                )))
    # A key already taken (a notice sent before) is not sent again, but it was sent.
    taken = dict(OutboxMessage.objects.filter(
        dedupe_key__in=[message.dedupe_key for _i, _l, message in outgoing]
    ).values_list("dedupe_key", "partner_id"))
    new = []
    for index, label, message in outgoing:
        if message.dedupe_key not in taken:
            new.append(message)
        elif taken[message.dedupe_key] != message.partner_id:
            # As enqueue refuses it: another partner's row is never taken for this one's.
            skipped[index].append(f"{label}: {message.recipient}")
            continue
        sent[index].append(label)
    if new:
        insert_all(OutboxMessage, new)
        outbox.nudge_after_commit()

    notes, trail = [], []
    target_type = Ticket._meta.model_name
    for index, (pending, late) in enumerate(batch):
        ticket, step = pending.ticket, pending.step
        name, _target = texts.step(step)
        if skipped[index]:
            note = _("Escalation: %(step)s. Notified: %(sent)s. No usable address for: "
                     "%(skipped)s.") % {"step": name, "sent": ", ".join(sent[index]) or "—",
                                        "skipped": ", ".join(skipped[index])}
        else:
            note = _("Escalation: %(step)s. Notified: %(sent)s.") % {
                "step": name, "sent": ", ".join(sent[index]) or "—"
            }
        notes.append(Message(
            partner_id=ticket.partner_id, ticket_id=ticket.pk, kind=Message.Kind.NOTE,
            is_automatic=True, body_text=note, body_html=text_to_html(note), created_at=moment,
        ))
        # What audit.record writes, inserted for the whole batch at once.
        trail.append(AuditEvent(
            actor=None, partner_id=ticket.partner_id, action="escalation.fired",
            target_type=target_type, target_id=str(ticket.pk), before={},
            after=audit.jsonable({"step": name, "due": pending.due_at, "late": late,
                                   "notified": sent[index], "skipped": skipped[index]}),
        ))
    insert_all(Message, notes)
    insert_all(AuditEvent, trail)
    for pending, late in batch:
        ticket, step = pending.ticket, pending.step
        events.publish("escalation.fired", partner_id=ticket.partner_id, moment=moment,
                       ticket=ticket, step=step, late=late)
        if step.percent >= 100:
            events.publish("sla.breached", partner_id=ticket.partner_id, moment=moment,
                           ticket=ticket, target=step.target)
