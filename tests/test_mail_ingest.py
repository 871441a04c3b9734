"""Inbound mail: stored first, deduplicated, threaded to its ticket or opening a new one.

The tests here hand `process` a ParsedMail built in the test, so they check the ingest
rules alone; tests/test_mail_ingest_e2e.py runs the same paths from raw .eml bytes through
the real parser. Other mail test modules import the helpers below.
"""

import itertools
from dataclasses import replace

import pytest

from firstline.contacts.models import Contact, ContactEmail
from firstline.core.models import AuditEvent
from firstline.mail.ingest import process, store_raw
from firstline.mail.models import InboundMail, Mailbox, MailParticipant, MailReference
from firstline.mail.parsed import Address, ParsedAttachment, ParsedMail
from firstline.outbox.models import OutboxMessage
from firstline.tickets.models import Channel, IdentifiedBy, Message, Status, Ticket
from firstline.tickets.services import TicketChange, change_ticket

_ids = itertools.count(1)


def make_mailbox(side, **extra) -> Mailbox:
    return Mailbox.objects.create(
        partner=side.partner, address=f"help@{side.partner.slug}.example", **extra
    )


@pytest.fixture
def mailbox(cast) -> Mailbox:
    return make_mailbox(cast.a)


def letter(**fields) -> ParsedMail:
    """A parsed letter from Ivan of partner alpha unless told otherwise."""
    text = fields.pop("text", "Не могу зайти на FTP с утра. Пароль верный.")
    values = {
        "message_id": f"m{next(_ids)}@customer.example",
        "in_reply_to": (),
        "references": (),
        "sender": Address("Ivan alpha", "ivan@alpha.example"),
        "reply_to": (),
        "to": (Address("", "help@alpha.example"),),
        "cc": (),
        "subject": "Нет доступа на FTP",
        "date": None,
        "text": text,
        "full_text": text,
        "html": "",
        "attachments": (),
        "forwarded": (),
        "auto_submitted": False,
        "bulk": False,
        "from_mailer_daemon": False,
        "delivery_report": None,
    }
    values.update(fields)
    return ParsedMail(**values)


def raw_for(parsed: ParsedMail, extra_headers: str = "") -> bytes:
    head = f"Message-ID: <{parsed.message_id}>\r\n" if parsed.message_id else ""
    return (
        f"{head}From: {parsed.sender.email}\r\nSubject: test\r\n{extra_headers}\r\nbody\r\n"
    ).encode()


def receive(mailbox: Mailbox, parsed: ParsedMail, raw: bytes | None = None) -> InboundMail:
    """What ingest_raw does, with this parse result instead of the parser's."""
    inbound = store_raw(raw if raw is not None else raw_for(parsed), mailbox=mailbox)
    if inbound.status == InboundMail.Status.STORED:
        process(inbound, parse=lambda _raw: parsed)
        inbound.refresh_from_db()
    return inbound


def email_tickets(partner) -> list[Ticket]:
    return list(Ticket.objects.filter(partner=partner, channel=Channel.EMAIL).order_by("id"))


def acks(ticket: Ticket) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(ticket=ticket, headers__has_key="Auto-Submitted"))


# A new request -----------------------------------------------------------------------------


def test_a_new_letter_opens_a_ticket_with_the_customers_words(cast, mailbox) -> None:
    parsed = letter(
        html="<p>Не могу зайти на FTP с утра.</p><script>x()</script>",
        attachments=(ParsedAttachment("tracert.txt", "text/plain", b"1 10.0.0.1", 10),),
    )
    inbound = receive(mailbox, parsed)
    assert inbound.status == InboundMail.Status.PROCESSED
    ticket = inbound.ticket
    assert ticket.partner == cast.a.partner
    assert ticket.channel == Channel.EMAIL
    assert ticket.contact == cast.a.contact
    assert ticket.subject == "Нет доступа на FTP"
    assert ticket.customer_words == parsed.text
    message = inbound.ticket_message
    assert message.kind == Message.Kind.INBOUND and message.author_contact == cast.a.contact
    assert "<script>" not in message.body_html and "FTP" in message.body_html
    (attachment,) = message.attachments.all()
    assert attachment.filename == "tracert.txt"
    with attachment.file.open("rb") as handle:
        assert handle.read() == b"1 10.0.0.1"
    assert MailReference.objects.filter(
        ticket=ticket, message_id=parsed.message_id, direction="in"
    ).exists()
    assert AuditEvent.objects.filter(action="ticket.created", target_id=str(ticket.pk)).exists()


def test_the_raw_letter_is_kept_before_it_is_processed(cast, mailbox) -> None:
    raw = raw_for(letter(message_id="keep@customer.example"))
    inbound = store_raw(raw, mailbox=mailbox)
    assert inbound.status == InboundMail.Status.STORED
    assert inbound.message_id == "keep@customer.example"
    assert InboundMail.objects.get(pk=inbound.pk).raw_bytes() == raw


def test_a_large_letter_is_kept_as_a_file(cast, mailbox, settings) -> None:
    settings.FIRSTLINE_MAIL_RAW_DB_MAX_BYTES = 100
    raw = raw_for(letter()) + b"x" * 500
    inbound = store_raw(raw, mailbox=mailbox)
    stored = InboundMail.objects.get(pk=inbound.pk)
    assert stored.raw is None and stored.raw_file
    assert stored.raw_bytes() == raw


def test_the_same_message_id_twice_creates_one_ticket(cast, mailbox) -> None:
    parsed = letter(message_id="twice@customer.example")
    first = receive(mailbox, parsed)
    again = receive(mailbox, parsed, raw=raw_for(parsed, "X-Delivered-Again: yes\r\n"))
    assert again.pk == first.pk
    assert InboundMail.objects.count() == 1
    assert len(email_tickets(cast.a.partner)) == 1
    assert len(acks(first.ticket)) == 1


def test_the_same_bytes_without_a_message_id_are_one_letter(cast, mailbox) -> None:
    parsed = letter(message_id="")
    first = receive(mailbox, parsed)
    again = receive(mailbox, parsed)
    assert again.pk == first.pk and len(email_tickets(cast.a.partner)) == 1


def test_the_same_message_id_in_two_mailboxes_is_two_letters(cast, mailbox) -> None:
    other = make_mailbox(cast.b)
    parsed = letter(message_id="both@customer.example")
    receive(mailbox, parsed)
    receive(other, replace(parsed, sender=Address("Ivan beta", "ivan@beta.example")))
    assert len(email_tickets(cast.a.partner)) == 1
    assert len(email_tickets(cast.b.partner)) == 1


# Threading ---------------------------------------------------------------------------------


def test_a_reply_joins_its_ticket_by_in_reply_to_our_acknowledgement(cast, mailbox) -> None:
    ticket = receive(mailbox, letter()).ticket
    (ack,) = acks(ticket)
    our_id = ack.headers["Message-ID"].strip("<>")
    reply = letter(subject="Re: Ваш вопрос", in_reply_to=(our_id,), text="Вот логи.")
    inbound = receive(mailbox, reply)
    assert inbound.ticket == ticket
    assert inbound.ticket_message.kind == Message.Kind.INBOUND
    assert len(email_tickets(cast.a.partner)) == 1


def test_a_reply_joins_by_references_to_the_customers_own_first_letter(cast, mailbox) -> None:
    first = letter()
    ticket = receive(mailbox, first).ticket
    inbound = receive(mailbox, letter(subject="ещё", references=(first.message_id,)))
    assert inbound.ticket == ticket


def test_a_reply_joins_by_the_number_in_the_subject(cast, mailbox) -> None:
    ticket = cast.a.ticket
    inbound = receive(mailbox, letter(subject=f"Re: [{ticket.number}] FTP", text="Всё ещё нет."))
    assert inbound.ticket == ticket
    assert ticket.messages.filter(kind=Message.Kind.INBOUND).count() == 2


def test_another_partners_number_in_the_subject_opens_a_new_ticket(cast, mailbox) -> None:
    foreign = cast.b.ticket
    inbound = receive(mailbox, letter(subject=f"Re: [{foreign.number}] FTP"))
    assert inbound.ticket != foreign
    assert inbound.ticket.partner == cast.a.partner
    assert foreign.messages.count() == 1


def test_another_partners_message_id_does_not_join_its_ticket(cast, mailbox) -> None:
    beta = make_mailbox(cast.b)
    beta_letter = letter(sender=Address("Ivan beta", "ivan@beta.example"))
    beta_ticket = receive(beta, beta_letter).ticket
    inbound = receive(mailbox, letter(in_reply_to=(beta_letter.message_id,)))
    assert inbound.ticket != beta_ticket and inbound.ticket.partner == cast.a.partner


def test_a_customers_answer_resumes_a_ticket_waiting_for_them(cast, mailbox) -> None:
    ticket = cast.a.ticket
    change_ticket(ticket=ticket, actor=cast.operator,
                  change=TicketChange(status=Status.WAITING_CUSTOMER))
    receive(mailbox, letter(subject=f"[{ticket.number}]", text="Прислал логи."))
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert AuditEvent.objects.filter(action="message.inbound", target_id=str(ticket.pk)).exists()


def test_an_answer_reopens_a_resolved_ticket(cast, mailbox) -> None:
    ticket = cast.a.ticket
    change_ticket(ticket=ticket, actor=cast.operator, change=TicketChange(status=Status.OPEN))
    change_ticket(ticket=ticket, actor=cast.operator, change=TicketChange(status=Status.RESOLVED))
    receive(mailbox, letter(subject=f"Re: [{ticket.number}]", text="Опять не работает."))
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN


def test_an_answer_to_a_closed_ticket_opens_a_new_one(cast, mailbox) -> None:
    ticket = cast.a.ticket
    for status in (Status.OPEN, Status.RESOLVED, Status.CLOSED):
        change_ticket(ticket=ticket, actor=cast.operator, change=TicketChange(status=status))
    inbound = receive(mailbox, letter(subject=f"Re: [{ticket.number}] FTP"))
    assert inbound.ticket != ticket and inbound.ticket.status == Status.NEW
    assert ticket.number in inbound.problems


# Unknown senders on a thread ---------------------------------------------------------------


def test_an_unknown_sender_answering_our_mail_is_added_when_the_mailbox_says_so(
    cast, mailbox
) -> None:
    """`add_participant` trusts a forwarded thread: the letter answers one of our
    Message-IDs, which only somebody holding the ticket's mail knows."""
    mailbox.unknown_sender_policy = Mailbox.UnknownSenderPolicy.ADD_PARTICIPANT
    mailbox.save()
    ticket = receive(mailbox, letter()).ticket
    (ack,) = acks(ticket)
    stranger = Address("Пётр Коллегин", "petr@alpha.example")
    inbound = receive(mailbox, letter(sender=stranger, subject="Fwd: Ваш вопрос",
                                      in_reply_to=(ack.headers["Message-ID"].strip("<>"),),
                                      text="Я коллега Ивана, у меня то же самое."))
    message = inbound.ticket_message
    assert inbound.ticket == ticket and message.kind == Message.Kind.INBOUND
    contact = message.author_contact
    assert contact.name == "Пётр Коллегин" and contact.partner == cast.a.partner
    assert not contact.emails.get().is_confirmed
    assert MailParticipant.objects.filter(ticket=ticket, address="petr@alpha.example").exists()


def test_add_participant_never_adds_a_sender_who_only_names_the_number(cast, mailbox) -> None:
    mailbox.unknown_sender_policy = Mailbox.UnknownSenderPolicy.ADD_PARTICIPANT
    mailbox.save()
    ticket = cast.a.ticket
    inbound = receive(mailbox, letter(sender=Address("", "petr@alpha.example"),
                                      subject=f"[{ticket.number}]", text="Я коллега."))
    assert inbound.ticket_message.kind == Message.Kind.NOTE
    assert not MailParticipant.objects.filter(ticket=ticket).exists()
    assert not ContactEmail.objects.filter(address="petr@alpha.example").exists()


def test_an_unknown_sender_is_flagged_by_default(cast, mailbox) -> None:
    assert mailbox.unknown_sender_policy == Mailbox.UnknownSenderPolicy.FLAG
    ticket = cast.a.ticket
    inbound = receive(mailbox, letter(sender=Address("", "who@else.example"),
                                      subject=f"[{ticket.number}]", text="Тоже не работает"))
    note = inbound.ticket_message
    assert note.kind == Message.Kind.NOTE and "who@else.example" in note.body_text
    assert "Тоже не работает" in note.body_text
    assert "who@else.example" in inbound.problems
    assert not ContactEmail.objects.filter(address="who@else.example").exists()
    assert not MailParticipant.objects.filter(ticket=ticket).exists()


def test_a_colleague_is_only_flagged_while_the_mailbox_keeps_colleagues_out(
    cast, mailbox
) -> None:
    ticket = cast.a.ticket
    inbound = receive(mailbox, letter(sender=Address("Olga", "olga@alpha.example"),
                                      subject=f"[{ticket.number}]", text="Подтверждаю"))
    assert inbound.ticket_message.kind == Message.Kind.NOTE
    assert not MailParticipant.objects.filter(ticket=ticket).exists()


def test_a_colleague_joins_when_the_mailbox_lets_colleagues_in(cast, mailbox) -> None:
    mailbox.colleagues_may_join = True
    mailbox.save()
    ticket = cast.a.ticket
    inbound = receive(mailbox, letter(sender=Address("Olga", "olga@alpha.example"),
                                      subject=f"[{ticket.number}]", text="Подтверждаю"))
    assert inbound.ticket_message.kind == Message.Kind.INBOUND
    assert inbound.ticket_message.author_contact == cast.a.other_contact
    assert MailParticipant.objects.filter(ticket=ticket, contact=cast.a.other_contact).exists()


# Identification ----------------------------------------------------------------------------


def test_a_confirmed_address_identifies_the_customer(cast, mailbox) -> None:
    ticket = receive(mailbox, letter()).ticket
    assert ticket.identified_by == IdentifiedBy.CONFIRMED_EMAIL


def test_an_unknown_sender_becomes_an_unconfirmed_contact_and_is_not_identified(
    cast, mailbox
) -> None:
    ticket = receive(mailbox, letter(sender=Address("", "anna.k@newco.example"))).ticket
    assert ticket.identified_by == IdentifiedBy.NONE
    assert ticket.contact.name == "anna.k"
    email = ContactEmail.objects.get(address="anna.k@newco.example")
    assert email.partner == cast.a.partner and not email.is_confirmed


def test_an_unconfirmed_address_is_not_identification(cast, mailbox) -> None:
    ContactEmail.objects.filter(contact=cast.a.contact).update(is_confirmed=False)
    ticket = receive(mailbox, letter()).ticket
    assert ticket.identified_by == IdentifiedBy.NONE


def test_the_contract_number_identifies_and_links_the_organisation(cast, mailbox) -> None:
    text = "Добрый день. Не открывается панель. Договор № alpha-001."
    ticket = receive(mailbox, letter(sender=Address("Анна", "anna@newco.example"),
                                     text=text)).ticket
    assert ticket.identified_by == IdentifiedBy.CONTRACT_NUMBER
    assert ticket.contact.organisation == cast.a.organisation


def test_another_partners_contract_number_does_not_identify(cast, mailbox) -> None:
    ticket = receive(mailbox, letter(sender=Address("Анна", "anna@newco.example"),
                                     text="Contract number: beta-001. FTP is down.")).ticket
    assert ticket.identified_by == IdentifiedBy.NONE
    assert ticket.contact.organisation is None


@pytest.mark.parametrize("phrase", ["кодовое слово: Ромашка", "Code word: ромашка",
                                    "кодовое слово «ромашка»"])
def test_the_code_word_identifies(cast, mailbox, phrase) -> None:
    organisation = cast.a.organisation
    organisation.set_code_word("Ромашка")
    organisation.save()
    contact = Contact.objects.create(partner=cast.a.partner, organisation=organisation,
                                     name="Сергей")
    ContactEmail.objects.create(partner=cast.a.partner, contact=contact,
                                address="sergey@alpha.example")
    ticket = receive(mailbox, letter(sender=Address("Сергей", "sergey@alpha.example"),
                                     text=f"Не работает почта. {phrase}")).ticket
    assert ticket.identified_by == IdentifiedBy.CODE_WORD


def test_a_wrong_code_word_does_not_identify(cast, mailbox) -> None:
    cast.a.organisation.set_code_word("Ромашка")
    cast.a.organisation.save()
    ticket = receive(mailbox, letter(sender=Address("Анна", "anna@newco.example"),
                                     text="Договор alpha-001, кодовое слово: Тюльпан")).ticket
    # The contract number still identifies; the wrong code word does not.
    assert ticket.identified_by == IdentifiedBy.CONTRACT_NUMBER


# Noise and loops ---------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["auto_submitted", "bulk", "from_mailer_daemon"])
def test_automatic_mail_gets_no_acknowledgement(cast, mailbox, flag) -> None:
    inbound = receive(mailbox, letter(**{flag: True}))
    assert inbound.is_automatic
    if inbound.ticket is not None:
        assert acks(inbound.ticket) == []
    assert not OutboxMessage.objects.filter(recipient="ivan@alpha.example").exists()


def test_an_out_of_office_on_a_thread_is_a_note_and_does_not_resume(cast, mailbox) -> None:
    ticket = cast.a.ticket
    change_ticket(ticket=ticket, actor=cast.operator,
                  change=TicketChange(status=Status.WAITING_CUSTOMER))
    inbound = receive(mailbox, letter(subject=f"Автоответ: [{ticket.number}]",
                                      text="Я в отпуске до понедельника.", auto_submitted=True))
    assert inbound.ticket_message.kind == Message.Kind.NOTE
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_CUSTOMER


@pytest.mark.parametrize("sender", ["help@alpha.example", "support@beta.example",
                                    "HELP@alpha.example"])
def test_our_own_addresses_are_a_loop_and_ignored(cast, mailbox, sender) -> None:
    inbound = receive(mailbox, letter(sender=Address("", sender.lower())))
    assert inbound.status == InboundMail.Status.IGNORED
    assert inbound.ignored_because == InboundMail.Ignored.LOOP
    assert email_tickets(cast.a.partner) == []


def test_a_letter_with_our_loop_header_is_ignored(cast, mailbox) -> None:
    parsed = letter(sender=Address("", "forwarder@elsewhere.example"))
    inbound = receive(mailbox, parsed, raw_for(parsed, "X-Firstline-Loop: FL-000001\r\n"))
    assert inbound.ignored_because == InboundMail.Ignored.LOOP
    assert email_tickets(cast.a.partner) == []


def test_our_own_message_id_coming_back_is_ignored(cast, mailbox) -> None:
    ticket = receive(mailbox, letter()).ticket
    our_id = acks(ticket)[0].headers["Message-ID"].strip("<>")
    inbound = receive(mailbox, letter(message_id=our_id, sender=Address("", "x@y.example")))
    assert inbound.ignored_because == InboundMail.Ignored.LOOP


# What cannot be processed ------------------------------------------------------------------


def test_a_letter_without_a_sender_is_kept_as_failed(cast, mailbox) -> None:
    inbound = receive(mailbox, letter(sender=Address("", ""), problems=("no From header",)))
    assert inbound.status == InboundMail.Status.FAILED
    assert inbound.error and "no From header" in inbound.problems
    assert inbound.raw_bytes()


def test_a_parser_crash_keeps_the_letter_as_failed(cast, mailbox) -> None:
    def broken(raw: bytes) -> ParsedMail:
        raise LookupError("unknown encoding: x-weird")

    inbound = store_raw(b"\x00\xff garbage", mailbox=mailbox)
    process(inbound, parse=broken)
    inbound.refresh_from_db()
    assert inbound.status == InboundMail.Status.FAILED
    assert "x-weird" in inbound.error
    assert inbound.raw_bytes() == b"\x00\xff garbage"


def test_a_failure_while_processing_rolls_back_and_keeps_the_letter(
    cast, mailbox, monkeypatch
) -> None:
    from firstline.mail import handling

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(handling.autoreply, "acknowledge", explode)
    inbound = receive(mailbox, letter())
    assert inbound.status == InboundMail.Status.FAILED and "disk full" in inbound.error
    assert email_tickets(cast.a.partner) == []  # the half-made ticket was rolled back


def test_an_oversized_attachment_is_listed_not_lost_silently(cast, mailbox) -> None:
    big = ParsedAttachment("dump.bin", "application/octet-stream", None, 50_000_000)
    inbound = receive(mailbox, letter(attachments=(big,)))
    assert inbound.status == InboundMail.Status.PROCESSED
    assert "dump.bin" in inbound.problems
    assert not inbound.ticket_message.attachments.exists()
