"""Spam and merge (firstline.tickets.merge): the rules, the desk, the API, mail and billing."""

import threading
from io import BytesIO, StringIO

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from firstline.billing.models import PlanVersion
from firstline.billing.services import counted_tickets, local_today
from firstline.core.models import AuditEvent
from firstline.mail.models import InboundMail, Mailbox
from firstline.mail.threading import thread_tag
from firstline.outbox.models import OutboxMessage
from firstline.tickets import merge as merging
from firstline.tickets.models import Attachment, Channel, Message, Status, Ticket
from firstline.tickets.services import create_ticket
from tests.billing_support import billing_seed  # noqa: F401 (a fixture)
from tests.conftest import client_for
from tests.test_api_support import db_snapshot, error_fields, token_client
from tests.test_mail_ingest_e2e import eml

pytestmark = pytest.mark.django_db


def duplicate(side, text: str = "FTP still does not work.") -> Ticket:
    """The same customer writing again about the same thing: a duplicate of side.ticket."""
    return create_ticket(partner=side.partner, actor=side.customer, channel=Channel.PORTAL,
                         contact=side.contact, subject="FTP again", text=text)


def snapshot(*tickets: Ticket) -> list[dict]:
    return [dict(Ticket.objects.filter(pk=t.pk).values()[0],
                 messages=list(Message.objects.filter(ticket=t).values_list("pk", flat=True)))
            for t in tickets]


# --- merge ---------------------------------------------------------------------------------


def test_merge_moves_the_messages_keeping_their_times_and_closes_the_source(cast):
    target, source = cast.a.ticket, duplicate(cast.a)
    moved = list(Message.objects.filter(ticket=source).values_list("pk", "created_at"))
    mail.outbox.clear()
    outbox_before = OutboxMessage.objects.count()

    result = merging.merge(source=source, target=target, actor=cast.operator)

    assert result.pk == target.pk
    source.refresh_from_db()
    assert source.merged_into_id == target.pk and source.merged_at is not None
    assert source.status == Status.CLOSED and source.closed_at is not None
    for pk, created_at in moved:
        message = Message.objects.get(pk=pk)
        assert (message.ticket_id, message.created_at) == (target.pk, created_at)
    # Each keeps a note of what happened; nobody is mailed.
    assert list(source.messages.values_list("kind", "body_text")) == [
        (Message.Kind.NOTE, f"Merged into {target.number}.")]
    assert target.messages.filter(kind=Message.Kind.NOTE,
                                  body_text=f"{source.number} was merged into this ticket."
                                  ).exists()
    assert OutboxMessage.objects.count() == outbox_before and mail.outbox == []
    assert AuditEvent.objects.filter(action="ticket.merged", target_id=str(source.pk)).exists()
    assert AuditEvent.objects.filter(action="ticket.merge_received",
                                     target_id=str(target.pk)).exists()


def test_attachments_follow_their_messages(cast, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    from django.core.files.uploadedfile import SimpleUploadedFile

    source = create_ticket(partner=cast.a.partner, actor=cast.a.customer,
                           channel=Channel.PORTAL, contact=cast.a.contact, subject="Logs",
                           text="See the log.",
                           attachments=[SimpleUploadedFile("ftp.log", b"530 Login")])
    merging.merge(source=source, target=cast.a.ticket, actor=cast.operator)

    attachment = Attachment.objects.get(filename="ftp.log")
    assert attachment.message.ticket_id == cast.a.ticket.pk


def test_earlier_duplicates_of_the_source_follow_it_so_there_is_never_a_chain(cast):
    first, second = duplicate(cast.a), duplicate(cast.a)
    merging.merge(source=first, target=second, actor=cast.operator)
    merging.merge(source=second, target=cast.a.ticket, actor=cast.operator)

    first.refresh_from_db()
    assert first.merged_into_id == cast.a.ticket.pk


def test_merge_into_another_partners_ticket_is_refused_and_nothing_changes(cast):
    source, target = duplicate(cast.a), cast.b.ticket
    before = snapshot(source, target)

    with pytest.raises(ValidationError) as refused:
        merging.merge(source=source, target=target, actor=cast.operator)

    assert set(refused.value.message_dict) == {"into"}
    assert snapshot(source, target) == before


@pytest.mark.parametrize("case", ["itself", "closed", "spam", "merged", "source merged"])
def test_merge_refusals(cast, case):
    source, target = duplicate(cast.a), cast.a.other_ticket
    if case == "itself":
        target = source
    elif case == "closed":
        Ticket.objects.filter(pk=target.pk).update(status=Status.CLOSED)
    elif case == "spam":
        merging.mark_spam(ticket=target, actor=cast.operator)
    elif case == "merged":
        merging.merge(source=target, target=cast.a.ticket, actor=cast.operator)
    elif case == "source merged":
        merging.merge(source=source, target=cast.a.ticket, actor=cast.operator)
    source.refresh_from_db()
    target.refresh_from_db()
    before = snapshot(source, target)

    with pytest.raises(ValidationError) as refused:
        merging.merge(source=source, target=target, actor=cast.operator)

    assert set(refused.value.message_dict) == {"status" if case == "source merged" else "into"}
    assert snapshot(source, target) == before


def test_partner_accounts_merge_their_own_tickets_only_and_customers_never(cast):
    source = duplicate(cast.a)
    with pytest.raises(PermissionDenied):
        merging.merge(source=cast.b.other_ticket, target=cast.b.ticket, actor=cast.a.engineer)
    with pytest.raises(PermissionDenied):
        merging.merge(source=source, target=cast.a.ticket, actor=cast.a.customer)
    with pytest.raises(PermissionDenied):
        merging.mark_spam(ticket=cast.b.ticket, actor=cast.a.manager)
    # Another partner's ticket is not even found by a partner account.
    with pytest.raises(ValidationError) as refused:
        merging.find_target(cast.a.engineer, cast.b.ticket.number)
    assert set(refused.value.message_dict) == {"into"}

    merging.merge(source=source, target=cast.a.ticket, actor=cast.a.engineer)
    source.refresh_from_db()
    assert source.merged_into_id == cast.a.ticket.pk


@pytest.mark.parametrize("text", ["FL-{pk:06d}", "fl{pk}", "{pk}", " FL-{pk:06d} "])
def test_the_target_is_found_by_its_number_as_people_type_it(cast, text):
    pk = cast.a.ticket.pk
    assert merging.find_target(cast.operator, text.format(pk=pk)).pk == pk


@pytest.mark.parametrize("text", ["", "abc", "FL-", "99999999"])
def test_an_unreadable_or_unknown_number_is_refused_on_into(cast, text):
    with pytest.raises(ValidationError) as refused:
        merging.find_target(cast.operator, text)
    assert set(refused.value.message_dict) == {"into"}


# --- mail ----------------------------------------------------------------------------------


def pipe(raw: bytes) -> InboundMail:
    before = set(InboundMail.objects.values_list("pk", flat=True))
    # --process: this test reads the outcome at once, without running a mail worker.
    call_command("mail_in", "--partner", "alpha", "--process", stdin=BytesIO(raw),
                 stdout=StringIO())
    (inbound,) = InboundMail.objects.exclude(pk__in=before)
    assert inbound.status == InboundMail.Status.PROCESSED, inbound.error
    return inbound


def test_a_reply_on_the_sources_thread_lands_in_the_target(cast):
    Mailbox.objects.create(partner=cast.a.partner, address="help@alpha.example")
    source, target = duplicate(cast.a), cast.a.ticket
    merging.merge(source=source, target=target, actor=cast.operator)

    inbound = pipe(eml(subject=f"Re: [{thread_tag(source)}] FTP again",
                       message_id="<later@customer.example>",
                       body="Теперь и почта не работает.\n"))

    assert inbound.ticket_message.ticket_id == target.pk
    assert inbound.ticket_message.kind == Message.Kind.INBOUND
    assert not Ticket.objects.filter(subject__contains="почта").exists()


# --- spam ----------------------------------------------------------------------------------


def test_spam_closes_the_ticket_without_a_letter_and_is_audited(cast):
    ticket = cast.a.ticket
    mail.outbox.clear()
    outbox_before = OutboxMessage.objects.count()

    merging.mark_spam(ticket=ticket, actor=cast.operator)

    ticket.refresh_from_db()
    assert ticket.is_spam and ticket.status == Status.CLOSED and ticket.closed_at is not None
    assert ticket.messages.filter(kind=Message.Kind.NOTE, body_text="Marked as spam.").exists()
    assert not ticket.messages.filter(kind=Message.Kind.REPLY).exists()
    assert OutboxMessage.objects.count() == outbox_before and mail.outbox == []
    assert AuditEvent.objects.filter(action="ticket.marked_spam",
                                     target_id=str(ticket.pk)).count() == 1

    merging.mark_spam(ticket=ticket, actor=cast.operator)  # again: nothing new
    assert AuditEvent.objects.filter(action="ticket.marked_spam",
                                     target_id=str(ticket.pk)).count() == 1

    merging.unmark_spam(ticket=ticket, actor=cast.operator)
    ticket.refresh_from_db()
    assert not ticket.is_spam and ticket.status == Status.CLOSED
    assert AuditEvent.objects.filter(action="ticket.unmarked_spam").count() == 1


def test_a_merged_ticket_is_not_marked_as_spam(cast):
    source = duplicate(cast.a)
    merging.merge(source=source, target=cast.a.ticket, actor=cast.operator)
    with pytest.raises(ValidationError) as refused:
        merging.mark_spam(ticket=source, actor=cast.operator)
    assert set(refused.value.message_dict) == {"status"}


# --- billing -------------------------------------------------------------------------------


def test_billing_counts_neither_spam_nor_merged_duplicates(cast, billing_seed):  # noqa: F811
    partner = cast.a.partner
    version = PlanVersion.objects.filter(plan__code="start").first()
    month = local_today(partner).replace(day=1)
    source = duplicate(cast.a)
    assert counted_tickets(partner, month, version).count() == 3

    merging.merge(source=source, target=cast.a.ticket, actor=cast.operator)
    merging.mark_spam(ticket=cast.a.other_ticket, actor=cast.operator)

    assert list(counted_tickets(partner, month, version)) == [cast.a.ticket]


# --- the desk ------------------------------------------------------------------------------


def test_the_desk_merges_through_the_confirmation_page(cast):
    client = client_for(cast.operator)
    source, target = duplicate(cast.a), cast.a.ticket
    url = reverse("ticket-merge", args=[source.pk])

    page = client.get(url, {"into": target.number})
    assert page.status_code == 200
    assert f'name="into" value="{target.pk}"' in page.content.decode()
    assert Ticket.objects.get(pk=source.pk).merged_into_id is None  # GET changes nothing

    done = client.post(url, {"into": str(target.pk)})
    assert done.status_code == 302 and done.url == reverse("ticket", args=[target.pk])
    source_page = client.get(reverse("ticket", args=[source.pk])).content.decode()
    assert f'href="{reverse("ticket", args=[target.pk])}"' in source_page
    assert f"Merged into {target.number}" in source_page
    # The audit trail names the actions in words, not by their codes.
    assert "Merged into another ticket" in source_page and "ticket.merged" not in source_page
    assert "messages moved" in source_page and "messages_moved" not in source_page
    target_page = client.get(reverse("ticket", args=[target.pk])).content.decode()
    assert "A duplicate merged in" in target_page


@pytest.mark.parametrize("into", ["abc", "{other}", "{self}"])
def test_the_desk_shows_a_refused_merge_under_the_field(cast, into):
    client = client_for(cast.operator)
    source = duplicate(cast.a)
    into = into.format(other=cast.b.ticket.number, self=source.number)

    page = client.get(reverse("ticket-merge", args=[source.pk]), {"into": into})

    assert page.status_code == 400
    assert 'id="merge-into-errors"' in page.content.decode()
    assert Ticket.objects.get(pk=source.pk).merged_into_id is None


def test_the_desk_marks_spam_through_the_confirmation_page(cast):
    client = client_for(cast.a.engineer)
    ticket = cast.a.ticket
    url = reverse("ticket-spam", args=[ticket.pk])

    assert client.get(url).status_code == 200
    assert not Ticket.objects.get(pk=ticket.pk).is_spam
    assert client.post(url).status_code == 302
    page = client.get(reverse("ticket", args=[ticket.pk])).content.decode()
    assert "tag-spam" in page
    assert "Marked as spam" in page and "ticket.marked_spam" not in page
    # Another partner's ticket is a 404 for a partner account, like a missing one.
    assert client.post(reverse("ticket-spam", args=[cast.b.ticket.pk])).status_code == 404
    assert not Ticket.objects.get(pk=cast.b.ticket.pk).is_spam


def test_the_all_tickets_view_still_lists_spam(cast):
    merging.mark_spam(ticket=cast.a.ticket, actor=cast.operator)
    page = client_for(cast.operator).get(reverse("queue"), {"status": "any"})
    assert page.status_code == 200
    assert cast.a.ticket.number in page.content.decode()


# --- the API -------------------------------------------------------------------------------


def test_the_api_marks_spam_and_merges(cast):
    client = token_client(cast.a.integration)
    source = duplicate(cast.a)

    spam = client.post(f"/api/tickets/{cast.a.other_ticket.pk}/spam")
    assert spam.status_code == 200, spam.content
    assert spam.json()["is_spam"] is True and spam.json()["status"] == "closed"

    merged = client.post_json(f"/api/tickets/{source.pk}/merge",
                              {"into": cast.a.ticket.number})
    assert merged.status_code == 200, merged.content
    assert merged.json()["merged_into"] == {"id": cast.a.ticket.pk,
                                            "number": cast.a.ticket.number}

    again = client.post_json(f"/api/tickets/{source.pk}/merge", {"into": cast.a.ticket.pk})
    assert again.status_code == 409 and error_fields(again) == {"status"}
    into_spam = client.post_json(f"/api/tickets/{cast.a.ticket.pk}/merge",
                                 {"into": cast.a.other_ticket.pk})
    assert into_spam.status_code == 409 and error_fields(into_spam) == {"into"}

    unspam = client.delete(f"/api/tickets/{cast.a.other_ticket.pk}/spam")
    assert unspam.status_code == 200 and unspam.json()["is_spam"] is False


@pytest.mark.parametrize("body", [{}, {"into": "abc"}, {"into": 0}, {"into": None},
                                  {"into": 1, "extra": 1}, {"into": "{self}"},
                                  {"into": "{other_partner}"}])
def test_the_api_refuses_bad_merge_input_naming_the_field_and_writes_nothing(cast, body):
    source = duplicate(cast.a)
    if isinstance(body.get("into"), str):
        body = {"into": body["into"].format(self=source.pk,
                                            other_partner=cast.b.ticket.number)}
    client = token_client(cast.a.integration)
    before = db_snapshot()

    response = client.post_json(f"/api/tickets/{source.pk}/merge", body)

    assert response.status_code == 422, response.content
    assert error_fields(response) & {"into", "extra"}
    assert db_snapshot() == before


def test_the_api_hides_another_partners_tickets(cast):
    client = token_client(cast.a.integration)
    assert client.post(f"/api/tickets/{cast.b.ticket.pk}/spam").status_code == 404
    assert client.post_json(f"/api/tickets/{cast.b.ticket.pk}/merge",
                            {"into": cast.b.other_ticket.pk}).status_code == 404
    assert not Ticket.objects.filter(is_spam=True).exists()


# --- two operators at once (PostgreSQL) ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_two_operators_merging_two_tickets_into_each_other_make_no_cycle(cast):
    one, two = cast.a.ticket, cast.a.other_ticket
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(source: Ticket, target: Ticket) -> None:
        try:
            barrier.wait()
            merging.merge(source=source, target=target, actor=cast.operator)
            outcomes.append("merged")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()  # this thread's own connection

    workers = [threading.Thread(target=attempt, args=pair) for pair in ((one, two), (two, one))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert sorted(outcomes) == ["merged", "refused"]
    merged = list(Ticket.objects.filter(merged_into__isnull=False).values_list(
        "pk", "merged_into_id"))
    assert len(merged) == 1
