"""One reply in many linked tickets at once: the incident's answer and its recovery.

`ticket_services.add_message` answers one ticket in about twenty queries; an incident with a
thousand linked tickets took 26 s that way. Here each batch of tickets is answered in a
fixed number of statements, inside the caller's transaction, with the same effects as a
public reply in each ticket:

- the reply rules are checked once per text (every ticket of the batch gets the same text);
- one Message per ticket, written by the actor (or, for the monitoring system, automatic);
- a human reply is the ticket's first response when it has none, and moves a new ticket to
  open; with `resolve`, the ticket is then resolved (each keeps its own SLA facts, and the
  status change is told as the "ticket.status_changed" event, as the desk's change is);
- one letter per customer address, threaded into that customer's ticket (a customer with
  several linked tickets gets one letter, in the first), recorded as a MailReference, so
  their answer finds the ticket;
- an audit row per reply and per status change, as the one-ticket path writes them; the
  monitoring system's changes name it (`"by": "monitoring"`);
- each reply told as the "message.public_reply" event, with `mailed=True`: the letters are
  written here, so the mail subscriber skips them, and the other subscribers (the Telegram
  chat of a ticket opened there, outbound webhooks) get it as from the one-ticket path. A
  Telegram ticket gets no letter here: its chat is its channel, as in the one-ticket path.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import make_msgid
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.html import escape, linebreaks
from django.utils.translation import gettext as _

from firstline.contacts.models import ContactEmail
from firstline.core import events
from firstline.core.bulk import save_fields
from firstline.core.clock import now
from firstline.core.models import AuditEvent, Partner, User
from firstline.mail import threading
from firstline.mail.models import MailParticipant, MailReference
from firstline.mail.outbound import LOOP_HEADER, reply_to_address, ticket_subject
from firstline.outbox.models import Channel, OutboxMessage
from firstline.quality import checking
from firstline.quality.rules import ReplyKind
from firstline.sla import deadlines, escalation
from firstline.tenancy import tickets_for
from firstline.tickets import lifecycle
from firstline.tickets import services as ticket_services
from firstline.tickets.html import text_to_html
from firstline.tickets.models import Channel as TicketChannel
from firstline.tickets.models import Message, Status, Ticket

BATCH = 500
SYSTEM = "monitoring"
_TICKET_FIELDS = ["updated_at", "status", "resolved_at", "closed_at", "first_response_at",
                  *deadlines.DEADLINE_FIELDS]


@dataclass
class Answered:
    """What one batch wrote: the ticket's reply and the letters it went out in."""

    ticket: Ticket
    message: Message
    letters: list[OutboxMessage] = field(default_factory=list)


def _metric_fields() -> list[str]:
    from firstline.quality import metrics as script_metrics

    return list(script_metrics.FACT_FIELDS)


def _audit(partner: Partner, actor: User | None, action: str, ticket: Ticket,
           before: dict[str, Any], after: dict[str, Any], moment: Any) -> AuditEvent:
    return AuditEvent(actor=actor, partner=partner, action=action, target_type="ticket",
                      target_id=str(ticket.pk), before=before, after=after, created_at=moment)


def _check_access(actor: User | None, partner: Partner, ids: list[int]) -> None:
    if actor is None:
        return  # the monitoring system
    if not (actor.is_provider_staff or actor.is_partner_user):
        raise PermissionDenied(_("Only support staff and partner accounts can do this."))
    if tickets_for(actor).filter(pk__in=ids).count() != len(ids):
        raise PermissionDenied(_("This ticket is not available to you."))


@transaction.atomic
def reply(
    *,
    partner: Partner,
    tickets: Sequence[Ticket],
    actor: User | None,
    text_for: Callable[[Ticket], str],
    resolve: bool = False,
    subject: Callable[[Ticket], str] | None = None,
) -> list[Answered]:
    """Answer every ticket with `text_for(ticket)` (and resolve it, with `resolve`).

    Without an actor the monitoring system answers: the reply is automatic (it is not the
    first response), the letters say so (RFC 3834), the audit rows name the system.
    Closed tickets are skipped. Refuses before writing anything (ValidationError on `text`
    naming the reply rule's finding, PermissionDenied for another partner's tickets)."""
    ids = sorted({ticket.pk for ticket in tickets})
    if any(ticket.partner_id != partner.pk for ticket in tickets):
        raise ValidationError({"tickets": _("A ticket belongs to another partner.")})
    _check_access(actor, partner, ids)
    answered: list[Answered] = []
    checked: set[str] = set()
    mailed: set[str] = set()
    for start in range(0, len(ids), BATCH):
        answered += _batch(partner, ids[start:start + BATCH], actor, text_for, resolve,
                           subject, checked, mailed)
    return answered


def _batch(partner: Partner, ids: list[int], actor: User | None,
           text_for: Callable[[Ticket], str], resolve: bool,
           subject: Callable[[Ticket], str] | None, checked: set[str],
           mailed: set[str]) -> list[Answered]:
    automatic = actor is None
    batch = list(Ticket.objects.select_for_update(of=("self",)).select_related("contact")
                 .filter(pk__in=ids).exclude(status=Status.CLOSED).order_by("id"))
    moment = now()
    messages: list[Message] = []
    for ticket in batch:
        ticket.partner = partner
        body = (text_for(ticket) or "").strip()
        if not body:
            raise ValidationError({"text": _("The message must not be empty.")})
        if not automatic and body not in checked:
            # The reply rules (F3, F16, F17) once for each distinct text, not per ticket.
            checking.ensure_reply_allowed(body, ticket, ReplyKind.REGULAR)
            checked.add(body)
        messages.append(Message(partner_id=partner.pk, ticket=ticket, kind=Message.Kind.REPLY,
                                author=actor, is_automatic=automatic, body_text=body,
                                body_html=text_to_html(body), created_at=moment))
    Message.objects.bulk_create(messages)

    audits: list[AuditEvent] = []
    by = {"by": SYSTEM} if automatic else {}
    changed_fields = [*_TICKET_FIELDS, *_metric_fields()]
    for ticket, message in zip(batch, messages, strict=True):
        old = ticket.status
        if not automatic and ticket.status == Status.NEW:
            lifecycle.check_transition(ticket.status, Status.OPEN)
            ticket_services.apply_status(ticket, Status.OPEN, moment)
        if not automatic and ticket.first_response_at is None:
            # The first human public reply meets the reaction target.
            ticket.first_response_at = moment
            deadlines.first_response(ticket, moment)
        ticket.updated_at = moment
        after = {"message": message.pk, "status": ticket.status, **by}
        if automatic:
            after["automatic"] = True
        audits.append(_audit(partner, actor, "message.reply", ticket,
                             {"status": old} if ticket.status != old else {}, after, moment))
        if resolve and ticket.status != Status.RESOLVED:
            before = ticket.status
            lifecycle.check_transition(before, Status.RESOLVED)
            ticket_services.apply_status(ticket, Status.RESOLVED, moment, actor)
            audits.append(_audit(partner, actor, "ticket.status_changed", ticket,
                                 {"status": before}, {"status": ticket.status, **by}, moment))
    save_tickets(batch, changed_fields)
    escalation.reschedule_many(batch)
    letters = _mail(partner, batch, messages, automatic, subject, mailed)
    AuditEvent.objects.bulk_create(audits)
    for ticket, message in zip(batch, messages, strict=True):
        # Also the monitoring system's recovery: the customer in a Telegram chat is told
        # too (the webhook payload names the actor "system").
        events.publish("message.public_reply", partner_id=partner.pk, moment=moment,
                       ticket=ticket, message=message, actor=actor, mailed=True)
    return [Answered(ticket, message, letters.get(message.pk, []))
            for ticket, message in zip(batch, messages, strict=True)]


def _mail(partner: Partner, batch: list[Ticket], messages: list[Message], automatic: bool,
          subject: Callable[[Ticket], str] | None,
          mailed: set[str]) -> dict[int, list[OutboxMessage]]:
    """The letters of the batch, each address once, as `mail.outbound.mail_reply` writes
    them (threaded, Reply-To the partner's mailbox, our loop marker, its Message-ID
    remembered). The text already carries the partner's signature (render.body)."""
    ids = [ticket.pk for ticket in batch]
    best: dict[int, str] = {}
    contact_ids = {ticket.contact_id for ticket in batch if ticket.contact_id}
    for contact_id, address in (ContactEmail.objects.filter(contact_id__in=contact_ids)
                                .order_by("contact_id", "is_failing", "-is_confirmed", "id")
                                .values_list("contact_id", "address")):
        best.setdefault(contact_id, address)
    participants: dict[int, list[str]] = {}
    for ticket_id, address in (MailParticipant.objects.filter(ticket_id__in=ids)
                               .order_by("id").values_list("ticket_id", "address")):
        participants.setdefault(ticket_id, []).append(address)
    references: dict[int, list[str]] = {}
    for ticket_id, value in (MailReference.objects.filter(ticket_id__in=ids)
                             .order_by("created_at", "id")
                             .values_list("ticket_id", "message_id")):
        references.setdefault(ticket_id, []).append(value)
    reply_to = reply_to_address(partner)
    domain = partner.support_email.rpartition("@")[2] or None
    rows: list[OutboxMessage] = []
    owners: list[tuple[Ticket, Message]] = []
    for ticket, message in zip(batch, messages, strict=True):
        if ticket.channel == TicketChannel.TELEGRAM:
            continue  # answered in the chat (the "message.public_reply" event)
        found = [best[ticket.contact_id]] if ticket.contact_id in best else []
        addresses = list(dict.fromkeys([*found, *participants.get(ticket.pk, [])]))
        headers = {"Reply-To": reply_to, LOOP_HEADER: ticket.number,
                   **_thread(references.get(ticket.pk, []))}
        if automatic:
            headers["Auto-Submitted"] = "auto-replied"
            headers["X-Auto-Response-Suppress"] = "All"
        title = subject(ticket) if subject else ticket_subject(ticket)
        for address in addresses:
            if address.lower() in mailed:
                continue  # one letter per customer: the first of their tickets carries it
            mailed.add(address.lower())
            rows.append(OutboxMessage(
                partner=partner, ticket=ticket, channel=Channel.EMAIL, recipient=address,
                subject=title, body=message.body_text,
                html=linebreaks(escape(message.body_text)),
                headers={**headers, "Message-ID": make_msgid(domain=domain)},
                attachments=[], dedupe_key=f"mail:reply:{message.pk}:{address}"[:255],
                next_attempt_at=message.created_at))
            owners.append((ticket, message))
    OutboxMessage.objects.bulk_create(rows)
    MailReference.objects.bulk_create([
        MailReference(partner_id=partner.pk, ticket=ticket,
                      message_id=threading.clean_id(row.headers["Message-ID"]),
                      direction=MailReference.Direction.OUT, ticket_message=message,
                      outbox_id=row.pk, recipient=row.recipient[:500])
        for row, (ticket, message) in zip(rows, owners, strict=True)])
    if rows:
        from firstline.outbox.services import nudge_after_commit

        nudge_after_commit()
    letters: dict[int, list[OutboxMessage]] = {}
    for row, (_ticket, message) in zip(rows, owners, strict=True):
        letters.setdefault(message.pk, []).append(row)
    return letters


def save_tickets(batch: list[Ticket], names: list[str]) -> None:
    """Write these fields of every ticket of the batch in one statement (`save_fields`)."""
    save_fields(Ticket, batch, names)


def _thread(ids: list[str]) -> dict[str, str]:
    """In-Reply-To and References, as `mail.threading.thread_headers` computes them."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    limit = threading.MAX_REFERENCES
    if len(ids) > limit:
        ids = [ids[0], *ids[-(limit - 1):]]
    return {"In-Reply-To": f"<{ids[-1]}>", "References": " ".join(f"<{v}>" for v in ids)}


@transaction.atomic
def resolve_as_system(*, partner: Partner, tickets: Sequence[Ticket]) -> list[Ticket]:
    """Resolve active tickets as the monitoring system, without a reply (the tickets it
    opened itself, when their alert resolves); audited as the monitoring system."""
    batch = list(Ticket.objects.select_for_update(of=("self",))
                 .filter(pk__in=[ticket.pk for ticket in tickets], partner=partner)
                 .exclude(status__in=[Status.RESOLVED, Status.CLOSED]).order_by("id"))
    moment = now()
    audits = []
    for ticket in batch:
        ticket.partner = partner
        before = ticket.status
        lifecycle.check_transition(before, Status.RESOLVED)
        ticket_services.apply_status(ticket, Status.RESOLVED, moment)
        ticket.updated_at = moment
        audits.append(_audit(partner, None, "ticket.status_changed", ticket,
                             {"status": before}, {"status": ticket.status, "by": SYSTEM},
                             moment))
    save_tickets(batch, [*_TICKET_FIELDS, *_metric_fields()])
    escalation.reschedule_many(batch)
    AuditEvent.objects.bulk_create(audits)
    return batch
