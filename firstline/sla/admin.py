from django.contrib import admin

from firstline.sla.models import BusinessCalendar, CalendarDay, WorkingInterval


class ReadOnlyAdmin(admin.ModelAdmin):
    """Calendars change on the desk's calendar pages (/calendars/), where every change is
    validated, audited and bumps the calendar's version; here they can only be looked at."""

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class WorkingIntervalInline(admin.TabularInline):
    model = WorkingInterval
    fields = ["weekday", "start", "end"]
    extra = 0

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(ReadOnlyAdmin):
    list_display = ["name", "partner", "time_zone", "is_24x7", "uses_production_calendar",
                    "version", "updated_at"]
    list_filter = ["partner", "is_24x7", "uses_production_calendar"]
    search_fields = ["name__ucontains"]
    inlines = [WorkingIntervalInline]


@admin.register(CalendarDay)
class CalendarDayAdmin(ReadOnlyAdmin):
    list_display = ["date", "kind", "calendar", "partner", "note", "source"]
    list_filter = ["kind", "source", "partner"]
    date_hierarchy = "date"
    list_select_related = ["calendar", "partner"]
