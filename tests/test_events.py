"""The domain-event seam: publishers name no subscriber, subscribers run in the transaction."""

import pytest
from django.db import transaction

from firstline.core import events
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel, Ticket

pytestmark = pytest.mark.django_db


def test_an_unknown_event_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="ticket.exploded"):
        events.publish("ticket.exploded", partner_id=None, moment=None)
    with pytest.raises(ValueError, match="ticket.exploded"):
        events.subscribe("ticket.exploded", lambda **kwargs: None)


def test_a_new_ticket_is_told_once_even_if_subscribed_twice(cast) -> None:
    seen: list[dict] = []

    def receiver(**kwargs) -> None:
        seen.append(kwargs)

    events.subscribe("ticket.created", receiver)
    events.subscribe("ticket.created", receiver)
    try:
        ticket = ticket_services.create_ticket(
            partner=cast.a.partner, actor=cast.operator, channel=Channel.PHONE,
            subject="Не печатает", text="Принтер не печатает", contact=cast.a.contact,
        )
    finally:
        events._signal("ticket.created").disconnect(
            dispatch_uid=f"ticket.created:{receiver.__module__}.{receiver.__qualname__}")
    assert len(seen) == 1
    assert seen[0]["event"] == "ticket.created"
    assert seen[0]["ticket"] == ticket
    assert seen[0]["partner_id"] == cast.a.partner.pk
    assert seen[0]["actor"] == cast.operator


def test_a_failing_subscriber_undoes_the_change(cast) -> None:
    def refuse(**kwargs) -> None:
        raise RuntimeError("subscriber failed")

    events.subscribe("ticket.created", refuse)
    before = Ticket.objects.count()
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            ticket_services.create_ticket(
                partner=cast.a.partner, actor=cast.operator, channel=Channel.PHONE,
                subject="Не печатает", text="Принтер не печатает", contact=cast.a.contact,
            )
    finally:
        events._signal("ticket.created").disconnect(
            dispatch_uid=f"ticket.created:{refuse.__module__}.{refuse.__qualname__}")
    assert Ticket.objects.count() == before
