"""`firstline mail_in`: store one message piped in by an MTA (Postfix pipe, procmail…).

    firstline mail_in --partner SLUG [--mailbox ADDRESS] < message.eml
    firstline mail_in --partner SLUG --file message.eml

The letter is stored, and the mail workers (`firstline mail_work`) process it; with
--process (or FIRSTLINE_MAIL_PROCESS_INLINE set) this command processes it too, before it
exits. Exit codes follow sysexits.h, which MTAs understand: 0 stored; 75 (EX_TEMPFAIL) when it
could not be stored (database unreachable…): the MTA keeps the message and tries again;
67 (EX_NOUSER) for an unknown partner or mailbox: the MTA bounces it; 64 (EX_USAGE) when
the partner has several mailboxes and none is named; 66 (EX_NOINPUT) for empty input.
"""

import sys
from pathlib import Path
from typing import Any, BinaryIO

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from firstline.mail.ingest import receive
from firstline.mail.models import Mailbox

EX_USAGE = 64
EX_NOINPUT = 66
EX_NOUSER = 67
EX_TEMPFAIL = 75



def find_mailbox(partner_slug: str, address: str) -> Mailbox:
    """The partner's active mailbox: the one named, or its only (or support) one."""
    mailboxes = Mailbox.objects.select_related("partner").filter(
        partner__slug=partner_slug, partner__is_active=True, is_active=True
    )
    if address:
        mailbox = mailboxes.filter(address=address.strip().lower()).first()
        if mailbox is None:
            raise CommandError(
                f"partner {partner_slug!r} has no active mailbox {address!r}",
                returncode=EX_NOUSER,
            )
        return mailbox
    found = list(mailboxes[:20])
    if not found:
        raise CommandError(f"partner {partner_slug!r} is unknown or has no active mailbox",
                           returncode=EX_NOUSER)
    if len(found) == 1:
        return found[0]
    support = [m for m in found if m.address == m.partner.support_email.strip().lower()]
    if len(support) == 1:
        return support[0]
    raise CommandError(
        f"partner {partner_slug!r} has several mailboxes; name one with --mailbox: "
        + ", ".join(m.address for m in found),
        returncode=EX_USAGE,
    )


class Command(BaseCommand):
    help = "Store one message from standard input (or --file) for a partner's mailbox."
    # An MTA runs this for every message: no system checks, nothing on stdout.
    requires_system_checks: list[str] = []
    # call_command(..., stdin=BytesIO(...)) in tests and callers that hold the bytes.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--partner", required=True, help="The partner's short name (slug).")
        parser.add_argument("--mailbox", default="",
                            help="The mailbox address (needed when the partner has several).")
        parser.add_argument("--file", default="",
                            help="Read the message from this file instead of standard input.")
        parser.add_argument(
            "--process", action="store_true", default=None,
            help="Also process the letter now, in this command, instead of leaving it to the "
                 "mail workers. Default: FIRSTLINE_MAIL_PROCESS_INLINE.")

    def handle(self, *args: Any, **options: Any) -> None:
        raw = self._read(options)
        if not raw:
            raise CommandError("no message on the input", returncode=EX_NOINPUT)
        try:
            mailbox = find_mailbox(options["partner"], options["mailbox"])
            receive(raw, mailbox=mailbox, process_now=options["process"])
        except CommandError:
            raise
        except DatabaseError as exc:
            raise CommandError(
                f"the database is unavailable, try again later: {exc}", returncode=EX_TEMPFAIL
            ) from exc
        except Exception as exc:
            # Not stored, whatever the reason: the MTA keeps the message and retries.
            raise CommandError(
                f"the message could not be stored: {type(exc).__name__}: {exc}",
                returncode=EX_TEMPFAIL,
            ) from exc
        if options["verbosity"] >= 2:
            self.stdout.write(f"stored {len(raw)} bytes for {mailbox.address}")

    def _read(self, options: dict[str, Any]) -> bytes:
        if options["file"]:
            try:
                return Path(options["file"]).read_bytes()
            except OSError as exc:
                raise CommandError(f"cannot read {options['file']}: {exc}",
                                   returncode=EX_NOINPUT) from exc
        source: BinaryIO = options.get("stdin") or sys.stdin.buffer
        return source.read()
