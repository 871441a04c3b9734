"""Settings of the incidents app in the Django admin: alert sources and their label rules,
maintenance windows and notice periods. Incidents and announcements change on the desk."""

from django.contrib import admin

from firstline.incidents.models import (
    Alert,
    AlertRule,
    AlertSource,
    ContactService,
    MaintenancePolicy,
    MaintenanceWindow,
    Subscription,
)


class AlertRuleInline(admin.TabularInline):
    model = AlertRule
    fields = ["position", "match", "partner", "service", "action", "impact", "recovery_cause",
              "recovery_measures", "recovery_how_to_check"]
    extra = 0


@admin.register(AlertSource)
class AlertSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "is_active"]
    readonly_fields = ["token"]
    inlines = [AlertRuleInline]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["fingerprint", "source", "state", "partner", "received", "parked_reason",
                    "updated_at"]
    list_filter = ["state", "source"]
    readonly_fields = [field.name for field in Alert._meta.fields]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class MaintenanceWindowInline(admin.TabularInline):
    model = MaintenanceWindow
    fields = ["weekday", "starts", "ends"]
    extra = 0


@admin.register(MaintenancePolicy)
class MaintenancePolicyAdmin(admin.ModelAdmin):
    list_display = ["sla_policy", "partner", "notice_business_days"]
    inlines = [MaintenanceWindowInline]

    def save_formset(self, request, form, formset, change):  # type: ignore[no-untyped-def]
        # Windows belong to the policy's partner (tenancy), whatever the form says.
        for window in formset.save(commit=False):
            window.partner_id = form.instance.partner_id
            window.save()
        formset.save_m2m()
        for deleted in formset.deleted_objects:
            deleted.delete()


@admin.register(ContactService)
class ContactServiceAdmin(admin.ModelAdmin):
    list_display = ["contact", "service", "partner", "by_sms"]
    list_filter = ["partner", "by_sms"]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Subscribers of a partner's announcements; a phone here also gets the SMS form."""

    list_display = ["address", "phone", "partner", "confirmed_at", "unsubscribed_at"]
    list_filter = ["partner"]
    search_fields = ["address", "phone"]
