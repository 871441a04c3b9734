"""The phone channel's API: the generic call-event webhook, calls, talk minutes.

`POST /api/calls/events` takes one event of a PBX that firstline has no adapter for. It is
authenticated either by a token (a partner's integration account: the call must be on
that partner's number; or provider staff) or, for a PBX that cannot send a bearer token,
by `X-Firstline-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with
FIRSTLINE_CALLS_WEBHOOK_SECRET. The event is stored as received (`calls.inbox`) and the
answer comes at once; the `calls_work` worker applies it within a moment.
`GET /api/calls/events/{key}` says what became of it. The same event sent twice is
recorded once.
"""

import hashlib
import hmac
from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import AuthenticationError
from ninja.security import APIKeyHeader
from pydantic import ConfigDict, field_validator

from firstline.api.auth import TokenAuth, UiSessionAuth
from firstline.api.fields import NO_NUL_PATTERN, Id, Text
from firstline.api.pagination import PageParams, paginate
from firstline.api.schemas import BODY_ERRORS, COMMON_ERRORS, NOT_FOUND, Ref
from firstline.calls import inbox, queries, services
from firstline.calls.events import MAX_CALL_SECONDS, BadEvent
from firstline.calls.models import Call, Direction, Outcome, Source
from firstline.core.clock import now
from firstline.core.models import User
from firstline.tenancy import partners_for, tickets_for

router = Router(tags=["calls"])


class SignedPbx:
    """The caller proved it holds the webhook secret; it may post for any partner."""


class SignatureAuth(APIKeyHeader):
    """`X-Firstline-Signature: sha256=<hex>`: HMAC-SHA256 of the raw body."""

    param_name = "X-Firstline-Signature"

    def authenticate(self, request: HttpRequest, key: str | None) -> SignedPbx | None:
        if key is None:
            return None
        # A request that carries the header stands or falls by it, even with a token.
        secret = settings.FIRSTLINE_CALLS_WEBHOOK_SECRET
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not secret or not hmac.compare_digest(f"sha256={expected}", key.strip()):
            raise AuthenticationError(message=_("Bad signature."))
        return SignedPbx()


# --- Schemas -------------------------------------------------------------------------------


class CallEventIn(Schema):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    call_id: Text = Field(min_length=1, max_length=120,
                          description="The PBX's id of the call; every event of it repeats it.")
    event: Literal["start", "offer", "answer", "end", "recording"] = Field(
        description="start: the call reached the line (queue/IVR); offer: an operator's "
                    "phone rings; answer: an operator picked up; end: the call is over; "
                    "recording: its recording is ready.")
    at: datetime = Field(description="When it happened, with a time zone (ISO 8601).",
                         json_schema_extra={"pattern": NO_NUL_PATTERN})
    direction: Literal["inbound", "outbound"] = "inbound"
    caller: Text = Field("", max_length=40,
                         description="The customer's number (any notation; stored as E.164).")
    dialled: Text = Field("", max_length=40, description=(
        "The partner's support number the customer dialled (outbound: the number shown). "
        "Needed on the first event of a call unless the token names the partner."))
    operator: Text = Field("", max_length=80,
                           description="The operator's extension (or desk user name).")
    outcome: Literal["", "answered", "abandoned", "missed", "voicemail", "callback"] = Field(
        "", description="On `end`: what became of the call, if the PBX knows.")
    talk_seconds: int | None = Field(None, ge=0, le=MAX_CALL_SECONDS,
                                     description="On `end`: the PBX's talk time.")
    recording_url: Text = Field("", max_length=500)

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError(_("The time needs a time zone (e.g. +03:00 or Z)."))
        return value


class EventStateOut(Schema):
    key: str = Field(description=(
        "The event's key (hex SHA-256 of its fields): `GET /api/calls/events/{key}` says "
        "what became of it. The same event sent again has the same key."))
    event_id: int = Field(description=(
        "accepted: its number in the inbox; afterwards: the kept raw event's id."))
    state: Literal["accepted", "processed", "waiting", "failed"] = Field(description=(
        "accepted: stored, to be applied within a moment; processed: applied to its call; "
        "waiting: kept until its call starts; failed: refused and kept for an operator, "
        "`field` and `reason` say why."))
    field: str = Field("", description="On failed: the field that was wrong.")
    duplicate: bool = Field(description="The same event was received before; nothing changed.")
    call_id: int | None = Field(None, description="The call it was applied to.")
    reason: str = ""


EVENT_KEY_PATTERN = r"^[0-9a-f]{64}$"
EventKey = Annotated[str, Field(
    pattern=EVENT_KEY_PATTERN,
    examples=["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"])]


class CallOut(Schema):
    id: int
    partner_id: int
    source: Source
    external_id: str
    direction: Direction
    caller: str
    dialled: str
    started_at: datetime
    entered_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_seconds: int | None
    talk_seconds: int
    outcome: Outcome
    operator: Ref | None
    recording_url: str
    ticket_id: int | None
    callback_ticket_id: int | None

    @staticmethod
    def resolve_operator(obj: Call) -> dict[str, object] | None:
        if obj.operator is None:
            return None
        return {"id": obj.operator.pk, "name": obj.operator.display_name}


class CallPage(Schema):
    items: list[CallOut]
    next_cursor: str | None


class CallFilters(PageParams):
    partner_id: Id | None = None
    outcome: Outcome | None = None


class AttachIn(Schema):
    model_config = ConfigDict(extra="forbid")
    ticket_id: Id


class MinutesOut(Schema):
    partner_id: int
    month: str
    minutes_used: int
    minutes_included: int


class MinutesFilters(Schema):
    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)


# --- Endpoints -----------------------------------------------------------------------------


def _sees(principal: object, partner_id: int | None) -> bool:
    """Whether the sender may read an event of this partner (None: of no partner yet)."""
    if isinstance(principal, SignedPbx):
        return True
    user: User = principal  # type: ignore[assignment]
    return user.is_provider_staff or (user.is_partner_user and user.partner_id == partner_id)


def _state_body(found: inbox.EventState, *, duplicate: bool, full: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"key": found.key, "event_id": found.event_id, "state": found.state,
                            "duplicate": duplicate}
    if full:
        body |= {"field": found.field, "reason": found.reason, "call_id": found.call_id}
    return body


@router.post(
    "/calls/events",
    auth=[SignatureAuth(), TokenAuth(), UiSessionAuth()],
    response={200: EventStateOut, 202: EventStateOut, **COMMON_ERRORS, **BODY_ERRORS},
)
def post_event(request: HttpRequest, payload: CallEventIn) -> Status[dict[str, Any]]:
    """Take one call event; it is applied to its call within a moment.

    202 `accepted`: stored; the `calls_work` worker applies it within a second or so (an
    event for a call not started yet then waits for it). `GET /api/calls/events/{key}`
    says what became of it: processed, waiting, or failed with the field and the reason.
    202 `failed`: refused for what it says without its call (a number that is not a
    partner's support number, or not this token's partner's; a caller that is not a
    phone number), with `field` and `reason`, and kept for an operator; a PBX should not
    retry it. 200: the same event was received before (`duplicate`), with what became of
    it; nothing changed. A malformed body (422) is not stored at all."""
    principal = request.auth  # type: ignore[attr-defined]
    partner = None
    if isinstance(principal, User):
        if principal.is_partner_user and principal.role == User.Role.INTEGRATION:
            partner = principal.partner
        elif not principal.is_provider_staff:
            raise PermissionDenied(_("Only a partner's integration account posts call events."))
    data = payload.model_dump(mode="json")
    key = inbox.webhook_key(data)
    refusal = None
    try:
        services.precheck(inbox.webhook_event(data), partner)
    except BadEvent as exc:
        # Kept all the same (the worker stores it refused with this reason), and said now.
        refusal = exc
    event_id = inbox.store(source=Source.WEBHOOK, payload=data, dedupe_key=key,
                           external_id=payload.call_id,
                           partner_id=partner.pk if partner else None, received_at=now())
    if event_id is None:
        found = inbox.state_of(Source.WEBHOOK, key)
        if found is not None:
            full = _sees(principal, found.partner_id)
            return Status(200, _state_body(found, duplicate=True, full=full))
        # Applied and gone from the inbox between the two reads: it is stored; say so.
        return Status(200, {"key": key, "event_id": 0, "state": inbox.ACCEPTED,
                            "duplicate": True})
    if refusal is not None:
        return Status(202, {"key": key, "event_id": event_id, "state": "failed",
                            "duplicate": False, "field": refusal.field,
                            "reason": str(refusal)})
    return Status(202, {"key": key, "event_id": event_id, "state": inbox.ACCEPTED,
                        "duplicate": False})


@router.get("/calls/events/{key}", response={200: EventStateOut, **COMMON_ERRORS, **NOT_FOUND})
def get_event(request: HttpRequest, key: EventKey) -> dict[str, Any]:
    """What became of an event posted to `POST /api/calls/events`, by the key its answer
    gave: accepted (not applied yet), processed, waiting for its call, or failed with the
    field and the reason. Provider staff see every event, a partner's accounts the events
    of their partner."""
    found = inbox.state_of(Source.WEBHOOK, key)
    if found is None or not _sees(request.auth, found.partner_id):  # type: ignore[attr-defined]
        raise Http404
    return _state_body(found, duplicate=False, full=True)


def _calls(user: User) -> QuerySet[Call]:
    return queries.calls_for(user).select_related("operator")


@router.get("/calls", response={200: CallPage, **COMMON_ERRORS})
def list_calls(request: HttpRequest, filters: Query[CallFilters]) -> dict[str, Any]:
    """Calls you can see, newest first."""
    calls = _calls(request.auth)  # type: ignore[attr-defined]
    if filters.partner_id is not None:
        calls = calls.filter(partner_id=filters.partner_id)
    if filters.outcome is not None:
        calls = calls.filter(outcome=filters.outcome)
    items, next_cursor = paginate(calls, filters)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/calls/minutes", response={200: list[MinutesOut], **COMMON_ERRORS})
def list_minutes(request: HttpRequest, filters: Query[MinutesFilters]) -> list[dict[str, Any]]:
    """Talk minutes used in a month by each partner you can see, against the tariff."""
    month = date(filters.year, filters.month, 1)
    partners = list(partners_for(request.auth).select_related("tariff"))  # type: ignore[attr-defined]
    used = queries.talk_minutes_for(partners, month)
    return [
        {"partner_id": p.pk, "month": f"{month:%Y-%m}", "minutes_used": used[p.pk],
         "minutes_included": p.tariff.minutes_included}
        for p in partners
    ]


@router.get("/calls/{call_id}", response={200: CallOut, **COMMON_ERRORS, **NOT_FOUND})
def get_call(request: HttpRequest, call_id: Id) -> Call:
    return get_object_or_404(_calls(request.auth), pk=call_id)  # type: ignore[attr-defined]


@router.post(
    "/calls/{call_id}/ticket",
    response={200: CallOut, **COMMON_ERRORS, **NOT_FOUND, **BODY_ERRORS},
)
def attach_call(request: HttpRequest, call_id: Id, payload: AttachIn) -> Call:
    """Put the call on a ticket of its partner; an answered call meets the reaction target."""
    user: User = request.auth  # type: ignore[attr-defined]
    call = get_object_or_404(_calls(user), pk=call_id)
    ticket = get_object_or_404(tickets_for(user), pk=payload.ticket_id)
    services.attach_call(call=call, ticket=ticket, actor=user)
    return get_object_or_404(_calls(user), pk=call_id)

