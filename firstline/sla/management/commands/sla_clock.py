import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from firstline.ops.heartbeat import beat
from firstline.sla.clock import sweep, worker_name


class Command(BaseCommand):
    help = "Fire the escalation steps that are due (once, or continuously with --loop)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep running")
        parser.add_argument("--interval", type=float, default=10.0, help="seconds between sweeps")

    def handle(self, *args: Any, loop: bool, interval: float, **options: Any) -> None:
        worker = worker_name()
        while True:
            beat("SLA clock")
            fired = sweep(worker=worker)
            if fired:
                self.stdout.write(f"fired {fired} escalation step(s)")
            if not loop:
                return
            time.sleep(interval)
            # A persistent connection (CONN_MAX_AGE) is renewed when old or found broken.
            close_old_connections()
