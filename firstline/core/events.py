"""Domain events: what happened, told to the apps built on top of the one where it happened.

The app that owns a change publishes it; the apps above (mail, surveys, incidents, outbound
webhooks, Telegram) subscribe in their ``AppConfig.ready``. So the tickets app decides and
names no app that reacts, and a new reaction needs no edit in the app that decides.

Receivers run synchronously, inside the publisher's transaction: what they write (a rating
request, an outbox row) commits or rolls back with the change itself, and an exception in a
receiver undoes the change. A receiver that may be slow only enqueues work (outbox, task).

Every event carries ``partner_id`` (tenancy: a partner's subscribers see only their own) and
``moment``; the other arguments are listed in EVENTS.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.dispatch import Signal

EVENTS: dict[str, str] = {
    "ticket.created": "ticket, actor — after the ticket and its opening message exist",
    "ticket.status_changed": "ticket, old, new, actor — the new status is set, not yet saved",
    "ticket.merged": "ticket, duplicate, actor — the duplicate was merged into ticket: its "
                     "messages moved, it is closed and points at ticket (both saved)",
    "message.public_reply": "ticket, message, actor[, mailed] — a public reply to the customer "
                            "(a person's, or an incident's announcement; mailed: the letters "
                            "are already in the outbox)",
    "escalation.fired": "ticket, step, late — an escalation step fired",
    "sla.breached": "ticket, target — a step at 100% or more fired: the deadline passed",
    "incident.opened": "incident, actor",
    "incident.resolved": "incident, actor",
    "survey.answered": "survey, ticket, changed — a customer rated the work (or changed it)",
}

_signals: dict[str, Signal] = {name: Signal() for name in EVENTS}


def _signal(name: str) -> Signal:
    try:
        return _signals[name]
    except KeyError:
        raise ValueError(f"unknown event {name!r} (one of: {', '.join(EVENTS)})") from None


def subscribe(name: str, receiver: Callable[..., Any]) -> None:
    """Call `receiver(event=name, partner_id=…, moment=…, **arguments)` on every `name`."""

    def adapter(sender: str, **kwargs: Any) -> Any:
        kwargs.pop("signal", None)
        return receiver(event=sender, **kwargs)

    # Strong references and a stable uid: subscribing twice (ready() run again) is harmless.
    # (No `sender` filter: one signal per event, and Django matches senders by identity.)
    _signal(name).connect(
        adapter, weak=False,
        dispatch_uid=f"{name}:{receiver.__module__}.{receiver.__qualname__}",
    )


def publish(name: str, *, partner_id: int | None, moment: datetime, **arguments: Any) -> None:
    """Tell every subscriber of `name`; a receiver's exception propagates to the caller."""
    _signal(name).send(sender=name, partner_id=partner_id, moment=moment, **arguments)
