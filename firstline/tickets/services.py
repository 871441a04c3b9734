"""Every change to a ticket goes through one of these functions.

The web UI, the customer portal, the API and (later) the mail and phone channels all call
them, so the rules (who may do what, which transitions exist, what gets audited) are
written once. Each runs in one transaction and raises ValidationError naming the bad field,
or PermissionDenied, before writing anything.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import connections, router, transaction
from django.db.models import Model, Value
from django.db.models.expressions import DatabaseDefault
from django.db.models.fields import Field
from django.utils.translation import gettext as _

from firstline.contacts.models import Contact
from firstline.core import audit, events
from firstline.core.clock import now
from firstline.core.models import Partner, Service, User
from firstline.quality import checking
from firstline.quality import metrics as script_metrics
from firstline.quality import script as script_rules
from firstline.quality.rules import ReplyKind
from firstline.sla import deadlines, escalation, urgency
from firstline.sla.models import TypicalRequest
from firstline.tenancy import assignable_users, tickets_for
from firstline.tickets import filenames, hooks, lifecycle
from firstline.tickets.html import sanitise, text_to_html
from firstline.tickets.models import (
    ACTIVE_STATUSES,
    Attachment,
    Channel,
    IdentifiedBy,
    Message,
    Priority,
    Status,
    Ticket,
)

SUBJECT_MAX = Ticket._meta.get_field("subject").max_length or 300


def _require_text(field_name: str, value: str | None, label: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationError({field_name: _("%(label)s must not be empty.") % {"label": label}})
    return text


def _check_attachments(files: Sequence[UploadedFile]) -> None:
    limit = settings.FIRSTLINE_MAX_ATTACHMENT_BYTES
    for upload in files:
        if upload.size is not None and upload.size > limit:
            raise ValidationError(
                {
                    "attachments": _(
                        "“%(name)s” is %(size)d bytes; the limit is %(limit)d bytes."
                    ) % {"name": upload.name, "size": upload.size, "limit": limit}
                }
            )


def _store_attachments(message: Message, files: Sequence[UploadedFile]) -> None:
    for upload in files:
        # The real name is shown and sent on download; only the storage path is sanitised.
        name = filenames.display_name(upload.name)
        attachment = Attachment(
            partner_id=message.partner_id,
            message=message,
            filename=name,
            content_type=upload.content_type or "application/octet-stream",
            size=upload.size or 0,
        )
        attachment.file.save(filenames.storage_name(name), upload, save=False)
        attachment.save()


def _ensure_can_work_on(actor: User, ticket: Ticket) -> None:
    """Staff and the ticket's partner accounts work on tickets; the queryset decides."""
    if not (actor.is_provider_staff or actor.is_partner_user):
        raise PermissionDenied(_("Only support staff and partner accounts can do this."))
    if not tickets_for(actor).filter(pk=ticket.pk).exists():
        raise PermissionDenied(_("This ticket is not available to you."))


class _CreatedHere:
    """A no-op on-commit callback that marks the transaction a ticket was created in.

    Django drops it when the savepoint it was registered in rolls back and forgets it at
    commit, so while it is registered the ticket's row exists, written by this transaction
    and invisible (hence unlockable) to any other until it commits."""

    def __call__(self) -> None:
        pass


# INSERTs of new tickets and messages, built once per model and database: Django compiles the
# INSERT on every save (for the ticket's 39 columns, more CPU than the database spends on it),
# and mail's batches create hundreds of tickets a second.
_INSERTS: dict[tuple[str, type[Model]], tuple[str, list[Field]]] = {}


def _insert(instance: Ticket | Message) -> None:
    """`instance.save()` for a new Ticket or Message (neither has a save() of its own nor
    save signals), by a prebuilt INSERT … RETURNING its key."""
    model = type(instance)
    connection = connections[router.db_for_write(model)]
    built = _INSERTS.get((connection.alias, model))
    if built is None:
        fields = [item for item in model._meta.concrete_fields if not item.primary_key]
        quote = connection.ops.quote_name
        # Names from the model, values as parameters.
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608
            f"({', '.join(quote(item.column) for item in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) "
            f"RETURNING {quote(model._meta.pk.column)}"
        )
        built = _INSERTS[(connection.alias, model)] = (sql, fields)
    sql, fields = built
    values = []
    for item in fields:
        value = item.pre_save(instance, True)
        if isinstance(value, DatabaseDefault):
            if not isinstance(item.db_default, Value):
                instance.save(force_insert=True)  # a default only the database computes
                return
            # The database's default, as the database would have set it (Ticket.is_spam).
            value = item.db_default.value
            setattr(instance, item.attname, value)
        values.append(item.get_db_prep_save(value, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = connection.alias


def _created_in_this_transaction(ticket: Ticket) -> bool:
    marker = getattr(ticket, "_created_here", None)
    connection = transaction.get_connection()
    return marker is not None and connection.in_atomic_block and any(
        func is marker for _sids, func, _robust in connection.run_on_commit
    )


def create_ticket(
    *,
    partner: Partner,
    actor: User | None,
    channel: str,
    subject: str,
    text: str,
    contact: Contact | None = None,
    priority: str | None = None,
    service: Service | None = None,
    typical_request: TypicalRequest | None = None,
    html: str = "",
    attachments: Sequence[UploadedFile] = (),
    identified_by: str = IdentifiedBy.NONE,
) -> Ticket:
    """Register a request; without an explicit priority the partner's urgency rules set it.

    `identified_by` records how the customer was identified (F5), e.g. by the mail channel.
    """
    errors: dict[str, str] = {}
    subject_text = (subject or "").strip()
    body = (text or "").strip()
    if not body:
        errors["text"] = _("Describe the request.")
    if len(subject_text) > SUBJECT_MAX:
        errors["subject"] = _("The subject is longer than %(max)d characters.") % {
            "max": SUBJECT_MAX
        }
    if channel not in Channel.values:
        errors["channel"] = _("Unknown channel “%(value)s”.") % {"value": channel}
    if priority is not None and priority not in Priority.values:
        errors["priority"] = _("Unknown priority “%(value)s”.") % {"value": priority}
    if contact is not None and contact.partner_id != partner.pk:
        errors["contact"] = _("This contact belongs to another partner.")
    if service is not None and service.partner_id != partner.pk:
        errors["service"] = _("This service belongs to another partner.")
    if typical_request is not None and typical_request.partner_id != partner.pk:
        errors["typical_request"] = _("This typical request belongs to another partner.")
    if identified_by not in IdentifiedBy.values:
        errors["identified_by"] = _("Unknown identification “%(value)s”.") % {
            "value": identified_by
        }
    if actor is not None and not actor.is_provider_staff and actor.partner_id != partner.pk:
        raise PermissionDenied(_("You cannot create tickets for this partner."))
    if errors:
        raise ValidationError(errors)
    _check_attachments(attachments)

    # Everything above only reads: a refusal leaves the caller's transaction as it was. The
    # writes need no savepoint of their own (two round trips) inside the caller's
    # transaction: if one fails, the caller's whole transaction is rolled back.
    with transaction.atomic(savepoint=False):
        created = now()
        if not subject_text:
            subject_text = body.splitlines()[0][:SUBJECT_MAX]
        matched_rule = None
        if priority is None:
            matched = urgency.priority_for(partner, subject_text, body, service, contact)
            priority, matched_rule = matched if matched else (Priority.NORMAL, None)
            if contact is not None:
                # The apps above may raise it (surveys: a customer won back is more
                # sensitive); they register their rules, tickets names none of them.
                priority = hooks.priority_for_new_ticket(
                    partner_id=partner.pk, organisation_id=contact.organisation_id,
                    priority=priority)
        ticket = Ticket(
            partner=partner,
            contact=contact,
            channel=channel,
            identified_by=identified_by,
            subject=subject_text,
            customer_words=body,
            priority=priority,
            service=service,
            typical_request=typical_request,
            created_at=created,
            updated_at=created,
        )
        deadlines.start(ticket)
        _insert(ticket)
        escalation.reschedule(ticket, new=True)
        message = Message(
            partner=partner,
            ticket=ticket,
            kind=Message.Kind.INBOUND,
            author=actor if actor is not None and not actor.is_customer else None,
            author_contact=contact,
            body_text=body,
            body_html=sanitise(html) if html else text_to_html(body),
            created_at=created,
        )
        _insert(message)
        _store_attachments(message, attachments)
        # The opening message, for a caller that goes on with it (the mail channel threads it)
        # without reading it back.
        ticket.opening_message = message
        # For add_message(just_created=True): see _CreatedHere.
        ticket._created_here = _CreatedHere()
        transaction.on_commit(ticket._created_here)
        audit.record(
            actor=actor,
            partner=partner,
            action="ticket.created",
            target=ticket,
            after={
                "subject": ticket.subject,
                "channel": channel,
                "identified_by": identified_by,
                "status": ticket.status,
                "priority": priority,
                "contact": contact.name if contact else None,
                "service": service.name if service else None,
                "urgency_rule": matched_rule.name if matched_rule else None,
                "sla_policy": ticket.sla_policy.name if ticket.sla_policy else None,
                "reaction_due": ticket.reaction_due_at,
                "resolution_due": ticket.resolution_due_at,
            },
        )
        events.publish("ticket.created", partner_id=partner.pk, moment=created, ticket=ticket,
                       actor=actor)
        return ticket


def add_message(
    *,
    ticket: Ticket,
    actor: User | None,
    kind: str,
    text: str,
    attachments: Sequence[UploadedFile] = (),
    contact: Contact | None = None,
    html: str = "",
    automatic: bool = False,
    reply_kind: str = ReplyKind.REGULAR,
    just_created: bool = False,
) -> Message:
    """A customer's answer, a public reply or an internal note, with its effect on status.

    Without an actor the message comes from outside the desk (the mail channel): a
    customer's letter (kind inbound, `contact` its author), a system note, or an automatic
    reply (`automatic`). An automatic message changes no status and is not the first
    response: only a human reply meets the reaction target. A human public reply is mailed
    to the customer.

    `just_created`: the caller passes the very ticket create_ticket returned in this
    transaction, changed by nothing else since (the mail channel's acknowledgement). It is
    then neither read again nor locked (no other transaction can see its row yet), and a
    message that changes nothing on it (automatic, or a note) leaves its updated_at at the
    creation moment instead of an UPDATE a few milliseconds later. Without the creation in
    this transaction (e.g. rolled back) the ticket is read and locked as usual.
    """
    fresh = just_created and _created_in_this_transaction(ticket)
    # On a ticket created in this transaction, no savepoint of its own either (two round
    # trips): a refusal or failure then rolls back the caller's transaction, or the
    # savepoint the caller keeps for this (the mail channel's acknowledgement has one).
    with transaction.atomic(savepoint=not fresh):
        return _add_message(
            ticket=ticket, fresh=fresh, actor=actor, kind=kind, text=text,
            attachments=attachments, contact=contact, html=html, automatic=automatic,
            reply_kind=reply_kind)


def _add_message(
    *,
    ticket: Ticket,
    fresh: bool,
    actor: User | None,
    kind: str,
    text: str,
    attachments: Sequence[UploadedFile],
    contact: Contact | None,
    html: str,
    automatic: bool,
    reply_kind: str,
) -> Message:
    given = ticket
    ticket = given if fresh else Ticket.objects.select_for_update().get(pk=ticket.pk)
    if Ticket.partner.is_cached(given) and given.partner_id == ticket.partner_id:
        # The partner row the caller already holds: not read again for the audit row.
        ticket.partner = given.partner
    body = _require_text("text", text, _("The message"))
    if kind not in Message.Kind.values:
        raise ValidationError({"kind": _("Unknown message kind “%(value)s”.") % {"value": kind}})
    if actor is None:
        _check_without_actor(ticket, kind, contact, automatic)
    elif contact is not None:
        raise ValidationError({"contact": _("Only mail from outside the desk names its author.")})
    elif actor.is_customer:
        if not tickets_for(actor).filter(pk=ticket.pk).exists():
            raise PermissionDenied(_("This ticket is not available to you."))
        if kind != Message.Kind.INBOUND:
            raise ValidationError({"kind": _("Customers can only answer their tickets.")})
    else:
        _ensure_can_work_on(actor, ticket)
        if kind == Message.Kind.INBOUND:
            raise ValidationError({"kind": _("Staff write replies or internal notes.")})
    if ticket.status == Status.CLOSED and kind != Message.Kind.NOTE:
        raise ValidationError(
            {"text": _("The ticket is closed. Please create a new ticket instead.")}
        )
    _check_attachments(attachments)
    if kind == Message.Kind.REPLY and not automatic:
        # The reply rules (F3, F16, F17): a blocking finding refuses the reply, here, so the
        # desk and the API refuse the same ones. `reply_kind` says which criteria apply.
        if reply_kind not in ReplyKind:
            raise ValidationError({"reply_kind": _("Unknown reply kind “%(value)s”.")
                                   % {"value": reply_kind}})
        checking.ensure_reply_allowed(body, ticket, reply_kind)

    moment = now()
    if contact is None and actor is not None and actor.is_customer:
        contact = ticket.contact
    message = Message(
        partner_id=ticket.partner_id,
        ticket=ticket,
        kind=kind,
        author=actor,
        author_contact=contact,
        is_automatic=automatic,
        body_text=body,
        body_html=sanitise(html) if html else text_to_html(body),
        created_at=moment,
    )
    _insert(message)
    _store_attachments(message, attachments)

    before: dict[str, Any] = {"status": ticket.status}
    update_fields = ["updated_at"]
    if not fresh:
        ticket.updated_at = moment
    new_status = ticket.status if automatic else _status_after_message(ticket.status, kind)
    if new_status != ticket.status:
        lifecycle.check_transition(ticket.status, new_status)
        apply_status(ticket, new_status, moment)
        update_fields += ["status", "resolved_at", "closed_at", *deadlines.DEADLINE_FIELDS,
                          *script_metrics.FACT_FIELDS]
    if kind == Message.Kind.REPLY and not automatic and ticket.first_response_at is None:
        # The first human public reply meets the reaction target.
        ticket.first_response_at = moment
        deadlines.first_response(ticket, moment)
        update_fields += ["first_response_at", *deadlines.DEADLINE_FIELDS]
    if fresh and len(update_fields) > 1:
        ticket.updated_at = moment
    if not fresh or len(update_fields) > 1:
        ticket.save(update_fields=list(dict.fromkeys(update_fields)))
    if len(update_fields) > 1:
        escalation.reschedule(ticket)
    if kind == Message.Kind.REPLY and not automatic:
        # Delivered by the customer's channel (the mail app mails it), told as an event.
        events.publish("message.public_reply", partner_id=ticket.partner_id, moment=moment,
                       ticket=ticket, message=message, actor=actor)
    after: dict[str, Any] = {"message": message.pk, "status": ticket.status}
    if automatic:
        after["automatic"] = True
    audit.record(
        actor=actor,
        partner=ticket.partner,
        action=f"message.{kind}",
        target=ticket,
        before=before if new_status != before["status"] else {},
        after=after,
    )
    return message


def _check_without_actor(
    ticket: Ticket, kind: str, contact: Contact | None, automatic: bool
) -> None:
    if contact is not None and contact.partner_id != ticket.partner_id:
        raise ValidationError({"contact": _("This contact belongs to another partner.")})
    if kind == Message.Kind.INBOUND and contact is None:
        raise ValidationError({"contact": _("A customer's message needs its author.")})
    if kind != Message.Kind.INBOUND and contact is not None:
        raise ValidationError({"kind": _("Customers can only answer their tickets.")})
    if kind == Message.Kind.REPLY and not automatic:
        raise PermissionDenied(_("A public reply needs its author."))


def _status_after_message(current: str, kind: str) -> str:
    if kind == Message.Kind.INBOUND and current in (Status.WAITING_CUSTOMER, Status.RESOLVED):
        # The customer answered: the ball is back with support (a reopen from resolved).
        return Status.OPEN
    if kind == Message.Kind.REPLY and current == Status.NEW:
        return Status.OPEN
    return current


def apply_status(ticket: Ticket, status: str, moment: Any, actor: User | None = None) -> None:
    old = ticket.status
    ticket.status = status
    if status == Status.RESOLVED:
        ticket.resolved_at = moment
    elif status == Status.CLOSED:
        ticket.closed_at = moment
    elif status in ACTIVE_STATUSES:
        ticket.resolved_at = None
    deadlines.status_changed(ticket, old, moment)
    # Solved on the first line / within the first contact: decided at resolution.
    script_metrics.record_resolution(ticket, actor)
    # In this transaction: what the subscribers write (the rating request on resolution)
    # exists exactly when the change does.
    events.publish("ticket.status_changed", partner_id=ticket.partner_id, moment=moment,
                   ticket=ticket, old=old, new=status, actor=actor)


_UNSET: Any = object()


@dataclass
class TicketChange:
    status: str | None = None
    priority: str | None = None
    assignee: Any = field(default=_UNSET)  # a User, None to unassign, _UNSET to keep


def _hand_over_refusal(ticket: Ticket, status: str) -> str | None:
    """Every path to «waiting for partner» (the script's hand-over, the ticket card, the API,
    bulk changes) meets the same rule: the partner's script must be done first."""
    if status != Status.WAITING_PARTNER or ticket.status == Status.WAITING_PARTNER:
        return None
    return script_rules.hand_over_refusal(ticket)


@transaction.atomic
def change_ticket(*, ticket: Ticket, actor: User, change: TicketChange) -> Ticket:
    """Change status, priority and/or assignee; all or nothing, one audit row each.

    A change to «waiting for partner» is refused on `status`, naming the missing steps,
    until the partner's script is done (firstline.quality.script.hand_over_refusal)."""
    _ensure_can_work_on(actor, ticket)
    # Lock only the ticket row: PostgreSQL refuses FOR UPDATE on the nullable side of the
    # outer join that select_related("assignee") adds.
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("partner", "assignee")
        .get(pk=ticket.pk)
    )
    errors: dict[str, list[str]] = {}
    if change.status is not None:
        try:
            lifecycle.check_transition(ticket.status, change.status)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        else:
            refusal = _hand_over_refusal(ticket, change.status)
            if refusal:
                errors["status"] = [refusal]
    if change.priority is not None and change.priority not in Priority.values:
        errors["priority"] = [_("Unknown priority “%(value)s”.") % {"value": change.priority}]
    if change.assignee is not _UNSET and change.assignee is not None:
        allowed = assignable_users(actor, ticket.partner)
        if not allowed.filter(pk=change.assignee.pk).exists():
            errors["assignee"] = [_("This person cannot be assigned to this ticket.")]
    if errors:
        raise ValidationError(errors)

    moment = now()
    fields = ["updated_at"]
    if change.status is not None and change.status != ticket.status:
        old = ticket.status
        apply_status(ticket, change.status, moment, actor)
        fields += ["status", "resolved_at", "closed_at", *deadlines.DEADLINE_FIELDS,
                   *script_metrics.FACT_FIELDS]
        reopened = old == Status.RESOLVED and ticket.status in ACTIVE_STATUSES
        action = "ticket.reopened" if reopened else "ticket.status_changed"
        audit.record(
            actor=actor, partner=ticket.partner, action=action, target=ticket,
            before={"status": old}, after={"status": ticket.status},
        )
    if change.priority is not None and change.priority != ticket.priority:
        old = ticket.priority
        ticket.priority = change.priority
        deadlines.recompute(ticket)
        fields += ["priority", *deadlines.DEADLINE_FIELDS]
        audit.record(
            actor=actor, partner=ticket.partner, action="ticket.priority_changed",
            target=ticket, before={"priority": old}, after={"priority": ticket.priority},
        )
    if change.assignee is not _UNSET and change.assignee != ticket.assignee:
        old_assignee = ticket.assignee
        ticket.assignee = change.assignee
        fields.append("assignee")
        audit.record(
            actor=actor, partner=ticket.partner, action="ticket.assigned", target=ticket,
            before={"assignee": old_assignee.display_name if old_assignee else None},
            after={"assignee": ticket.assignee.display_name if ticket.assignee else None},
        )
    if len(fields) > 1:
        ticket.updated_at = moment
        ticket.save(update_fields=list(dict.fromkeys(fields)))
        escalation.reschedule(ticket)
    return ticket


def take_over(*, ticket: Ticket, actor: User) -> Ticket:
    """A partner engineer takes the ticket: it is theirs now, and work on it is open."""
    if not actor.is_partner_user:
        raise PermissionDenied(_("Only partner accounts take tickets over."))
    status = Status.OPEN if ticket.status in (Status.NEW, Status.WAITING_PARTNER) else None
    return change_ticket(
        ticket=ticket, actor=actor, change=TicketChange(status=status, assignee=actor)
    )


@transaction.atomic
def set_typical_request(
    *, ticket: Ticket, actor: User, typical_request: TypicalRequest | None
) -> Ticket:
    """Name the ticket's typical request (or none): the resolution deadline follows its norm."""
    _ensure_can_work_on(actor, ticket)
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("partner", "typical_request")
        .get(pk=ticket.pk)
    )
    if typical_request is not None and (
        typical_request.partner_id != ticket.partner_id or not typical_request.is_active
    ):
        raise ValidationError(
            {"typical_request": _("Choose an active typical request of this partner.")}
        )
    if ticket.typical_request_id == (typical_request.pk if typical_request else None):
        return ticket
    old = ticket.typical_request
    ticket.typical_request = typical_request
    ticket.updated_at = now()
    deadlines.recompute(ticket)
    ticket.save(update_fields=["typical_request", "updated_at", *deadlines.DEADLINE_FIELDS])
    escalation.reschedule(ticket)
    audit.record(
        actor=actor, partner=ticket.partner, action="ticket.typical_request_changed",
        target=ticket,
        before={"typical_request": old.name if old else None},
        after={"typical_request": typical_request.name if typical_request else None,
               "resolution_due": ticket.resolution_due_at},
    )
    return ticket
