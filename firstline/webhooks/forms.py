"""Webhook forms: parse only; the rules (URL, SSRF, events) live in services."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from firstline.core.models import Partner
from firstline.webhooks.models import EVENT_CHOICES

PROVIDER_WIDE = "provider"


class SubscriptionForm(forms.Form):
    name = forms.CharField(label=_("name"), required=False, max_length=200)
    url = forms.CharField(label=_("URL"), max_length=1000,
                          help_text=_("https:// address of your receiver."))
    events = forms.MultipleChoiceField(label=_("events"), choices=EVENT_CHOICES,
                                       widget=forms.CheckboxSelectMultiple, required=False)
    is_active = forms.BooleanField(label=_("active"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Unknown events are the service's to name (with the list of known ones).
        self.fields["events"].valid_value = lambda value: True  # type: ignore[attr-defined]


class NewSubscriptionForm(SubscriptionForm):
    partner = forms.ChoiceField(label=_("Partner"))
    field_order = ["partner", "name", "url", "events"]

    def __init__(self, *args: Any, partners: Any, provider_wide: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["is_active"]
        choices = [(str(partner.pk), partner.name) for partner in partners]
        if provider_wide:
            choices.insert(0, (PROVIDER_WIDE, str(_("Provider-wide (every partner's events)"))))
        self.fields["partner"].choices = choices
        self._partners = {str(partner.pk): partner for partner in partners}

    def clean_partner(self) -> Partner | None:
        value = self.cleaned_data["partner"]
        if value == PROVIDER_WIDE:
            return None
        if value not in self._partners:
            raise ValidationError(_("Unknown partner."))
        return self._partners[value]


def add_domain_errors(form: forms.Form, error: ValidationError) -> None:
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)
