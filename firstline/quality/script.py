"""A partner's script as data, and the rules over it as plain functions.

`script_for(partner)` reads the configuration (a handful of small queries); everything
else here is pure: how classification values are written and matched, which routing rule
a ticket meets, what a hand-over still lacks, which priority the urgency answers give.
"""

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.utils.translation import gettext as _

from firstline.core.models import Partner
from firstline.quality.script_models import (
    MAX_VALUES,
    VALUE_MAX_LENGTH,
    ClassificationField,
    DiagnosticParameter,
    IdentificationRule,
    RoutingRule,
    ScriptSettings,
    StepKind,
    TicketStep,
    UrgencyQuestion,
)
from firstline.tickets.models import Channel, IdentifiedBy, Priority, Ticket

ARROW = " → "
_ARROWS = re.compile(r"\s*(?:→|->)\s*")

# The identification methods in the order the script asks them (and the strongest first
# when a ticket records one): the fields of ScriptSettings are named like IdentifiedBy.
METHODS = (IdentifiedBy.CONTRACT_NUMBER, IdentifiedBy.CODE_WORD, IdentifiedBy.CONFIRMED_EMAIL)
STRENGTH = (IdentifiedBy.CODE_WORD, IdentifiedBy.CONTRACT_NUMBER, IdentifiedBy.CONFIRMED_EMAIL)

PRIORITY_ORDER = (Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.LOW)


# --- Classification values -------------------------------------------------------------


def parse_values(text: str, kind: str) -> list[str]:
    """The values a supervisor typed, one a line.

    For a tree, a child is indented under its parent or written as a path «Parent → Child»
    ("->" works too); the values are the leaves, as paths: «Облако → ВМ». A list keeps its
    lines as they are (an arrow is just a character there).
    """
    lines = [line.rstrip() for line in (text or "").replace("\t", "    ").splitlines()]
    lines = [line for line in lines if line.strip()]
    if kind != ClassificationField.Kind.TREE:
        return [line.strip() for line in lines]
    stack: list[tuple[int, tuple[str, ...]]] = []
    paths: list[tuple[str, ...]] = []
    for line in lines:
        indent = len(line) - len(line.lstrip())
        parts = tuple(part for part in _ARROWS.split(line.strip()) if part)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = (stack[-1][1] if stack else ()) + parts
        stack.append((indent, path))
        if path not in paths:
            paths.append(path)
    leaves = [
        path for path in paths
        if not any(len(other) > len(path) and other[:len(path)] == path for other in paths)
    ]
    return [ARROW.join(path) for path in leaves]


def format_values(values: Sequence[str]) -> str:
    return "\n".join(values)


def nodes(values: Iterable[str]) -> list[str]:
    """Every node of a tree (the leaves and each of their parents), as paths."""
    found: list[str] = []
    for value in values:
        parts = value.split(ARROW)
        for end in range(1, len(parts) + 1):
            node = ARROW.join(parts[:end])
            if node not in found:
                found.append(node)
    return found


def value_problem(kind: str, values: Sequence[str]) -> str | None:
    """Why these values do not suit a field of this kind, or None."""
    if kind == ClassificationField.Kind.TEXT:
        if values:
            return _("A free-text field has no list of values.")
        return None
    if not values:
        return _("Enter the values, one a line.")
    if len(values) > MAX_VALUES:
        return _("A field has at most %(max)d values.") % {"max": MAX_VALUES}
    seen: set[str] = set()
    for value in values:
        if not value.strip():
            return _("A value must not be empty.")
        if len(value) > VALUE_MAX_LENGTH:
            return _("“%(value)s” is longer than %(max)d characters.") % {
                "value": value[:40], "max": VALUE_MAX_LENGTH}
        key = value.casefold()
        if key in seen:
            return _("“%(value)s” is listed twice.") % {"value": value}
        seen.add(key)
    return None


def values_for_service(field: ClassificationField, service_id: int | None,
                       keep: str = "") -> list[str]:
    """The field's values a ticket of this service may take: those whose value or tree node
    is listed for the service in `field.value_services`, and those listed for none. Without
    a service every value is offered; `keep` (the ticket's current value) always stays."""
    links = field.value_services or {}
    if service_id is None or not links:
        return list(field.values)
    offered = []
    for value in field.values:
        parts = value.split(ARROW)
        listed = [links[node] for node in (ARROW.join(parts[:end])
                                           for end in range(len(parts), 0, -1))
                  if node in links]
        # The nearest listed node decides: «Облако» for every service but «Облако → ВМ» only
        # for the VPS service is written that way.
        if not listed or service_id in listed[0] or value == keep:
            offered.append(value)
    return offered


def value_matches(value: str, wanted: str) -> bool:
    """A value meets a rule's value when it is that value or lies under it in the tree."""
    return bool(value) and (value == wanted or value.startswith(wanted + ARROW))


# --- The configuration ------------------------------------------------------------------


@dataclass
class Script:
    partner: Partner
    settings: ScriptSettings
    fields: list[ClassificationField]
    parameters: list[DiagnosticParameter]
    questions: list[UrgencyQuestion]
    rules: list[RoutingRule]

    @property
    def identification(self) -> dict[str, str]:
        return {method: getattr(self.settings, method) for method in METHODS}


def script_for(partner: Partner) -> Script:
    settings = ScriptSettings.objects.filter(partner=partner).first() or ScriptSettings(
        partner=partner
    )
    return Script(
        partner=partner,
        settings=settings,
        fields=list(ClassificationField.objects.filter(partner=partner)),
        parameters=list(DiagnosticParameter.objects.filter(partner=partner)),
        questions=list(UrgencyQuestion.objects.filter(partner=partner)),
        rules=list(
            RoutingRule.objects.filter(partner=partner).select_related(
                "service", "classification_field", "assignee"
            )
        ),
    )


# --- The ticket's state -----------------------------------------------------------------


def classification_values(ticket: Ticket) -> dict[int, str]:
    return {int(item["field"]): item["value"] for item in ticket.classification or []}


def diagnostic_results(ticket: Ticket) -> dict[int, str]:
    return {int(item["parameter"]): item["result"] for item in ticket.diagnostics or []}


def strongest(methods: Collection[str]) -> str:
    for method in STRENGTH:
        if method in methods:
            return method
    return IdentifiedBy.NONE


def method_label(method: str) -> str:
    return str(IdentifiedBy(method).label)


# --- What a hand-over needs ---------------------------------------------------------------


def identification_missing(rules: Mapping[str, str], done: Collection[str]) -> list[str]:
    """Labels of what identification still lacks: each required method, and "one of …"."""
    missing = [
        method_label(method) for method in METHODS
        if rules.get(method) == IdentificationRule.REQUIRED and method not in done
    ]
    one_of = [method for method in METHODS if rules.get(method) == IdentificationRule.ONE_OF]
    if one_of and not any(method in done for method in one_of):
        missing.append(_("one of: %(methods)s") % {
            "methods": ", ".join(method_label(method) for method in one_of)})
    return missing


def classification_missing(
    fields: Sequence[ClassificationField], values: Mapping[int, str]
) -> list[str]:
    return [field.name for field in fields if field.required and not values.get(field.pk)]


def diagnostics_missing(
    parameters: Sequence[DiagnosticParameter], results: Mapping[int, str]
) -> list[str]:
    return [p.name for p in parameters if p.required and not results.get(p.pk)]


def needs_identification(ticket: Ticket) -> bool:
    """A monitoring alert has no customer to identify: the partner's system raised it."""
    return ticket.channel != Channel.MONITORING


def identified_methods(ticket: Ticket, steps: Sequence[TicketStep] | None = None) -> set[str]:
    """Every method that identified the customer: at intake (e.g. a confirmed e-mail) and in
    the identification steps (read unless the ticket's `steps` are given)."""
    methods: set[str] = set()
    if ticket.identified_by and ticket.identified_by != IdentifiedBy.NONE:
        methods.add(ticket.identified_by)
    if steps is None:
        found = TicketStep.objects.filter(ticket=ticket, kind=StepKind.IDENTIFY)
        data_items = list(found.values_list("data", flat=True))
    else:
        data_items = [step.data for step in steps if step.kind == StepKind.IDENTIFY]
    for data in data_items:
        methods.update(data.get("methods", []))
        methods.update(data.get("kept", []))
    return methods


def hand_over_problems(
    script: Script, ticket: Ticket, identified: Collection[str]
) -> dict[str, str]:
    """What the script still lacks before the ticket may go to the partner, by step."""
    problems: dict[str, str] = {}
    missing = (
        identification_missing(script.identification, identified)
        if needs_identification(ticket) else []
    )
    if missing:
        problems["identification"] = _(
            "The customer is not identified yet: %(missing)s."
        ) % {"missing": "; ".join(missing)}
    missing = classification_missing(script.fields, classification_values(ticket))
    if missing:
        problems["classification"] = _(
            "The classification is not filled in: %(fields)s."
        ) % {"fields": ", ".join(missing)}
    missing = diagnostics_missing(script.parameters, diagnostic_results(ticket))
    if missing:
        problems["diagnostics"] = _(
            "The diagnostics are not filled in: %(parameters)s."
        ) % {"parameters": ", ".join(missing)}
    return problems


def hand_over_refusal(ticket: Ticket) -> str | None:
    """Why `ticket` may not go to the partner yet, as one sentence naming every missing step,
    or None. The one rule for every path that sets «waiting for partner» (the scripted
    hand-over, the ticket card, the API, bulk changes): tickets.services.change_ticket asks
    it whenever the status changes to that."""
    problems = hand_over_problems(script_for(ticket.partner), ticket, identified_methods(ticket))
    if not problems:
        return None
    return _("The ticket cannot be handed over to the partner before the script is done. "
             "%(problems)s") % {"problems": " ".join(problems.values())}


def is_complete(required_missing: Sequence[str], filled: Mapping[int, str]) -> bool:
    """A classification or diagnostics step is complete once every required item and at
    least one item are filled."""
    return not required_missing and any(filled.values())


# --- Routing and priority ----------------------------------------------------------------


def route(
    rules: Sequence[RoutingRule], service_id: int | None, values: Mapping[int, str]
) -> RoutingRule | None:
    """The first rule (by position) the ticket's service and classification meet."""
    for rule in sorted(rules, key=lambda rule: (rule.position, rule.pk or 0)):
        if rule.service_id is not None and rule.service_id != service_id:
            continue
        if rule.classification_field_id is not None and not value_matches(
            values.get(rule.classification_field_id, ""), rule.value
        ):
            continue
        return rule
    return None


def priority_from_answers(
    questions: Sequence[UrgencyQuestion], yes: Collection[int]
) -> str | None:
    """The highest priority among the questions answered «yes»; None when there is none."""
    found = {question.priority for question in questions if question.pk in yes}
    for priority in PRIORITY_ORDER:
        if priority in found:
            return priority
    return None
