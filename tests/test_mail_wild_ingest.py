"""Mail from the wild through the real ingest path (`ingest_raw`, and `firstline mail_in`
for one): attached letters kept and shown (13), auto-replies that are not bounces (14), real
attachment names on the ticket and in the download (17), garbled senders listed for an
operator and nobody else answered (19), the first valid From (20)."""

from io import BytesIO, StringIO
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.urls import reverse

from firstline.contacts.models import ContactEmail
from firstline.mail.ingest import ingest_raw
from firstline.mail.models import InboundMail, MailReference
from firstline.outbox.models import OutboxMessage
from firstline.tickets.models import Attachment, Message
from tests.conftest import client_for
from tests.test_mail_ingest import acks, make_mailbox

WILD = Path(__file__).resolve().parent / "data" / "mail" / "wild"
LETTERS = sorted(WILD.glob("*.eml"))
AUTOMATIC = {"w14-01", "w14-02", "w14-03", "w14-04", "w14-05", "w14-06"}
BOUNCES = {"w14-07"}
UNUSABLE_SENDER = {"w19-01", "w19-02", "w19-03"}


def raw(name: str) -> bytes:
    return (WILD / f"{name}.eml").read_bytes()


@pytest.fixture
def mailbox(cast):
    return make_mailbox(cast.a)


@pytest.mark.parametrize("path", LETTERS, ids=lambda path: path.stem)
def test_every_wild_letter_is_stored_and_handled(cast, mailbox, path: Path) -> None:
    data = path.read_bytes()
    inbound = ingest_raw(data, mailbox=mailbox)
    assert inbound.raw_bytes() == data
    key = path.stem[:6]
    sent = OutboxMessage.objects.count()
    if key in UNUSABLE_SENDER:
        assert inbound.status == InboundMail.Status.FAILED and inbound.ticket is None
        assert inbound.sender == "" and sent == 0
    elif key in BOUNCES:
        assert inbound.status == InboundMail.Status.IGNORED and inbound.is_bounce
    elif key in AUTOMATIC:
        assert inbound.status == InboundMail.Status.PROCESSED, inbound.error
        assert inbound.is_automatic and not inbound.is_bounce and sent == 0
        assert inbound.ticket is not None
    else:
        assert inbound.status == InboundMail.Status.PROCESSED, inbound.error
        assert inbound.ticket is not None and sent == 1


# --- 13 ---------------------------------------------------------------------------------------


def test_an_attached_letter_is_a_file_on_the_ticket_and_its_text_is_shown(cast, mailbox):
    inbound = ingest_raw(raw("w13-02-gmail-forward-as-attachment-no-text"), mailbox=mailbox)
    message = inbound.ticket_message
    assert "Сайт stroymarket.example со вчерашнего вечера отдаёт ошибку 503." in message.body_text
    assert "Attached message" in message.body_text
    assert "Subject: Не открывается сайт" in message.body_text
    (attachment,) = message.attachments.all()
    assert attachment.filename == "Не открывается сайт.eml"
    assert attachment.content_type == "message/rfc822"
    with attachment.file.open("rb") as handle:
        assert b"Message-ID: <w13-02-inner@stroymarket.example>" in handle.read()


def test_a_spam_filter_report_shows_the_original_letter(cast, mailbox):
    inbound = ingest_raw(raw("w13-03-spamassassin-report"), mailbox=mailbox)
    text = inbound.ticket_message.body_text
    assert "Перенос домена fabrika.example согласуем на пятницу" in text
    assert inbound.ticket_message.attachments.get().filename == "Re: Перенос домена.eml"


def test_the_desk_shows_the_attached_letter_in_the_conversation(cast, mailbox):
    inbound = ingest_raw(raw("w13-05-apple-mail-inline-rfc822-cp1251"), mailbox=mailbox)
    page = client_for(cast.operator).get(reverse("ticket", args=[inbound.ticket.pk]))
    html = page.content.decode()
    assert "Сообщаем о смене реквизитов с 1 апреля." in html
    assert "Смена реквизитов.eml" in html


# --- 14 ---------------------------------------------------------------------------------------

OUT_OF_OFFICE = (
    "Return-Path: <>\r\nFrom: Ivan alpha <ivan@alpha.example>\r\nTo: help@alpha.example\r\n"
    "Subject: =?utf-8?B?0JDQstGC0L7QvtGC0LLQtdGCOiDQktCw0Ygg0LLQvtC/0YDQvtGBINC/0YDQuNC90Y/"
    "Rgg==?=\r\n"
    "Message-ID: <ooo-1@alpha.example>\r\nIn-Reply-To: <ack-1@desk.example>\r\n"
    "Auto-Submitted: auto-replied\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\nЯ в отпуске до 24 марта.\r\n"
).encode()


def _sent_letter(cast, message_id: str, recipient: str) -> None:
    MailReference.objects.create(partner=cast.a.partner, ticket=cast.a.ticket, direction="out",
                                 message_id=message_id, recipient=recipient)


def test_an_out_of_office_is_a_note_with_its_text_and_the_address_stays_good(cast, mailbox):
    _sent_letter(cast, "ack-1@desk.example", "ivan@alpha.example")
    inbound = ingest_raw(OUT_OF_OFFICE, mailbox=mailbox)
    assert inbound.status == InboundMail.Status.PROCESSED, inbound.error
    assert not inbound.is_bounce and inbound.is_automatic
    assert inbound.ticket == cast.a.ticket
    note = inbound.ticket_message
    assert note.kind == Message.Kind.NOTE and "Я в отпуске до 24 марта." in note.body_text
    assert "not delivered" not in note.body_text
    address = ContactEmail.objects.get(address="ivan@alpha.example")
    assert not address.is_failing
    assert OutboxMessage.objects.count() == 0  # an auto-reply is never answered


def test_a_delivery_report_for_the_same_letter_still_marks_the_address(cast, mailbox):
    _sent_letter(cast, "ack-w14@alpha.example", "gone@lesprom.example")
    ContactEmail.objects.create(partner=cast.a.partner, contact=cast.a.contact,
                                address="gone@lesprom.example")
    inbound = ingest_raw(raw("w14-07-real-dsn-from-null-sender"), mailbox=mailbox)
    assert inbound.is_bounce and inbound.ticket == cast.a.ticket
    assert ContactEmail.objects.get(address="gone@lesprom.example").is_failing


# --- 17 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "filename"), [
    ("w17-01-outlook-rfc2231-number-sign-parentheses", "Счёт №15 (март), итог.pdf"),
    ("w17-02-thunderbird-rfc2231-continuations",
     "Акт выполненных работ № 7 от 19.03.2025 (подписан).pdf"),
    ("w17-03-apple-nfd-encoded-word", "Отчёт за май — итоговый.pdf"),
    ("w17-05-latin1-rfc2231-accents-and-path", "Réunion d'équipe (v2).pdf"),
])
def test_the_real_attachment_name_is_kept_and_sent_on_download(cast, mailbox, name, filename):
    inbound = ingest_raw(raw(name), mailbox=mailbox)
    attachment = inbound.ticket_message.attachments.get()
    assert attachment.filename == filename
    stored = Path(attachment.file.name).name
    assert " " not in stored and "(" not in stored and "№" not in stored
    response = client_for(cast.operator).get(reverse("attachment", args=[attachment.pk]))
    assert response.status_code == 200
    assert f"filename*=utf-8''{quote(filename)}" in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_the_real_name_is_shown_on_the_ticket_page(cast, mailbox):
    inbound = ingest_raw(raw("w17-04-mailru-raw-utf8-name"), mailbox=mailbox)
    html = client_for(cast.operator).get(reverse("ticket", args=[inbound.ticket.pk]))
    assert "Ошибка входа, панель 2.pdf" in html.content.decode()
    assert Attachment.objects.get().filename == "Ошибка входа, панель 2.pdf"


# --- 19, 20 -----------------------------------------------------------------------------------


def test_a_garbled_sender_is_listed_for_an_operator_and_nobody_is_answered(cast, mailbox):
    inbound = ingest_raw(raw("w19-01-spaces-inside-angle-brackets"), mailbox=mailbox)
    assert inbound.status == InboundMail.Status.FAILED and inbound.ticket is None
    assert "not a valid address" in inbound.problems
    assert not OutboxMessage.objects.filter(recipient__contains="example.com").exists()
    assert not ContactEmail.objects.filter(address__endswith="@example.com").exists()
    page = client_for(cast.operator).get(reverse("mail:failed")).content.decode()
    assert "Partnership offer" in page


def test_a_garbled_sender_piped_in_by_the_mta_is_kept_failed(cast, mailbox):
    call_command("mail_in", "--partner", cast.a.partner.slug,
                 stdin=BytesIO(raw("w19-03-space-in-domain")), stdout=StringIO())
    assert InboundMail.objects.get().status == InboundMail.Status.STORED
    call_command("mail_work", "--once", stdout=StringIO())
    inbound = InboundMail.objects.get()
    assert inbound.status == InboundMail.Status.FAILED
    assert not OutboxMessage.objects.exists()


def test_a_trailing_dot_is_dropped_before_the_acknowledgement_goes(cast, mailbox):
    inbound = ingest_raw(raw("w19-04-trailing-dot-domain"), mailbox=mailbox)
    (ack,) = acks(inbound.ticket)
    assert ack.recipient == "ivan.petrov@stroymarket.example"


def test_a_garbled_reply_to_is_not_answered_the_sender_is(cast, mailbox):
    inbound = ingest_raw(raw("w19-05-garbled-reply-to"), mailbox=mailbox)
    (ack,) = acks(inbound.ticket)
    assert ack.recipient == "maria@fabrika.example"


def test_the_contact_is_named_from_the_first_valid_from(cast, mailbox):
    inbound = ingest_raw(raw("w20-01-junk-from-then-valid"), mailbox=mailbox)
    assert inbound.ticket.contact.name == "Ольга Смирнова"
    (ack,) = acks(inbound.ticket)
    assert ack.recipient == "olga@romashka.example"
    assert "Ольга Смирнова" in ack.body
