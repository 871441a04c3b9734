from django.contrib import admin

from firstline.tickets.models import Ticket


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Read-only: tickets change through the desk and the API, where rules and audit apply."""

    list_display = ["id", "subject", "partner", "status", "priority", "created_at"]
    list_filter = ["partner", "status", "priority", "channel"]
    search_fields = ["subject__ucontains"]  # Cyrillic in any case

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
