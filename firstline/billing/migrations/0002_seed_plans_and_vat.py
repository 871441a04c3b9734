"""The seed's three plans (Start / Optimum / All inclusive, MISSION F34) and the Russian VAT
rates: 20% until 2025-12-31, 22% from 2026-01-01. Figures a core Tariff with the same code
already holds win over the seed's (an installation that edited its tariffs keeps them)."""

from datetime import date
from decimal import Decimal

from django.db import migrations

# code, name, requests, minutes, monthly fee, overage per request, per minute
SEED = (
    ("start", "Старт", 10, 50, "4900", "350", "9"),
    ("optimum", "Оптимум", 50, 300, "13900", "300", "8"),
    ("all-inclusive", "Всё включено", 200, 1000, "39900", "250", "7"),
)
FIRST_MONTH_FEE = Decimal("4900")
EFFECTIVE_FROM = date(2020, 1, 1)


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    PlanVersion = apps.get_model("billing", "PlanVersion")
    VatRate = apps.get_model("billing", "VatRate")
    Tariff = apps.get_model("core", "Tariff")
    for code, name, requests, minutes, fee, per_request, per_minute in SEED:
        tariff = Tariff.objects.filter(code=code).first()
        plan, created = Plan.objects.get_or_create(code=code, defaults={"name": name})
        if not created:
            continue
        PlanVersion.objects.create(
            plan=plan, effective_from=EFFECTIVE_FROM,
            requests_included=tariff.requests_included if tariff else requests,
            minutes_included=tariff.minutes_included if tariff else minutes,
            accounts_included=tariff.accounts_included if tariff else 3,
            monthly_fee=tariff.monthly_fee if tariff else Decimal(fee),
            first_month_fee=tariff.first_month_fee if tariff else FIRST_MONTH_FEE,
            overage_request_fee=tariff.overage_request_fee if tariff else Decimal(per_request),
            overage_minute_fee=tariff.overage_minute_fee if tariff else Decimal(per_minute),
            extra_account_fee=Decimal("500.00"), excluded_channels=["monitoring"],
        )
    VatRate.objects.get_or_create(effective_from=date(2019, 1, 1),
                                  defaults={"percent": Decimal("20.00")})
    VatRate.objects.get_or_create(effective_from=date(2026, 1, 1),
                                  defaults={"percent": Decimal("22.00")})


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("core", "0004_tariff_minute_rounding"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
