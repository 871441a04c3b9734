"""`firstline calls_work`: apply the call events the webhooks stored (`calls.inbox`).

    firstline calls_work                 # until stopped (SIGTERM/Ctrl-C ends after the batch)
    firstline calls_work --once          # until the inbox is empty, then exit
    firstline calls_work --batch 200 --interval 0.2

Several workers (processes, machines) may run at once: each event is applied by one.
"""

import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from firstline.calls.inbox import BATCH_SIZE, work
from firstline.mail.management.commands._signals import stop_on_signals


class Command(BaseCommand):
    help = "Apply the stored call events (webhook, Zadarma) in batches, until stopped."

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set by SIGTERM/SIGINT (or by a test): the worker finishes its batch and ends.
        self.stop = threading.Event()

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true",
                            help="Apply what is stored, then exit.")
        parser.add_argument("--batch", type=int, default=BATCH_SIZE,
                            help=f"Events per transaction. Default {BATCH_SIZE}.")
        parser.add_argument("--interval", type=float, default=0.2,
                            help="Seconds between looks at an empty inbox. Default 0.2.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1")
        if not 0 < options["interval"] <= 60:
            raise CommandError("--interval must be more than 0 and at most 60 seconds")
        with stop_on_signals(self.stop):
            taken = work(stop=self.stop, batch=options["batch"], interval=options["interval"],
                         once=options["once"])
        if options["once"]:
            self.stdout.write(f"{taken} call events applied")
