"""Webhook subscriptions in the REST API: what «Настройки → Вебхуки» does, for scripts.

List, create (the signing secret is in that answer only), read, change, delete, rotate the
secret (the new one in that answer only), the delivery log (newest first, a page at a
time) and «send again». Who may do what is the desk pages' rule, in the same functions
(firstline.webhooks.services): a partner's manager manages the partner's subscriptions, a
provider supervisor or administrator every partner's and the provider-wide ones; anyone
else gets 403, and a subscription the caller may not manage is a 404 like a missing one.
The services validate (URL, private addresses, events), audit and clear the caches; the
endpoints parse and scope only.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from firstline.api.auth import current_user
from firstline.api.errors import StateConflict
from firstline.api.fields import Id, Text
from firstline.api.pagination import PageParams, paginate
from firstline.api.schemas import BODY_ERRORS, COMMON_ERRORS, CONFLICT, NOT_FOUND
from firstline.core.models import User
from firstline.outbox.models import Status as SendStatus
from firstline.tenancy import partners_for
from firstline.webhooks import services
from firstline.webhooks.models import EVENT_NAMES, Delivery, Subscription

router = Router(tags=["webhooks"])

# The events a subscription may choose, as an enum: an unknown one is refused by the schema.
EventName = StrEnum("EventName", {name: name for name in EVENT_NAMES})
# Its own name in the document: the outbox's `Status` would take the tickets' component name.
DeliveryStatus = StrEnum("DeliveryStatus", {value: value for value in SendStatus.values})

_URL_DESCRIPTION = (
    "The receiver: http:// or https://, no user name or password; an address that resolves "
    "to a private, loopback, link-local or reserved network is refused (a 422 naming `url`) "
    "unless the administrator allows such addresses.")

Url = Annotated[Text, Field(max_length=services.URL_MAX, description=_URL_DESCRIPTION,
                            examples=["https://hooks.example.com/firstline"])]
Name = Annotated[Text, Field(max_length=services.NAME_MAX,
                             description="For people; may be empty.")]
Events = Annotated[list[EventName], Field(
    min_length=1, max_length=100,
    description="The events to receive (each is documented under `webhooks`).")]


class _Input(Schema):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class SubscriptionIn(_Input):
    partner_id: Id | None = Field(
        description="Whose events: a partner, or null for every partner's (provider-wide; "
                    "a provider supervisor's or administrator's only).")
    url: Url
    events: Events
    name: Name = ""


class SubscriptionPatchIn(_Input):
    """Leave a key out (or send null) to keep it."""

    url: Url | None = None
    events: Events | None = None
    name: Name | None = None
    is_active: bool | None = Field(
        None, description="false switches it off: no new deliveries, none sent again.")


class SubscriptionFilters(PageParams):
    partner_id: Id | None = Field(None, description="Only this partner's subscriptions.")


class SubscriptionOut(Schema):
    id: int
    partner_id: int | None = Field(description="null: provider-wide, every partner's events.")
    name: str
    url: str
    events: list[str]
    is_active: bool
    created_at: datetime
    secret_rotated_at: datetime = Field(description="When the signing secret last changed.")


class SubscriptionCreatedOut(SubscriptionOut):
    secret: str = Field(description="The signing secret. Shown in this answer only: store it.")


class SubscriptionPage(Schema):
    items: list[SubscriptionOut]
    next_cursor: str | None


class SecretOut(Schema):
    secret: str = Field(description="The new signing secret, in this answer only; every "
                                    "send from now on (retries included) is signed with it.")
    secret_rotated_at: datetime


class DeliveryOut(Schema):
    id: int
    event_id: str = Field(description="The event's id (X-Firstline-Event-Id); a copy sent "
                                      "again keeps it.")
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="While it waits to be sent.")
    sent_at: datetime | None
    response_code: int | None = Field(description="The receiver's last HTTP answer, if any.")
    last_error: str
    resent_from_id: int | None = Field(description="The delivery this one sends again.")
    created_at: datetime

    @staticmethod
    def resolve_event_id(obj: Delivery) -> str:
        return str(obj.event_id)

    @staticmethod
    def resolve_status(obj: Delivery) -> str:
        return obj.message.status

    @staticmethod
    def resolve_attempts(obj: Delivery) -> int:
        return obj.message.attempts

    @staticmethod
    def resolve_next_attempt_at(obj: Delivery) -> datetime | None:
        waiting = obj.message.status == SendStatus.PENDING
        return obj.message.next_attempt_at if waiting else None

    @staticmethod
    def resolve_sent_at(obj: Delivery) -> datetime | None:
        return obj.message.sent_at

    @staticmethod
    def resolve_response_code(obj: Delivery) -> int | None:
        return obj.code

    @staticmethod
    def resolve_last_error(obj: Delivery) -> str:
        return obj.message.last_error


class DeliveryFilters(PageParams):
    status: DeliveryStatus | None = None


class DeliveryPage(Schema):
    items: list[DeliveryOut]
    next_cursor: str | None


def _manager(request: HttpRequest) -> User:
    user = current_user(request)
    if not services.may_manage(user):
        raise PermissionDenied(_("Only a partner's manager or a provider supervisor manages "
                                 "webhooks."))
    return user


def _subscriptions(user: User) -> QuerySet[Subscription]:
    return services.manageable_for(user)


def _subscription_or_404(user: User, subscription_id: int) -> Subscription:
    return get_object_or_404(_subscriptions(user).select_related("partner"),
                             pk=subscription_id)


_ONE = {200: SubscriptionOut, **COMMON_ERRORS, **NOT_FOUND}


@router.get("/webhooks/subscriptions", response={200: SubscriptionPage, **COMMON_ERRORS})
def list_subscriptions(request: HttpRequest,
                       filters: Query[SubscriptionFilters]) -> dict[str, Any]:
    """The subscriptions you manage, newest first."""
    rows = _subscriptions(_manager(request))
    if filters.partner_id is not None:
        rows = rows.filter(partner_id=filters.partner_id)
    items, next_cursor = paginate(rows, filters)
    return {"items": items, "next_cursor": next_cursor}


@router.post("/webhooks/subscriptions",
             response={201: SubscriptionCreatedOut, **COMMON_ERRORS, **BODY_ERRORS})
def create_subscription(request: HttpRequest,
                        payload: SubscriptionIn) -> Status[dict[str, Any]]:
    """Subscribe a URL to events. The answer carries the signing secret, this once."""
    user = _manager(request)
    partner = None
    if payload.partner_id is not None:
        partner = partners_for(user).filter(pk=payload.partner_id).first()
        if partner is None:
            raise ValidationError({"partner_id": _("Unknown partner.")})
    subscription, secret = services.create_subscription(
        actor=user, partner=partner, url=payload.url,
        events=[str(event) for event in payload.events], name=payload.name)
    answer = SubscriptionOut.from_orm(subscription).dict()
    return Status(201, {**answer, "secret": secret})


@router.get("/webhooks/subscriptions/{subscription_id}", response=_ONE)
def get_subscription(request: HttpRequest, subscription_id: Id) -> Subscription:
    return _subscription_or_404(_manager(request), subscription_id)


@router.patch("/webhooks/subscriptions/{subscription_id}",
              response={**_ONE, **BODY_ERRORS})
def update_subscription(request: HttpRequest, subscription_id: Id,
                        payload: SubscriptionPatchIn) -> Subscription:
    """Change the URL, events, name or switch it on/off; all of them or, on an error, none."""
    user = _manager(request)
    subscription = _subscription_or_404(user, subscription_id)
    given = {key: value for key, value in payload.dict().items() if value is not None}
    if not given:
        return subscription  # nothing to change: no audit row saying nothing
    events = given.get("events")
    return services.update_subscription(
        actor=user, subscription=subscription, url=given.get("url", subscription.url),
        events=[str(event) for event in events] if events else subscription.events,
        name=given.get("name", subscription.name),
        is_active=given.get("is_active", subscription.is_active))


@router.delete("/webhooks/subscriptions/{subscription_id}",
               response={204: None, **COMMON_ERRORS, **NOT_FOUND})
def delete_subscription(request: HttpRequest, subscription_id: Id) -> Status[None]:
    """Delete it; deliveries still waiting are cancelled."""
    user = _manager(request)
    services.delete_subscription(actor=user,
                                 subscription=_subscription_or_404(user, subscription_id))
    return Status(204, None)


@router.post("/webhooks/subscriptions/{subscription_id}/rotate-secret",
             response={200: SecretOut, **COMMON_ERRORS, **NOT_FOUND})
def rotate_secret(request: HttpRequest, subscription_id: Id) -> dict[str, Any]:
    """Replace the signing secret; the new one is in this answer only."""
    user = _manager(request)
    subscription = _subscription_or_404(user, subscription_id)
    secret = services.rotate_secret(actor=user, subscription=subscription)
    return {"secret": secret, "secret_rotated_at": subscription.secret_rotated_at}


@router.get("/webhooks/subscriptions/{subscription_id}/deliveries",
            response={200: DeliveryPage, **COMMON_ERRORS, **NOT_FOUND})
def list_deliveries(request: HttpRequest, subscription_id: Id,
                    filters: Query[DeliveryFilters]) -> dict[str, Any]:
    """What was sent to it (or waits to be), newest first."""
    subscription = _subscription_or_404(_manager(request), subscription_id)
    rows = services.deliveries_for(subscription)
    if filters.status is not None:
        rows = rows.filter(message__status=filters.status)
    items, next_cursor = paginate(rows, filters)
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/webhooks/subscriptions/{subscription_id}/deliveries/{delivery_id}/send-again",
    response={200: DeliveryOut, **COMMON_ERRORS, **NOT_FOUND, **CONFLICT})
def send_again(request: HttpRequest, subscription_id: Id, delivery_id: Id) -> Delivery:
    """Send the event again, now. One still waiting (or failed) is made due at once and is
    the answer; one already sent is copied into a new delivery with the same event id,
    which is the answer. Refused with 409 naming `delivery` while it is being sent, or
    when the subscription is switched off."""
    user = _manager(request)
    subscription = _subscription_or_404(user, subscription_id)
    delivery = get_object_or_404(subscription.deliveries.select_related("subscription"),
                                 pk=delivery_id)
    try:
        delivery = services.send_again(actor=user, delivery=delivery)
    except ValidationError as exc:
        raise StateConflict(exc) from exc
    return services.deliveries_for(subscription).get(pk=delivery.pk)
