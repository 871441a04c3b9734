"""Cleaning up the queue: mark a ticket as spam, merge a duplicate into another ticket.

Rules, stated once:
- Only the desk (provider staff, or the ticket's partner's accounts) does either; the
  tenancy scope decides which tickets an actor reaches (firstline.tenancy.tickets_for).
- Spam: the ticket is flagged and closed through `services.apply_status` (deadlines stop,
  the "ticket.status_changed" event fires), a note goes on its timeline, an audit row is
  written; nothing is sent to the customer. A merged ticket is not marked. Unmarking
  clears the flag only: the ticket stays closed.
- Merge: source and target belong to the same partner; not into itself, not into a closed,
  spam or merged ticket (so no chain: every duplicate points at a ticket that is not
  merged; duplicates already merged into the source are re-pointed at the target). As
  Zammad does, the source's messages (and with them their attachments) move to the target
  keeping their timestamps, so the target's conversation reads in the order things
  happened. The source keeps `merged_into`, is closed, and both get a note and an audit
  row. Nobody is mailed. Mail on the source's thread later lands in the target
  (firstline.mail.threading.find_ticket follows `merged_into`). The `ticket.merged` event
  tells the apps above (mail adds the duplicate's participants to the target, so replies
  reach everyone who wrote; webhooks), in the same transaction.
- Each runs in one transaction with the ticket rows locked (in id order, so two operators
  merging two tickets into each other at once wait for each other and the second is
  refused instead of making a cycle).
- Neither a spam nor a merged ticket counts as a request in billing.
"""

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from firstline.core import audit, events
from firstline.core.clock import now
from firstline.core.models import User
from firstline.quality import metrics as script_metrics
from firstline.sla import deadlines, escalation
from firstline.tenancy import tickets_for
from firstline.tickets import services
from firstline.tickets.models import Message, Status, Ticket, format_number, parse_number

# A refusal that depends on a ticket's state (the API answers it 409, not 422).
STATE = "state"
_CLOSE_FIELDS = ["status", "resolved_at", "closed_at", "updated_at",
                 *deadlines.DEADLINE_FIELDS, *script_metrics.FACT_FIELDS]


def _state(field: str, message: str) -> ValidationError:
    """A refusal because of a ticket's state, on `field` (the code survives the dict)."""
    return ValidationError({field: ValidationError(message, code=STATE)})


def _ensure_desk_may_work(actor: User, ticket: Ticket) -> None:
    if not (actor.is_provider_staff or actor.is_partner_user):
        raise PermissionDenied(_("Only support staff and partner accounts can do this."))
    if not tickets_for(actor).filter(pk=ticket.pk).exists():
        raise PermissionDenied(_("This ticket is not available to you."))


def _locked(*pks: int) -> dict[int, Ticket]:
    # In id order: two transactions locking the same pair never wait for each other crosswise.
    rows = (Ticket.objects.select_for_update(of=("self",)).select_related("partner")
            .filter(pk__in=sorted(set(pks))).order_by("pk"))
    return {ticket.pk: ticket for ticket in rows}


def _close(ticket: Ticket, moment: Any, actor: User) -> str:
    """Close the ticket (whatever its status: spam and duplicates need no resolution step)."""
    old = ticket.status
    ticket.updated_at = moment
    if old != Status.CLOSED:
        services.apply_status(ticket, Status.CLOSED, moment, actor)
    return old


def _note(ticket: Ticket, actor: User, text: str) -> None:
    services.add_message(ticket=ticket, actor=actor, kind=Message.Kind.NOTE, text=text)


@transaction.atomic
def mark_spam(*, ticket: Ticket, actor: User) -> Ticket:
    """Flag the ticket as spam and close it; no letter to the customer. Repeating is a no-op."""
    _ensure_desk_may_work(actor, ticket)
    ticket = _locked(ticket.pk)[ticket.pk]
    if ticket.merged_into_id is not None:
        raise _state("status", _("A merged ticket cannot be marked as spam."))
    if ticket.is_spam:
        return ticket
    moment = now()
    old = _close(ticket, moment, actor)
    ticket.is_spam = True
    ticket.save(update_fields=["is_spam", *_CLOSE_FIELDS])
    escalation.reschedule(ticket)
    audit.record(actor=actor, partner=ticket.partner, action="ticket.marked_spam",
                 target=ticket, before={"status": old, "is_spam": False},
                 after={"status": ticket.status, "is_spam": True})
    _note(ticket, actor, _("Marked as spam."))
    return ticket


@transaction.atomic
def unmark_spam(*, ticket: Ticket, actor: User) -> Ticket:
    """Clear the spam flag (a mistake): the ticket stays closed. Repeating is a no-op."""
    _ensure_desk_may_work(actor, ticket)
    ticket = _locked(ticket.pk)[ticket.pk]
    if not ticket.is_spam:
        return ticket
    ticket.is_spam = False
    ticket.updated_at = now()
    ticket.save(update_fields=["is_spam", "updated_at"])
    audit.record(actor=actor, partner=ticket.partner, action="ticket.unmarked_spam",
                 target=ticket, before={"is_spam": True}, after={"is_spam": False})
    _note(ticket, actor, _("Not spam after all."))
    return ticket


def find_target(actor: User, text: Any) -> Ticket:
    """The ticket named by `text` ("FL-000123", "123" or an id), within the actor's reach.

    Refused on `into`: an unreadable number, or a ticket the actor cannot reach (another
    partner's ticket reads as a missing one to a partner account)."""
    number = parse_number(str(text if text is not None else ""))
    if number is None:
        raise ValidationError({"into": _("Enter a ticket number, e.g. FL-000123.")})
    target = tickets_for(actor).filter(pk=number).first()
    if target is None:
        raise ValidationError({"into": _("There is no ticket %(number)s.")
                               % {"number": text}})
    return target


def merge_refusals(source: Ticket, target: Ticket) -> list[ValidationError]:
    """Why `source` cannot be merged into `target` (empty: it can). Reads, writes nothing;
    the confirmation page asks it, and `merge` asks it again under the row locks."""
    if target.partner_id != source.partner_id:
        return [ValidationError({"into": _("%(number)s belongs to another partner.")
                                 % {"number": target.number}})]
    if target.pk == source.pk:
        return [ValidationError({"into": _("A ticket cannot be merged into itself.")})]
    refusals = []
    if source.merged_into_id is not None:
        refusals.append(_state("status", _("This ticket is already merged.")))
    elif source.status == Status.CLOSED:
        refusals.append(_state("status", _("A closed ticket cannot be merged.")))
    if target.merged_into_id is not None:
        refusals.append(_state("into", _(
            "%(number)s is itself merged into another ticket; merge into that one.")
            % {"number": target.number}))
    elif target.is_spam:
        refusals.append(_state("into", _("%(number)s is spam.") % {"number": target.number}))
    elif target.status == Status.CLOSED:
        refusals.append(_state("into", _("%(number)s is closed.") % {"number": target.number}))
    return refusals


def _raise(refusals: list[ValidationError]) -> None:
    if not refusals:
        return
    errors: dict[str, list[ValidationError]] = {}
    for refusal in refusals:
        for key, items in refusal.error_dict.items():
            errors.setdefault(key, []).extend(items)
    raise ValidationError(errors)


@transaction.atomic
def merge(*, source: Ticket, target: Ticket, actor: User) -> Ticket:
    """Merge the duplicate `source` into `target`; returns the target. See the module rules."""
    _ensure_desk_may_work(actor, source)
    if not tickets_for(actor).filter(pk=target.pk).exists():
        raise ValidationError({"into": _("There is no ticket %(number)s.")
                               % {"number": target.number}})
    _raise(merge_refusals(source, target))
    rows = _locked(source.pk, target.pk)
    source, target = rows[source.pk], rows[target.pk]
    _raise(merge_refusals(source, target))  # again, as they are now that they are locked

    moment = now()
    moved = Message.objects.filter(ticket=source).update(ticket=target)
    # Duplicates merged into the source before: they point at the target now (never a chain).
    repointed = list(Ticket.objects.filter(merged_into=source).values_list("pk", flat=True))
    Ticket.objects.filter(pk__in=repointed).update(merged_into=target)
    old = _close(source, moment, actor)
    source.merged_into = target
    source.merged_at = moment
    source.save(update_fields=["merged_into", "merged_at", *_CLOSE_FIELDS])
    escalation.reschedule(source)
    audit.record(actor=actor, partner=source.partner, action="ticket.merged", target=source,
                 before={"status": old},
                 after={"status": source.status, "merged_into": target.number,
                        "messages_moved": moved})
    audit.record(actor=actor, partner=target.partner, action="ticket.merge_received",
                 target=target,
                 after={"merged_from": source.number, "messages_moved": moved,
                        "also_repointed": [format_number(pk) for pk in repointed]})
    _note(source, actor, _("Merged into %(number)s.") % {"number": target.number})
    _note(target, actor, _("%(number)s was merged into this ticket.")
          % {"number": source.number})
    target.refresh_from_db()
    events.publish("ticket.merged", partner_id=target.partner_id, moment=moment,
                   ticket=target, duplicate=source, actor=actor)
    return target
