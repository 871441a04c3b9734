"""Every ticket the API answers says whether it is spam and what it was merged into, and a
list pays no query per ticket for it (the target's number is its id's, not a read)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from firstline.tickets import merge as merging
from firstline.tickets.models import Channel, Ticket
from firstline.tickets.services import create_ticket
from tests.test_api_support import token_client

pytestmark = pytest.mark.django_db


def _duplicates(side, count: int) -> list[Ticket]:
    return [create_ticket(partner=side.partner, actor=side.customer, channel=Channel.PORTAL,
                          contact=side.contact, subject=f"Again {n}", text="Same thing")
            for n in range(count)]


def _items(client) -> dict[int, dict]:
    return {item["id"]: item for item in client.get("/api/tickets?limit=200").json()["items"]}


def test_a_ticket_says_spam_merged_into_and_merged_at(cast):
    (source, spam) = _duplicates(cast.a, 2)
    merging.merge(source=source, target=cast.a.ticket, actor=cast.operator)
    merging.mark_spam(ticket=spam, actor=cast.operator)
    source.refresh_from_db()
    client = token_client(cast.operator)

    items = _items(client)
    one = client.get(f"/api/tickets/{source.pk}").json()

    assert items[source.pk]["merged_into"] == {"id": cast.a.ticket.pk,
                                               "number": cast.a.ticket.number}
    assert items[source.pk]["is_spam"] is False
    assert one["merged_into"] == items[source.pk]["merged_into"]
    assert one["merged_at"] is not None and one["merged_at"] == items[source.pk]["merged_at"]
    assert items[spam.pk]["is_spam"] is True and items[spam.pk]["merged_into"] is None
    plain = items[cast.a.ticket.pk]
    assert (plain["is_spam"], plain["merged_into"], plain["merged_at"]) == (False, None, None)


def test_the_fields_are_in_the_document_as_every_answer_has_them():
    from django.test import Client

    schema = Client().get("/api/openapi.json").json()["components"]["schemas"]["TicketOut"]

    assert {"is_spam", "merged_into", "merged_at"} <= set(schema["required"])


def test_listing_merged_and_spam_tickets_costs_no_query_per_ticket(cast):
    client = token_client(cast.operator)
    _items(client)  # the token's last use is recorded once, not counted
    first = _duplicates(cast.a, 2)
    merging.merge(source=first[0], target=cast.a.ticket, actor=cast.operator)
    merging.mark_spam(ticket=first[1], actor=cast.operator)
    with CaptureQueriesContext(connection) as few:
        few_items = _items(client)
    more = _duplicates(cast.a, 12)
    for source in more[:6]:
        merging.merge(source=source, target=cast.a.other_ticket, actor=cast.operator)
    for ticket in more[6:]:
        merging.mark_spam(ticket=ticket, actor=cast.operator)
    with CaptureQueriesContext(connection) as many:
        many_items = _items(client)

    assert sum(item["merged_into"] is not None for item in many_items.values()) == 7
    assert sum(item["is_spam"] for item in many_items.values()) == 7
    assert len(many_items) == len(few_items) + 12
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
