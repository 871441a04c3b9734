"""Contacts and partners have a language for letters: the acknowledgement, replies and
sign-in links follow the contact's choice, else the partner's, not a guess from the text."""

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied

from firstline.contacts.models import Contact, letter_language
from firstline.contacts.services import set_language
from firstline.core.models import AuditEvent, Partner
from firstline.mail.outbound import mail_reply
from firstline.mail.parsed import Address
from firstline.outbox.models import OutboxMessage
from firstline.portal.tasks import send_login_link
from firstline.tickets.models import Message
from firstline.tickets.services import add_message
from tests.test_api_support import error_fields, token_client
from tests.test_mail_ingest import letter, make_mailbox, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox(cast):
    return make_mailbox(cast.a)


def ack_of(inbound) -> OutboxMessage:
    return OutboxMessage.objects.get(ticket=inbound.ticket, headers__icontains="auto-replied")


def test_a_new_partner_writes_russian_and_a_contact_follows_its_partner(cast):
    assert cast.a.partner.language == "ru"
    assert cast.a.contact.language == ""
    assert cast.a.contact.preferred_language == "ru"
    Partner.objects.filter(pk=cast.a.partner.pk).update(language="en")
    contact = Contact.objects.select_related("partner").get(pk=cast.a.contact.pk)
    assert contact.preferred_language == "en"
    contact.language = "ru"
    assert contact.preferred_language == "ru"
    assert letter_language(None, cast.b.partner) == "ru"


def test_an_english_letter_from_a_russian_partners_customer_is_acknowledged_in_russian(
    cast, mailbox
):
    inbound = receive(mailbox, letter(subject="VPN drops", text="VPN drops every minute.",
                                      sender=Address("Ivan", "ivan@alpha.example")))
    assert ack_of(inbound).body.startswith("Здравствуйте")


def test_a_russian_letter_from_a_contact_who_prefers_english_is_acknowledged_in_english(
    cast, mailbox
):
    Contact.objects.filter(pk=cast.a.contact.pk).update(language="en")
    inbound = receive(mailbox, letter(subject="Нет доступа к VPN", text="VPN отваливается.",
                                      sender=Address("Ivan", "ivan@alpha.example")))
    ack = ack_of(inbound)
    assert ack.body.startswith("Hello") and "We have received your request" in ack.subject


def test_a_new_sender_of_an_english_partner_gets_english(cast, mailbox):
    Partner.objects.filter(pk=cast.a.partner.pk).update(language="en")
    inbound = receive(mailbox, letter(subject="Привет", text="Не работает почта.",
                                      sender=Address("Stranger", "new@elsewhere.example")))
    assert ack_of(inbound).body.startswith("Hello")


def test_a_reply_is_signed_in_the_contacts_language(cast, mailbox):
    Contact.objects.filter(pk=cast.a.contact.pk).update(language="en")
    inbound = receive(mailbox, letter(subject="Нет доступа", text="Не работает.",
                                      sender=Address("Ivan", "ivan@alpha.example")))
    reply = add_message(ticket=inbound.ticket, actor=cast.operator, kind=Message.Kind.REPLY,
                        text="Иван, доступ восстановлен.")
    sent = mail_reply(reply) or list(OutboxMessage.objects.filter(
        ticket=inbound.ticket, dedupe_key__startswith="mail:reply:"))
    assert sent and all("Kind regards" in row.body for row in sent)
    assert not any("С уважением" in row.body for row in sent)


@pytest.mark.parametrize(("language", "expected"), [("en", "Sign-in link"), ("", "Ссылка")])
def test_the_sign_in_link_goes_in_the_contacts_language(cast, language, expected):
    Contact.objects.filter(pk=cast.a.contact.pk).update(language=language)
    send_login_link.call(cast.a.customer.pk)
    assert mail.outbox[-1].subject.startswith(expected)


def test_the_api_shows_and_changes_a_contacts_language_with_an_audit(cast):
    client = token_client(cast.a.engineer)
    url = f"/api/contacts/{cast.a.contact.pk}"
    body = client.get(url).json()
    assert (body["language"], body["preferred_language"]) == ("", "ru")

    response = client.patch_json(url, {"language": "en"})

    assert response.status_code == 200
    assert (response.json()["language"], response.json()["preferred_language"]) == ("en", "en")
    event = AuditEvent.objects.get(action="contact.language_changed")
    assert event.actor == cast.a.engineer and event.after == {"language": "en"}
    assert client.get("/api/partners").json()[0]["language"] == "ru"


def test_a_bad_language_is_refused_naming_the_field_and_changes_nothing(cast):
    response = token_client(cast.a.engineer).patch_json(
        f"/api/contacts/{cast.a.contact.pk}", {"language": "de"})
    assert response.status_code == 422
    assert "language" in " ".join(error_fields(response))
    assert Contact.objects.get(pk=cast.a.contact.pk).language == ""


def test_a_customer_cannot_change_the_language_and_another_partner_gets_404(cast):
    own = f"/api/contacts/{cast.a.contact.pk}"
    with pytest.raises(PermissionDenied):
        set_language(contact=cast.a.contact, actor=cast.a.customer, language="en")
    assert token_client(cast.b.engineer).patch_json(own, {"language": "en"}).status_code == 404
    assert Contact.objects.get(pk=cast.a.contact.pk).language == ""


def test_the_admin_edits_both_languages(cast, admin_client):
    contact = admin_client.get(f"/admin/contacts/contact/{cast.a.contact.pk}/change/")
    partner = admin_client.get(f"/admin/core/partner/{cast.a.partner.pk}/change/")
    assert 'name="language"' in contact.content.decode()
    assert 'name="language"' in partner.content.decode()
