from django.contrib import admin

from firstline.accounts.models import SignInThrottle


@admin.register(SignInThrottle)
class SignInThrottleAdmin(admin.ModelAdmin):
    """Locked accounts and addresses; deleting a row lifts its lockout at once."""

    list_display = ["scope", "label", "locked_until", "lockouts", "updated_at"]
    list_filter = ["scope"]
    search_fields = ["label"]
    ordering = ["-updated_at"]
    readonly_fields = ["scope", "key", "label", "hits", "lockouts", "locked_until", "updated_at"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
