"""Zadarma's call notifications (its PBX "webhooks"), as its API documentation describes.

Zadarma POSTs form fields to the notification URL, one request per event:

- NOTIFY_START      call_start, pbx_call_id, caller_id, called_did
- NOTIFY_INTERNAL   ... + internal (the extension that rings)
- NOTIFY_ANSWER     call_start, pbx_call_id, caller_id, destination, internal
- NOTIFY_END        call_start, pbx_call_id, caller_id, called_did, internal, duration,
                    disposition, status_code, is_recorded, call_id_with_rec
- NOTIFY_OUT_START  call_start, pbx_call_id, destination, internal (caller_id: our number)
- NOTIFY_OUT_END    ... + duration, disposition, status_code, is_recorded, call_id_with_rec

Each carries a `Signature` header: base64 of the hexadecimal HMAC-SHA1 (PHP's hash_hmac)
of three fields concatenated, keyed with the account's API secret (which three depends on
the event, `SIGNED_FIELDS`). When the URL is saved, Zadarma checks it with a GET carrying
`zd_echo`, which must come back as the body.

`call_start` is in the account's time zone (FIRSTLINE_ZADARMA_TIME_ZONE). The answer and
the end carry no time of their own: they happen when they arrive. A notification that
arrives more than 12 hours after its call's start (a replay, an import) is placed from the
call's start instead: the answer at the start, the end after `duration`.
"""

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from firstline.calls.events import MAX_CALL_SECONDS, BadEvent, CallEvent, Kind
from firstline.calls.models import Direction, Outcome
from firstline.core.clock import now

SIGNED_FIELDS: dict[str, tuple[str, str, str]] = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_INTERNAL": ("caller_id", "called_did", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
}

# `disposition` of NOTIFY_END / NOTIFY_OUT_END.
_INBOUND_OUTCOME = {"answered": Outcome.ANSWERED, "cancel": Outcome.ABANDONED}


def sign(fields: dict[str, str], secret: str) -> str:
    names = SIGNED_FIELDS.get(fields.get("event", ""), ())
    text = "".join(fields.get(name, "") for name in names)
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def signature_ok(fields: dict[str, str], signature: str, secret: str) -> bool:
    if not secret or not signature or fields.get("event") not in SIGNED_FIELDS:
        return False
    return hmac.compare_digest(sign(fields, secret), signature.strip())


def _call_start(fields: dict[str, str]) -> datetime:
    raw = fields.get("call_start", "")
    try:
        moment = datetime.strptime(raw.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError as exc:
        raise BadEvent("call_start", f"expected YYYY-MM-DD HH:MM:SS, got {raw!r}") from exc
    return moment.replace(tzinfo=ZoneInfo(settings.FIRSTLINE_ZADARMA_TIME_ZONE))


def _duration(fields: dict[str, str]) -> int:
    raw = fields.get("duration", "0").strip() or "0"
    if not raw.isdigit() or int(raw) > MAX_CALL_SECONDS:
        raise BadEvent("duration", f"{raw!r} is not a plausible number of seconds")
    return int(raw)


def _arrival(start: datetime, arrived: datetime) -> datetime | None:
    return arrived if timedelta(0) <= arrived - start <= timedelta(seconds=MAX_CALL_SECONDS) \
        else None


def to_event(fields: dict[str, str], arrived: datetime | None = None) -> CallEvent:
    """The notification as a `CallEvent`; raises `BadEvent` for a field that is wrong.

    `arrived` is when the notification came (default: now); the worker that applies it
    later passes the moment it was received, so the answer and the end stay where they were."""
    kind = fields.get("event", "")
    call_id = fields.get("pbx_call_id", "").strip()
    start = _call_start(fields)
    arrival = _arrival(start, arrived or now())
    common = {"external_id": call_id, "operator": fields.get("internal", "").strip()}
    if kind == "NOTIFY_START":
        return CallEvent(kind=Kind.START, at=start, caller=fields.get("caller_id", ""),
                         dialled=fields.get("called_did", ""), **common)
    if kind == "NOTIFY_INTERNAL":
        return CallEvent(kind=Kind.OFFER, at=start, caller=fields.get("caller_id", ""),
                         dialled=fields.get("called_did", ""), **common)
    if kind == "NOTIFY_ANSWER":
        return CallEvent(kind=Kind.ANSWER, at=arrival or start,
                         caller=fields.get("caller_id", ""), **common)
    if kind == "NOTIFY_END":
        talk = _duration(fields)
        disposition = fields.get("disposition", "").strip().lower()
        outcome = _INBOUND_OUTCOME.get(disposition, Outcome.MISSED)
        return CallEvent(
            kind=Kind.END, at=arrival or start + timedelta(seconds=talk),
            caller=fields.get("caller_id", ""), dialled=fields.get("called_did", ""),
            outcome=outcome, talk_seconds=talk if outcome == Outcome.ANSWERED else 0,
            **common,
        )
    if kind in ("NOTIFY_OUT_START", "NOTIFY_OUT_END"):
        # Outgoing: the customer is the destination; our line is the caller id shown.
        end = kind == "NOTIFY_OUT_END"
        talk = _duration(fields) if end else None
        answered = fields.get("disposition", "").strip().lower() == "answered"
        return CallEvent(
            kind=Kind.END if end else Kind.START, direction=Direction.OUTBOUND,
            at=(arrival or start + timedelta(seconds=talk or 0)) if end else start,
            caller=fields.get("destination", ""), dialled=fields.get("caller_id", ""),
            outcome=(Outcome.ANSWERED if answered else Outcome.MISSED) if end else "",
            talk_seconds=(talk if answered else 0) if end else None, **common,
        )
    raise BadEvent("event", f"{kind!r} is not a call notification firstline reads")


def dedupe_key(fields: dict[str, str]) -> str:
    text = "\x1f".join(f"{key}={fields[key]}" for key in sorted(fields))
    return hashlib.sha256(text.encode()).hexdigest()
