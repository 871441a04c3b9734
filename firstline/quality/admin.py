"""Macros in Django admin: a partner's one-action shortcuts, checked like the script's
settings (values of the partner's own fields, a reply the reply rules let pass); and which
services a classification value belongs to (the ticket page offers a ticket only its
service's values)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _

from firstline.core.models import Service
from firstline.quality import script
from firstline.quality.macros import macro_problems
from firstline.quality.script_models import ClassificationField, Macro


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


class ValueServicesForm(forms.ModelForm):
    """Only which services the values belong to; the rest is edited on the script pages."""

    class Meta:
        model = ClassificationField
        fields = ["value_services"]

    def clean_value_services(self) -> dict[str, list[int]]:
        links = self.cleaned_data.get("value_services") or {}
        field = self.instance
        if not isinstance(links, dict):
            raise ValidationError(_("Write {\"value or node\": [service ids]}."))
        known_nodes = set(script.nodes(field.values))
        services = set(Service.objects.filter(partner_id=field.partner_id)
                       .values_list("pk", flat=True))
        for node, ids in links.items():
            if node not in known_nodes:
                raise ValidationError(_("“%(value)s” is not a value of “%(field)s”.") % {
                    "value": node, "field": field.name})
            if not isinstance(ids, list) or not set(ids) <= services:
                raise ValidationError(_("Name services of this partner by their ids, as a "
                                        "list: [3, 5]."))
        return links


@admin.register(ClassificationField)
class ClassificationFieldAdmin(admin.ModelAdmin):
    form = ValueServicesForm
    list_display = ["name", "partner", "kind"]
    list_filter = ["partner"]
    readonly_fields = ["partner", "name", "kind", "values"]
    fields = ["partner", "name", "kind", "values", "value_services"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # fields are added on the script pages, within their limits
