from django.contrib import admin
from django.http import HttpRequest

from firstline.calls.models import (
    Call,
    CallEventInbox,
    OperatorLine,
    PartnerPhoneNumber,
    RawCallEvent,
)


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


@admin.register(CallEventInbox)
class CallEventInboxAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Events received and not applied yet, to see what `calls_work` has still to do.

    Read-only: a row is what the PBX sent, and `calls_work` deletes it when it applies it.
    Deleting by hand drops an event for good (never applied), so superusers only."""

    list_display = ["received_at", "source", "partner", "external_id", "dedupe_key"]
    list_filter = ["source", "partner"]
    search_fields = ["external_id", "dedupe_key"]
    ordering = ["received_at", "pk"]
    list_select_related = ["partner"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return bool(request.user.is_superuser) and super().has_delete_permission(request, obj)
