from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from firstline.tickets.models import Message, Status, Ticket

from .conftest import client_for


def test_operator_replies_with_attachment_and_the_audit_trail_shows_it(cast):
    client = client_for(cast.operator)
    url = reverse("ticket-add-message", args=[cast.a.ticket.pk])
    response = client.post(url, {
        "kind": "reply", "text": "Please try again now.",
        "attachments": [SimpleUploadedFile("log.txt", b"trace", "text/plain")],
    })
    assert response.status_code == 302
    message = Message.objects.filter(ticket=cast.a.ticket, kind="reply").get()
    assert message.author == cast.operator and message.attachments.get().filename == "log.txt"
    page = client.get(reverse("ticket", args=[cast.a.ticket.pk])).content.decode()
    assert "Please try again now." in page and "log.txt" in page
    assert page.count("Public reply") >= 2  # the message kind and its audit entry


def test_empty_reply_is_refused_with_a_field_error(cast):
    client = client_for(cast.operator)
    count = Message.objects.count()
    response = client.post(reverse("ticket-add-message", args=[cast.a.ticket.pk]),
                           {"kind": "reply", "text": "   "})
    assert response.status_code == 400
    assert response.context["message_form"].errors["text"]
    assert Message.objects.count() == count


def test_oversized_attachment_is_refused_and_nothing_is_saved(cast, settings):
    settings.FIRSTLINE_MAX_ATTACHMENT_BYTES = 10
    count = Message.objects.count()
    response = client_for(cast.operator).post(
        reverse("ticket-add-message", args=[cast.a.ticket.pk]),
        {"kind": "reply", "text": "file", "attachments": [
            SimpleUploadedFile("big.bin", b"x" * 11, "application/octet-stream")]},
    )
    assert response.status_code == 400
    assert "big.bin" in str(response.context["message_form"].errors["attachments"])
    assert Message.objects.count() == count


def test_refused_status_change_in_the_ui_shows_why_and_changes_nothing(cast):
    response = client_for(cast.operator).post(
        reverse("ticket-update", args=[cast.a.ticket.pk]),
        {"status": "closed", "priority": "critical", "assignee": ""},
    )
    assert response.status_code == 400
    assert "cannot go from" in str(response.context["update_form"].errors["status"])
    ticket = Ticket.objects.get(pk=cast.a.ticket.pk)
    assert ticket.status == Status.NEW and ticket.priority == "normal"


def test_operator_changes_status_priority_and_assignee(cast):
    response = client_for(cast.operator).post(
        reverse("ticket-update", args=[cast.a.ticket.pk]),
        {"status": "waiting_partner", "priority": "high", "assignee": cast.a.engineer.pk},
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get(pk=cast.a.ticket.pk)
    assert (ticket.status, ticket.priority, ticket.assignee) == (
        "waiting_partner", "high", cast.a.engineer)


def test_partner_engineer_comments_takes_over_and_resolves(cast):
    client = client_for(cast.a.engineer)
    pk = cast.a.ticket.pk
    assert client.post(reverse("ticket-add-message", args=[pk]),
                       {"kind": "note", "text": "Looking at the FTP logs"}).status_code == 302
    assert client.post(reverse("ticket-take-over", args=[pk])).status_code == 302
    assert client.post(reverse("ticket-resolve", args=[pk])).status_code == 302
    ticket = Ticket.objects.get(pk=pk)
    assert ticket.assignee == cast.a.engineer and ticket.status == Status.RESOLVED
    assert Message.objects.filter(ticket=ticket, kind="note", author=cast.a.engineer).exists()


def test_partner_user_cannot_assign_provider_staff_or_other_partners(cast):
    client = client_for(cast.a.engineer)
    response = client.post(reverse("ticket-update", args=[cast.a.ticket.pk]),
                           {"status": "new", "priority": "normal",
                            "assignee": cast.operator.pk})
    assert response.status_code == 400
    assert Ticket.objects.get(pk=cast.a.ticket.pk).assignee is None


def test_ticket_page_shows_the_partners_greeting_to_the_operator(cast):
    cast.a.partner.greeting = "personal"
    cast.a.partner.save()
    page = client_for(cast.operator).get(reverse("ticket", args=[cast.a.ticket.pk]))
    assert "Olga Operator" in page.content.decode()


def test_audit_trail_shows_status_changes_with_labels_before_and_after(cast):
    client = client_for(cast.operator)
    client.post(reverse("ticket-update", args=[cast.a.ticket.pk]),
                {"status": "waiting_customer", "priority": "normal", "assignee": ""})
    page = client.get(reverse("ticket", args=[cast.a.ticket.pk])).content.decode()
    assert "Status changed" in page
    assert "New → Waiting for customer" in page
