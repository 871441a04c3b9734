"""The desk's new-ticket form: a call taken by hand, a walk-in, a letter forwarded."""

import re

from django.urls import reverse

from firstline.contacts.models import ContactPhone
from firstline.core.models import AuditEvent
from firstline.quality.script_models import IdentificationRule, ScriptSettings
from firstline.sla.models import UrgencyRule
from firstline.tickets.models import Channel, Ticket

from .conftest import client_for


def post_new(client, **data):
    return client.post(reverse("ticket-new"), data)


def test_operator_registers_a_phone_call_and_the_ticket_opens_ready_to_work(cast):
    client = client_for(cast.operator)
    response = post_new(
        client, partner=cast.a.partner.pk, contact=cast.a.contact.pk, channel=Channel.PHONE,
        service=cast.a.service.pk, subject="", text="Не открывается панель управления.\nС утра.",
    )
    ticket = Ticket.objects.latest("pk")
    assert response.status_code == 302
    assert response.url == reverse("ticket", args=[ticket.pk])
    assert (ticket.partner, ticket.contact, ticket.service) == (
        cast.a.partner, cast.a.contact, cast.a.service)
    assert ticket.channel == Channel.PHONE
    assert ticket.subject == "Не открывается панель управления."  # the first line
    assert ticket.customer_words.startswith("Не открывается")
    assert ticket.assignee == cast.operator  # taken by hand: it is the operator's
    assert ticket.resolution_due_at is not None  # the SLA clock runs from intake
    created = AuditEvent.objects.get(action="ticket.created", target_id=str(ticket.pk))
    assert created.actor == cast.operator and created.after["channel"] == "phone"
    page = client.get(response.url)
    assert page.status_code == 200 and "Не открывается" in page.content.decode()


def test_the_partners_urgency_rules_apply_to_a_ticket_taken_by_hand(cast):
    UrgencyRule.objects.create(partner=cast.a.partner, name="Down", keywords="не работает",
                               priority="critical")
    post_new(client_for(cast.operator), partner=cast.a.partner.pk, channel=Channel.PHONE,
             text="Сайт не работает совсем")
    assert Ticket.objects.latest("pk").priority == "critical"


def test_missing_words_and_partner_are_refused_naming_the_fields(cast):
    before = Ticket.objects.count()
    response = post_new(client_for(cast.operator), partner="", channel=Channel.PHONE, text="")
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"partner", "text"}
    assert "in their words" in errors["text"][0]
    assert Ticket.objects.count() == before
    body = response.content.decode()
    assert 'aria-invalid="true"' in body and "autofocus" in body


def test_a_contact_of_another_partner_is_refused_on_the_contact_field(cast):
    before = Ticket.objects.count()
    response = post_new(client_for(cast.operator), partner=cast.a.partner.pk,
                        contact=cast.b.contact.pk, channel=Channel.PHONE, text="Помогите")
    assert response.status_code == 400
    assert "another partner" in response.context["form"].errors["contact"][0]
    assert Ticket.objects.count() == before


def test_an_unknown_channel_is_refused(cast):
    response = post_new(client_for(cast.operator), partner=cast.a.partner.pk,
                        channel="pigeon", text="Помогите")
    assert response.status_code == 400
    assert "channel" in response.context["form"].errors


def test_a_partner_account_registers_only_for_its_own_partner(cast):
    client = client_for(cast.a.engineer)
    refused = post_new(client, partner=cast.b.partner.pk, channel=Channel.EMAIL, text="Письмо")
    assert refused.status_code == 400 and "partner" in refused.context["form"].errors
    created = post_new(client, partner=cast.a.partner.pk, channel=Channel.EMAIL,
                       text="Письмо от клиента")
    ticket = Ticket.objects.latest("pk")
    assert created.status_code == 302 and ticket.partner == cast.a.partner
    assert ticket.assignee is None  # partner accounts do not take the first line's work


def test_customers_and_strangers_cannot_open_the_form(cast, client):
    assert client.get(reverse("ticket-new")).status_code == 302  # to the sign-in
    assert client_for(cast.a.customer).get(reverse("ticket-new")).status_code == 403


def test_search_finds_the_caller_by_name_phone_email_and_contract(cast):
    ContactPhone.objects.create(partner=cast.a.partner, contact=cast.a.other_contact,
                                number="+7 (495) 123-45-67")
    client = client_for(cast.operator)

    def found(text, partner=""):
        response = client.get(reverse("ticket-new-contacts"),
                              {"contact_q": text, "partner": partner})
        assert response.status_code == 200
        return {contact.pk for contact in response.context["found"]}

    assert found("Ivan alpha") == {cast.a.contact.pk}
    assert found("ivan alpha") == {cast.a.contact.pk}
    assert found("4951234567") == {cast.a.other_contact.pk}
    assert found("123-45-67") == {cast.a.other_contact.pk}
    assert found("olga@beta.example") == {cast.b.other_contact.pk}
    assert found("beta-001") == {cast.b.contact.pk, cast.b.other_contact.pk}
    assert found("Ivan", partner=cast.b.partner.pk) == {cast.b.contact.pk}
    assert found("x") == set()  # too short to search


def test_cyrillic_names_are_found_whatever_the_case(cast):
    cast.a.contact.name = "Иван Петров"
    cast.a.contact.save()
    client = client_for(cast.operator)
    response = client.get(reverse("ticket-new-contacts"), {"contact_q": "иван петров"})
    assert [c.pk for c in response.context["found"]] == [cast.a.contact.pk]


def test_search_never_reaches_another_partners_people(cast):
    client = client_for(cast.a.engineer)
    response = client.get(reverse("ticket-new-contacts"),
                          {"contact_q": "beta", "partner": cast.b.partner.pk})
    assert response.context["found"] == []
    assert "Olga beta" not in response.content.decode()


def test_picking_a_contact_picks_their_partner_and_shows_the_script(cast):
    ScriptSettings.objects.create(partner=cast.b.partner,
                                  contract_number=IdentificationRule.REQUIRED)
    cast.b.organisation.is_vip = True
    cast.b.organisation.save()
    client = client_for(cast.operator)
    response = client.get(reverse("ticket-new"), {"pick": cast.b.contact.pk},
                          headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "<html" not in body and 'id="new-ticket"' in body
    assert response.context["partner"] == cast.b.partner
    assert f'name="contact" value="{cast.b.contact.pk}"' in body
    assert "Partner beta technical support" in body  # the greeting
    assert "Contract number" in body and "Required" in body  # the identification script
    assert "VIP" in body and "beta-001" in body
    assert cast.b.service.name in body and cast.a.service.name not in body
    # The caret goes on to the customer's words.
    textarea = re.search(r"<textarea[^>]*>", body).group(0)
    assert 'name="text"' in textarea and "autofocus" in textarea


def test_changing_the_partner_drops_a_contact_and_service_of_the_old_one(cast):
    client = client_for(cast.operator)
    response = client.get(reverse("ticket-new"), {
        "partner": cast.a.partner.pk, "contact": cast.b.contact.pk,
        "service": cast.b.service.pk, "text": "Слова клиента"})
    assert response.context["partner"] == cast.a.partner
    assert response.context["contact"] is None
    body = response.content.decode()
    assert f'value="{cast.b.service.pk}" selected' not in body
    assert "Слова клиента" in body  # what was typed survives the swap


def test_the_desk_header_links_to_the_form(cast):
    body = client_for(cast.operator).get(reverse("queue")).content.decode()
    assert f'href="{reverse("ticket-new")}"' in body
