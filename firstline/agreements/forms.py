from django import forms
from django.utils.translation import gettext_lazy as _

from firstline.agreements.models import AgreementTerms
from firstline.contacts.models import Organisation
from firstline.core.models import Partner


class PersonForm(forms.Form):
    organisation = forms.ModelChoiceField(Organisation.objects.none(),
                                          label=_("Client organisation"))
    name = forms.CharField(label=_("Full name"), max_length=200)
    position = forms.CharField(label=_("Position"), max_length=200, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)

    def __init__(self, *args, partner: Partner, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        field = self.fields["organisation"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Organisation.objects.filter(partner=partner).order_by("name")


class CompensationForm(forms.Form):
    breach_percent = forms.DecimalField(
        label=_("Requests past the deadline, from %"), min_value=0.01, max_value=100,
        max_digits=5, decimal_places=2)
    fee_percent = forms.DecimalField(
        label=_("Credit, % of the monthly fee"), min_value=0.01, max_value=100,
        max_digits=5, decimal_places=2)


class TermsForm(forms.ModelForm):
    class Meta:
        model = AgreementTerms
        fields = ["written_only", "affected_functions", "revision_months"]
        widgets = {"written_only": forms.Textarea(attrs={"rows": 3}),
                   "affected_functions": forms.Textarea(attrs={"rows": 3})}
