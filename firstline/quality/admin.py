"""Macros in Django admin: a partner's one-action shortcuts, checked like the script's
settings (values of the partner's own fields, a reply the reply rules let pass)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from firstline.quality.macros import macro_problems
from firstline.quality.script_models import Macro


class MacroForm(forms.ModelForm):
    class Meta:
        model = Macro
        fields = ["partner", "name", "typical_request", "classification", "reply_text", "then"]

    def _post_clean(self) -> None:
        # After the instance holds the form's values: the rules read the macro itself.
        super()._post_clean()
        if not self.errors:
            for field, text in macro_problems(self.instance).items():
                self.add_error(field, ValidationError(text))


@admin.register(Macro)
class MacroAdmin(admin.ModelAdmin):
    form = MacroForm
    list_display = ["name", "partner", "typical_request", "then"]
    list_filter = ["partner", "then"]
    search_fields = ["name"]
    list_select_related = ["partner", "typical_request"]
