"""State changes of outbox messages: enqueue, retry now, cancel.

`enqueue` is called by every module that wants something sent, inside its own transaction:
the message exists exactly when the change that caused it does, and if that transaction
rolls back nothing is sent. Delivery is nudged only after commit.
"""

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import Partner, User
from firstline.outbox.models import Channel, OutboxMessage, Status
from firstline.tickets.models import Ticket

logger = logging.getLogger(__name__)

# RFC 5322 field names: printable ASCII without spaces and colons.
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
# E.164 allows 15 digits; fewer than 7 is not a phone number anywhere.
_PHONE = re.compile(r"^\+?[\d\s()\-.]+$")


def _nudge_delivery() -> None:
    # Imported here: tasks imports delivery, which imports the adapters and models.
    from firstline.outbox.tasks import deliver_outbox

    deliver_outbox.enqueue()


def nudge_after_commit() -> None:
    """Nudge delivery once the current transaction commits: once per transaction.

    One delivery run sends everything that is due, so a transaction that writes several
    messages needs one nudge, not one task row each. A nudge still registered is enough:
    Django drops a callback when a savepoint it was registered in rolls back, and those of
    its savepoints that are not enclosing this one now were released (they cannot roll
    back any more), so whatever rollback would drop it drops this message too."""
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(
        func is _nudge_delivery for _sids, func, _robust in connection.run_on_commit
    ):
        return
    transaction.on_commit(_nudge_delivery, robust=True)


def clean_recipient(channel: str, recipient: str) -> str:
    recipient = (recipient or "").strip()
    if not recipient:
        raise ValidationError({"recipient": _("A recipient is required.")})
    if channel == Channel.EMAIL:
        # "ivan@example.ru." names the same mailbox (a fully qualified domain): send without
        # the dot, which mail servers and the validator refuse.
        recipient = recipient.rstrip(".") if "@" in recipient else recipient
        try:
            validate_email(recipient)
        except ValidationError as exc:
            raise ValidationError(
                {"recipient": _("Not an e-mail address: %(value)s") % {"value": recipient}}
            ) from exc
    elif channel in (Channel.SMS, Channel.VOICE):
        digits = re.sub(r"\D", "", recipient)
        if not _PHONE.match(recipient) or not 7 <= len(digits) <= 15:
            raise ValidationError(
                {"recipient": _("Not a phone number: %(value)s") % {"value": recipient}}
            )
    elif channel == Channel.WEBHOOK:
        try:
            URLValidator(schemes=["http", "https"])(recipient)
        except ValidationError as exc:
            raise ValidationError(
                {"recipient": _("Not an http(s) URL: %(value)s") % {"value": recipient}}
            ) from exc
    return recipient


def _clean_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for name, value in (headers or {}).items():
        text = str(value)
        # A line break in a header would let the value smuggle in headers of its own.
        if not _HEADER_NAME.match(str(name)) or "\r" in text or "\n" in text:
            raise ValidationError(
                {"headers": _("Invalid header: %(name)s") % {"name": name}}
            )
        cleaned[str(name)] = text
    return cleaned


def _clean_attachments(
    channel: str, attachments: Sequence[Mapping[str, str]]
) -> list[dict[str, str]]:
    files = [
        {"path": str(item.get("path") or ""), "filename": str(item.get("filename") or ""),
         "content_type": str(item.get("content_type") or "application/octet-stream")}
        for item in attachments
    ]
    if files and channel != Channel.EMAIL:
        raise ValidationError({"attachments": _("Only e-mail carries attachments.")})
    if any(not item["path"] or not item["filename"] for item in files):
        raise ValidationError({"attachments": _("An attachment needs a path and a file name.")})
    return files


def with_message_id(headers: dict[str, str], partner: Partner | None) -> dict[str, str]:
    """Give a letter its Message-ID now, so that every retry sends the same one.

    If a send succeeds but the worker dies before recording it, the letter goes twice; with
    one Message-ID the copies thread together and mail clients show them as one.
    """
    if any(name.lower() == "message-id" for name in headers):
        return headers
    sender = partner.support_email if partner is not None else str(settings.DEFAULT_FROM_EMAIL)
    domain = sender.rpartition("@")[2] or None
    return {**headers, "Message-ID": make_msgid(domain=domain)}


def _message_fields(
    *,
    partner: Partner | None,
    channel: str,
    recipient: str,
    body: str,
    subject: str,
    html: str,
    headers: Mapping[str, str] | None,
    ticket: Ticket | None,
    dedupe_key: str | None,
    attachments: Sequence[Mapping[str, str]],
) -> dict[str, object]:
    """The checked fields of one outgoing message; ValidationError naming the field."""
    if channel not in Channel.values:
        raise ValidationError({"channel": _("Unknown channel: %(value)s") % {"value": channel}})
    recipient = clean_recipient(channel, recipient)
    if not (body or "").strip():
        raise ValidationError({"body": _("The message text is empty.")})
    if ticket is not None and (partner is None or ticket.partner_id != partner.pk):
        # Tenancy: a message about a ticket belongs to the ticket's partner, never another.
        raise ValidationError({"ticket": _("The ticket belongs to another partner.")})
    if dedupe_key is not None and len(dedupe_key) > 255:
        raise ValidationError({"dedupe_key": _("At most 255 characters.")})
    clean_headers = _clean_headers(headers)
    files = _clean_attachments(channel, attachments)
    if channel == Channel.EMAIL:
        clean_headers = with_message_id(clean_headers, partner)
    return {
        "partner": partner,
        "ticket": ticket,
        "channel": channel,
        "recipient": recipient,
        "subject": subject.strip(),
        "body": body,
        "html": html,
        "headers": clean_headers,
        "attachments": files,
        "dedupe_key": dedupe_key,
        "next_attempt_at": now(),
    }


def enqueue(
    *,
    partner: Partner | None,
    channel: str,
    recipient: str,
    body: str,
    subject: str = "",
    html: str = "",
    headers: Mapping[str, str] | None = None,
    ticket: Ticket | None = None,
    dedupe_key: str | None = None,
    attachments: Sequence[Mapping[str, str]] = (),
) -> OutboxMessage:
    """Write one outgoing message in the caller's transaction and return it.

    `partner` is None only for the provider's own messages. With a `dedupe_key` that is
    already taken, the existing message is returned and nothing is created, so the same
    notification (e.g. "escalation:<ticket>:<step>:<recipient>:<channel>") is never sent
    twice, even when two workers enqueue it at the same moment. Delivery starts after the
    caller's transaction commits. An e-mail may carry `attachments`: files in the default
    storage, {"path", "filename", "content_type"}. Bad input raises ValidationError naming
    the field.
    """
    dedupe_key = dedupe_key or None
    fields = _message_fields(
        partner=partner, channel=channel, recipient=recipient, body=body, subject=subject,
        html=html, headers=headers, ticket=ticket, dedupe_key=dedupe_key,
        attachments=attachments)
    if dedupe_key is None:
        # One INSERT is all or nothing by itself: no savepoint (two more round trips) inside
        # the caller's transaction, whose failure it shares like any other statement of it.
        with transaction.atomic(savepoint=False):
            message = OutboxMessage.objects.create(**fields)
            nudge_after_commit()
        return message
    with transaction.atomic():
        existing = OutboxMessage.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return _same_tenant(existing, partner)
        try:
            # A savepoint: when a concurrent transaction inserted the same key first
            # (PostgreSQL makes this insert wait for it, then fail), only the insert is
            # undone and the caller's transaction goes on with the existing row.
            with transaction.atomic():
                message = OutboxMessage.objects.create(**fields)
        except IntegrityError:
            existing = OutboxMessage.objects.filter(dedupe_key=dedupe_key).first()
            if existing is None:
                raise
            return _same_tenant(existing, partner)
        nudge_after_commit()
    return message


def enqueue_many(messages: Sequence[Mapping[str, Any]]) -> list[OutboxMessage]:
    """Write several outgoing messages in the caller's transaction with one INSERT.

    Each item takes `enqueue`'s keyword arguments, checked the same way (ValidationError
    naming the field, nothing written), except `dedupe_key`: a batch is for messages that
    are new by construction (e.g. one per webhook subscription of a fresh event).
    """
    rows = []
    for item in messages:
        if item.get("dedupe_key"):
            raise ValidationError({"dedupe_key": _("Not for a batch: use enqueue().")})
        rows.append(OutboxMessage(**_message_fields(
            partner=item.get("partner"), channel=item["channel"],
            recipient=item["recipient"], body=item["body"], subject=item.get("subject", ""),
            html=item.get("html", ""), headers=item.get("headers"), ticket=item.get("ticket"),
            dedupe_key=None, attachments=item.get("attachments", ()))))
    if not rows:
        return []
    created = OutboxMessage.objects.bulk_create(rows)
    nudge_after_commit()
    return created


def _same_tenant(existing: OutboxMessage, partner: Partner | None) -> OutboxMessage:
    # A key reused across partners is a caller's bug; never hand one partner another's row.
    if existing.partner_id != (partner.pk if partner is not None else None):
        raise ValidationError(
            {"dedupe_key": _("The key is already used by another partner's message.")}
        )
    return existing


def retry_now(*, message_ids: Iterable[int], actor: User | None) -> int:
    """Make pending or failed messages due at once; failed ones get a full set of attempts.

    For after the cause is fixed (a gateway topped up, a setting corrected). Messages being
    sent, sent or cancelled are left alone. Returns how many were rescheduled.
    """
    at = now()
    changed = 0
    with transaction.atomic():
        rows = OutboxMessage.objects.select_related("partner").filter(
            pk__in=list(message_ids), status__in=[Status.PENDING, Status.FAILED]
        )
        for row in rows:
            update: dict[str, object] = {"status": Status.PENDING, "next_attempt_at": at}
            if row.status == Status.FAILED:
                update["attempts"] = 0
            # Compare-and-set on the status we read: a worker may have claimed it meanwhile.
            if OutboxMessage.objects.filter(pk=row.pk, status=row.status).update(**update):
                changed += 1
                audit.record(
                    actor=actor, partner=row.partner, action="outbox.retry", target=row,
                    before={"status": row.status, "attempts": row.attempts,
                            "next_attempt_at": row.next_attempt_at},
                    after=update,
                )
        if changed:
            nudge_after_commit()
    return changed


def cancel(*, message_ids: Iterable[int], actor: User | None) -> int:
    """Cancel pending or failed messages: they will not be sent. Returns how many.

    A message being sent right now cannot be called back and is left alone.
    """
    changed = 0
    with transaction.atomic():
        rows = OutboxMessage.objects.select_related("partner").filter(
            pk__in=list(message_ids), status__in=[Status.PENDING, Status.FAILED]
        )
        for row in rows:
            if OutboxMessage.objects.filter(pk=row.pk, status=row.status).update(
                status=Status.CANCELLED
            ):
                changed += 1
                audit.record(
                    actor=actor, partner=row.partner, action="outbox.cancel", target=row,
                    before={"status": row.status}, after={"status": Status.CANCELLED},
                )
    return changed
