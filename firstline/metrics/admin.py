from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from firstline.metrics.models import Evidence, MetricTarget, MonthlyReport


@admin.register(MetricTarget)
class MetricTargetAdmin(admin.ModelAdmin):
    list_display = ["metric", "partner", "target", "revised_at", "revised_by"]
    list_filter = ["partner"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        if db_field.name == "metric":
            from firstline.metrics.registry import metrics

            return forms.ChoiceField(label=_("metric"), choices=[
                (metric.key, metric.name) for metric in metrics()])
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        obj.revised_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Evidence)
class EvidenceAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "partner", "person", "held_on", "next_due"]
    list_filter = ["kind", "partner"]
    search_fields = ["title", "person"]


@admin.register(MonthlyReport)
class MonthlyReportAdmin(admin.ModelAdmin):
    """Read only: an issued report is a frozen snapshot."""

    list_display = ["partner", "month", "language", "version", "issued_at"]
    list_filter = ["partner", "language"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
