"""Inbound mail: the one entry point every transport (IMAP, LMTP, pipe) calls.

    inbound = receive(raw_bytes, mailbox=mailbox)

1. The raw bytes are stored first, in their own transaction (DESIGN "Nothing is lost"). The
   same letter twice (same Message-ID for the mailbox, or the same bytes when it has none)
   is one row: the existing one is returned and nothing is created again. The transport
   acknowledges the letter (LMTP 250, IMAP flag, exit 0) only after this.
2. Then the letter is parsed and processed in one transaction: our own mail and bounces are
   recognised, the sender identified, the letter joins its ticket's thread or opens a new
   ticket with an acknowledgement in the outbox. Whatever goes wrong, the row stays with
   status `failed` and the reason, for an operator; bad mail never raises.

Step 2 is the mail workers' (`firstline mail_work`, started by `firstline run` and by the
systemd units): a worker sees a stored letter within its poll interval (a second) and
processes it in a batch with the others waiting. `ingest_raw` does both steps at once, in
the caller's process; the transports do that instead when FIRSTLINE_MAIL_PROCESS_INLINE is
set (a box that runs no mail worker) or when asked (`mail_in --process`).

The stored rows are also a queue: `process_stored` takes a batch of letters still `stored`
(FOR UPDATE SKIP LOCKED on PostgreSQL, so several worker processes share them and each
letter is processed once; a crashed worker's locks go with its connection, and its letters
are stored again for the next one) and processes them in one transaction: one commit for
the batch instead of one per letter. A letter that fails in a batch rolls the batch back,
and then each letter of it gets its own transaction (`process`), as before.
"""

import hashlib
import logging
import traceback
from collections.abc import Callable

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, connection, transaction

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
        # The unique constraints make the same letter, stored a moment ago by this or another
        # transport, fail here. Outside a transaction the INSERT is one by itself (committed
        # when it returns; no BEGIN and COMMIT round trips); inside the caller's, a savepoint
        # keeps that transaction usable after the refusal.
        if connection.in_atomic_block:
            with transaction.atomic():
                row.save(force_insert=True)
        else:
            row.save(force_insert=True)
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


# Letters per transaction in `process_stored`: long enough to spread the commit, short
# enough that a ticket or contact a batch locks is not held up for long.
BATCH_SIZE = 20


class _BatchFailed(Exception):
    """A letter of a batch raised: the batch is rolled back and retried letter by letter."""


def _claim(limit: int, mailbox_ids: list[int] | None) -> list[InboundMail]:
    """Up to `limit` letters still `stored`, oldest first, locked until the caller's
    transaction ends; rows another worker holds are skipped, not waited for (PostgreSQL).
    On SQLite the transaction itself holds the database (BEGIN IMMEDIATE)."""
    rows = InboundMail.objects.filter(status=InboundMail.Status.STORED)
    if mailbox_ids is not None:
        rows = rows.filter(mailbox_id__in=mailbox_ids)
    return list(
        rows.order_by("id").select_for_update(skip_locked=True)[:limit]
    )


def _handle_batch(
    rows: list[InboundMail], parse: Callable[[bytes], ParsedMail], mailboxes: dict[int, Mailbox]
) -> None:
    # Parsed first, all of them: then what the letters ask the database (the Message-IDs
    # they name, their senders, their acknowledgement counts) is asked once for the batch.
    letters: list[tuple[InboundMail, ParsedMail, bytes]] = []
    for row in rows:
        try:
            raw = row.raw_bytes()
        except Exception as exc:
            raise _BatchFailed(row.pk) from exc  # e.g. its file is gone: see process_stored
        try:
            parsed = parse(raw)
        except Exception as exc:  # noqa: BLE001 — the letter stays, failed, for an operator
            logger.exception("mail %s: the parser failed", row.pk)
            row.status = InboundMail.Status.FAILED
            row.error = f"parser: {type(exc).__name__}: {exc}"[:10000]
            row.processed_at = now()
            continue
        letters.append((row, parsed, raw))
    if not letters:
        return
    lookups = handling.look_up_batch(
        [(parsed, mailboxes[row.mailbox_id]) for row, parsed, _raw in letters]
    )
    adopted: set[tuple[int, str]] = set()
    with lookups.references.recording():
        for row, parsed, raw in letters:
            stored_id = row.message_id
            try:
                handling.handle(row, parsed, raw, mailboxes[row.mailbox_id], lookups)
            except Exception as exc:
                raise _BatchFailed(row.pk) from exc
            if row.message_id != stored_id:
                # Adopted from the parsed headers: two letters of one batch cannot both take
                # it (the database would refuse the batch's update).
                if (row.mailbox_id, row.message_id) in adopted:
                    row.message_id = stored_id
                adopted.add((row.mailbox_id, row.message_id))
            row.processed_at = now()
    lookups.write()


def _write_back(rows: list[InboundMail]) -> None:
    """What processing found, onto the batch's rows: one UPDATE a row, sent together
    (psycopg pipelines executemany). Not bulk_update: its CASE over twelve fields costs more
    CPU to build than the letters' own processing."""
    fields = [InboundMail._meta.get_field(name)
              for name in [*handling.RESULT_FIELDS, "processed_at"]]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    table = quote(InboundMail._meta.db_table)
    # Names from the model, values as parameters.
    sql = f"UPDATE {table} SET {assignments} WHERE id = %s"  # noqa: S608
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields]
        + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def process_stored(
    *,
    limit: int = BATCH_SIZE,
    mailbox_ids: list[int] | None = None,
    parse: Callable[[bytes], ParsedMail] | None = None,
) -> int:
    """Process up to `limit` stored letters in one transaction; return how many were taken.

    Safe to run in several processes at once: each letter is processed exactly once. When a
    letter raises, nothing of the batch is kept and every letter of it is processed alone,
    so one bad letter costs only itself (it ends `failed`, as with `process`)."""
    parse = parse or _parse
    rows: list[InboundMail] = []
    try:
        with transaction.atomic():
            rows = _claim(limit, mailbox_ids)
            if not rows:
                return 0
            mailboxes = Mailbox.objects.select_related("partner").in_bulk(
                {row.mailbox_id for row in rows}
            )
            _handle_batch(rows, parse, mailboxes)
            _write_back(rows)
        return len(rows)
    except (_BatchFailed, DatabaseError) as exc:
        if not rows:
            raise  # nothing was claimed: the database itself is failing
        logger.warning("mail batch %s..%s failed (%s): processing its letters one by one",
                       rows[0].pk, rows[-1].pk, exc)
    for row in InboundMail.objects.filter(pk__in=[row.pk for row in rows]).order_by("id"):
        if row.status != InboundMail.Status.STORED:
            continue
        try:
            process(row, parse=parse)
        except DatabaseError:
            raise
        except Exception as exc:  # noqa: BLE001 — e.g. the raw file is gone
            # Failed for an operator: left stored, it would come back in every batch.
            logger.exception("mail %s: could not be processed", row.pk)
            _fail(row, f"{type(exc).__name__}: {exc}")
    return len(rows)


def process_inline() -> bool:
    """FIRSTLINE_MAIL_PROCESS_INLINE: the transports process each letter themselves, as it
    comes, instead of leaving it to the mail workers."""
    return settings.FIRSTLINE_MAIL_PROCESS_INLINE


def receive(raw: bytes, *, mailbox: Mailbox, process_now: bool | None = None) -> InboundMail:
    """What a transport calls for a letter that arrived to `mailbox`: store it (committed when
    this returns), and leave it to the mail workers, or process it here and now when
    `process_now` (by default FIRSTLINE_MAIL_PROCESS_INLINE) says so. Raises only when the
    letter could not be stored: the transport then keeps it and tries again."""
    if process_inline() if process_now is None else process_now:
        return ingest_raw(raw, mailbox=mailbox)
    return store_raw(raw, mailbox=mailbox)


def letters_waiting() -> bool:
    """Is any letter stored and not yet processed? A plain read, no lock taken (on SQLite
    no write lock either), on a partial index of the stored rows: what an idle worker asks
    before it claims a batch."""
    return InboundMail.objects.filter(status=InboundMail.Status.STORED).exists()


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
