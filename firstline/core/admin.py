from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import models
from django.forms import ModelForm
from django.http import HttpRequest

from firstline.core import audit
from firstline.core.models import AuditEvent, Partner, Service, Tariff, User


class AuditedFieldsMixin:
    """A ModelAdmin whose changes to `audited_fields` are audited like the services' own:
    who, when, before and after, in the admin's transaction (its change view is atomic).

    The admin writes rows directly, past the service functions that record the audit trail;
    without this a setting changed here (a partner's language of letters) leaves no trace.
    `audit_partner` names the tenant of the row (None: provider-wide)."""

    audited_fields: ClassVar[tuple[str, ...]] = ()
    audit_action: ClassVar[str] = ""

    def audit_partner(self, obj: models.Model) -> Partner | None:
        return getattr(obj, "partner", None)

    def save_model(self, request: HttpRequest, obj: models.Model, form: ModelForm,
                   change: bool) -> None:
        changed = [name for name in self.audited_fields if name in form.changed_data]
        stored = (type(obj)._default_manager.filter(pk=obj.pk).values(*changed).first()
                  if change and changed else None)
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        if stored is None:
            return
        before = {name: stored[name] for name in changed}
        after = {name: getattr(obj, name) for name in changed}
        if before != after:
            actor: Any = request.user
            audit.record(actor=actor, partner=self.audit_partner(obj),
                         action=self.audit_action, target=obj, before=before, after=after)


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "requests_included", "minutes_included", "monthly_fee"]


@admin.register(Partner)
class PartnerAdmin(AuditedFieldsMixin, admin.ModelAdmin):
    audited_fields = ("language",)
    audit_action = "partner.language_changed"
    list_display = ["name", "slug", "tariff", "support_email", "time_zone", "is_active"]
    list_filter = ["tariff", "is_active"]
    search_fields = ["name__ucontains", "legal_name__ucontains", "support_email"]
    prepopulated_fields = {"slug": ["name"]}

    def audit_partner(self, obj: models.Model) -> Partner | None:
        return obj if isinstance(obj, Partner) else None


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "partner", "is_active"]
    list_filter = ["partner"]


@admin.register(User)
class FirstlineUserAdmin(UserAdmin):
    list_display = ["username", "first_name", "last_name", "role", "partner", "is_active"]
    list_filter = ["role", "partner", "is_active"]
    fieldsets = [*UserAdmin.fieldsets, ("firstline", {"fields": ["role", "partner"]})]
    add_fieldsets = [*UserAdmin.add_fieldsets, ("firstline", {"fields": ["role", "partner"]})]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "partner", "action", "target_type", "target_id"]
    list_filter = ["action", "partner"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
