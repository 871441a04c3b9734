"""Changes of the script: its settings per partner, and the steps done on a ticket.

Each function is one transaction: it validates everything first, raises ValidationError
keyed by field name (or PermissionDenied) before writing anything, then writes, records the
step and the audit row. The web pages and the API call the same functions.

Settings (supervisors and administrators): `save_setting`, `delete_setting`,
`save_identification`. Limits: 4 classification fields and 2 diagnostic parameters per
partner, checked under a lock on the partner so that two concurrent saves cannot pass them.

Steps (the first line): `identify`, `classify`, `diagnose`, `prioritise`,
`choose_typical_request`, `hand_over`; the partner returns a ticket with `hand_back`.
"""

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _

from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import Partner, User
from firstline.quality import script as rules
from firstline.quality.rules import ReplyContext, ReplyKind, RuleSet, check_reply, default_ruleset
from firstline.quality.script import identified_methods
from firstline.quality.script_models import (
    GROUP_MAX_LENGTH,
    MAX_CLASSIFICATION_FIELDS,
    MAX_DIAGNOSTIC_PARAMETERS,
    ROUTING_STEPS,
    CannedReply,
    ClassificationField,
    DiagnosticParameter,
    IdentificationRule,
    RoutingRule,
    ScriptSettings,
    StepKind,
    TicketStep,
    UrgencyQuestion,
)
from firstline.sla.models import TypicalRequest
from firstline.tenancy import tickets_for
from firstline.tickets import lifecycle
from firstline.tickets import services as ticket_services
from firstline.tickets.models import ACTIVE_STATUSES, IdentifiedBy, Message, Status, Ticket

Errors = dict[str, str]
TEXT_MAX = 500
RESULT_MAX = 20_000
# Not what was configured but bookkeeping: left out of audit snapshots.
_NOT_AUDITED = frozenset({"id", "partner", "updated_at"})


# =========================================================================================
# Settings
# =========================================================================================


def ensure_can_configure(actor: User) -> None:
    if actor.role not in (User.Role.SUPERVISOR, User.Role.ADMIN):
        raise PermissionDenied(_("Only supervisors and administrators change scripts."))


def _snapshot(instance: models.Model) -> dict[str, Any]:
    if instance.pk is None:
        return {}
    data: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.name in _NOT_AUDITED:
            continue
        if field.is_relation:
            related = getattr(instance, field.name)
            data[field.name] = None if related is None else str(related)
        else:
            data[field.name] = field.value_from_object(instance)
    return data


def _foreign(row: models.Model | None, partner: Partner) -> bool:
    return row is not None and getattr(row, "partner_id", None) != partner.pk


def _others(instance: models.Model, partner: Partner) -> models.QuerySet[Any]:
    return type(instance)._default_manager.filter(partner=partner).exclude(pk=instance.pk)


def _name_taken(rows: models.QuerySet[Any], name: str) -> bool:
    # Compared in Python: SQLite's case-insensitive LIKE folds ASCII letters only.
    wanted = name.strip().casefold()
    return bool(wanted) and any(
        other.casefold() == wanted for other in rows.values_list("name", flat=True)
    )


def _field_problems(field: ClassificationField, partner: Partner) -> Errors:
    errors: Errors = {}
    others = _others(field, partner)
    if field.pk is None and others.count() >= MAX_CLASSIFICATION_FIELDS:
        errors[NON_FIELD_ERRORS] = _(
            "A partner has at most %(max)d classification fields: delete one before adding "
            "another."
        ) % {"max": MAX_CLASSIFICATION_FIELDS}
    if _name_taken(others, field.name):
        errors["name"] = _("This partner already has a classification field with this name.")
    problem = rules.value_problem(field.kind, field.values)
    if problem:
        errors["values"] = problem
    if field.pk is not None and "values" not in errors:
        used = RoutingRule.objects.filter(classification_field_id=field.pk)
        if field.kind == ClassificationField.Kind.TEXT and used.exists():
            errors["kind"] = _("Routing rules use this field; a free-text field cannot route.")
        else:
            known = set(rules.nodes(field.values))
            lost = sorted({rule.value for rule in used if rule.value not in known})
            if lost:
                errors["values"] = _("Routing rules use values no longer listed: %(values)s.") % {
                    "values": ", ".join(lost)}
    return errors


def _parameter_problems(parameter: DiagnosticParameter, partner: Partner) -> Errors:
    errors: Errors = {}
    others = _others(parameter, partner)
    if parameter.pk is None and others.count() >= MAX_DIAGNOSTIC_PARAMETERS:
        errors[NON_FIELD_ERRORS] = _(
            "A partner has at most %(max)d diagnostic parameters: delete one before adding "
            "another."
        ) % {"max": MAX_DIAGNOSTIC_PARAMETERS}
    if _name_taken(others, parameter.name):
        errors["name"] = _("This partner already has a diagnostic parameter with this name.")
    return errors


def _question_problems(question: UrgencyQuestion, partner: Partner) -> Errors:
    return {}


def _routing_problems(rule: RoutingRule, partner: Partner) -> Errors:
    errors: Errors = {}
    if rule.service_id is not None and _foreign(rule.service, partner):
        errors["service"] = _("This service belongs to another partner.")
    field = rule.classification_field if rule.classification_field_id is not None else None
    rule.value = (rule.value or "").strip()
    if field is not None:
        if _foreign(field, partner):
            errors["classification_field"] = _("This field belongs to another partner.")
        elif field.kind == ClassificationField.Kind.TEXT:
            errors["classification_field"] = _("Route by a list or tree field, not free text.")
        elif not rule.value:
            errors["value"] = _("Choose the value of the field the rule routes.")
        elif rule.value not in rules.nodes(field.values):
            errors["value"] = _("“%(value)s” is not a value of “%(field)s”.") % {
                "value": rule.value, "field": field.name}
    elif rule.value:
        errors["classification_field"] = _("Choose the field this value belongs to.")
    assignee = rule.assignee if rule.assignee_id is not None else None
    if assignee is not None and (
        assignee.partner_id != partner.pk or not assignee.is_partner_user
        or assignee.role == User.Role.INTEGRATION or not assignee.is_active
    ):
        errors["assignee"] = _("Route to an active engineer or manager of this partner.")
    rule.group = (rule.group or "").strip()
    if assignee is None and not rule.group:
        errors["assignee"] = _("Name where the ticket goes: an engineer, a group or both.")
    return errors


def canned_reply_rules(partner: Partner, language: str) -> RuleSet:
    """The rules canned replies are checked by: the provider's forbidden phrases."""
    return default_ruleset(language)


def _reply_problems(reply: CannedReply, partner: Partner) -> Errors:
    errors: Errors = {}
    if _name_taken(_others(reply, partner).filter(language=reply.language), reply.name):
        errors["name"] = _("This partner already has a canned reply with this name.")
    if reply.language in dict(CannedReply._meta.get_field("language").choices or []):
        findings = check_reply(
            reply.text, ReplyContext(kind=ReplyKind.REGULAR, language=reply.language),
            canned_reply_rules(partner, reply.language),
        )
        blocking = [finding.message for finding in findings if finding.blocking]
        if blocking:
            errors["text"] = " ".join(blocking)
    return errors


_RULES: dict[type[models.Model], Callable[[Any, Partner], Errors]] = {
    ClassificationField: _field_problems,
    DiagnosticParameter: _parameter_problems,
    UrgencyQuestion: _question_problems,
    RoutingRule: _routing_problems,
    CannedReply: _reply_problems,
}


def _lock_partner(partner: Partner) -> None:
    # Serialises settings changes of one partner, so the limits hold under concurrency.
    Partner.objects.select_for_update().filter(pk=partner.pk).values_list("pk").first()


@transaction.atomic
def save_setting(*, actor: User, partner: Partner, instance: models.Model, action: str) -> None:
    """Validate, save and audit a script setting of `partner` (a new row or a change)."""
    ensure_can_configure(actor)
    if type(instance) not in _RULES:
        raise TypeError(f"{type(instance).__name__} is not a script setting")
    if getattr(instance, "partner_id", None) not in (None, partner.pk):
        raise PermissionDenied(_("This setting belongs to another partner."))
    _lock_partner(partner)
    before = {}
    if instance.pk is not None:
        before = _snapshot(type(instance)._default_manager.get(pk=instance.pk))
    instance.partner = partner  # type: ignore[attr-defined]
    errors = _RULES[type(instance)](instance, partner)
    if errors:
        raise ValidationError(errors)
    instance.full_clean()
    if hasattr(instance, "updated_at"):
        instance.updated_at = now()
    instance.save()
    audit.record(actor=actor, partner=partner, action=action, target=instance,
                 before=before, after=_snapshot(instance))


@transaction.atomic
def delete_setting(*, actor: User, partner: Partner, instance: models.Model, action: str) -> None:
    ensure_can_configure(actor)
    if type(instance) not in _RULES:
        raise TypeError(f"{type(instance).__name__} is not a script setting")
    if getattr(instance, "partner_id", None) != partner.pk:
        raise PermissionDenied(_("This setting belongs to another partner."))
    if isinstance(instance, ClassificationField) and instance.routing_rules.exists():
        raise ValidationError(
            _("Routing rules use this field: change or delete them first.")
        )
    audit.record(actor=actor, partner=partner, action=action, target=instance,
                 before=_snapshot(instance), after={})
    instance.delete()


@transaction.atomic
def save_identification(
    *, actor: User, partner: Partner, rules_by_method: Mapping[str, str]
) -> ScriptSettings:
    """Which identification methods the partner's script requires (F5)."""
    ensure_can_configure(actor)
    errors: Errors = {}
    for method in rules.METHODS:
        if rules_by_method.get(method, IdentificationRule.NOT_ASKED) not in IdentificationRule:
            errors[method] = _("Unknown choice “%(value)s”.") % {
                "value": rules_by_method.get(method)}
    unknown = set(rules_by_method) - set(rules.METHODS)
    if unknown:
        errors[NON_FIELD_ERRORS] = _("Unknown identification method.")
    if errors:
        raise ValidationError(errors)
    _lock_partner(partner)
    settings = ScriptSettings.objects.filter(partner=partner).first() or ScriptSettings(
        partner=partner
    )
    before = _snapshot(settings)
    for method in rules.METHODS:
        setattr(settings, method, rules_by_method.get(method, IdentificationRule.NOT_ASKED))
    settings.updated_at = now()
    settings.save()
    audit.record(actor=actor, partner=partner, action="script.identification_saved",
                 target=settings, before=before, after=_snapshot(settings))
    return settings


# =========================================================================================
# Steps on a ticket
# =========================================================================================


def _ensure_first_line(actor: User, ticket: Ticket) -> None:
    if not actor.is_provider_staff:
        raise PermissionDenied(_("Only the first line works through the script."))
    if not tickets_for(actor).filter(pk=ticket.pk).exists():
        raise PermissionDenied(_("This ticket is not available to you."))


def _lock(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


def _ensure_active(ticket: Ticket) -> None:
    if ticket.status not in ACTIVE_STATUSES:
        raise ValidationError(
            {NON_FIELD_ERRORS: _("The ticket is %(status)s: reopen it to work on it.") % {
                "status": Status(ticket.status).label.lower()}}
        )


def _record(ticket: Ticket, actor: User | None, kind: str, data: dict[str, Any],
            moment: Any) -> TicketStep:
    return TicketStep.objects.create(
        partner_id=ticket.partner_id, ticket=ticket, kind=kind, actor=actor, done_at=moment,
        data=data,
    )


def _normalise(text: str) -> str:
    return "".join((text or "").split()).casefold()


@transaction.atomic
def identify(
    *,
    ticket: Ticket,
    actor: User,
    contract_number: str = "",
    code_word: str = "",
    confirmed_email: bool = False,
) -> TicketStep:
    """Check what the customer told the operator; record which methods passed.

    The code word is compared with the organisation's hash and never stored or shown.
    Any method that does not pass refuses the whole step.
    """
    _ensure_first_line(actor, ticket)
    ticket = _lock(ticket)
    _ensure_active(ticket)
    contact = ticket.contact
    organisation = contact.organisation if contact is not None else None
    errors: Errors = {}
    methods: list[str] = []
    if contract_number.strip():
        if organisation is None or not organisation.contract_number:
            errors["contract_number"] = _("The customer's organisation has no contract number.")
        elif _normalise(contract_number) != _normalise(organisation.contract_number):
            errors["contract_number"] = _("The contract number does not match.")
        else:
            methods.append(IdentifiedBy.CONTRACT_NUMBER)
    if code_word.strip():
        if organisation is None or not organisation.code_word_hash:
            errors["code_word"] = _("The customer's organisation has no code word.")
        elif not organisation.check_code_word(code_word):
            errors["code_word"] = _("The code word does not match.")
        else:
            methods.append(IdentifiedBy.CODE_WORD)
    if confirmed_email:
        if contact is None or not contact.emails.filter(is_confirmed=True).exists():
            errors["confirmed_email"] = _("The contact has no confirmed e-mail address.")
        else:
            methods.append(IdentifiedBy.CONFIRMED_EMAIL)
    if not errors and not methods:
        errors[NON_FIELD_ERRORS] = _(
            "Enter the contract number or the code word the customer gave, or confirm the "
            "e-mail."
        )
    if errors:
        raise ValidationError(errors)

    moment = now()
    before = ticket.identified_by
    ticket.identified_by = rules.strongest({*methods, before})
    ticket.updated_at = moment
    ticket.save(update_fields=["identified_by", "updated_at"])
    data: dict[str, Any] = {"methods": methods}
    if before and before != IdentifiedBy.NONE and before not in methods:
        # The ticket keeps only the strongest method; the one from intake (a confirmed
        # e-mail) still counts for the script: see rules.identified_methods.
        data["kept"] = [before]
    step = _record(ticket, actor, StepKind.IDENTIFY, data, moment)
    audit.record(actor=actor, partner=ticket.partner, action="script.identified", target=ticket,
                 before={"identified_by": before}, after={"identified_by": ticket.identified_by,
                                                         "methods": ", ".join(methods)})
    return step


def _snapshot_items(key: str, items: list[Any], values: Mapping[int, str],
                    value_key: str) -> list[dict[str, Any]]:
    return [
        {key: item.pk, "name": item.name, value_key: values[item.pk]}
        for item in items if values.get(item.pk)
    ]


@transaction.atomic
def classify(*, ticket: Ticket, actor: User, values: Mapping[int, str]) -> TicketStep:
    """Fill in the partner's classification fields (`values` by field id; "" clears one)."""
    _ensure_first_line(actor, ticket)
    ticket = _lock(ticket)
    _ensure_active(ticket)
    script = rules.script_for(ticket.partner)
    known = {field.pk: field for field in script.fields}
    errors: Errors = {}
    cleaned: dict[int, str] = {}
    for field_id, raw in values.items():
        field = known.get(field_id)
        if field is None:
            errors[NON_FIELD_ERRORS] = _("Unknown classification field.")
            continue
        value = (raw or "").strip()
        if field.kind == ClassificationField.Kind.TEXT:
            if len(value) > TEXT_MAX:
                errors[f"field_{field_id}"] = _("At most %(max)d characters.") % {"max": TEXT_MAX}
        elif value and value not in field.values:
            errors[f"field_{field_id}"] = _("“%(value)s” is not a value of “%(field)s”.") % {
                "value": value, "field": field.name}
        cleaned[field_id] = value
    if errors:
        raise ValidationError(errors)

    current = rules.classification_values(ticket)
    merged = {**current, **cleaned}
    moment = now()
    before = ticket.classification
    ticket.classification = _snapshot_items("field", script.fields, merged, "value")
    fields = ["classification", "updated_at"]
    missing = rules.classification_missing(script.fields, merged)
    if ticket.classified_at is None and rules.is_complete(missing, merged):
        ticket.classified_at = moment
        fields.append("classified_at")
    ticket.updated_at = moment
    ticket.save(update_fields=fields)
    step = _record(ticket, actor, StepKind.CLASSIFY,
                   {"values": ticket.classification, "missing": missing}, moment)
    audit.record(actor=actor, partner=ticket.partner, action="script.classified", target=ticket,
                 before={"classification": _display(before, "value")},
                 after={"classification": _display(ticket.classification, "value")})
    return step


def _names(items: list[dict[str, Any]]) -> str:
    # Which results were recorded; the results themselves (logs, ids) stay on the ticket.
    return "; ".join(item["name"] for item in items or [])


def _display(items: list[dict[str, Any]], value_key: str) -> str:
    return "; ".join(f"{item['name']}: {item[value_key]}" for item in items or [])


@transaction.atomic
def diagnose(*, ticket: Ticket, actor: User, results: Mapping[int, str]) -> TicketStep:
    """Record the results of the partner's diagnostic parameters (by parameter id)."""
    _ensure_first_line(actor, ticket)
    ticket = _lock(ticket)
    _ensure_active(ticket)
    script = rules.script_for(ticket.partner)
    known = {parameter.pk: parameter for parameter in script.parameters}
    errors: Errors = {}
    cleaned: dict[int, str] = {}
    for parameter_id, raw in results.items():
        if parameter_id not in known:
            errors[NON_FIELD_ERRORS] = _("Unknown diagnostic parameter.")
            continue
        value = (raw or "").replace("\r\n", "\n").strip()  # a form post sends CRLF
        if len(value) > RESULT_MAX:
            errors[f"param_{parameter_id}"] = _("At most %(max)d characters.") % {
                "max": RESULT_MAX}
        cleaned[parameter_id] = value
    if errors:
        raise ValidationError(errors)

    merged = {**rules.diagnostic_results(ticket), **cleaned}
    moment = now()
    before = ticket.diagnostics
    ticket.diagnostics = _snapshot_items("parameter", script.parameters, merged, "result")
    fields = ["diagnostics", "updated_at"]
    missing = rules.diagnostics_missing(script.parameters, merged)
    if ticket.diagnosed_at is None and rules.is_complete(missing, merged):
        ticket.diagnosed_at = moment
        fields.append("diagnosed_at")
    ticket.updated_at = moment
    ticket.save(update_fields=fields)
    step = _record(ticket, actor, StepKind.DIAGNOSE,
                   {"results": ticket.diagnostics, "missing": missing}, moment)
    audit.record(actor=actor, partner=ticket.partner, action="script.diagnosed", target=ticket,
                 before={"diagnostics": _names(before)},
                 after={"diagnostics": _names(ticket.diagnostics)})
    return step


@transaction.atomic
def prioritise(*, ticket: Ticket, actor: User, answers: Mapping[int, bool]) -> TicketStep:
    """Answer the urgency questions; a «yes» gives the ticket the question's priority (the
    highest of them). Without a «yes» the priority stays."""
    _ensure_first_line(actor, ticket)
    ticket = _lock(ticket)
    _ensure_active(ticket)
    questions = rules.script_for(ticket.partner).questions
    known = {question.pk: question for question in questions}
    if set(answers) - set(known):
        raise ValidationError({NON_FIELD_ERRORS: _("Unknown urgency question.")})
    yes = {pk for pk, answer in answers.items() if answer}
    priority = rules.priority_from_answers(questions, yes)
    before = ticket.priority
    if priority is not None and priority != ticket.priority:
        ticket = ticket_services.change_ticket(
            ticket=ticket, actor=actor, change=ticket_services.TicketChange(priority=priority)
        )
    data = {
        "answers": [{"question": known[pk].text, "yes": bool(answers[pk])}
                    for pk in known if pk in answers],
        "priority": priority,
        "before": before,
    }
    step = _record(ticket, actor, StepKind.PRIORITISE, data, now())
    said_yes = "; ".join(known[pk].text for pk in known if pk in yes)
    audit.record(actor=actor, partner=ticket.partner, action="script.prioritised", target=ticket,
                 before={"priority": before},
                 after={"priority": ticket.priority, "yes": said_yes or None})
    return step


@transaction.atomic
def choose_typical_request(
    *, ticket: Ticket, actor: User, typical_request: TypicalRequest | None
) -> TicketStep:
    """Resolve by instruction: name the typical request; its norm sets the resolution
    deadline (tickets.services.set_typical_request recomputes the deadlines)."""
    _ensure_first_line(actor, ticket)
    ticket = _lock(ticket)
    _ensure_active(ticket)
    ticket = ticket_services.set_typical_request(
        ticket=ticket, actor=actor, typical_request=typical_request
    )
    data = {"typical_request": typical_request.pk if typical_request else None,
            "name": typical_request.name if typical_request else None}
    return _record(ticket, actor, StepKind.TYPICAL, data, now())


def _routing_target(user: User | None, group: str) -> dict[str, Any]:
    return {"assignee": user.pk if user else None, "group": group}


def _is_partner_person(user: User, ticket: Ticket) -> bool:
    return (
        user.is_active and user.partner_id == ticket.partner_id
        and user.role in (User.Role.ENGINEER, User.Role.MANAGER)
    )


@transaction.atomic
def hand_over(
    ticket: Ticket, actor: User, to_user: User | None = None, group: str = ""
) -> Ticket:
    """Hand a ticket over to the partner (F12): status «waiting for partner».

    Refused, naming what is missing, until the identification, classification and
    diagnostics the script requires are done. Without an explicit engineer or group the
    partner's routing rules decide. A second hand-over to someone else, like a return from
    the partner, counts as a routing correction.
    """
    _ensure_first_line(actor, ticket)
    ticket = _lock(ticket)
    script = rules.script_for(ticket.partner)
    group = (group or "").strip()
    errors: Errors = {}
    try:
        lifecycle.check_transition(ticket.status, Status.WAITING_PARTNER)
    except ValidationError as error:
        errors.update({key: " ".join(texts) for key, texts in error.message_dict.items()})
    errors.update(rules.hand_over_problems(script, ticket, identified_methods(ticket)))
    if to_user is not None and not _is_partner_person(to_user, ticket):
        errors["assignee"] = _("Hand over to an active engineer or manager of this partner.")
    if len(group) > GROUP_MAX_LENGTH:
        errors["group"] = _("At most %(max)d characters.") % {"max": GROUP_MAX_LENGTH}
    if errors:
        raise ValidationError(errors)

    rule = None
    if to_user is None and not group:
        rule = rules.route(script.rules, ticket.service_id, rules.classification_values(ticket))
        if rule is not None:
            to_user = rule.assignee if rule.assignee and rule.assignee.is_active else None
            group = rule.group
    target = _routing_target(to_user, group)
    last = (
        TicketStep.objects.filter(ticket=ticket, kind__in=ROUTING_STEPS)
        .order_by("-done_at", "-id").first()
    )
    correction = (
        last is not None and last.kind == StepKind.HAND_OVER
        and (last.data.get("assignee"), last.data.get("group", "")) != (
            target["assignee"], target["group"])
    )
    old_group = ticket.partner_group
    ticket = ticket_services.change_ticket(
        ticket=ticket, actor=actor,
        change=ticket_services.TicketChange(status=Status.WAITING_PARTNER, assignee=to_user),
    )
    moment = now()
    ticket.handed_over_at = ticket.handed_over_at or moment
    ticket.partner_group = group
    if correction:
        ticket.routing_corrections += 1
    ticket.save(update_fields=["handed_over_at", "partner_group", "routing_corrections"])
    _record(ticket, actor, StepKind.HAND_OVER, {
        **target, "assignee_name": to_user.display_name if to_user else None,
        "rule": rule.pk if rule else None, "correction": correction,
    }, moment)
    audit.record(
        actor=actor, partner=ticket.partner, action="script.handed_over", target=ticket,
        before={"group": old_group} if old_group else {},
        after={"assignee": to_user.display_name if to_user else None, "group": group,
               "routing_rule": f"#{rule.position}" if rule else None,
               **({"correction": True} if correction else {})},
    )
    return ticket


@transaction.atomic
def hand_back(ticket: Ticket, actor: User, reason: str) -> Ticket:
    """The partner returns a ticket to the first line («not ours»): a routing correction."""
    if not (actor.is_partner_user or actor.is_provider_staff):
        raise PermissionDenied(_("Only support staff and partner accounts can do this."))
    if not tickets_for(actor).filter(pk=ticket.pk).exists():
        raise PermissionDenied(_("This ticket is not available to you."))
    ticket = _lock(ticket)
    reason = (reason or "").strip()
    errors: Errors = {}
    if ticket.status != Status.WAITING_PARTNER:
        errors["status"] = _(
            "Only a ticket handed over to the partner can be returned to the first line."
        )
    if not reason:
        errors["reason"] = _("Say why the ticket goes back to the first line.")
    if errors:
        raise ValidationError(errors)

    ticket = ticket_services.change_ticket(
        ticket=ticket, actor=actor,
        change=ticket_services.TicketChange(status=Status.OPEN, assignee=None),
    )
    moment = now()
    old_group = ticket.partner_group
    ticket.partner_group = ""
    ticket.routing_corrections += 1
    ticket.save(update_fields=["partner_group", "routing_corrections"])
    ticket_services.add_message(
        ticket=ticket, actor=actor, kind=Message.Kind.NOTE,
        text=_("Returned to the first line: %(reason)s") % {"reason": reason},
    )
    _record(ticket, actor, StepKind.HAND_BACK, {"reason": reason}, moment)
    audit.record(actor=actor, partner=ticket.partner, action="script.handed_back", target=ticket,
                 before={"group": old_group} if old_group else {}, after={"reason": reason})
    return ticket


def steps_of(ticket: Ticket) -> list[TicketStep]:
    return list(TicketStep.objects.filter(ticket=ticket).select_related("actor"))
