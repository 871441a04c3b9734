"""The operator's short path: reply templates with placeholders, macros, and a reply sent
together with what follows it (resolve, hand over) in one transaction.

- `fill(template, ticket)` puts the customer's name, their own words, the resolution deadline
  in the partner's time zone and the ticket number into a template;
- `reply_templates(ticket)` lists what the ticket page offers to insert: the partner's
  canned replies and the macros' reply texts, filled in;
- `apply(ticket, actor, choice)` applies a typical request (and its macro) or a macro:
  the typical request's norm, the macro's classification values, one step each;
- `send_reply(...)` adds the message and then resolves or hands the ticket over, all or
  nothing: a refused hand-over keeps the reply unsent.

The reply rules still check every reply (tickets.services.add_message); a template only
saves typing.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from firstline.core.models import User
from firstline.quality import checking
from firstline.quality import script as rules
from firstline.quality.rules import ReplyContext, ReplyKind, check_reply
from firstline.quality.script_models import CannedReply, ClassificationField, Macro
from firstline.sla.models import TypicalRequest
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Message, Status, Ticket

PLACEHOLDER = re.compile(r"\{\s*([\w ]+?)\s*\}")
# Each placeholder in English and in Russian, as a supervisor writes it.
NAMES = {
    "name": "name", "имя": "name",
    "words": "words", "слова": "words", "слова клиента": "words",
    "deadline": "deadline", "срок": "deadline",
    "number": "number", "номер": "number",
}


class Then:
    """What sending a reply does next."""

    NOTHING = ""
    RESOLVE = "resolve"
    HAND_OVER = "hand_over"
    ALL = (NOTHING, RESOLVE, HAND_OVER)


def placeholder_values(ticket: Ticket, language: str = "ru") -> dict[str, str]:
    context = checking.context_for(ticket, ReplyKind.REGULAR, language)
    return {
        "name": context.customer_name,
        "words": context.customer_words,
        "deadline": context.resolution_text,
        "number": ticket.number,
    }


def fill(template: str, ticket: Ticket, values: dict[str, str] | None = None) -> str:
    """The template with its placeholders filled; an unknown one stays as written, so the
    operator sees it in the editor instead of a silent gap."""
    values = values if values is not None else placeholder_values(
        ticket, checking.reply_language(template, ticket))

    def one(match: re.Match[str]) -> str:
        key = NAMES.get(match.group(1).casefold())
        return values.get(key, match.group(0)) if key else match.group(0)

    return PLACEHOLDER.sub(one, template or "")


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    text: str
    group: str


def reply_templates(ticket: Ticket) -> list[Template]:
    """The partner's canned replies and macro replies, filled in for `ticket`."""
    found: list[Template] = []
    for reply in CannedReply.objects.filter(partner_id=ticket.partner_id):
        found.append(Template(f"canned-{reply.pk}", reply.name, fill(reply.text, ticket),
                              _("Canned replies")))
    for macro in Macro.objects.filter(partner_id=ticket.partner_id).exclude(reply_text=""):
        found.append(Template(f"macro-{macro.pk}", macro.name, fill(macro.reply_text, ticket),
                              _("Typical requests and macros")))
    return found


def macro_problems(macro: Macro) -> dict[str, str]:
    """What is wrong with a macro as configured, by field (empty when it may be saved)."""
    from firstline.quality.services import canned_reply_rules

    errors: dict[str, str] = {}
    partner = macro.partner
    if macro.typical_request_id is not None and macro.typical_request.partner_id != partner.pk:
        errors["typical_request"] = _("This typical request belongs to another partner.")
    fields = {str(field.pk): field for field in ClassificationField.objects.filter(
        partner=partner)}
    if not isinstance(macro.classification, dict):
        errors["classification"] = _("Write the values as {\"field id\": \"value\"}.")
    else:
        for key, value in macro.classification.items():
            field = fields.get(str(key))
            if field is None:
                errors["classification"] = _("Field %(key)s is not a classification field of "
                                             "this partner.") % {"key": key}
            elif field.kind != ClassificationField.Kind.TEXT and value not in field.values:
                errors["classification"] = _("“%(value)s” is not a value of “%(field)s”.") % {
                    "value": value, "field": field.name}
    if macro.reply_text.strip():
        findings = check_reply(macro.reply_text, ReplyContext(kind=ReplyKind.REGULAR,
                                                              language="ru"),
                               canned_reply_rules(partner, "ru"))
        blocking = [finding.message for finding in findings if finding.blocking]
        if blocking:
            errors["reply_text"] = " ".join(blocking)
    return errors


# --- Choosing a typical request or a macro --------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """An entry of the «typical request or macro» list on the ticket page."""

    value: str  # "t<pk>" or "m<pk>"
    label: str
    typical_request: TypicalRequest | None
    macro: Macro | None
    reply: str = ""  # the macro's reply, filled in for the ticket

    @property
    def then(self) -> str:
        return self.macro.then if self.macro is not None else Then.RESOLVE


def choices(ticket: Ticket) -> list[Choice]:
    typical = TypicalRequest.objects.filter(
        Q(partner_id=ticket.partner_id, is_active=True) | Q(pk=ticket.typical_request_id)
    ).select_related("macro")
    values = placeholder_values(ticket)

    def reply(macro: Macro | None) -> str:
        return fill(macro.reply_text, ticket, values) if macro is not None else ""

    found = []
    for item in typical:
        macro = getattr(item, "macro", None)
        found.append(Choice(f"t{item.pk}", item.name, item, macro, reply(macro)))
    for macro in Macro.objects.filter(partner_id=ticket.partner_id, typical_request=None):
        found.append(Choice(f"m{macro.pk}", macro.name, None, macro, reply(macro)))
    return found


def choice_for(ticket: Ticket, value: str) -> Choice | None:
    """The entry `value` names, among this ticket's partner's; None for "" (no choice)."""
    if not value:
        return None
    for item in choices(ticket):
        if item.value == value:
            return item
    raise ValidationError({"typical_request": _("Choose a typical request or macro of this "
                                                "partner.")})


def macro_classification(macro: Macro, ticket: Ticket) -> dict[int, str]:
    """The macro's values for the fields the partner has now (a deleted field is skipped)."""
    known = {field.pk for field in ClassificationField.objects.filter(partner_id=ticket.partner_id)}
    values: dict[int, str] = {}
    for key, value in (macro.classification or {}).items():
        try:
            field_id = int(key)
        except (TypeError, ValueError):
            continue
        if field_id in known and value:
            values[field_id] = str(value)
    return values


@transaction.atomic
def apply(*, ticket: Ticket, actor: User, choice: Choice | None) -> Ticket:
    """Name the typical request (its norm sets the deadline) and fill in the macro's
    classification values; each is recorded as its own checklist step."""
    # Imported here: quality.services imports this module's neighbours.
    from firstline.quality import services

    if choice is None or choice.typical_request is not None:
        services.choose_typical_request(
            ticket=ticket, actor=actor,
            typical_request=choice.typical_request if choice else None,
        )
    if choice is not None and choice.macro is not None:
        values = macro_classification(choice.macro, ticket)
        current = rules.classification_values(Ticket.objects.get(pk=ticket.pk))
        if any(current.get(field_id) != value for field_id, value in values.items()):
            services.classify(ticket=ticket, actor=actor, values=values)
    return Ticket.objects.get(pk=ticket.pk)


# --- Sending ---------------------------------------------------------------------------------


@transaction.atomic
def send_reply(
    *,
    ticket: Ticket,
    actor: User,
    kind: str,
    text: str,
    reply_kind: str = ReplyKind.REGULAR,
    attachments: Sequence[UploadedFile] = (),
    then: str = Then.NOTHING,
    hand_over: dict[str, Any] | None = None,
) -> Message:
    """Add the message, then resolve the ticket or hand it over to the partner.

    All or nothing: if the resolution or the hand-over is refused, the reply is not sent
    either (the outbox row is in the same transaction) and the error names the field.
    """
    from firstline.quality import services

    if then not in Then.ALL:
        raise ValidationError({"then": _("Unknown action “%(value)s”.") % {"value": then}})
    if then == Then.HAND_OVER:
        # Read again: the checklist values sent along were saved after the caller read it.
        refusal = rules.hand_over_refusal(Ticket.objects.get(pk=ticket.pk))
        if refusal:
            raise ValidationError({"status": refusal})
    message = ticket_services.add_message(
        ticket=ticket, actor=actor, kind=kind, text=text, attachments=attachments,
        reply_kind=reply_kind,
    )
    if then == Then.RESOLVE:
        ticket_services.change_ticket(
            ticket=ticket, actor=actor, change=ticket_services.TicketChange(
                status=Status.RESOLVED))
    elif then == Then.HAND_OVER:
        services.hand_over(ticket, actor, **(hand_over or {}))
    return message
