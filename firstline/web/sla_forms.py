from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from firstline.core.models import Partner, User
from firstline.sla.models import (
    BusinessCalendar,
    EscalationStep,
    SlaPolicy,
    TypicalRequest,
    UrgencyRule,
)
from firstline.tickets.models import Priority, Status

PAUSABLE = [
    (Status.WAITING_CUSTOMER.value, Status.WAITING_CUSTOMER.label),
    (Status.WAITING_PARTNER.value, Status.WAITING_PARTNER.label),
]


class PolicyForm(forms.ModelForm):
    paused_statuses = forms.MultipleChoiceField(
        label=_("Statuses that pause the resolution clock"), choices=PAUSABLE, required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = SlaPolicy
        fields = ["name", "is_default", "calendar", "paused_statuses"]

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["calendar"].queryset = BusinessCalendar.objects.filter(
            Q(partner=partner) | Q(partner__isnull=True)
        )
        self.fields["calendar"].empty_label = _("24x7")
        targets = {}
        if self.instance.pk:
            targets = {t.priority: t for t in self.instance.targets.all()}
        for value, label in Priority.choices:
            target = targets.get(value)
            self.fields[f"reaction_{value}"] = forms.IntegerField(
                label=_("%(priority)s: reaction, min") % {"priority": label}, min_value=1,
                initial=target.reaction_minutes if target else None,
            )
            self.fields[f"resolution_{value}"] = forms.IntegerField(
                label=_("%(priority)s: resolution, min") % {"priority": label}, min_value=1,
                initial=target.resolution_minutes if target else None,
            )

    def targets(self) -> dict[str, tuple[int, int]]:
        return {
            value: (self.cleaned_data[f"reaction_{value}"],
                    self.cleaned_data[f"resolution_{value}"])
            for value in Priority.values
        }

    def target_rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        return [(label, self[f"reaction_{value}"], self[f"resolution_{value}"])
                for value, label in Priority.choices]


class EscalationStepForm(forms.ModelForm):
    roles = forms.MultipleChoiceField(
        label=_("Recipients by role"), choices=EscalationStep.Role.choices, required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    channels = forms.MultipleChoiceField(
        label=_("Channels"), choices=EscalationStep.Channel.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = EscalationStep
        fields = ["policy", "priority", "target", "percent", "roles", "users", "channels"]

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = SlaPolicy.objects.filter(partner=partner)
        self.fields["users"].queryset = User.objects.filter(is_active=True).filter(
            Q(role__in=[User.Role.SUPERVISOR, User.Role.ADMIN, User.Role.OPERATOR])
            | Q(partner=partner, role__in=[User.Role.ENGINEER, User.Role.MANAGER])
        )
        self.fields["users"].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("roles") and not data.get("users"):
            self.add_error("roles", _("Choose whom to notify: a role or a named person."))
        return data


class UrgencyRuleForm(forms.ModelForm):
    class Meta:
        model = UrgencyRule
        fields = ["position", "name", "service", "keywords", "vip_only", "priority"]

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = partner.services.all()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not (data.get("service") or data.get("keywords", "").strip() or data.get("vip_only")):
            self.add_error(
                "keywords", _("A rule needs a condition: a service, keywords or VIP only.")
            )
        return data


class TypicalRequestForm(forms.ModelForm):
    class Meta:
        model = TypicalRequest
        fields = ["name", "instruction", "resolution_minutes"]
        widgets = {"instruction": forms.Textarea(attrs={"rows": 3})}
