"""The phone channel's API: the generic call-event webhook, calls, talk minutes.

`POST /api/calls/events` takes one event of a PBX that firstline has no adapter for. It is
authenticated either by a token (a partner's integration account: the call must be on
that partner's number; or provider staff) or, for a PBX that cannot send a bearer token,
by `X-Firstline-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with
FIRSTLINE_CALLS_WEBHOOK_SECRET. The same event sent twice is recorded once.
"""

import hashlib
import hmac
import json
from datetime import date, datetime
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
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
from firstline.calls import queries, services
from firstline.calls.events import MAX_CALL_SECONDS, CallEvent, Kind
from firstline.calls.models import Call, Direction, Outcome, RawCallEvent, Source
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


class EventResultOut(Schema):
    event_id: int = Field(description="The stored raw event.")
    state: Literal["processed", "waiting", "failed"] = Field(description=(
        "processed: applied to its call; waiting: kept until its call starts; failed: "
        "refused and kept for an operator, `field` and `reason` say why."))
    field: str = Field("", description="On failed: the field that was wrong.")
    duplicate: bool = Field(description="The same event was received before; nothing changed.")
    call_id: int | None = Field(description="The call it was applied to.")
    reason: str


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


def _event(payload: CallEventIn) -> CallEvent:
    return CallEvent(
        kind=Kind(payload.event), external_id=payload.call_id, at=payload.at,
        direction=payload.direction, caller=payload.caller, dialled=payload.dialled,
        operator=payload.operator, outcome=payload.outcome,
        talk_seconds=payload.talk_seconds, recording_url=payload.recording_url,
    )


@router.post(
    "/calls/events",
    auth=[SignatureAuth(), TokenAuth(), UiSessionAuth()],
    response={200: EventResultOut, 202: EventResultOut, **COMMON_ERRORS, **BODY_ERRORS},
)
def post_event(request: HttpRequest, payload: CallEventIn) -> Status[dict[str, Any]]:
    """Record one call event.

    200: applied (or a replay of one, `duplicate`). 202: stored but not applied: kept
    until its call starts (`waiting`), or refused for what it says (`failed`: an unknown
    support number, a caller that is not a phone number, a time half a day away from its
    call), with the field and the reason, kept for an operator. A PBX should not retry a
    202; a malformed body (422) is not stored at all."""
    principal = request.auth  # type: ignore[attr-defined]
    partner = None
    if isinstance(principal, User):
        if principal.is_partner_user and principal.role == User.Role.INTEGRATION:
            partner = principal.partner
        elif not principal.is_provider_staff:
            raise PermissionDenied(_("Only a partner's integration account posts call events."))
    data = payload.model_dump(mode="json")
    key = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    recorded = services.record_event(
        source=Source.WEBHOOK, payload=data, dedupe_key=key,
        parse=lambda: _event(payload), partner=partner,
    )
    raw = recorded.raw
    field = raw.reason.partition(": ")[0] if raw.state == RawCallEvent.State.FAILED else ""
    body = {"event_id": raw.pk, "state": raw.state, "duplicate": recorded.duplicate,
            "call_id": raw.call_id, "reason": raw.reason, "field": field}
    return Status(200 if raw.state == RawCallEvent.State.PROCESSED else 202, body)


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

