from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from firstline.core.models import User
from firstline.tenancy import services_for
from firstline.web.forms import MultipleFileField


class PortalLoginForm(forms.Form):
    email = forms.EmailField(label=_("E-mail"))
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput)


class LoginLinkForm(forms.Form):
    email = forms.EmailField(label=_("E-mail"))


class NewTicketForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=300)
    text = forms.CharField(
        label=_("Describe your request"), widget=forms.Textarea(attrs={"rows": 6})
    )
    service = forms.ModelChoiceField(
        label=_("Service"), queryset=None, required=False, empty_label=_("Not sure")
    )
    attachments = MultipleFileField(label=_("Attachments"))

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = services_for(user).filter(is_active=True)
