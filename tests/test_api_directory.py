"""Partners, services and contacts: what a ticket can refer to."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from firstline.contacts.models import Contact, ContactEmail, ContactPhone
from firstline.core.models import Service
from tests.test_api_support import token_client

pytestmark = pytest.mark.django_db


def test_a_contact_is_read_with_its_organisation_emails_and_phones(cast):
    ContactPhone.objects.create(partner=cast.a.partner, contact=cast.a.contact, number="+7 900")

    response = token_client(cast.a.engineer).get(f"/api/contacts/{cast.a.contact.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == cast.a.contact.name
    assert body["partner_id"] == cast.a.partner.pk
    assert body["organisation"] == {
        "id": cast.a.organisation.pk, "name": cast.a.organisation.name
    }
    assert body["emails"] == [{"address": "ivan@alpha.example", "is_confirmed": True}]
    assert body["phones"] == ["+7 900"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [("IVAN", "contact"), ("olga@alpha", "other_contact"), ("nobody", None)],
)
def test_contacts_are_found_by_name_or_email_case_insensitively(cast, q, expected):
    response = token_client(cast.a.engineer).get(f"/api/contacts?q={q}")

    ids = [item["id"] for item in response.json()["items"]]
    assert ids == ([getattr(cast.a, expected).pk] if expected else [])


def test_a_contact_with_two_matching_emails_is_listed_once(cast):
    ContactEmail.objects.create(partner=cast.a.partner, contact=cast.a.contact,
                                address="ivan.second@alpha.example")

    response = token_client(cast.a.engineer).get("/api/contacts?q=ivan")

    assert [item["id"] for item in response.json()["items"]] == [cast.a.contact.pk]


def test_contacts_are_paginated_with_a_cursor(cast):
    for n in range(5):
        Contact.objects.create(partner=cast.a.partner, name=f"Extra {n}")
    expected = list(
        Contact.objects.filter(partner=cast.a.partner).order_by("-pk").values_list("pk", flat=True)
    )
    client = token_client(cast.a.integration)

    first = client.get("/api/contacts?limit=4").json()
    second = client.get(f"/api/contacts?limit=4&cursor={first['next_cursor']}").json()

    assert [c["id"] for c in first["items"] + second["items"]] == expected
    assert second["next_cursor"] is None


def test_listing_contacts_costs_the_same_queries_for_few_and_many(cast):
    client = token_client(cast.operator)
    client.get("/api/contacts")

    with CaptureQueriesContext(connection) as few:
        client.get("/api/contacts")
    for n in range(10):
        contact = Contact.objects.create(partner=cast.b.partner, name=f"Extra {n}",
                                         organisation=cast.b.organisation)
        ContactPhone.objects.create(partner=cast.b.partner, contact=contact, number=str(n))
    with CaptureQueriesContext(connection) as many:
        response = client.get("/api/contacts")

    assert len(response.json()["items"]) == 14
    assert len(many) == len(few)


def test_services_can_be_narrowed_to_one_partner_by_staff(cast):
    Service.objects.create(partner=cast.b.partner, name="FTP beta")
    client = token_client(cast.operator)

    everything = client.get("/api/services").json()
    only_b = client.get(f"/api/services?partner_id={cast.b.partner.pk}").json()

    assert len(everything) == 3
    assert {s["partner_id"] for s in only_b} == {cast.b.partner.pk}
    assert len(only_b) == 2
