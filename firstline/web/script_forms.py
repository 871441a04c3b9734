"""Forms of processing by script: the settings pages and the checklist on the ticket page.

The forms only parse input; what may be saved is decided by firstline.quality.services.
`checklist_context` builds what the checklist card (web/script/checklist.html) shows.
"""

from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from firstline.core.models import Partner, User
from firstline.quality import macros, metrics
from firstline.quality import script as rules
from firstline.quality.script_models import (
    GROUP_MAX_LENGTH,
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
from firstline.quality.services import RESULT_MAX, TEXT_MAX
from firstline.sla.models import TypicalRequest
from firstline.tickets.models import ACTIVE_STATUSES, IdentifiedBy, Status, Ticket

# --- Settings ------------------------------------------------------------------------------


class ClassificationFieldForm(forms.ModelForm):
    values = forms.CharField(
        label=_("Values"), required=False, widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("One a line. For a tree, indent a child under its parent or write "
                    "«Parent → Child». Empty for free text."),
    )

    class Meta:
        model = ClassificationField
        fields = ["position", "name", "kind", "values", "required"]

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["values"] = rules.format_values(self.instance.values)

    def clean_values(self) -> list[str]:
        kind = self.data.get(self.add_prefix("kind"), ClassificationField.Kind.LIST)
        return rules.parse_values(self.cleaned_data.get("values") or "", kind)


class DiagnosticParameterForm(forms.ModelForm):
    class Meta:
        model = DiagnosticParameter
        fields = ["position", "name", "request_text", "required"]
        widgets = {"request_text": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


class UrgencyQuestionForm(forms.ModelForm):
    class Meta:
        model = UrgencyQuestion
        fields = ["position", "text", "priority"]

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


class RoutingRuleForm(forms.ModelForm):
    condition = forms.ChoiceField(
        label=_("Classification value"), required=False,
        help_text=_("A tree node also matches every value under it."),
    )

    class Meta:
        model = RoutingRule
        fields = ["position", "service", "condition", "assignee", "group"]

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = partner.services.all()
        self.fields["service"].empty_label = _("Any service")
        self.fields["assignee"].queryset = User.objects.filter(
            partner=partner, is_active=True, role__in=[User.Role.ENGINEER, User.Role.MANAGER]
        ).order_by("last_name", "username")
        choices: list[Any] = [("", _("Any classification"))]
        for item in ClassificationField.objects.filter(partner=partner).exclude(
            kind=ClassificationField.Kind.TEXT
        ):
            choices.append((item.name, [(f"{item.pk}:{node}", node)
                                        for node in rules.nodes(item.values)]))
        self.fields["condition"].choices = choices
        if self.instance.pk and self.instance.classification_field_id and not self.is_bound:
            self.initial["condition"] = (
                f"{self.instance.classification_field_id}:{self.instance.value}"
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        condition = data.get("condition") or ""
        field_id, _sep, value = condition.partition(":")
        self.instance.classification_field_id = int(field_id) if field_id else None
        self.instance.value = value
        return data


class CannedReplyForm(forms.ModelForm):
    class Meta:
        model = CannedReply
        fields = ["name", "language", "text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 5})}

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


class IdentificationForm(forms.Form):
    contract_number = forms.ChoiceField(
        label=IdentifiedBy.CONTRACT_NUMBER.label, choices=IdentificationRule.choices
    )
    code_word = forms.ChoiceField(
        label=IdentifiedBy.CODE_WORD.label, choices=IdentificationRule.choices
    )
    confirmed_email = forms.ChoiceField(
        label=_("Request from a confirmed e-mail"), choices=IdentificationRule.choices
    )

    def __init__(self, *args: Any, settings: ScriptSettings, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {method: getattr(settings, method)
                                      for method in rules.METHODS})
        super().__init__(*args, **kwargs)


# --- The checklist on the ticket page --------------------------------------------------------


class IdentifyForm(forms.Form):
    contract_number = forms.CharField(label=_("Contract number"), required=False, max_length=60)
    code_word = forms.CharField(
        label=_("Code word"), required=False, max_length=200,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text=_("Checked against the stored code word; never shown or kept."),
    )
    confirmed_email = forms.BooleanField(
        label=_("The request came from the contact's confirmed e-mail"), required=False
    )


class ClassifyForm(forms.Form):
    def __init__(self, *args: Any, script: rules.Script, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = rules.classification_values(ticket)
        self.items = script.fields
        for item in script.fields:
            name = f"field_{item.pk}"
            if item.kind == ClassificationField.Kind.TEXT:
                self.fields[name] = forms.CharField(
                    label=item.name, required=False, max_length=TEXT_MAX
                )
            else:
                offered = rules.values_for_service(item, ticket.service_id,
                                                   current.get(item.pk, ""))
                self.fields[name] = forms.ChoiceField(
                    label=item.name, required=False,
                    choices=[("", "—"), *[(value, value) for value in offered]],
                )
            self.fields[name].is_required_for_hand_over = item.required
            self.initial[name] = current.get(item.pk, "")

    def values(self) -> dict[int, str]:
        return {item.pk: self.cleaned_data.get(f"field_{item.pk}") or "" for item in self.items}


class DiagnoseForm(forms.Form):
    def __init__(self, *args: Any, script: rules.Script, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = rules.diagnostic_results(ticket)
        self.items = script.parameters
        for item in script.parameters:
            name = f"param_{item.pk}"
            self.fields[name] = forms.CharField(
                label=item.name, required=False, max_length=RESULT_MAX,
                widget=forms.Textarea(attrs={"rows": 3}), help_text=item.request_text,
            )
            self.fields[name].is_required_for_hand_over = item.required
            self.initial[name] = current.get(item.pk, "")

    def results(self) -> dict[int, str]:
        return {item.pk: self.cleaned_data.get(f"param_{item.pk}") or "" for item in self.items}


class PrioritiseForm(forms.Form):
    def __init__(self, *args: Any, script: rules.Script, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.items = script.questions
        for item in script.questions:
            self.fields[f"question_{item.pk}"] = forms.BooleanField(
                label=item.text, required=False,
                help_text=_("Yes: %(priority)s") % {"priority": item.get_priority_display()},
            )

    def answers(self) -> dict[int, bool]:
        return {item.pk: bool(self.cleaned_data.get(f"question_{item.pk}"))
                for item in self.items}


class TypicalRequestChoiceForm(forms.Form):
    """A typical request (with its macro) or a macro of its own: "t<pk>", "m<pk>" or "" for
    none. A bare number names a typical request, as the form posted before macros existed."""

    typical_request = forms.CharField(label=_("Typical request"), required=False)

    def __init__(self, *args: Any, script: rules.Script, ticket: Ticket, **kwargs: Any) -> None:
        current = f"t{ticket.typical_request_id}" if ticket.typical_request_id else ""
        kwargs.setdefault("initial", {"typical_request": current})
        super().__init__(*args, **kwargs)
        self.ticket = ticket
        self.choices = macros.choices(ticket)

    def clean_typical_request(self) -> macros.Choice | None:
        value = (self.cleaned_data.get("typical_request") or "").strip()
        if value.isdigit():
            value = f"t{value}"
        try:
            return macros.choice_for(self.ticket, value)
        except ValidationError as error:
            raise ValidationError(error.message_dict["typical_request"]) from error


class HandOverForm(forms.Form):
    assignee = forms.ModelChoiceField(
        label=_("Partner engineer"), queryset=User.objects.none(), required=False,
        empty_label=_("By the routing rules"),
    )
    group = forms.CharField(label=_("Group"), required=False, max_length=GROUP_MAX_LENGTH)

    def __init__(self, *args: Any, script: rules.Script, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = User.objects.filter(
            partner_id=ticket.partner_id, is_active=True,
            role__in=[User.Role.ENGINEER, User.Role.MANAGER],
        ).order_by("last_name", "username")


class HandBackForm(forms.Form):
    reason = forms.CharField(
        label=_("Why it goes back"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )


STEP_FORMS: dict[str, tuple[type[forms.Form], str]] = {
    "identify": (IdentifyForm, "script_identify"),
    "classify": (ClassifyForm, "script_classify"),
    "diagnose": (DiagnoseForm, "script_diagnose"),
    "prioritise": (PrioritiseForm, "script_prioritise"),
    "typical": (TypicalRequestChoiceForm, "script_typical"),
    "handover": (HandOverForm, "script_handover"),
    "handback": (HandBackForm, "script_handback"),
}


def step_form(step: str, script: rules.Script, ticket: Ticket, data: Any = None) -> forms.Form:
    form_class, key = STEP_FORMS[step]
    kwargs: dict[str, Any] = {"prefix": step}
    if form_class not in (IdentifyForm, HandBackForm):
        kwargs.update(script=script, ticket=ticket)
    return form_class(data, **kwargs)


@dataclass
class Checklist:
    """What the checklist card shows; built for the signed-in user."""

    ticket: Ticket
    script: rules.Script
    editable: bool
    forms: dict[str, forms.Form]
    last: dict[str, TicketStep]
    steps: list[TicketStep]
    identified: list[str]
    identification_missing: list[str]
    problems: dict[str, str]
    route: RoutingRule | None
    facts: dict[str, Any]
    typical: TypicalRequest | None
    can_hand_back: bool
    staff: bool
    contact_has_confirmed_email: bool = False
    handover_step: TicketStep | None = None
    needs_identification: bool = True

    @property
    def identification_rules(self) -> list[tuple[str, str]]:
        return [
            (rules.method_label(method), str(IdentificationRule(rule).label))
            for method, rule in self.script.identification.items()
            if rule != IdentificationRule.NOT_ASKED
        ]


def checklist_context(user: User, ticket: Ticket, bound: dict[str, Any]) -> dict[str, Any]:
    """The `checklist` of the ticket page (None for users who do not see it)."""
    if not (user.is_provider_staff or user.is_partner_user):
        return {"checklist": None}
    # Imported here: services import this module's neighbours, not the other way round.
    from firstline.quality.services import steps_of

    script = rules.script_for(ticket.partner)
    steps = steps_of(ticket)
    last = {step.kind: step for step in steps}
    identified = rules.identified_methods(ticket, steps)
    editable = user.is_provider_staff and ticket.status in ACTIVE_STATUSES
    forms_: dict[str, forms.Form] = {}
    if editable:
        for step, (_form_class, key) in STEP_FORMS.items():
            if step == "handback":
                continue
            forms_[step] = bound.get(key) or step_form(step, script, ticket)
    # The partner returns a ticket that is not theirs; the first line re-routes instead.
    can_hand_back = user.is_partner_user and ticket.status == Status.WAITING_PARTNER
    if can_hand_back:
        forms_["handback"] = bound.get("script_handback") or step_form(
            "handback", script, ticket
        )
    contact = ticket.contact
    return {"checklist": Checklist(
        ticket=ticket,
        script=script,
        editable=editable,
        forms=forms_,
        last=last,
        steps=steps,
        identified=[rules.method_label(m) for m in rules.STRENGTH if m in identified],
        identification_missing=rules.identification_missing(script.identification, identified),
        problems=rules.hand_over_problems(script, ticket, identified),
        route=rules.route(script.rules, ticket.service_id, rules.classification_values(ticket)),
        facts=metrics.script_facts(ticket),
        typical=ticket.typical_request,
        can_hand_back=can_hand_back,
        staff=user.is_provider_staff,
        contact_has_confirmed_email=bool(
            contact is not None and contact.emails.filter(is_confirmed=True).exists()
        ),
        handover_step=next(
            (step for step in reversed(steps) if step.kind == StepKind.HAND_OVER), None
        ),
        needs_identification=rules.needs_identification(ticket),
    )}
