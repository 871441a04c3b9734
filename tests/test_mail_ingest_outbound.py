"""A staff member's public reply is mailed to the customer through the outbox (F4): from the
partner's address, Reply-To back into its mailbox, in the ticket's thread, with the files."""

from email import message_from_bytes
from email.message import Message as EmailMessage

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from firstline.contacts.models import Contact, ContactEmail
from firstline.mail.ingest import ingest_raw
from firstline.mail.models import MailParticipant, MailReference
from firstline.mail.threading import thread_tag
from firstline.outbox.delivery import deliver_due
from firstline.outbox.models import OutboxMessage
from firstline.tickets.models import Message, Status
from firstline.tickets.services import TicketChange, add_message, change_ticket, create_ticket
from tests.test_mail_ingest import acks, make_mailbox
from tests.test_mail_ingest_e2e import eml


@pytest.fixture
def mailbox(cast):
    return make_mailbox(cast.a)

REPLY = "Иван, добрый день! Проверьте, пожалуйста, пароль: мы его сбросили."


def reply(ticket, actor, text: str = REPLY, **extra) -> Message:
    return add_message(ticket=ticket, actor=actor, kind=Message.Kind.REPLY, text=text, **extra)


def letters_of(message: Message) -> list[OutboxMessage]:
    ids = MailReference.objects.filter(ticket_message=message, direction="out").values("outbox")
    return list(OutboxMessage.objects.filter(pk__in=ids).order_by("id"))


def sent_as_parsed() -> EmailMessage:
    (sent,) = mail.outbox
    return message_from_bytes(sent.message().as_bytes())


def test_a_reply_on_a_mail_ticket_goes_out_in_its_thread(cast, mailbox) -> None:
    ticket = ingest_raw(eml(), mailbox=mailbox).ticket
    (ack,) = acks(ticket)
    ack_id = ack.headers["Message-ID"]
    message = reply(ticket, cast.operator)
    (letter,) = letters_of(message)
    assert letter.recipient == "ivan@alpha.example"
    assert letter.subject == f"[{thread_tag(ticket)}] Re: Нет доступа на FTP"
    assert letter.headers["Reply-To"] == "help@alpha.example"
    assert letter.headers["In-Reply-To"] == ack_id
    assert letter.headers["References"] == f"<first@customer.example> {ack_id}"
    assert letter.headers["X-Firstline-Loop"] == ticket.number
    assert "Auto-Submitted" not in letter.headers
    assert letter.body.startswith(REPLY)
    assert "Partner alpha" in letter.body  # the partner's signature
    assert MailReference.objects.filter(
        ticket=ticket, direction="out", message_id=letter.headers["Message-ID"].strip("<>")
    ).exists()


def test_the_sent_letter_carries_the_headers_text_html_and_files(cast, mailbox) -> None:
    ticket = ingest_raw(eml(), mailbox=mailbox).ticket
    deliver_due()
    mail.outbox.clear()
    log = SimpleUploadedFile("instruction.pdf", b"%PDF-1.4 test", "application/pdf")
    message = reply(ticket, cast.operator, attachments=[log])
    (letter,) = letters_of(message)
    assert letter.attachments[0]["filename"] == "instruction.pdf"
    assert deliver_due() == 1
    sent = sent_as_parsed()
    assert sent["From"] == "support@alpha.example"
    assert sent["To"] == "ivan@alpha.example"
    assert sent["Reply-To"] == "help@alpha.example"
    assert sent["Message-ID"] == letter.headers["Message-ID"]
    assert sent["In-Reply-To"] == letter.headers["In-Reply-To"]
    assert " ".join(sent["References"].split()) == letter.headers["References"]
    parts = {part.get_content_type(): part for part in sent.walk()}
    assert "пароль" in parts["text/plain"].get_payload(decode=True).decode()
    assert "<p>" in parts["text/html"].get_payload(decode=True).decode()
    assert parts["application/pdf"].get_filename() == "instruction.pdf"
    assert parts["application/pdf"].get_payload(decode=True) == b"%PDF-1.4 test"


def test_the_customers_answer_to_our_reply_joins_and_resumes_the_ticket(cast, mailbox) -> None:
    ticket = cast.a.ticket  # a portal ticket: the reply starts its mail thread
    message = reply(ticket, cast.operator)
    change_ticket(ticket=ticket, actor=cast.operator,
                  change=TicketChange(status=Status.WAITING_CUSTOMER))
    (letter,) = letters_of(message)
    assert "In-Reply-To" not in letter.headers  # nothing to answer yet
    answer = eml(subject="Re: something", message_id="<answer@customer.example>",
                 headers=f"In-Reply-To: {letter.headers['Message-ID']}\n",
                 body="Пароль подошёл, спасибо!\n")
    inbound = ingest_raw(answer, mailbox=mailbox)
    assert inbound.ticket == ticket
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN


def test_notes_and_customer_messages_are_not_mailed(cast) -> None:
    add_message(ticket=cast.a.ticket, actor=cast.operator, kind=Message.Kind.NOTE,
                text="Проверяю")
    add_message(ticket=cast.a.ticket, actor=cast.a.customer, kind=Message.Kind.INBOUND,
                text="Жду ответа")
    assert OutboxMessage.objects.count() == 0


def test_a_reply_to_a_contact_without_e_mail_is_not_mailed(cast) -> None:
    contact = Contact.objects.create(partner=cast.a.partner, name="Позвонивший")
    ticket = create_ticket(partner=cast.a.partner, actor=cast.operator, channel="phone",
                           subject="Звонок", text="Не работает сайт", contact=contact)
    reply(ticket, cast.operator, text="Позвонивший, добрый день! Сайт снова работает.")
    assert OutboxMessage.objects.count() == 0


def test_participants_get_their_own_copy(cast, mailbox) -> None:
    ticket = cast.a.ticket
    MailParticipant.objects.create(partner=cast.a.partner, ticket=ticket,
                                   contact=cast.a.other_contact, address="olga@alpha.example")
    message = reply(ticket, cast.operator)
    letters = letters_of(message)
    assert [item.recipient for item in letters] == ["ivan@alpha.example", "olga@alpha.example"]
    first, second = (item.headers["Message-ID"] for item in letters)
    assert first != second


def test_a_failing_address_gives_way_to_a_working_one(cast) -> None:
    ContactEmail.objects.filter(address="ivan@alpha.example").update(is_failing=True)
    ContactEmail.objects.create(partner=cast.a.partner, contact=cast.a.contact,
                                address="ivan.home@alpha.example")
    (letter,) = letters_of(reply(cast.a.ticket, cast.operator))
    assert letter.recipient == "ivan.home@alpha.example"


def test_the_reply_and_its_letter_are_one_transaction(cast, monkeypatch) -> None:
    from firstline.mail import outbound

    def broken(**kwargs):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(outbound.outbox, "enqueue", broken)
    with pytest.raises(RuntimeError):
        reply(cast.a.ticket, cast.operator)
    assert not cast.a.ticket.messages.filter(kind=Message.Kind.REPLY).exists()
