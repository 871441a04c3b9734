"""Tickets and messages through the API: listing, creating, changing, conversing."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from firstline.core.models import AuditEvent
from firstline.tickets import services
from firstline.tickets.models import Channel, Message, Ticket
from tests.test_api_support import token_client

pytestmark = pytest.mark.django_db


def make_tickets(side, count: int) -> list[Ticket]:
    """Tickets with every related row filled, so a missing select_related shows."""
    tickets = [
        services.create_ticket(
            partner=side.partner, actor=side.integration, channel=Channel.API,
            contact=side.contact, service=side.service, subject=f"Generated {n}", text="Help",
        )
        for n in range(count)
    ]
    Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(assignee=side.engineer)
    return tickets


def test_a_partner_creates_a_ticket_for_its_own_partner_through_the_api_channel(cast):
    client = token_client(cast.a.integration)

    response = client.post_json(
        "/api/tickets",
        {
            "subject": "  Site is down  ",
            "text": "Our site returns 502.",
            "priority": "high",
            "partner_id": cast.a.partner.pk,
            "contact_id": cast.a.contact.pk,
            "service_id": cast.a.service.pk,
        },
    )

    assert response.status_code == 201
    body = response.json()
    ticket = Ticket.objects.get(pk=body["id"])
    assert ticket.partner == cast.a.partner
    assert ticket.channel == Channel.API
    assert ticket.subject == "Site is down"
    assert ticket.priority == "high"
    assert body["number"] == ticket.number
    assert body["partner_name"] == cast.a.partner.name
    assert body["contact"] == {"id": cast.a.contact.pk, "name": cast.a.contact.name}
    assert body["service"] == {"id": cast.a.service.pk, "name": cast.a.service.name}
    assert body["assignee"] is None
    assert body["status"] == "new"
    assert body["due_at"] is not None
    assert AuditEvent.objects.filter(
        action="ticket.created", target_id=str(ticket.pk), actor=cast.a.integration
    ).exists()


def test_every_caller_must_say_which_partner_a_new_ticket_is_for(cast):
    client = token_client(cast.operator)

    without = client.post_json("/api/tickets", {"subject": "x", "text": "y"})
    with_partner = client.post_json(
        "/api/tickets",
        {"subject": "", "text": "Mail bounces\nsince morning",
         "partner_id": cast.b.partner.pk, "contact_id": cast.b.contact.pk},
    )

    assert without.status_code == 422
    assert [e["field"] for e in without.json()["errors"]] == ["partner_id"]
    assert with_partner.status_code == 201
    assert with_partner.json()["partner_id"] == cast.b.partner.pk
    assert with_partner.json()["subject"] == "Mail bounces"


def test_staff_cannot_attach_a_contact_of_another_partner_than_the_tickets(cast):
    client = token_client(cast.operator)

    response = client.post_json(
        "/api/tickets",
        {"subject": "x", "text": "y", "partner_id": cast.a.partner.pk,
         "contact_id": cast.b.contact.pk},
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["contact_id"]


def test_a_ticket_is_read_with_every_documented_field(cast):
    response = token_client(cast.a.engineer).get(f"/api/tickets/{cast.a.ticket.pk}")

    assert response.status_code == 200
    assert set(response.json()) == {
        "id", "number", "partner_id", "partner_name", "contact", "channel", "subject",
        "customer_words", "status", "priority", "assignee", "service", "created_at",
        "updated_at", "first_response_at", "resolved_at", "closed_at", "due_at", "sla", "script",
        "is_spam", "merged_into", "merged_at",
    }
    assert response.json()["customer_words"] == "I cannot reach FTP (alpha)."


def test_patch_changes_status_priority_and_assignee_together(cast):
    client = token_client(cast.a.manager)
    url = f"/api/tickets/{cast.a.ticket.pk}"

    response = client.patch_json(
        url, {"status": "open", "priority": "critical", "assignee_id": cast.a.engineer.pk}
    )

    assert response.status_code == 200
    ticket = Ticket.objects.get(pk=cast.a.ticket.pk)
    assert (ticket.status, ticket.priority, ticket.assignee) == (
        "open", "critical", cast.a.engineer
    )
    assert response.json()["assignee"] == {
        "id": cast.a.engineer.pk, "name": cast.a.engineer.display_name
    }
    actions = set(AuditEvent.objects.filter(target_id=str(ticket.pk)).values_list(
        "action", flat=True))
    assert {"ticket.status_changed", "ticket.priority_changed", "ticket.assigned"} <= actions


def test_patch_with_null_assignee_unassigns_and_without_the_key_keeps_it(cast):
    client = token_client(cast.a.manager)
    url = f"/api/tickets/{cast.a.ticket.pk}"
    client.patch_json(url, {"assignee_id": cast.a.engineer.pk})

    client.patch_json(url, {"priority": "low"})
    kept = Ticket.objects.get(pk=cast.a.ticket.pk).assignee
    client.patch_json(url, {"assignee_id": None})
    cleared = Ticket.objects.get(pk=cast.a.ticket.pk).assignee

    assert kept == cast.a.engineer
    assert cleared is None


def test_a_reply_is_added_opens_the_ticket_and_counts_as_first_response(cast):
    client = token_client(cast.a.engineer)
    url = f"/api/tickets/{cast.a.ticket.pk}/messages"

    response = client.post_json(url, {"kind": "reply", "text": "Please check port 21."})

    assert response.status_code == 201
    body = response.json()
    assert body["kind"] == "reply"
    assert body["author_name"] == cast.a.engineer.display_name
    assert body["body_text"] == "Please check port 21."
    assert "Please check port 21." in body["body_html"]
    assert body["attachments"] == []
    ticket = Ticket.objects.get(pk=cast.a.ticket.pk)
    assert ticket.status == "open"
    assert ticket.first_response_at is not None


def test_the_conversation_lists_every_message_in_order_notes_included(cast):
    client = token_client(cast.a.engineer)
    url = f"/api/tickets/{cast.a.ticket.pk}/messages"
    client.post_json(url, {"kind": "note", "text": "Checked the logs"})
    client.post_json(url, {"kind": "reply", "text": "Fixed"})

    response = client.get(url)

    assert response.status_code == 200
    assert [(m["kind"], m["body_text"]) for m in response.json()] == [
        ("inbound", "I cannot reach FTP (alpha)."),
        ("note", "Checked the logs"),
        ("reply", "Fixed"),
    ]
    assert response.json()[0]["author_name"] == cast.a.contact.name


def test_a_reply_to_a_closed_ticket_is_refused_naming_the_text(cast):
    ticket = cast.a.ticket
    services.change_ticket(ticket=ticket, actor=cast.operator,
                           change=services.TicketChange(status="resolved"))
    services.change_ticket(ticket=ticket, actor=cast.operator,
                           change=services.TicketChange(status="closed"))
    count = Message.objects.count()

    response = token_client(cast.a.engineer).post_json(
        f"/api/tickets/{ticket.pk}/messages", {"kind": "reply", "text": "Anything else?"}
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["text"]
    assert Message.objects.count() == count


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=open", "opened"),
        ("priority=critical", "critical"),
        ("assignee_id={engineer}", "assigned"),
        ("q={number}", "by_number"),
        ("q={bare_number}", "by_number"),
        ("q=ftp", "ftp"),
        ("q=OLGA", "olga"),
    ],
)
def test_the_ticket_list_filters(cast, query, expected):
    a = cast.a
    services.change_ticket(ticket=a.ticket, actor=a.manager,
                           change=services.TicketChange(status="open", assignee=a.engineer))
    services.change_ticket(ticket=a.other_ticket, actor=a.manager,
                           change=services.TicketChange(priority="critical"))
    expectations = {
        "opened": {a.ticket.pk},
        "critical": {a.other_ticket.pk},
        "assigned": {a.ticket.pk},
        "by_number": {a.other_ticket.pk},
        "ftp": {a.ticket.pk},
        "olga": {a.other_ticket.pk},
    }
    query = query.format(
        engineer=a.engineer.pk, number=a.other_ticket.number.lower(),
        bare_number=a.other_ticket.pk,
    )

    response = token_client(a.manager).get(f"/api/tickets?{query}")

    assert response.status_code == 200
    assert {item["id"] for item in response.json()["items"]} == expectations[expected]


def test_cursor_pagination_walks_every_ticket_once_even_while_new_ones_arrive(cast):
    make_tickets(cast.a, 6)
    make_tickets(cast.b, 4)
    expected = list(Ticket.objects.order_by("-pk").values_list("pk", flat=True))
    client = token_client(cast.operator)

    seen: list[int] = []
    pages = 0
    url = "/api/tickets?limit=3"
    while url:
        page = client.get(url).json()
        pages += 1
        seen += [item["id"] for item in page["items"]]
        if pages == 1:
            make_tickets(cast.a, 2)  # newer than the cursor: must not shift later pages
        url = f"/api/tickets?limit=3&cursor={page['next_cursor']}" if page["next_cursor"] else ""

    assert seen == expected
    assert pages == 5  # 14 tickets, 3 a page


def test_the_last_page_has_no_next_cursor(cast):
    response = token_client(cast.a.integration).get("/api/tickets?limit=2")

    assert len(response.json()["items"]) == 2
    assert response.json()["next_cursor"] is None


def test_listing_tickets_costs_the_same_queries_for_5_and_30_tickets(cast):
    client = token_client(cast.a.integration)
    client.get("/api/tickets")  # records the token's last use, a write we do not count
    make_tickets(cast.a, 3)

    with CaptureQueriesContext(connection) as five:
        response_5 = client.get("/api/tickets")
    make_tickets(cast.a, 25)
    with CaptureQueriesContext(connection) as thirty:
        response_30 = client.get("/api/tickets")

    assert len(response_5.json()["items"]) == 5
    assert len(response_30.json()["items"]) == 30
    assert all(item["assignee"] and item["service"] for item in response_30.json()["items"][:25])
    assert len(thirty) == len(five), [q["sql"] for q in thirty.captured_queries]
    assert len(five) <= 3  # token lookup, page, nothing per ticket


def test_listing_messages_costs_the_same_queries_however_long_the_conversation(cast):
    client = token_client(cast.a.engineer)
    url = f"/api/tickets/{cast.a.ticket.pk}/messages"
    client.get(url)

    with CaptureQueriesContext(connection) as short:
        client.get(url)
    for n in range(5):
        services.add_message(ticket=cast.a.ticket, actor=cast.a.engineer, kind="note",
                             text=f"note {n}")
    with CaptureQueriesContext(connection) as long:
        response = client.get(url)

    assert len(response.json()) == 6
    assert len(long) == len(short)


def test_intake_reads_only_the_contact_and_writes_the_ticket_message_and_audit(cast):
    """The token is cached, the partner comes with it, the answer needs no reading back."""
    client = token_client(cast.a.integration)
    body = {"partner_id": cast.a.partner.pk, "contact_id": cast.a.contact.pk,
            "subject": "Printer", "text": "It does not print"}
    client.post("/api/tickets", body, content_type="application/json")  # token cached
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/tickets", body, content_type="application/json")
    assert response.status_code == 201
    sql = [q["sql"] for q in queries.captured_queries]
    assert not [s for s in sql if "api_apitoken" in s or "core_partner" in s]
    reads = [s for s in sql if s.startswith("SELECT") and '"tickets_ticket"' in s]
    assert not reads, reads
    answer = response.json()
    ticket = Ticket.objects.select_related("partner", "contact").get(pk=answer["id"])
    # The answer is what was stored.
    assert answer["number"] == ticket.number and answer["partner_name"] == ticket.partner.name
    assert answer["contact"] == {"id": cast.a.contact.pk, "name": ticket.contact.name}
    assert answer["priority"] == ticket.priority and answer["status"] == ticket.status
    assert answer["sla"]["reaction_due_at"] is not None
    assert AuditEvent.objects.filter(action="ticket.created", target_id=str(ticket.pk)).exists()


def test_a_revoked_token_is_refused_at_once_though_its_user_was_cached(cast):
    from firstline.api.models import ApiToken
    from firstline.api.services import revoke_token

    client = token_client(cast.a.integration)
    assert client.get("/api/tickets").status_code == 200  # token and user now cached
    revoke_token(ApiToken.objects.get(user=cast.a.integration), actor=cast.a.manager)
    assert client.get("/api/tickets").status_code == 401
