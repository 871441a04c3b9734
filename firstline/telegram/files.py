"""A Telegram message's files, fetched after the message is kept (the task worker's job).

    processing an update ─► IncomingFile (pending) ─ on commit ─► task fetch_files
        getFile, then GET <api>/file/bot<token>/<file_path> (core.telegram.org/bots/api#getfile)
        ├─ fetched: an attachment of the customer's message
        ├─ network error, 429, 5xx: pending again, next_attempt_at later (doubling back-off)
        └─ failed, with the reason: over Telegram's 20 MB for bots or the desk's attachment
           limit, gone (Telegram no longer has it), or still unreachable after MAX_ATTEMPTS;
           an internal note names the file and the reason, and the customer is told

An attempt first claims its row (leased_until), so one worker at a time fetches a file,
whatever enqueued it twice. The poller's sweep (fetch_due, every pass of `telegram_poll`)
hands due retries, and files whose task was lost, to a new task. Nothing here can lose the
message: it was committed before any of this runs.
"""

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Prefetch, Q
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from firstline.contacts.models import letter_language
from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import User
from firstline.telegram import botapi, texts
from firstline.telegram.models import IncomingFile
from firstline.tickets import filenames
from firstline.tickets.models import Attachment, Status, Ticket

logger = logging.getLogger(__name__)

FileStatus = IncomingFile.Status
Reason = IncomingFile.Reason
# How long a claimed (or handed-out) file is left to its worker before the sweep may hand
# it out again: well over a 20 MB download at the Bot API's timeouts.
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
SWEEP_BATCH = 50


class _Refused(Exception):
    """Telegram will not serve this file: no retry helps."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


def enqueue(file_ids: Iterable[int]) -> None:
    from firstline.telegram.tasks import fetch_files

    fetch_files.enqueue(list(file_ids))


def fetch(pk: int) -> str:
    """One attempt at one file: "fetched", "retry", "failed", or "skipped" (not pending, or
    another worker has it)."""
    row = _claim(pk)
    if row is None:
        return "skipped"
    try:
        name, content = _get(row)
        attached = _attach(row, name, content)
    except _Refused as refusal:
        return "failed" if _fail(row, refusal.reason, refusal.detail) else "skipped"
    except Exception as exc:  # noqa: BLE001 — a network error, or one of ours (the
        # storage, the database): tried again later, failed for good after MAX_ATTEMPTS
        if not isinstance(exc, botapi.ApiError):
            logger.exception("telegram file %s: fetching failed", pk)
        detail = str(exc) if isinstance(exc, botapi.ApiError) else \
            f"{type(exc).__name__}: {exc}"
        if row.attempts >= MAX_ATTEMPTS:
            return "failed" if _fail(row, Reason.UNREACHABLE, detail) else "skipped"
        _later(row, exc, detail)
        return "retry"
    return "fetched" if attached else "skipped"


def _claim(pk: int) -> IncomingFile | None:
    moment = now()
    claimed = (IncomingFile.objects.filter(pk=pk, status=FileStatus.PENDING)
               .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=moment))
               .update(leased_until=moment + LEASE, attempts=F("attempts") + 1))
    if not claimed:
        return None
    return IncomingFile.objects.select_related("bot").get(pk=pk)


def _limits() -> tuple[int, int]:
    """(the desk's attachment limit, the most this download reads)."""
    from firstline.telegram.services import attachment_limit

    desk = attachment_limit()
    return desk, min(desk, botapi.BOT_DOWNLOAD_LIMIT)


def _get(row: IncomingFile) -> tuple[str, bytes]:
    """The file's name and bytes from the Bot API; _Refused, or ApiError to try again."""
    from firstline.telegram.services import size_refusal

    token = str(row.bot.token)
    desk, most = _limits()
    try:
        info = botapi.call(token, "getFile", {"file_id": row.file_id})
    except botapi.ApiError as exc:
        if exc.code == 400:
            # "file is too big" (over 20 MB), or a file_id Telegram does not know (any more).
            too_big = "too big" in exc.description.lower()
            raise _Refused(Reason.TOO_BIG if too_big else Reason.GONE, str(exc)) from exc
        raise
    info = info if isinstance(info, dict) else {}
    size = info.get("file_size")
    reason = size_refusal(size if isinstance(size, int) else None, desk)
    if reason:
        raise _Refused(reason)
    path = str(info.get("file_path") or "")
    if not path:
        raise _Refused(Reason.GONE, "getFile: no file_path")
    try:
        got = botapi.download(token, path, most)
    except botapi.ApiError as exc:
        if exc.code == 404:
            raise _Refused(Reason.GONE, str(exc)) from exc
        raise
    if got.too_big:
        raise _Refused(size_refusal(None, desk, known_big=True))
    name = row.filename
    extension = path.rsplit("/", 1)[-1].rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] \
        else ""
    if name.startswith("photo_") and extension:
        # A photo has no name of its own: the type is the file's, as Telegram stores it.
        name = f"{name.rsplit('.', 1)[0]}.{extension[:10]}"
    return name, got.content


def _later(row: IncomingFile, exc: Exception, detail: str) -> None:
    delay = min(BACKOFF_FIRST * 2 ** max(row.attempts - 1, 0), BACKOFF_MAX)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        delay = max(delay, timedelta(seconds=retry_after))
    IncomingFile.objects.filter(pk=row.pk, status=FileStatus.PENDING,
                                attempts=row.attempts).update(
        leased_until=None, next_attempt_at=now() + delay, error=detail[:2000])


def _locked(row: IncomingFile) -> IncomingFile | None:
    """The row again, locked, if it is still this attempt's (pending, same attempt)."""
    return (IncomingFile.objects.select_for_update(of=("self",))
            .select_related("chat__contact", "chat__bot", "message")
            .filter(pk=row.pk, status=FileStatus.PENDING, attempts=row.attempts).first())


def _attach(row: IncomingFile, name: str, content: bytes) -> bool:
    with transaction.atomic():
        locked = _locked(row)
        if locked is None:
            return False
        shown = filenames.display_name(name)
        attachment = Attachment(partner_id=locked.partner_id, message_id=locked.message_id,
                                filename=shown, size=len(content),
                                content_type=locked.content_type or "application/octet-stream")
        attachment.file.save(filenames.storage_name(shown), ContentFile(content), save=False)
        attachment.save()
        locked.status = FileStatus.FETCHED
        locked.attachment = attachment
        locked.filename = shown
        locked.error = ""
        locked.leased_until = None
        locked.finished_at = now()
        locked.save(update_fields=["status", "attachment", "filename", "error", "leased_until",
                                   "finished_at"])
    return True


def _fail(row: IncomingFile, reason: str, detail: str) -> bool:
    """Failed for good: kept with the reason, a note for the operator, a line to the
    customer (unless the ticket is closed by now)."""
    from firstline.telegram import services

    with transaction.atomic():
        locked = _locked(row)
        if locked is None:
            return False
        locked.status = FileStatus.FAILED
        locked.reason = reason
        locked.error = detail[:2000]
        locked.leased_until = None
        locked.finished_at = now()
        # The ticket the message is on now (a merge moves messages to the target).
        ticket = Ticket.objects.select_related("partner").get(pk=locked.message.ticket_id)
        refusal = (locked.filename, locked.size, reason, detail)
        services.note(ticket, services.refused_line(*refusal))
        chat = locked.chat
        if chat is not None and ticket.status != Status.CLOSED:
            language = letter_language(chat.contact, ticket.partner)
            problems = services.tell_refused(ticket, chat, [refusal], language)
            if problems:
                locked.error = "\n".join([locked.error, *problems]).strip()[:2000]
        locked.save(update_fields=["status", "reason", "error", "leased_until", "finished_at"])
    return True


def fetch_due(*, limit: int = SWEEP_BATCH) -> int:
    """Hand the pending files that fall due (retries, lost tasks) to a task; how many."""
    moment = now()
    due = (Q(status=FileStatus.PENDING, next_attempt_at__lte=moment)
           & (Q(leased_until__isnull=True) | Q(leased_until__lte=moment)))
    ids = list(IncomingFile.objects.filter(due).order_by("next_attempt_at", "id")
               .values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    # Not handed out again within LEASE, whatever becomes of this task.
    IncomingFile.objects.filter(due, pk__in=ids).update(next_attempt_at=moment + LEASE)
    enqueue(ids)
    return len(ids)


def retry(*, item: IncomingFile, actor: User) -> IncomingFile:
    """An operator asks for a failed file again (one Telegram may still serve)."""
    with transaction.atomic():
        changed = IncomingFile.objects.filter(
            pk=item.pk, status=FileStatus.FAILED, reason__in=[Reason.GONE, Reason.UNREACHABLE],
        ).update(status=FileStatus.PENDING, reason="", error="", attempts=0, leased_until=None,
                 next_attempt_at=now() + LEASE, finished_at=None)
        if not changed:
            raise ValidationError({"status": _(
                "Only a file that could not be fetched can be asked for again; one over a "
                "size limit cannot.")})
        audit.record(actor=actor, partner=item.partner, action="telegram.file_retry",
                     target=item, before={"status": item.status, "reason": item.reason},
                     after={"status": FileStatus.PENDING})
        pk = item.pk
        transaction.on_commit(lambda: enqueue([pk]), robust=True)
    return IncomingFile.objects.get(pk=item.pk)


# Shown beside a message (portal, API) ---------------------------------------------------


def unreceived(to_attr: str = "unreceived_files") -> Prefetch:
    """A conversation's prefetch, one query for all its messages: each message's Telegram
    files that are not attachments (yet), pending or failed, in the order they came (a
    fetched one is among `message.attachments`). Only what a reader is shown is loaded:
    never the file_id (the bot's key to the file) or the error Telegram gave."""
    return Prefetch(
        "telegram_files",
        queryset=(IncomingFile.objects
                  .filter(status__in=[FileStatus.PENDING, FileStatus.FAILED])
                  .only("id", "message_id", "filename", "size", "status", "reason")
                  .order_by("id")),
        to_attr=to_attr,
    )


def customer_reason(reason: str) -> str:
    """Why a file was not received, as the customer is told it (the active language): the
    limit it is over, or that Telegram did not give it; none of the details the desk sees."""
    from firstline.telegram.services import attachment_limit

    language = get_language() or settings.LANGUAGE_CODE
    if reason == Reason.TOO_BIG:
        return _("Telegram gives bots files of at most %(limit)s.") % {
            "limit": texts.size_text(botapi.BOT_DOWNLOAD_LIMIT, language)}
    if reason == Reason.OVER_LIMIT:
        limit = min(attachment_limit(), botapi.BOT_DOWNLOAD_LIMIT)
        return _("we do not accept files over %(limit)s.") % {
            "limit": texts.size_text(limit, language)}
    return _("it could not be fetched from Telegram.")
