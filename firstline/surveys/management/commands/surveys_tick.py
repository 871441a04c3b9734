import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from firstline.ops.heartbeat import beat
from firstline.surveys import services, winback


class Command(BaseCommand):
    help = "Plan NPS surveys, send the surveys that are due and remind of open win-back cases."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep running")
        parser.add_argument("--interval", type=float, default=60.0,
                            help="seconds between runs")

    def handle(self, *args: Any, loop: bool, interval: float, **options: Any) -> None:
        while True:
            beat("survey clock")
            planned = services.plan_nps()
            sent = services.send_due()
            reminded = winback.send_reminders()
            if planned or sent or reminded:
                self.stdout.write(f"planned {planned}, sent {sent} survey(s), "
                                  f"{reminded} win-back reminder(s)")
            if not loop:
                return
            time.sleep(interval)
