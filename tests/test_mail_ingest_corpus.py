"""The parser's corpus of real-world letters (tests/data/mail) through `ingest_raw`, and the
same letter stored by two transports at the same moment."""

import threading
from pathlib import Path

import pytest
from django.db import connection

from firstline.contacts.models import ContactEmail
from firstline.mail.ingest import ingest_raw
from firstline.mail.models import InboundMail, MailReference
from firstline.outbox.models import OutboxMessage
from firstline.tickets.models import Message, Ticket
from tests.test_mail_ingest import make_mailbox
from tests.test_mail_ingest_e2e import eml
from tests.test_outbox_http import skip_unless_concurrent_connections_work

CORPUS = Path(__file__).resolve().parent / "data" / "mail"
LETTERS = sorted(CORPUS.glob("*.eml"))
AUTOMATIC = {"10", "11", "16", "37", "49"}  # auto-replies, newsletters, lists
BOUNCES = {"12", "13", "14", "15", "48", "51", "52"}
UNUSABLE = {"46", "47"}  # an empty letter; bytes that are not a letter


def number(path: Path) -> str:
    return path.name[:2]


@pytest.fixture
def mailbox(cast):
    return make_mailbox(cast.a)


def test_the_corpus_is_there() -> None:
    assert len(LETTERS) >= 50


@pytest.mark.parametrize("path", LETTERS, ids=lambda path: path.stem)
def test_every_corpus_letter_is_stored_and_handled_without_an_exception(
    cast, mailbox, path
) -> None:
    raw = path.read_bytes()
    inbound = ingest_raw(raw, mailbox=mailbox)
    assert inbound.raw_bytes() == raw
    sent = OutboxMessage.objects.count()
    if number(path) in UNUSABLE:
        assert inbound.status == InboundMail.Status.FAILED and inbound.error
    elif number(path) in BOUNCES:
        # None of ours: the bounced letters' ids were never sent from this database.
        assert inbound.status == InboundMail.Status.IGNORED and inbound.is_bounce
        assert sent == 0
    elif number(path) in AUTOMATIC:
        assert inbound.status == InboundMail.Status.PROCESSED and inbound.is_automatic
        assert sent == 0
    else:
        assert inbound.status == InboundMail.Status.PROCESSED, inbound.error
        assert inbound.ticket is not None and sent == 1


@pytest.mark.parametrize("name,failing", [("12-dsn-postfix", True), ("48-dsn-delayed", False),
                                          ("52-dsn-exchange-ru", True)])
def test_corpus_bounces_of_our_letters_attach_and_mark_only_real_failures(
    cast, mailbox, name, failing
) -> None:
    inbound = ingest_raw((CORPUS / f"{name}.eml").read_bytes(), mailbox=mailbox)
    ticket = cast.a.ticket
    # Now pretend we had sent the letter that bounced, and deliver the bounce again.
    inbound.delete()
    from firstline.mail.parsing import parse

    report = parse((CORPUS / f"{name}.eml").read_bytes()).delivery_report
    recipient = report.failed_recipients[0] if report.failed_recipients else "ivan@alpha.example"
    ContactEmail.objects.get_or_create(
        partner=cast.a.partner, address=recipient, defaults={"contact": cast.a.contact}
    )
    MailReference.objects.create(partner=cast.a.partner, ticket=ticket, direction="out",
                                 message_id=report.original_message_id, recipient=recipient)
    inbound = ingest_raw((CORPUS / f"{name}.eml").read_bytes(), mailbox=mailbox)
    assert inbound.ticket == ticket and inbound.ticket_message.kind == Message.Kind.NOTE
    assert ContactEmail.objects.get(address=recipient).is_failing is failing


@pytest.mark.django_db(transaction=True)
def test_two_transports_storing_the_same_letter_at_once_make_one_ticket(cast) -> None:
    skip_unless_concurrent_connections_work()
    mailbox = make_mailbox(cast.a)
    raw = eml(message_id="<race@customer.example>")
    start = threading.Barrier(2)
    rows: list[int] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            start.wait(timeout=10)
            rows.append(ingest_raw(raw, mailbox=mailbox).pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=deliver) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    assert len(set(rows)) == 1
    assert InboundMail.objects.count() == 1
    assert Ticket.objects.filter(channel="email").count() == 1
    assert OutboxMessage.objects.count() == 1
