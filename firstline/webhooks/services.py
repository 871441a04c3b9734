"""Outbound webhooks' rules: managing subscriptions, turning events into deliveries.

Who manages which subscription: a partner's manager manages the partner's own ones; a
provider supervisor or administrator manages every partner's and the provider-wide ones
(no partner: they receive every partner's events). `manageable_for` is that rule.
"""

import secrets
import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from firstline.core import audit, config_cache
from firstline.core.clock import now
from firstline.core.models import Partner, User
from firstline.outbox import services as outbox
from firstline.outbox.models import Channel, OutboxMessage, Status
from firstline.webhooks import adapter, addresses, payloads
from firstline.webhooks.models import EVENT_NAMES, Delivery, Subscription

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix that marks the value, not a secret
URL_MAX = 1000
NAME_MAX = 200

EVENT_HEADER = "X-Firstline-Event"
EVENT_ID_HEADER = "X-Firstline-Event-Id"


def is_provider_manager(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active
                and user.role in (User.Role.SUPERVISOR, User.Role.ADMIN))


def may_manage(user: User) -> bool:
    return is_provider_manager(user) or bool(
        user.is_authenticated and user.is_active and user.role == User.Role.MANAGER
        and user.partner_id)


def manageable_for(user: User) -> QuerySet[Subscription]:
    """The subscriptions `user` may see and change; nothing for anyone else."""
    if is_provider_manager(user):
        return Subscription.objects.all()
    if may_manage(user):
        return Subscription.objects.filter(partner_id=user.partner_id)
    return Subscription.objects.none()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _clean(*, url: str, events: Iterable[str], name: str) -> tuple[str, list[str], str]:
    errors: dict[str, str] = {}
    url = (url or "").strip()
    if not url:
        errors["url"] = _("A URL is required.")
    elif len(url) > URL_MAX:
        errors["url"] = _("At most %(max)d characters.") % {"max": URL_MAX}
    else:
        try:
            addresses.check(url)
        except addresses.RefusedURL as exc:
            errors["url"] = str(exc)
        except LookupError as exc:
            errors["url"] = str(exc)
    chosen = list(dict.fromkeys(str(event) for event in events))
    unknown = [event for event in chosen if event not in EVENT_NAMES]
    if unknown:
        errors["events"] = _("Unknown event: %(names)s (one of: %(known)s).") % {
            "names": ", ".join(unknown), "known": ", ".join(EVENT_NAMES)}
    elif not chosen:
        errors["events"] = _("Choose at least one event.")
    name = (name or "").strip()
    if len(name) > NAME_MAX:
        errors["name"] = _("At most %(max)d characters.") % {"max": NAME_MAX}
    if errors:
        raise ValidationError(errors)
    return url, [event for event in EVENT_NAMES if event in chosen], name


def _check_partner(actor: User, partner: Partner | None) -> None:
    if is_provider_manager(actor):
        return
    if not may_manage(actor):
        raise PermissionDenied(_("Only a partner's manager or a provider supervisor manages "
                                 "webhooks."))
    if partner is None or partner.pk != actor.partner_id:
        raise ValidationError({"partner": _("A partner's manager manages the partner's own "
                                            "webhooks only.")})


@transaction.atomic
def create_subscription(*, actor: User, partner: Partner | None, url: str,
                        events: Iterable[str], name: str = "") -> tuple[Subscription, str]:
    """Create an active subscription; returns it and its secret (shown to the user once)."""
    _check_partner(actor, partner)
    url, chosen, name = _clean(url=url, events=events, name=name)
    secret = new_secret()
    subscription = Subscription.objects.create(
        partner=partner, name=name, url=url, events=chosen, secret=secret, created_by=actor,
        created_at=now(), secret_rotated_at=now())
    audit.record(actor=actor, partner=partner, action="webhook.create", target=subscription,
                 after={"url": url, "events": chosen, "name": name})
    return subscription, secret


@transaction.atomic
def update_subscription(*, actor: User, subscription: Subscription, url: str,
                        events: Iterable[str], name: str, is_active: bool) -> Subscription:
    _check_partner(actor, subscription.partner)
    url, chosen, name = _clean(url=url, events=events, name=name)
    before = {"url": subscription.url, "events": subscription.events,
              "name": subscription.name, "is_active": subscription.is_active}
    subscription.url, subscription.events = url, chosen
    subscription.name, subscription.is_active = name, bool(is_active)
    subscription.save(update_fields=["url", "events", "name", "is_active"])
    _forget_on_commit(subscription.pk)
    audit.record(actor=actor, partner=subscription.partner, action="webhook.update",
                 target=subscription, before=before,
                 after={"url": url, "events": chosen, "name": name,
                        "is_active": subscription.is_active})
    return subscription


@transaction.atomic
def rotate_secret(*, actor: User, subscription: Subscription) -> str:
    """A new secret, effective for every send from now on (retries included)."""
    _check_partner(actor, subscription.partner)
    secret = new_secret()
    subscription.secret = secret
    subscription.secret_rotated_at = now()
    subscription.save(update_fields=["secret", "secret_rotated_at"])
    _forget_on_commit(subscription.pk)
    # The secret itself never goes into the audit trail.
    audit.record(actor=actor, partner=subscription.partner, action="webhook.rotate_secret",
                 target=subscription, after={"secret_rotated_at": subscription.secret_rotated_at})
    return secret


@transaction.atomic
def delete_subscription(*, actor: User, subscription: Subscription) -> None:
    _check_partner(actor, subscription.partner)
    audit.record(actor=actor, partner=subscription.partner, action="webhook.delete",
                 target=subscription, before={"url": subscription.url,
                                              "events": subscription.events})
    # Deliveries still waiting would go to nobody.
    waiting = subscription.deliveries.filter(
        message__status__in=[Status.PENDING, Status.FAILED]).values_list("message_id", flat=True)
    outbox.cancel(message_ids=list(waiting), actor=actor)
    _forget_on_commit(subscription.pk)
    subscription.delete()


def _forget_on_commit(pk: int) -> None:
    # Now (a send later in this transaction) and after the commit (one that ran meanwhile).
    adapter.forget(pk)
    transaction.on_commit(lambda: adapter.forget(pk))


def _message_for(subscription: Subscription, *, partner: Partner, ticket: Any, body: str,
                 event: str, event_id: str) -> dict[str, Any]:
    # Tenancy of the row itself: the event's partner (a provider-wide hook included). No
    # deduplication key: the event id is new for every event, so two rows for one event
    # and subscription cannot arise.
    return {
        "partner": partner, "channel": Channel.EVENT_HOOK, "recipient": subscription.url,
        "body": body, "subject": event,
        "ticket": ticket if getattr(ticket, "partner_id", None) == partner.pk else None,
        "headers": {EVENT_HEADER: event, EVENT_ID_HEADER: event_id,
                    adapter.SUBSCRIPTION_HEADER: str(subscription.pk)},
    }


def _enqueue(subscription: Subscription, *, partner: Partner, ticket: Any, body: str,
             event: str, event_id: str, resent_from: Delivery | None = None) -> Delivery:
    message = outbox.enqueue(**_message_for(subscription, partner=partner, ticket=ticket,
                                            body=body, event=event, event_id=event_id))
    return Delivery.objects.create(message=message, subscription=subscription,
                                   event_id=event_id, event_type=event,
                                   resent_from=resent_from)


type _Index = dict[str, dict[int | None, list[Subscription]]]

_ACTIVE_KEY = "webhooks.active_subscriptions"


def _load_active() -> _Index:
    index: _Index = {}
    # The secret is not needed to enqueue (the adapter signs at send time): left unread.
    for subscription in Subscription.objects.filter(is_active=True).only(
            "pk", "partner_id", "url", "events").order_by("partner_id", "pk"):
        for event in subscription.events:
            index.setdefault(event, {}).setdefault(subscription.partner_id, []).append(
                subscription)
    return index


def active_subscriptions(event: str, partner_id: int) -> list[Subscription]:
    """The active subscriptions that get `event` of this partner: its own, then the
    provider-wide ones. Read from the per-process config cache (firstline.core.config_cache):
    no query while the cache is fresh, none at all for an event nobody subscribes to; a
    subscription saved in this process clears it at once, one created elsewhere gets events
    within the cache's TTL (seconds). The caller re-checks that the ones found still exist."""
    by_partner = config_cache.get(_ACTIVE_KEY, _load_active).get(event)
    if not by_partner:
        return []
    return [*by_partner.get(partner_id, ()), *by_partner.get(None, ())]


config_cache.watch(Subscription)


def on_event(*, event: str, partner_id: int | None, moment: Any, **arguments: Any) -> None:
    """The receiver of every event: one outbox row per subscription that wants it.

    Runs in the publisher's transaction, so the rows exist exactly when the change does.
    Tenancy: a partner's subscription gets only its partner's events; provider-wide ones
    get every partner's. Cheap when nobody listens: the subscriptions come from a cache.
    """
    if partner_id is None:
        return
    wanted = active_subscriptions(event, partner_id)
    if not wanted:
        return
    # The cache may be seconds old: a subscription deleted or switched off in another
    # process meanwhile must not get a row (a delivery to a deleted one would fail the
    # publisher's transaction on its foreign key). One query by primary key, only here.
    still = set(Subscription.objects.filter(
        pk__in=[subscription.pk for subscription in wanted], is_active=True,
    ).values_list("pk", flat=True))
    wanted = [subscription for subscription in wanted if subscription.pk in still]
    if not wanted:
        return
    ticket = arguments.get("ticket")
    partner = ticket.partner if getattr(ticket, "partner_id", None) == partner_id else (
        Partner.objects.get(pk=partner_id))
    event_id = str(uuid.uuid4())
    body = payloads.build(event_id=event_id, event=event, moment=moment, partner=partner,
                          data=payloads.data_for(event, arguments))
    # Two INSERTs per event, whatever the number of subscriptions that want it.
    messages = outbox.enqueue_many([
        _message_for(subscription, partner=partner, ticket=ticket, body=body, event=event,
                     event_id=event_id)
        for subscription in wanted
    ])
    Delivery.objects.bulk_create(
        Delivery(message=message, subscription=subscription, event_id=event_id,
                 event_type=event)
        for subscription, message in zip(wanted, messages, strict=True)
    )


def deliveries_for(subscription: Subscription) -> QuerySet[Delivery]:
    return subscription.deliveries.select_related("message").order_by("-id")


@transaction.atomic
def send_again(*, actor: User, delivery: Delivery) -> Delivery:
    """Send a delivery's event again, now.

    A waiting or failed one is made due at once (a failed one with a full set of attempts);
    a sent (or cancelled) one is copied into a new delivery with the same event id and body,
    so the receiver can still tell it has seen the event. One being sent right now is
    refused: it is already on its way.
    """
    subscription = delivery.subscription
    _check_partner(actor, subscription.partner)
    message: OutboxMessage = OutboxMessage.objects.select_for_update().get(
        pk=delivery.message_id)
    if message.status == Status.SENDING:
        raise ValidationError({"delivery": _("This delivery is being sent right now.")})
    if not subscription.is_active:
        raise ValidationError({"delivery": _("The subscription is switched off.")})
    if message.status in (Status.PENDING, Status.FAILED):
        outbox.retry_now(message_ids=[message.pk], actor=actor)
        return delivery
    partner = message.partner
    if partner is None:  # every event has a partner; rows are never written without one
        raise ValidationError({"delivery": _("This delivery has no partner.")})
    copy = _enqueue(subscription, partner=partner, ticket=message.ticket, body=message.body,
                    event=delivery.event_type, event_id=str(delivery.event_id),
                    resent_from=delivery)
    audit.record(actor=actor, partner=subscription.partner, action="webhook.send_again",
                 target=subscription, after={"delivery": delivery.pk, "copy": copy.pk,
                                             "event_id": str(delivery.event_id)})
    return copy
