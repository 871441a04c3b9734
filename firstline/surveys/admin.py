from django.contrib import admin

from firstline.surveys.models import (
    CsiQuestion,
    CustomerStanding,
    FollowUpTask,
    Survey,
    SurveyOptOut,
    SurveySettings,
    WinBackCase,
)


@admin.register(SurveySettings)
class SurveySettingsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["partner", "csat_enabled", "csat_scale_max", "csat_delay_minutes",
                    "nps_enabled", "nps_interval_days"]
    filter_horizontal = ["csat_services"]


@admin.register(CsiQuestion)
class CsiQuestionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["text", "partner", "weight", "order", "is_active"]
    list_filter = ["partner"]


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    # Answers are the customer's words: shown as given, never edited (F32).
    list_display = ["id", "partner", "kind", "status", "contact", "ticket", "score", "answered_at"]
    list_filter = ["kind", "status", "partner"]
    readonly_fields = [f.name for f in Survey._meta.fields]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False


admin.site.register(SurveyOptOut)
admin.site.register(FollowUpTask)
admin.site.register(CustomerStanding)
admin.site.register(WinBackCase)
