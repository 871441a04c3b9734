"""`firstline mail_lmtp`: the LMTP (or SMTP) listener an MTA delivers partner mail to.

For Postfix, e.g.: `virtual_transport = lmtp:inet:127.0.0.1:2424` for the support
domains. Recipients without an active mailbox get 550; a message is answered 250 only
once it is stored, 451 (try later) when it could not be.
"""

import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from firstline.mail.lmtp import LmtpServer, max_message_bytes
from firstline.mail.management.commands._signals import stop_on_signals


class Command(BaseCommand):
    help = "Accept mail from an MTA over LMTP (or SMTP with --smtp) and store it."
    # call_command(..., executor=...): the thread pool the database work runs in (tests
    # hand in one that shares their connection).
    stealth_options = ("executor",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set by SIGTERM/SIGINT (or by a test): stop listening and end.
        self.stop = threading.Event()
        self.server: LmtpServer | None = None
        self.started = threading.Event()

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1",
                            help="Address to listen on. Default 127.0.0.1.")
        parser.add_argument("--port", type=int, default=2424,
                            help="Port to listen on (0: any free port). Default 2424.")
        parser.add_argument("--smtp", action="store_true",
                            help="Speak SMTP instead of LMTP.")
        parser.add_argument(
            "--max-size", type=int, default=None,
            help="Largest message in bytes; larger ones get 552. Default "
                 "FIRSTLINE_MAIL_MAX_MESSAGE_BYTES or 32 MiB.",
        )
        parser.add_argument("--hostname", default=None,
                            help="Name in the greeting. Default: this host's name.")

    def handle(self, *args: Any, **options: Any) -> None:
        size = options["max_size"] if options["max_size"] is not None else max_message_bytes()
        self.server = LmtpServer(
            options["host"], options["port"], smtp=options["smtp"],
            max_message_bytes=size, hostname=options["hostname"],
            executor=options.get("executor"),
        )
        with stop_on_signals(self.stop):
            self.server.start()
            try:
                self.stdout.write(
                    f"{self.server.protocol} listening on {self.server.host}:{self.server.port}"
                    f" (messages up to {size} bytes)"
                )
                self.started.set()
                self.stop.wait()
            finally:
                self.server.stop()
