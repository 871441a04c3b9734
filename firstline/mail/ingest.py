"""Inbound mail: the one entry point every transport (IMAP, LMTP, pipe) calls.

    inbound = ingest_raw(raw_bytes, mailbox=mailbox)

1. The raw bytes are stored first, in their own transaction (DESIGN "Nothing is lost"). The
   same letter twice (same Message-ID for the mailbox, or the same bytes when it has none)
   is one row: the existing one is returned and nothing is created again.
2. Then the letter is parsed and processed in one transaction: our own mail and bounces are
   recognised, the sender identified, the letter joins its ticket's thread or opens a new
   ticket with an acknowledgement in the outbox. Whatever goes wrong, the row stays with
   status `failed` and the reason, for an operator; bad mail never raises.
"""

import hashlib
import logging
import traceback
from collections.abc import Callable

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import User
from firstline.mail import handling
from firstline.mail.models import InboundMail, Mailbox, raw_in_db_limit
from firstline.mail.parsed import ParsedMail
from firstline.mail.rawheaders import header_message_id

logger = logging.getLogger(__name__)

def _existing(mailbox: Mailbox, message_id: str, digest: str) -> InboundMail | None:
    rows = InboundMail.objects.filter(mailbox=mailbox)
    if message_id:
        return rows.filter(message_id=message_id).first()
    return rows.filter(message_id="", digest=digest).first()


def store_raw(raw: bytes, *, mailbox: Mailbox) -> InboundMail:
    """Keep the letter as received, or return the row that already keeps it."""
    raw = bytes(raw)
    digest = hashlib.sha256(raw).hexdigest()
    message_id = header_message_id(raw)
    row = InboundMail(
        partner_id=mailbox.partner_id, mailbox=mailbox, message_id=message_id,
        digest=digest, size=len(raw), received_at=now(),
    )
    if len(raw) > raw_in_db_limit():
        # Look first: a duplicate would leave its file behind.
        existing = _existing(mailbox, message_id, digest)
        if existing is not None:
            return existing
        row.raw_file.save(f"{digest}.eml", ContentFile(raw), save=False)
    else:
        row.raw = raw
    try:
        # Its own transaction (a savepoint when the caller has one): the unique constraints
        # make the same letter, stored a moment ago by this or another transport, fail here.
        with transaction.atomic():
            row.save()
    except IntegrityError:
        existing = _existing(mailbox, message_id, digest)
        if existing is None:
            raise
        return existing
    return row


def _parse(raw: bytes) -> ParsedMail:
    # Imported when used: the parser is its own module with its own dependencies.
    from firstline.mail.parsing import parse

    return parse(raw, max_attachment_bytes=settings.FIRSTLINE_MAX_ATTACHMENT_BYTES)


def _fail(inbound: InboundMail, error: str) -> InboundMail:
    with transaction.atomic():
        InboundMail.objects.filter(pk=inbound.pk).update(
            status=InboundMail.Status.FAILED, error=error[:10000], processed_at=now()
        )
    return InboundMail.objects.defer("raw").get(pk=inbound.pk)


def process(
    inbound: InboundMail,
    parse: Callable[[bytes], ParsedMail] | None = None,
    mailbox: Mailbox | None = None,
) -> InboundMail:
    """Parse and act on a stored letter; return the row as it is now. Never raises for bad
    mail."""
    raw = inbound.raw_bytes()
    try:
        parsed = (parse or _parse)(raw)
    except Exception as exc:  # noqa: BLE001 — the letter stays, failed, for an operator
        logger.exception("mail %s: the parser failed", inbound.pk)
        return _fail(inbound, f"parser: {type(exc).__name__}: {exc}")
    if mailbox is None or mailbox.pk != inbound.mailbox_id:
        mailbox = Mailbox.objects.select_related("partner").get(pk=inbound.mailbox_id)
    try:
        with transaction.atomic():
            locked = InboundMail.objects.select_for_update().defer("raw").get(pk=inbound.pk)
            if locked.status != InboundMail.Status.STORED:
                return locked  # another worker got it first
            handling.handle(locked, parsed, raw, mailbox)
            locked.processed_at = now()
            locked.save(update_fields=[*handling.RESULT_FIELDS, "processed_at"])
            return locked
    except Exception as exc:  # noqa: BLE001 — the letter stays, failed, for an operator
        logger.exception("mail %s: processing failed", inbound.pk)
        return _fail(inbound, "".join(traceback.format_exception_only(exc)).strip())


def ingest_raw(raw: bytes, *, mailbox: Mailbox) -> InboundMail:
    """Store a letter that arrived to `mailbox`, then process it; return the stored row.

    Safe to call twice with the same letter. Never raises for bad mail (it is kept with
    status `failed`); a database that is down does raise, so the transport keeps the letter.
    """
    inbound = store_raw(raw, mailbox=mailbox)
    if inbound.status == InboundMail.Status.STORED:
        inbound = process(inbound, mailbox=mailbox)
    return inbound


def reprocess(*, inbound: InboundMail, actor: User | None) -> InboundMail:
    """Process a failed or stuck letter again (after the parser or the data were put right)."""
    with transaction.atomic():
        before = InboundMail.objects.defer("raw").get(pk=inbound.pk)
        changed = InboundMail.objects.filter(
            pk=inbound.pk, status__in=[InboundMail.Status.FAILED, InboundMail.Status.STORED]
        ).update(status=InboundMail.Status.STORED, error="", problems="")
        if changed:
            audit.record(
                actor=actor, partner=before.partner, action="mail.reprocess", target=before,
                before={"status": before.status, "error": before.error},
                after={"status": InboundMail.Status.STORED},
            )
    if changed:
        return process(before)
    inbound.refresh_from_db()
    return inbound
