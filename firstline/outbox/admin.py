from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from firstline.outbox import services
from firstline.outbox.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Read-only: messages change only through delivery and the actions below."""

    list_display = [
        "created_at", "channel", "recipient", "partner", "ticket", "status", "attempts",
        "next_attempt_at", "sent_at", "short_error",
    ]
    list_filter = ["status", "channel", "partner"]
    search_fields = ["recipient", "subject", "dedupe_key", "provider_message_id"]
    list_select_related = ["partner", "ticket"]
    date_hierarchy = "created_at"
    actions = ["retry_now", "cancel"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_manage_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_superuser or user.has_perm("outbox.change_outboxmessage"))

    @admin.display(description=_("last error"))
    def short_error(self, message: OutboxMessage) -> str:
        return message.last_error[:80]

    @admin.action(description=_("Retry now"), permissions=["manage"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        count = services.retry_now(
            message_ids=queryset.values_list("pk", flat=True), actor=request.user  # type: ignore[arg-type]
        )
        self.message_user(
            request,
            ngettext("%(count)d message will be sent now.",
                     "%(count)d messages will be sent now.", count) % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )

    @admin.action(description=_("Cancel"), permissions=["manage"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        count = services.cancel(
            message_ids=queryset.values_list("pk", flat=True), actor=request.user  # type: ignore[arg-type]
        )
        self.message_user(
            request,
            ngettext("%(count)d message cancelled.", "%(count)d messages cancelled.", count)
            % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )
