"""The demo data set receives mail at once (issue 17, item 26): every demo partner has its
support mailbox, so the README's `firstline mail_in --partner oblakoteka < letter.eml` opens
a ticket on `make run` (whose mail worker processes it), and the LMTP listener accepts the
same address."""

from io import BytesIO, StringIO

import pytest
from django.core.management import call_command

from firstline.contacts.models import ContactEmail
from firstline.core.models import Partner
from firstline.mail import lmtp
from firstline.mail.models import InboundMail, Mailbox
from firstline.outbox.models import OutboxMessage
from firstline.tickets.models import Channel, IdentifiedBy, Ticket

LETTER = (
    "From: Анна Новикова <anna@newco.example>\r\n"
    "To: support@oblakoteka.example\r\n"
    "Subject: =?utf-8?b?0J3QtSDRgNCw0LHQvtGC0LDQtdGCINC/0L7Rh9GC0LA=?=\r\n"  # «Не работает почта»
    "Message-ID: <demo-1@newco.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Здравствуйте! С утра не уходят письма.\r\n"
).encode()


def pipe(partner: str, raw: bytes) -> None:
    """What an MTA does, then what the box's mail worker does."""
    call_command("mail_in", "--partner", partner, stdin=BytesIO(raw), stdout=StringIO())
    call_command("mail_work", "--once", stdout=StringIO())


@pytest.fixture
def demo(db) -> None:
    call_command("seed_demo", stdout=StringIO())


def test_every_demo_partner_has_an_active_support_mailbox_without_imap(demo) -> None:
    for partner in Partner.objects.all():
        mailbox = Mailbox.objects.get(partner=partner)
        assert mailbox.address == partner.support_email and mailbox.is_active
        assert mailbox.imap_host == ""
        assert lmtp.find_mailbox(partner.support_email) == mailbox


def test_a_letter_piped_into_the_demo_opens_a_ticket(demo) -> None:
    before = Ticket.objects.count()
    pipe("oblakoteka", LETTER)
    inbound = InboundMail.objects.get(message_id="demo-1@newco.example")
    assert inbound.status == InboundMail.Status.PROCESSED, inbound.error
    ticket = inbound.ticket
    assert Ticket.objects.count() == before + 1
    assert ticket.partner.slug == "oblakoteka" and ticket.channel == Channel.EMAIL
    assert ticket.subject == "Не работает почта"
    assert OutboxMessage.objects.filter(ticket=ticket, recipient="anna@newco.example").exists()


def test_a_demo_customer_writing_in_is_identified_by_the_confirmed_address(demo) -> None:
    email = ContactEmail.objects.filter(
        partner__slug="telesvyaz", is_confirmed=True
    ).select_related("contact").first()
    raw = LETTER.replace(b"anna@newco.example", email.address.encode()).replace(
        b"support@oblakoteka", b"support@telesvyaz"
    )
    pipe("telesvyaz", raw)
    ticket = InboundMail.objects.get().ticket
    assert ticket.contact == email.contact
    assert ticket.identified_by == IdentifiedBy.CONFIRMED_EMAIL
