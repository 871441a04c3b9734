"""Demo data of billing: every demo partner subscribed to the plan of its core tariff, so
«Счета и тарифы» shows usage (and last month can be invoiced) right away.

Called from the seed (firstline.core.demo.build_demo) and by `billing_demo`.
"""

from datetime import date

from firstline.billing import services
from firstline.billing.models import Plan, Subscription
from firstline.core.models import Partner


def subscribe_partners() -> list[str]:
    """Subscribe every partner that has no subscription yet to the plan with its core
    tariff's code (Start / Optimum / All inclusive), from the first day of the month it was
    created in, the first month at the special price. One line per partner, to print."""
    subscribed = Subscription.objects.values_list("partner_id", flat=True)
    plans = {plan.code: plan for plan in Plan.objects.all()}
    done = []
    for partner in (Partner.objects.exclude(pk__in=subscribed).select_related("tariff")
                    .order_by("pk")):
        plan = plans.get(partner.tariff.code)
        if plan is None:
            done.append(f"{partner}: no plan with the code {partner.tariff.code}")
            continue
        created = partner.created_at.date()
        services.subscribe(partner=partner, plan=plan,
                           starts_on=date(created.year, created.month, 1), actor=None)
        done.append(f"{partner}: {plan} from {created:%Y-%m}-01")
    return done
