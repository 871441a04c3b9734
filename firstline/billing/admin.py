from django.contrib import admin

from firstline.billing.models import Invoice, Plan, PlanVersion, Seller, Subscription, VatRate


class PlanVersionInline(admin.TabularInline):
    model = PlanVersion
    extra = 0


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    inlines = [PlanVersionInline]


@admin.register(VatRate)
class VatRateAdmin(admin.ModelAdmin):
    list_display = ("effective_from", "percent")


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("partner", "plan", "starts_on", "extra_accounts", "first_month")


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("number", "partner", "month", "total", "issued_at")

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # issued invoices never change

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Seller)
class SellerAdmin(admin.ModelAdmin):
    """Read-only: the requisites are changed on the plans page (audited), never rewritten."""

    list_display = ("name", "inn", "kpp", "bic", "account", "created_at", "created_by")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
