"""One partner's token can never read or change another partner's data through the API."""

import pytest

from firstline.contacts.models import Contact
from firstline.tickets.models import Ticket
from tests.test_api_support import db_snapshot, error_fields, token_client

pytestmark = pytest.mark.django_db

MISSING_ID = 999_999


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/tickets/{id}", None),
        ("patch", "/api/tickets/{id}", {"priority": "critical"}),
        ("get", "/api/tickets/{id}/messages", None),
        ("post", "/api/tickets/{id}/messages", {"kind": "reply", "text": "Hello from A"}),
    ],
)
def test_another_partners_ticket_looks_exactly_like_a_missing_one(cast, method, path, body):
    client = token_client(cast.a.integration)
    before = db_snapshot()

    def call(ticket_id: int):
        url = path.format(id=ticket_id)
        if body is None:
            return client.get(url)
        return getattr(client, f"{method}_json")(url, body)

    theirs = call(cast.b.ticket.pk)
    missing = call(MISSING_ID)

    assert theirs.status_code == 404
    assert (theirs.status_code, theirs.json()) == (missing.status_code, missing.json())
    assert db_snapshot() == before


def test_a_partner_lists_only_its_own_tickets_even_when_asking_for_another_partner(cast):
    client = token_client(cast.a.integration)

    everything = client.get("/api/tickets").json()["items"]
    asked_for_b = client.get(f"/api/tickets?partner_id={cast.b.partner.pk}").json()["items"]
    by_b_number = client.get(f"/api/tickets?q={cast.b.ticket.number}").json()["items"]

    assert {item["id"] for item in everything} == {cast.a.ticket.pk, cast.a.other_ticket.pk}
    assert {item["partner_id"] for item in everything} == {cast.a.partner.pk}
    assert asked_for_b == []
    assert by_b_number == []


def test_a_partner_sees_only_its_own_contacts_services_and_partner(cast):
    client = token_client(cast.a.integration)

    contacts = client.get("/api/contacts").json()["items"]
    services = client.get("/api/services").json()
    partners = client.get("/api/partners").json()
    their_contact = client.get(f"/api/contacts/{cast.b.contact.pk}")

    assert {c["id"] for c in contacts} == {cast.a.contact.pk, cast.a.other_contact.pk}
    assert [s["id"] for s in services] == [cast.a.service.pk]
    assert [p["id"] for p in partners] == [cast.a.partner.pk]
    assert their_contact.status_code == 404


def test_a_ticket_cannot_be_created_with_another_partners_contact_or_service(cast):
    client = token_client(cast.a.integration)
    before = db_snapshot()

    response = client.post_json(
        "/api/tickets",
        {
            "subject": "Printer on fire",
            "text": "It is on fire.",
            "partner_id": cast.a.partner.pk,
            "contact_id": cast.b.contact.pk,
            "service_id": cast.b.service.pk,
        },
    )

    assert response.status_code == 422
    assert error_fields(response) == {"contact_id", "service_id"}
    assert db_snapshot() == before


def test_another_partners_contact_gets_the_same_error_as_a_missing_one(cast):
    client = token_client(cast.a.integration)

    def contact_error(contact_id: int) -> list:
        body = {"subject": "x", "text": "y", "partner_id": cast.a.partner.pk,
                "contact_id": contact_id}
        return client.post_json("/api/tickets", body).json()["errors"]

    assert contact_error(cast.b.contact.pk) == contact_error(MISSING_ID)


def test_a_partner_account_cannot_create_a_ticket_for_another_partner(cast):
    client = token_client(cast.a.integration)
    before = db_snapshot()

    response = client.post_json(
        "/api/tickets",
        {"subject": "x", "text": "y", "partner_id": cast.b.partner.pk},
    )

    assert response.status_code == 422
    assert error_fields(response) == {"partner_id"}
    assert db_snapshot() == before


def test_a_ticket_of_partner_a_cannot_be_assigned_to_partner_bs_engineer(cast):
    client = token_client(cast.a.manager)
    before = db_snapshot()

    response = client.patch_json(
        f"/api/tickets/{cast.a.ticket.pk}", {"assignee_id": cast.b.engineer.pk}
    )

    assert response.status_code == 422
    assert error_fields(response) == {"assignee_id"}
    assert db_snapshot() == before


def test_provider_staff_see_and_work_on_both_partners(cast):
    client = token_client(cast.operator)

    tickets = client.get("/api/tickets").json()["items"]
    partners = client.get("/api/partners").json()
    contacts = client.get(f"/api/contacts?partner_id={cast.b.partner.pk}").json()["items"]
    patched = client.patch_json(f"/api/tickets/{cast.b.ticket.pk}", {"status": "open"})

    assert {t["partner_id"] for t in tickets} == {cast.a.partner.pk, cast.b.partner.pk}
    assert len(tickets) == Ticket.objects.count() == 4
    assert {p["id"] for p in partners} == {cast.a.partner.pk, cast.b.partner.pk}
    assert {c["id"] for c in contacts} == set(
        Contact.objects.filter(partner=cast.b.partner).values_list("pk", flat=True)
    )
    assert patched.status_code == 200
    assert Ticket.objects.get(pk=cast.b.ticket.pk).status == "open"
