from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from firstline.core.models import AuditEvent, Partner, Service, Tariff, User


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "requests_included", "minutes_included", "monthly_fee"]


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "tariff", "support_email", "time_zone", "is_active"]
    list_filter = ["tariff", "is_active"]
    search_fields = ["name__ucontains", "legal_name__ucontains", "support_email"]
    prepopulated_fields = {"slug": ["name"]}


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
