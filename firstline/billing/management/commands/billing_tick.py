import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from firstline.billing.models import Subscription
from firstline.billing.services import issue_due, notify_usage
from firstline.core.models import Partner


class Command(BaseCommand):
    help = ("Billing clock: tell partners' managers when requests or talk minutes reach 80% "
            "and 100% of the plan (once each per month), and issue last month's invoices on "
            "the first working day (once per partner and month); once, or with --loop.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep running")
        parser.add_argument("--interval", type=float, default=600.0,
                            help="seconds between checks")

    def handle(self, *args: Any, loop: bool, interval: float, **options: Any) -> None:
        while True:
            ids = Subscription.objects.values_list("partner_id", flat=True).distinct()
            notices = 0
            for partner in Partner.objects.filter(pk__in=ids, is_active=True).select_related(
                    "tariff"):
                notices += notify_usage(partner)
            for invoice in issue_due():
                self.stdout.write(f"issued {invoice.number} {invoice.partner} "
                                  f"{invoice.month:%Y-%m}")
            if notices:
                self.stdout.write(f"usage notices: {notices}")
            if not loop:
                return
            time.sleep(interval)
