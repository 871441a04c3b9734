import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from firstline.incidents.schedule import sweep
from firstline.ops.heartbeat import beat
from firstline.sla.clock import worker_name


class Command(BaseCommand):
    help = "Send the planned-works reminders that are due (once, or continuously with --loop)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep running")
        parser.add_argument("--interval", type=float, default=10.0, help="seconds between sweeps")

    def handle(self, *args: Any, loop: bool, interval: float, **options: Any) -> None:
        worker = worker_name()
        while True:
            beat("incidents clock")
            fired = sweep(worker=worker)
            if fired:
                self.stdout.write(f"sent {fired} planned-works reminder(s)")
            if not loop:
                return
            time.sleep(interval)
