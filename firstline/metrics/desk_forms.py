from django import forms
from django.utils.translation import gettext_lazy as _

from firstline.core.models import Partner
from firstline.metrics import registry
from firstline.metrics.models import Evidence


class TargetForm(forms.Form):
    partner = forms.ModelChoiceField(
        Partner.objects.none(), label=_("Partner"), required=False,
        empty_label=_("Every partner"))
    metric = forms.ChoiceField(label=_("Metric"))
    target = forms.FloatField(
        label=_("Target"), help_text=_("A share in percent (95 for 95%); minutes, seconds or "
                                       "a count as they are."))

    def __init__(self, *args, partners, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = partners  # type: ignore[attr-defined]
        self.fields["metric"].choices = [  # type: ignore[attr-defined]
            (metric.key, str(metric.name)) for metric in registry.metrics()]


class EvidenceForm(forms.ModelForm):
    class Meta:
        model = Evidence
        fields = ["partner", "kind", "title", "person", "held_on", "next_due", "document"]
        widgets = {"held_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                   "next_due": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def __init__(self, *args, partners, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        field = self.fields["partner"]
        field.queryset = partners  # type: ignore[attr-defined]
        field.empty_label = _("Every partner")  # type: ignore[attr-defined]
