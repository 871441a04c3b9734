import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from firstline.metrics.report import issue_due
from firstline.ops.heartbeat import beat


class Command(BaseCommand):
    help = ("Issue last month's partner reports that are due (on the first working day of the "
            "month in each partner's calendar) and mail them to the partner's managers; once, "
            "or continuously with --loop. Safe with several workers: each report is claimed "
            "once.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep running")
        parser.add_argument("--interval", type=float, default=900.0,
                            help="seconds between checks")

    def handle(self, *args: Any, loop: bool, interval: float, **options: Any) -> None:
        while True:
            beat("report clock")
            for report in issue_due():
                self.stdout.write(f"issued {report}")
            if not loop:
                return
            time.sleep(interval)
