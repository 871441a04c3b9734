"""Through the UI's own URLs, nobody reaches another partner's or another customer's data."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from firstline.tickets.models import Message, Ticket
from firstline.tickets.services import add_message

from .conftest import client_for


@pytest.fixture
def b_attachment(cast):
    message = add_message(
        ticket=cast.b.ticket, actor=cast.operator, kind=Message.Kind.REPLY, text="See file",
        attachments=[SimpleUploadedFile("report.txt", b"beta secret", "text/plain")],
    )
    return message.attachments.get()


@pytest.mark.parametrize("who", ["engineer", "manager"])
def test_partner_user_gets_404_for_another_partners_ticket_pages(cast, who):
    client = client_for(getattr(cast.a, who))
    pk = cast.b.ticket.pk
    assert client.get(reverse("ticket", args=[pk])).status_code == 404
    before = Ticket.objects.values().get(pk=pk)
    messages_before = Message.objects.filter(ticket_id=pk).count()
    assert client.post(reverse("ticket-add-message", args=[pk]),
                       {"kind": "reply", "text": "intrusion"}).status_code == 404
    assert client.post(reverse("ticket-update", args=[pk]),
                       {"status": "resolved", "priority": "low"}).status_code == 404
    assert client.post(reverse("ticket-take-over", args=[pk])).status_code == 404
    assert client.post(reverse("ticket-resolve", args=[pk])).status_code == 404
    assert Ticket.objects.values().get(pk=pk) == before
    assert Message.objects.filter(ticket_id=pk).count() == messages_before


def test_partner_user_sees_own_ticket_and_only_own_partner_in_the_queue(cast):
    client = client_for(cast.a.engineer)
    assert client.get(reverse("ticket", args=[cast.a.ticket.pk])).status_code == 200
    page = client.get(reverse("queue")).content.decode()
    assert cast.a.ticket.subject in page
    assert cast.b.ticket.subject not in page
    # The partner filter is not honoured for partner users: it cannot widen the scope.
    page = client.get(reverse("queue"), {"partner": cast.b.partner.pk}).content.decode()
    assert cast.b.ticket.subject not in page


def test_attachment_of_another_partner_is_not_downloadable(cast, b_attachment):
    url = reverse("attachment", args=[b_attachment.pk])
    assert client_for(cast.a.engineer).get(url).status_code == 404
    assert client_for(cast.a.customer).get(url).status_code == 404
    assert client_for(cast.b.other_customer).get(url).status_code == 404
    response = client_for(cast.b.customer).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"beta secret"


def test_customer_sees_only_own_tickets_in_the_portal(cast):
    client = client_for(cast.a.customer)
    page = client.get(reverse("portal:tickets")).content.decode()
    assert cast.a.ticket.subject in page
    assert cast.a.other_ticket.subject not in page
    assert client.get(reverse("portal:ticket", args=[cast.a.other_ticket.pk])).status_code == 404
    assert client.get(reverse("portal:ticket", args=[cast.b.ticket.pk])).status_code == 404
    count = Message.objects.count()
    response = client.post(reverse("portal:ticket", args=[cast.a.other_ticket.pk]),
                           {"text": "not mine"})
    assert response.status_code == 404
    assert Message.objects.count() == count


def test_customer_never_sees_internal_notes(cast):
    add_message(ticket=cast.a.ticket, actor=cast.operator, kind=Message.Kind.NOTE,
                text="Internal: customer is difficult")
    add_message(ticket=cast.a.ticket, actor=cast.operator, kind=Message.Kind.REPLY,
                text="We are on it")
    page = client_for(cast.a.customer).get(
        reverse("portal:ticket", args=[cast.a.ticket.pk])).content.decode()
    assert "We are on it" in page
    assert "customer is difficult" not in page


def test_customers_and_anonymous_users_are_kept_out_of_the_desk(cast, client):
    assert client_for(cast.a.customer).get(reverse("queue")).status_code == 403
    assert client_for(cast.a.customer).get(
        reverse("ticket", args=[cast.a.ticket.pk])).status_code == 403
    response = client.get(reverse("ticket", args=[cast.a.ticket.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert client_for(cast.a.engineer).get(reverse("portal:tickets")).status_code == 403
