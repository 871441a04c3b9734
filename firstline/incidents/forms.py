"""Desk forms for incidents; the rules live in services (the forms only parse)."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.utils.translation import gettext_lazy as _

from firstline.core.models import Partner, Service
from firstline.incidents.models import Impact

LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def aware(value: datetime | None, zone: str) -> datetime | None:
    """A wall time typed in the incident's time zone, as an aware instant."""
    if value is None:
        return None
    return value.replace(tzinfo=ZoneInfo(zone)) if value.tzinfo is None else value


class IncidentForm(forms.Form):
    partner = forms.ModelChoiceField(Partner.objects.none(), label=_("Partner"))
    title = forms.CharField(label=_("title"), max_length=300)
    services = forms.ModelMultipleChoiceField(Service.objects.none(),
                                              label=_("affected services"))
    impact = forms.ChoiceField(label=_("impact"), choices=Impact.choices)
    started_at = forms.DateTimeField(label=_("began"), widget=LOCAL)
    time_zone = forms.CharField(label=_("time zone"), max_length=64, initial="Europe/Moscow")

    def __init__(self, *args: Any, partners: Any, services: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = partners
        self.fields["services"].queryset = services.select_related("partner")
        self.fields["services"].label_from_instance = (
            lambda service: f"{service.partner.name}: {service.name}")


class IncidentPartsForm(forms.Form):
    """The parts of the incident announcement (the time it began comes from the incident)."""

    expected_fix_at = forms.DateTimeField(label=_("Expected time to fix the incident"),
                                          widget=LOCAL, required=False)
    workaround = forms.CharField(label=_("Workaround (if any)"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 2}))


class RecoveryForm(forms.Form):
    symptoms = forms.CharField(label=_("Which service, and the symptoms of its unavailability"),
                               required=False, widget=forms.Textarea(attrs={"rows": 2}))
    cause = forms.CharField(label=_("Cause of the incident"), required=False,
                            widget=forms.Textarea(attrs={"rows": 2}))
    measures = forms.CharField(label=_("Measures taken so that it does not happen again"),
                               required=False, widget=forms.Textarea(attrs={"rows": 2}))
    how_to_check = forms.CharField(label=_("How to check the service after the recovery"),
                                   required=False, widget=forms.Textarea(attrs={"rows": 2}))
    support_contacts = forms.CharField(label=_("Support contacts"), required=False)


def add_domain_errors(form: forms.Form, error: Any) -> None:
    """Show a service's refusal on the form: each missing part as its own line."""
    for key, messages in error.message_dict.items():
        field = key if key in form.fields else None
        for message in messages:
            form.add_error(field, message)


class AnnouncementTemplateForm(forms.Form):
    """A partner's wording of one kind of announcement; the rules are in services."""

    subject = forms.CharField(label=_("subject"), max_length=300,
                              help_text=_("Placeholders: {partner}, {services}."))
    body = forms.CharField(
        label=_("letter"), widget=forms.Textarea(attrs={"rows": 10}),
        help_text=_("Must contain {parts}; may use {partner}, {services}, {signature}."))
    sms = forms.CharField(
        label=_("SMS"), required=False, max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Must contain {services} and {when}; may use {partner}. Empty: the "
                    "default short form."))
