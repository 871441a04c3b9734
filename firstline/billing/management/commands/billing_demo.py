from datetime import date
from typing import Any

from django.core.management.base import BaseCommand

from firstline.billing import services
from firstline.billing.models import Plan, Subscription
from firstline.core.models import Partner


class Command(BaseCommand):
    help = ("Subscribe every partner that has no subscription yet to the plan with its core "
            "tariff's code (the demo data's Start / Optimum / All inclusive), from the first "
            "day of the month it was created in; the first month at the special price.")

    def handle(self, *args: Any, **options: Any) -> None:
        subscribed = Subscription.objects.values_list("partner_id", flat=True)
        plans = {plan.code: plan for plan in Plan.objects.all()}
        for partner in Partner.objects.exclude(pk__in=subscribed).select_related("tariff"):
            plan = plans.get(partner.tariff.code)
            if plan is None:
                self.stdout.write(f"{partner}: no plan with the code {partner.tariff.code}")
                continue
            created = partner.created_at.date()
            services.subscribe(partner=partner, plan=plan,
                               starts_on=date(created.year, created.month, 1), actor=None)
            self.stdout.write(f"{partner}: {plan} from {created:%Y-%m}-01")
