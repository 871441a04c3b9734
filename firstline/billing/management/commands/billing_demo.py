from typing import Any

from django.core.management.base import BaseCommand

from firstline.billing.demo_billing import subscribe_partners


class Command(BaseCommand):
    help = ("Subscribe every partner that has no subscription yet to the plan with its core "
            "tariff's code (the demo data's Start / Optimum / All inclusive), from the first "
            "day of the month it was created in; the first month at the special price.")

    def handle(self, *args: Any, **options: Any) -> None:
        for line in subscribe_partners():
            self.stdout.write(line)
