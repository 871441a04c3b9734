import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from firstline.ops.heartbeat import beat
from firstline.telegram.files import fetch_due
from firstline.telegram.services import poll_all


class Command(BaseCommand):
    help = ("Fetch the updates of the partners' bots in long-polling mode (getUpdates), once "
            "or continuously with --loop, and hand the files due for another attempt to the "
            "task worker; idle, it only looks for such bots and files.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep running")
        parser.add_argument("--interval", type=float, default=5.0,
                            help="seconds between passes")
        parser.add_argument("--wait", type=int, default=0,
                            help="seconds Telegram may hold getUpdates open (one bot only)")

    def handle(self, *args: Any, loop: bool, interval: float, wait: int, **options: Any) -> None:
        while True:
            beat("telegram poller", every=60)
            count = poll_all(wait=wait)
            if count:
                self.stdout.write(f"received {count} Telegram update(s)")
            # Files whose fetch failed on a network error, or whose task was lost.
            due = fetch_due()
            if due:
                self.stdout.write(f"{due} Telegram file(s) handed to the task worker")
            if not loop:
                return
            time.sleep(interval)
