from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from firstline.telegram.models import Bot


class BotForm(forms.Form):
    token = forms.CharField(
        label=_("Bot token"), required=False, max_length=200,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text=_("From @BotFather. Leave empty to keep the stored token."),
    )
    # Short labels: the model's longer ones do not fit the select beside the token.
    mode = forms.ChoiceField(label=_("How updates arrive"), choices=[
        (Bot.Mode.WEBHOOK, pgettext_lazy("telegram update source", "Webhook")),
        (Bot.Mode.POLLING, pgettext_lazy("telegram update source", "Long polling")),
    ])
    is_active = forms.BooleanField(label=_("Active"), required=False)

    def __init__(self, *args: Any, bot: Bot | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if bot is not None:
            self.initial = {"mode": bot.mode, "is_active": bot.is_active}
        else:
            self.initial = {"mode": Bot.Mode.WEBHOOK, "is_active": True}

    def add_service_errors(self, exc: ValidationError) -> None:
        for field, errors in exc.message_dict.items():
            self.add_error(field if field in self.fields else NON_FIELD_ERRORS, errors)
