from django import forms
from django.utils.translation import gettext_lazy as _

from firstline.core.models import Service
from firstline.surveys.models import CsiQuestion, SurveySettings
from firstline.tickets.models import Channel


class SurveySettingsForm(forms.ModelForm):  # type: ignore[type-arg]
    csat_channels = forms.MultipleChoiceField(
        label=_("ticket channels asked"), choices=Channel.choices, required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None chosen: every channel."),
    )

    class Meta:
        model = SurveySettings
        fields = ["csat_enabled", "csat_scale_max", "csat_delay_minutes", "csat_channels",
                  "csat_services", "csat_min_days_between", "nps_enabled", "nps_interval_days",
                  "min_days_between_surveys", "change_window_hours", "link_valid_days",
                  "raise_priority_when_sensitive", "winback_reminder_days"]
        widgets = {"csat_services": forms.CheckboxSelectMultiple}

    def __init__(self, *args, partner_id: int, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        field = self.fields["csat_services"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = Service.objects.filter(partner_id=partner_id)


class CsiQuestionForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = CsiQuestion
        fields = ["text", "weight", "order"]
