"""From raw .eml bytes through `ingest_raw` and the real parser: tickets, threads, the
acknowledgement, noise, bounces and letters that cannot be read."""

import pytest
from django.core import mail

from firstline.contacts.models import ContactEmail
from firstline.core.models import AuditEvent
from firstline.mail.ingest import ingest_raw
from firstline.mail.models import InboundMail, Mailbox
from firstline.mail.threading import thread_tag
from firstline.outbox.delivery import deliver_due
from firstline.outbox.models import OutboxMessage
from firstline.tickets.models import IdentifiedBy, Message, Ticket
from tests.test_mail_ingest import acks, email_tickets, make_mailbox
from tests.test_sla_deadlines import office_policy


@pytest.fixture
def mailbox(cast):
    return make_mailbox(cast.a)


def eml(
    *,
    subject: str = "=?utf-8?b?0J3QtdGCINC00L7RgdGC0YPQv9CwINC90LAgRlRQ?=",  # «Нет доступа на FTP»
    sender: str = '"Ivan alpha" <ivan@alpha.example>',
    to: str = "help@alpha.example",
    message_id: str = "<first@customer.example>",
    headers: str = "",
    body: str = "Не могу зайти на FTP с утра.\n\n-- \nИван, ООО Альфа\n",
) -> bytes:
    head = (
        f"From: {sender}\nTo: {to}\nSubject: {subject}\nMessage-ID: {message_id}\n"
        f"Date: Tue, 03 Mar 2026 10:00:00 +0300\nMIME-Version: 1.0\n{headers}"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
    )
    return (head + body).replace("\n", "\r\n").encode("utf-8")


def test_a_letter_opens_a_ticket_and_the_acknowledgement_meets_the_criteria(cast, mailbox):
    office_policy(cast.a.partner)
    inbound = ingest_raw(eml(), mailbox=mailbox)
    assert inbound.status == InboundMail.Status.PROCESSED, inbound.error
    ticket = inbound.ticket
    assert ticket.subject == "Нет доступа на FTP"
    assert ticket.customer_words == "Не могу зайти на FTP с утра."  # signature folded away
    assert ticket.identified_by == IdentifiedBy.CONFIRMED_EMAIL
    (ack,) = acks(ticket)
    assert ack.subject == f"[{thread_tag(ticket)}] Ваш вопрос принят: Нет доступа на FTP"
    assert "Здравствуйте, Ivan alpha!" in ack.body
    assert "«Нет доступа на FTP»" in ack.body
    assert "не позднее" in ack.body and "(Europe/Moscow, UTC+03:00)" in ack.body
    assert ack.headers["In-Reply-To"] == "<first@customer.example>"


def test_the_same_letter_delivered_twice_is_one_ticket(cast, mailbox):
    first = ingest_raw(eml(), mailbox=mailbox)
    second = ingest_raw(eml(headers="Received: from relay2\n"), mailbox=mailbox)
    assert second.pk == first.pk
    assert len(email_tickets(cast.a.partner)) == 1
    assert OutboxMessage.objects.count() == 1


def test_a_reply_to_our_acknowledgement_joins_by_in_reply_to(cast, mailbox):
    ticket = ingest_raw(eml(), mailbox=mailbox).ticket
    deliver_due()
    (ack,) = mail.outbox
    our_id = ack.extra_headers["Message-ID"]
    reply = eml(subject="Re: something else entirely", message_id="<second@customer.example>",
                headers=f"In-Reply-To: {our_id}\nReferences: <first@customer.example> {our_id}\n",
                body="Вот tracert.\n\n> quoted history\n")
    inbound = ingest_raw(reply, mailbox=mailbox)
    assert inbound.ticket == ticket
    assert inbound.ticket_message.body_text == "Вот tracert."
    assert len(email_tickets(cast.a.partner)) == 1


def test_a_reply_joins_by_the_number_in_the_subject_of_the_same_partner_only(cast, mailbox):
    own = ingest_raw(eml(subject=f"Re: [{cast.a.ticket.number}] FTP",
                         message_id="<n1@customer.example>"), mailbox=mailbox)
    assert own.ticket == cast.a.ticket
    foreign = ingest_raw(eml(subject=f"Re: [{cast.b.ticket.number}] FTP",
                             message_id="<n2@customer.example>"), mailbox=mailbox)
    assert foreign.ticket.partner == cast.a.partner and foreign.ticket != cast.b.ticket
    assert cast.b.ticket.messages.count() == 1


@pytest.mark.parametrize("policy", ["add_participant", "flag"])
def test_an_unknown_sender_naming_the_number_is_a_note_whatever_the_policy(
    cast, mailbox, policy
):
    mailbox.unknown_sender_policy = policy
    mailbox.save()
    inbound = ingest_raw(eml(sender="Stranger <x@stranger.example>",
                             subject=f"[{cast.a.ticket.number}] и у нас"), mailbox=mailbox)
    message = inbound.ticket_message
    assert inbound.ticket == cast.a.ticket
    assert message.kind == Message.Kind.NOTE and "x@stranger.example" in message.body_text
    assert not ContactEmail.objects.filter(address="x@stranger.example").exists()


def test_the_code_word_in_a_letter_from_an_unconfirmed_address_identifies(cast, mailbox):
    organisation = cast.a.organisation
    organisation.set_code_word("Ромашка")
    organisation.save()
    body = "Не работает почта.\nДоговор alpha-001, кодовое слово: ромашка\n"
    ticket = ingest_raw(eml(sender="anna@newco.example", body=body), mailbox=mailbox).ticket
    assert ticket.identified_by == IdentifiedBy.CODE_WORD
    assert ticket.contact.organisation == organisation


@pytest.mark.parametrize("headers,sender", [
    ("Auto-Submitted: auto-replied\n", "ivan@alpha.example"),
    ("Precedence: bulk\n", "ivan@alpha.example"),
    ("List-Id: <news.alpha.example>\n", "ivan@alpha.example"),
    ("", "MAILER-DAEMON@mx.alpha.example"),
    ("", "support@alpha.example"),
    ("", "help@alpha.example"),
])
def test_automatic_and_own_mail_gets_no_acknowledgement(cast, mailbox, headers, sender):
    inbound = ingest_raw(eml(headers=headers, sender=sender), mailbox=mailbox)
    assert inbound.status != InboundMail.Status.FAILED, inbound.error
    assert OutboxMessage.objects.count() == 0


def test_our_letter_coming_back_through_a_forwarder_is_a_loop(cast, mailbox):
    ingest_raw(eml(), mailbox=mailbox)
    deliver_due()
    (ack,) = mail.outbox
    forwarded = ack.message().as_bytes()
    inbound = ingest_raw(forwarded, mailbox=mailbox)
    assert inbound.status == InboundMail.Status.IGNORED
    assert inbound.ignored_because == InboundMail.Ignored.LOOP


def test_an_auto_responder_answering_our_acknowledgement_gets_no_answer(cast, mailbox):
    ticket = ingest_raw(eml(), mailbox=mailbox).ticket
    assert deliver_due() == 1
    (ack,) = mail.outbox
    ours = ack.extra_headers["Message-ID"]
    away = eml(sender="ivan@alpha.example", subject=f"Auto: {ack.subject}",
               message_id="<away@customer.example>",
               headers=f"Auto-Submitted: auto-replied\nIn-Reply-To: {ours}\n",
               body="I am out of the office until Monday.\n")
    inbound = ingest_raw(away, mailbox=mailbox)
    assert inbound.ticket == ticket and inbound.ticket_message.kind == Message.Kind.NOTE
    assert deliver_due() == 0 and len(mail.outbox) == 1


def dsn(original_id: str, recipient: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.alpha.example>\n"
        "To: support@alpha.example\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Message-ID: <bounce-1@mx.alpha.example>\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nI'm sorry to have to inform you that your message "
        "could not be delivered.\n\n"
        "--B\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.alpha.example\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n\n"
        "--B\nContent-Type: text/rfc822-headers\n\n"
        f"From: support@alpha.example\nTo: {recipient}\nSubject: [FL] x\n"
        f"Message-ID: {original_id}\n\n"
        "--B--\n"
    ).replace("\n", "\r\n").encode()


def test_a_bounce_attaches_to_its_ticket_and_marks_the_address_failing(cast, mailbox):
    ticket = ingest_raw(eml(), mailbox=mailbox).ticket
    (ack,) = acks(ticket)
    inbound = ingest_raw(dsn(ack.headers["Message-ID"], "ivan@alpha.example"), mailbox=mailbox)
    assert inbound.status == InboundMail.Status.PROCESSED and inbound.is_bounce
    assert inbound.ticket == ticket
    note = inbound.ticket_message
    assert note.kind == Message.Kind.NOTE
    assert "ivan@alpha.example" in note.body_text and "5.1.1" in note.body_text
    email = ContactEmail.objects.get(address="ivan@alpha.example")
    assert email.is_failing and email.failing_since is not None
    assert AuditEvent.objects.filter(action="contact.email_failing").count() == 1
    assert len(acks(ticket)) == 1  # a bounce is never answered


def test_a_bounce_of_a_letter_we_never_sent_marks_nothing(cast, mailbox):
    inbound = ingest_raw(dsn("<spam@elsewhere.example>", "ivan@alpha.example"), mailbox=mailbox)
    assert inbound.status == InboundMail.Status.IGNORED
    assert inbound.ignored_because == InboundMail.Ignored.BOUNCE
    assert not ContactEmail.objects.filter(is_failing=True).exists()


@pytest.mark.parametrize("raw", [b"", b"\x00\x01\x02\xff\xfe binary garbage", b"not an e-mail"])
def test_unreadable_bytes_are_kept_as_failed(cast, mailbox, raw):
    inbound = ingest_raw(raw, mailbox=mailbox)
    assert inbound.status == InboundMail.Status.FAILED
    assert inbound.raw_bytes() == raw
    assert Ticket.objects.filter(channel="email").count() == 0


def test_a_letter_to_a_mailbox_of_another_partner_goes_to_that_partner(cast, mailbox):
    beta = Mailbox.objects.create(partner=cast.b.partner, address="help@beta.example")
    ticket = ingest_raw(eml(), mailbox=beta).ticket
    assert ticket.partner == cast.b.partner
    # Ivan of alpha is nobody at beta: a new, unconfirmed contact there.
    assert ticket.contact.partner == cast.b.partner
    assert ticket.identified_by == IdentifiedBy.NONE
