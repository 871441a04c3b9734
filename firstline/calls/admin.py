from django.contrib import admin

from firstline.calls.models import Call, OperatorLine, PartnerPhoneNumber, RawCallEvent


@admin.register(PartnerPhoneNumber)
class PartnerPhoneNumberAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["number", "partner", "queue_name"]
    list_filter = ["partner"]


@admin.register(OperatorLine)
class OperatorLineAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["extension", "user"]


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["started_at", "partner", "direction", "caller", "outcome", "wait_seconds",
                    "talk_seconds", "operator", "ticket"]
    list_filter = ["partner", "outcome", "direction", "source"]
    raw_id_fields = ["ticket", "callback_ticket", "operator"]
    date_hierarchy = "started_at"


@admin.register(RawCallEvent)
class RawCallEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Kept-aside events with their reasons, for an operator to look at."""

    list_display = ["received_at", "source", "external_id", "state", "reason", "partner"]
    list_filter = ["state", "source"]
    raw_id_fields = ["call"]
    readonly_fields = ["payload", "event"]
