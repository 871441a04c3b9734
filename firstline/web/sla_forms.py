"""Forms of the SLA settings pages: they parse input and offer only the partner's choices.

Every rule about what may be saved (targets, duplicates, whom a step notifies, whose
calendar or service) is checked by firstline.sla.services, which names the field.
"""

from typing import Any

from django import forms
from django.db import models
from django.db.models import F, Max, Q
from django.utils.translation import gettext_lazy as _

from firstline.core.models import Partner, User
from firstline.sla import services
from firstline.sla.models import (
    BusinessCalendar,
    EscalationStep,
    SlaPolicy,
    TypicalRequest,
    UrgencyRule,
)
from firstline.sla.services import ESCALATION_ROLES, PAUSABLE_STATUSES
from firstline.tickets.models import Priority, Status

PAUSABLE = [(status.value, status.label) for status in Status if status in PAUSABLE_STATUSES]


class SettingForm(forms.ModelForm):
    """A settings row of one partner; every settings form takes the same arguments."""

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.partner = partner

    # Uniqueness is per partner, which is not a form field: the service checks it and puts
    # the error on the field that makes the row a duplicate, then runs the model's
    # constraints itself before saving.
    def validate_unique(self) -> None:
        pass

    def validate_constraints(self) -> None:
        pass

    def related(self) -> dict[str, list[models.Model]]:
        """Many-to-many values for the service to check and save with the row."""
        return {
            field.name: list(self.cleaned_data[field.name])
            for field in self._meta.model._meta.many_to_many
            if field.name in self.cleaned_data
        }


class PolicyForm(SettingForm):
    paused_statuses = forms.MultipleChoiceField(
        label=_("Statuses that pause the resolution clock"), choices=PAUSABLE, required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = SlaPolicy
        fields = ["name", "is_default", "calendar", "paused_statuses"]

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, partner=partner, **kwargs)
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
                widget=forms.NumberInput(attrs={"class": "minutes"}),
            )
            self.fields[f"resolution_{value}"] = forms.IntegerField(
                label=_("%(priority)s: resolution, min") % {"priority": label}, min_value=1,
                initial=target.resolution_minutes if target else None,
                widget=forms.NumberInput(attrs={"class": "minutes"}),
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # The service's own check, run here as well so that a reaction longer than the
        # resolution shows together with the other errors of the form.
        parsed = {
            value: (data[f"reaction_{value}"], data[f"resolution_{value}"])
            for value in Priority.values
            if data.get(f"reaction_{value}") is not None
            and data.get(f"resolution_{value}") is not None
        }
        for key, message in services.target_problems(parsed).items():
            if key in parsed:
                self.add_error(f"reaction_{key}", message)
        return data

    def targets(self) -> dict[str, tuple[int, int]]:
        return {
            value: (self.cleaned_data[f"reaction_{value}"],
                    self.cleaned_data[f"resolution_{value}"])
            for value in Priority.values
        }

    def target_rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        return [(label, self[f"reaction_{value}"], self[f"resolution_{value}"])
                for value, label in Priority.choices]


class RecipientField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj.display_name} ({obj.get_role_display()})"


class EscalationStepForm(SettingForm):
    roles = forms.MultipleChoiceField(
        label=_("Recipients by role"), choices=EscalationStep.Role.choices, required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    users = RecipientField(
        label=_("Named recipients"), queryset=User.objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    # Not required here: the service names every missing part of a step at once.
    channels = forms.MultipleChoiceField(
        label=_("Channels"), choices=EscalationStep.Channel.choices, required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = EscalationStep
        fields = ["policy", "priority", "target", "percent", "roles", "users", "channels"]

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, partner=partner, **kwargs)
        self.fields["policy"].queryset = SlaPolicy.objects.filter(partner=partner)
        self.fields["users"].queryset = (
            User.objects.filter(is_active=True, role__in=ESCALATION_ROLES)
            .filter(Q(partner__isnull=True) | Q(partner=partner))
            # The provider's people first, then the partner's.
            .order_by(F("partner").asc(nulls_first=True), "role", "last_name", "first_name",
                      "username")
        )


class UrgencyRuleForm(SettingForm):
    class Meta:
        model = UrgencyRule
        fields = ["name", "service", "keywords", "vip_only", "priority", "position"]

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, partner=partner, **kwargs)
        self.fields["service"].queryset = partner.services.all()
        self.fields["service"].empty_label = _("Any service")
        if self.instance.pk is None:
            # A new rule goes last unless told otherwise: the first match wins.
            last = UrgencyRule.objects.filter(partner=partner).aggregate(
                last=Max("position"))["last"]
            self.initial.setdefault("position", 0 if last is None else last + 1)


class TypicalRequestForm(SettingForm):
    class Meta:
        model = TypicalRequest
        fields = ["name", "resolution_minutes", "instruction"]
        widgets = {"instruction": forms.Textarea(attrs={"rows": 3})}
