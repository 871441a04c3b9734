"""Search finds Russian words in any case (and ё as е) on SQLite and PostgreSQL alike.

SQLite's own LIKE folds ASCII only; these tests run on whichever database the suite uses
(both in CI), so each must hold on both.
"""

from urllib.parse import quote

import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse

from firstline.contacts.models import Contact, ContactEmail
from firstline.core.textsearch import fold
from firstline.tickets.models import Channel, Ticket
from firstline.tickets.services import create_ticket
from tests.test_api_support import token_client

from .conftest import client_for, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def russian(cast):
    """Tickets of partner A from «Егоров» and «Семёнов», with Cyrillic subjects."""
    egorov, egorov_user = make_contact(cast.a.partner, cast.a.organisation,
                                       "Пётр Егоров", "egorov@alpha.example")
    semyonov, semyonov_user = make_contact(cast.a.partner, cast.a.organisation,
                                           "Алёна СЕМЁНОВА", "semyonova@alpha.example")
    tickets = {
        "egorov": create_ticket(
            partner=cast.a.partner, actor=egorov_user, channel=Channel.PORTAL, contact=egorov,
            subject="Не работает ПОЧТА", text="Письма не уходят."),
        "semyonova": create_ticket(
            partner=cast.a.partner, actor=semyonov_user, channel=Channel.PORTAL,
            contact=semyonov, subject="Ёлка в панели управления", text="Текст."),
    }
    return tickets


def queue_ids(user, q: str) -> set[int]:
    response = client_for(user).get(reverse("queue"), {"q": q, "status": "any"})
    assert response.status_code == 200
    return {ticket.pk for ticket in response.context["page"].object_list}


def test_fold_lowers_cyrillic_and_reads_yo_as_ye():
    assert fold("СЕМЁНОВ Ёж ещё") == "семенов еж еще"
    assert fold("Egorov") == "egorov"


@pytest.mark.parametrize("q", ["егоров", "ЕГОРОВ", "Егоров", "еГоРоВ", "пётр", "ПЕТР"])
def test_the_queue_finds_a_contact_name_in_any_case(cast, russian, q):
    assert queue_ids(cast.operator, q) == {russian["egorov"].pk}


@pytest.mark.parametrize("q", ["почта", "ПОЧТА", "Почта", "не работает"])
def test_the_queue_finds_a_subject_in_any_case(cast, russian, q):
    assert queue_ids(cast.operator, q) == {russian["egorov"].pk}


@pytest.mark.parametrize("q", ["ёлка", "ЁЛКА", "елка", "ЕЛКА", "семенова", "Семёнова", "алена"])
def test_yo_and_ye_find_each_other_in_any_case(cast, russian, q):
    assert queue_ids(cast.operator, q) == {russian["semyonova"].pk}


def test_a_word_that_is_not_there_finds_nothing(cast, russian):
    assert queue_ids(cast.operator, "сидоров") == set()


def test_like_wildcards_in_the_search_are_literal(cast, russian):
    """A «%» or «_» typed in the box is a character, not "anything"."""
    assert queue_ids(cast.operator, "%") == set()
    assert queue_ids(cast.operator, "_о") == set()


def test_the_partner_engineer_finds_only_own_tickets_in_any_case(cast, russian):
    create_ticket(partner=cast.b.partner, actor=cast.b.customer, channel=Channel.PORTAL,
                  contact=cast.b.contact, subject="Почта у Беты", text="Текст.")
    assert queue_ids(cast.a.engineer, "ПОЧТА") == {russian["egorov"].pk}


@pytest.mark.parametrize("q", ["егоров", "ЁЛКА", "почта"])
def test_the_api_ticket_filter_q_folds_case(cast, russian, q):
    response = token_client(cast.a.engineer).get(f"/api/tickets?q={quote(q)}")
    assert response.status_code == 200
    expected = russian["semyonova"].pk if q == "ЁЛКА" else russian["egorov"].pk
    assert [item["id"] for item in response.json()["items"]] == [expected]


@pytest.mark.parametrize("q", ["егоров", "СЕМЕНОВА", "алёна"])
def test_the_api_contact_filter_q_folds_case(cast, russian, q):
    response = token_client(cast.a.engineer).get(f"/api/contacts?q={quote(q)}")
    assert response.status_code == 200
    names = [item["name"] for item in response.json()["items"]]
    assert len(names) == 1 and fold(q) in fold(names[0])


def test_an_email_is_found_by_part_in_any_case(cast, russian):
    ContactEmail.objects.create(partner=cast.a.partner, contact=cast.a.contact,
                                address="почта@пример.рф")
    response = token_client(cast.a.engineer).get(f"/api/contacts?q={quote('ПОЧТА@ПРИМЕР')}")
    assert [item["id"] for item in response.json()["items"]] == [cast.a.contact.pk]


def test_the_admin_search_folds_cyrillic_case(cast, russian, admin_user):
    request = RequestFactory().get("/", {"q": "ЕГОРОВ"})
    request.user = admin_user
    model_admin = site._registry[Contact]
    found, _duplicates = model_admin.get_search_results(
        request, Contact.objects.all(), "ЕГОРОВ")
    assert [contact.name for contact in found] == ["Пётр Егоров"]
    tickets, _duplicates = site._registry[Ticket].get_search_results(
        request, Ticket.objects.all(), "ёлка")
    assert [ticket.pk for ticket in tickets] == [russian["semyonova"].pk]


def test_the_fold_is_done_by_the_database_not_after_fetching(cast, russian):
    """The lookup is SQL: one query, the folded column in the WHERE clause."""
    sql = str(Ticket.objects.filter(subject__ucontains="Почта").query)
    function = "firstline_fold" if connection.vendor == "sqlite" else "translate(lower("
    assert function in sql
    assert Ticket.objects.filter(subject__ucontains="ПОЧТА").count() == 1


@pytest.mark.parametrize("q", ["иВаНоВнА", "ЁЛКИНА", "елкина", "ооо ромашка", "РОМАШКА"])
def test_the_caller_search_finds_a_contact_or_organisation_in_any_case(cast, q):
    """The new-ticket form's caller search (firstline/contacts/queries.py)."""
    from firstline.contacts.models import Organisation
    from firstline.contacts.queries import search_contacts

    organisation = Organisation.objects.create(partner=cast.a.partner, name="ООО Ромашка")
    found, _user = make_contact(cast.a.partner, organisation, "Мария Ивановна Ёлкина",
                                "elkina@alpha.example")
    assert [contact.pk for contact in search_contacts(Contact.objects.all(), q)] == [found.pk]
