"""`firstline mail_poll`: fetch new mail from the partners' IMAP mailboxes.

Once (for cron), or with --loop as a service that waits in IDLE where the server supports
it and polls every --interval seconds where it does not. Exits 1 from a single pass when a
mailbox failed (the others are polled all the same; the error is on stderr).
"""

import logging
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from firstline.mail import imap
from firstline.mail.management.commands._signals import stop_on_signals
from firstline.mail.models import Mailbox
from firstline.ops.heartbeat import beat

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Fetch new mail from the IMAP mailboxes: once, or continuously with --loop."

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set by SIGTERM/SIGINT (or by a test): the loop ends within half a second.
        self.stop = threading.Event()

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true",
                            help="Keep fetching until stopped (IDLE where supported).")
        parser.add_argument("--mailbox", default="",
                            help="Only this mailbox (its id or address).")
        parser.add_argument(
            "--interval", type=float, default=imap.DEFAULT_POLL_INTERVAL_SECONDS,
            help="Seconds between polls of a server without IDLE (with --loop). Default 60.",
        )
        parser.add_argument(
            "--idle-timeout", type=float, default=imap.DEFAULT_IDLE_SECONDS,
            help="Seconds to wait in IDLE before checking anyway (with --loop). Default 300.",
        )
        parser.add_argument("--batch", type=int, default=imap.DEFAULT_BATCH_SIZE,
                            help="Messages fetched per request. Default 20.")
        parser.add_argument("--timeout", type=float, default=imap.DEFAULT_TIMEOUT_SECONDS,
                            help="Network timeout in seconds. Default 60.")

    def handle(self, *args: Any, **options: Any) -> None:
        chosen = self._chosen_mailbox(options["mailbox"])
        if options["loop"]:
            poller = imap.Poller(
                mailbox_ids=[chosen.pk] if chosen is not None else None,
                interval=options["interval"], idle_seconds=options["idle_timeout"],
                timeout=options["timeout"], batch_size=options["batch"], stop=self.stop,
                on_result=self._report,
            )
            with stop_on_signals(self.stop):
                poller.run()
            return
        mailboxes = [chosen] if chosen is not None else list(imap.pollable_mailboxes())
        failed = []
        for mailbox in mailboxes:
            try:
                result = imap.poll_mailbox(
                    mailbox, timeout=options["timeout"], batch_size=options["batch"]
                )
            except Exception as exc:
                logger.warning("mailbox %s: %s: %s", mailbox.address, type(exc).__name__, exc,
                               exc_info=not isinstance(exc, imap.EXPECTED_ERRORS))
                self.stderr.write(f"{mailbox.address}: {type(exc).__name__}: {exc}")
                failed.append(mailbox.address)
                continue
            self._report(mailbox, result, always=True)
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(mailboxes)} mailboxes failed: {', '.join(failed)}"
            )

    def _report(self, mailbox: Mailbox, result: imap.PollResult, *, always: bool = False) -> None:
        beat("mail poller")
        if always or result.found:
            self.stdout.write(f"{mailbox.address}: {result.found} new, {result.stored} stored")

    def _chosen_mailbox(self, value: str) -> Mailbox | None:
        value = value.strip()
        if not value:
            return None
        mailboxes = Mailbox.objects.select_related("partner")
        lookup = {"pk": int(value)} if value.isdigit() else {"address": value.lower()}
        mailbox = mailboxes.filter(**lookup).first()
        if mailbox is None:
            raise CommandError(f"no mailbox {value!r}")
        if not (mailbox.is_active and mailbox.partner.is_active):
            raise CommandError(f"mailbox {mailbox.address} is not active")
        if not mailbox.imap_host:
            raise CommandError(f"mailbox {mailbox.address} has no IMAP server to poll")
        return mailbox
