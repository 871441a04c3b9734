"""Letters about a ticket to the customer, through the outbox (F4).

From the partner's support address (the outbox adapter sets From), Reply-To routed back to
the partner's mailbox, "[FL-000123]" in the subject, In-Reply-To / References of the
ticket's thread, and our loop marker. Each letter's Message-ID (given by the outbox when
enqueued) is recorded as a MailReference, so the customer's answer finds the ticket.
"""

from typing import Any

from django.utils.html import escape, linebreaks

from firstline.contacts.models import ContactEmail, letter_language
from firstline.core.models import Partner
from firstline.mail import threading
from firstline.mail.models import Mailbox, MailParticipant, MailReference
from firstline.mail.text import signature, signed, strip_subject
from firstline.outbox import services as outbox
from firstline.outbox.adapters import header
from firstline.outbox.models import Channel, OutboxMessage
from firstline.tickets.models import Channel as TicketChannel
from firstline.tickets.models import Message, Ticket

# Our mark on every letter we send: a letter that comes back with it is our own (a loop).
LOOP_HEADER = "X-Firstline-Loop"


def reply_to_address(partner: Partner) -> str:
    """Where the customer's answer should go: the partner's mailbox we read."""
    address = (
        Mailbox.objects.filter(partner=partner, is_active=True)
        .order_by("id")
        .values_list("address", flat=True)
        .first()
    )
    return address or partner.support_email


def ticket_subject(ticket: Ticket) -> str:
    """'[FL-000123-7KQX] Re: No FTP access' (the number with its check: threading)."""
    return f"[{threading.thread_tag(ticket)}] Re: {strip_subject(ticket.subject) or ticket.number}"


def recipients(ticket: Ticket) -> list[str]:
    """The contact's best address (confirmed and delivering first), then the participants."""
    found: list[str] = []
    if ticket.contact_id is not None:
        best = (
            ContactEmail.objects.filter(contact_id=ticket.contact_id)
            .order_by("is_failing", "-is_confirmed", "id")
            .values_list("address", flat=True)
            .first()
        )
        if best:
            found.append(best)
    found += MailParticipant.objects.filter(ticket=ticket).order_by("id").values_list(
        "address", flat=True
    )
    return list(dict.fromkeys(found))


def attachments_of(message: Message) -> list[dict[str, str]]:
    return [
        {"path": item.file.name, "filename": item.filename, "content_type": item.content_type}
        for item in message.attachments.all()
    ]


def send(
    *,
    ticket: Ticket,
    message: Message,
    recipient: str,
    subject: str,
    body: str,
    html: str,
    automatic: bool = False,
    dedupe_key: str | None = None,
    thread: dict[str, str] | None = None,
    reply_to: str | None = None,
    files: list[dict[str, str]] | None = None,
) -> OutboxMessage:
    """Enqueue one letter about the ticket and remember its Message-ID.

    `thread`, `reply_to` and `files` are looked up when not given (the ticket's thread,
    the partner's mailbox, the message's attachments)."""
    headers = {
        "Reply-To": reply_to or reply_to_address(ticket.partner),
        LOOP_HEADER: ticket.number,
        **(threading.thread_headers(ticket) if thread is None else thread),
    }
    if automatic:
        # RFC 3834: other robots (out-of-office, auto-responders) must not answer this.
        headers["Auto-Submitted"] = "auto-replied"
        headers["X-Auto-Response-Suppress"] = "All"
    row = outbox.enqueue(
        partner=ticket.partner, channel=Channel.EMAIL, recipient=recipient, subject=subject,
        body=body, html=html or linebreaks(escape(body)), headers=headers, ticket=ticket,
        dedupe_key=dedupe_key,
        attachments=attachments_of(message) if files is None else files,
    )
    threading.remember(
        ticket=ticket, message_id=header(row.headers, "Message-ID"),
        direction=MailReference.Direction.OUT, message=message, outbox_id=row.pk,
        recipient=recipient,
    )
    return row


def mail_public_reply(*, message: Message, mailed: bool = False, **_event: Any) -> None:
    """The "message.public_reply" event: the reply goes to the customer by mail.

    `mailed` is set by a publisher that has already put the letters in the outbox itself
    (the incident's bulk reply writes them for a thousand tickets in one statement)."""
    if mailed or message.ticket.channel == TicketChannel.TELEGRAM:  # chat: telegram app
        return
    mail_reply(message)


def mail_reply(message: Message) -> list[OutboxMessage]:
    """A human public reply, mailed to the customer and the thread's participants."""
    ticket = message.ticket
    sent: list[OutboxMessage] = []
    addresses = recipients(ticket)
    if not addresses:
        return sent
    # Computed once: every copy answers the same thread, not each other.
    thread = threading.thread_headers(ticket)
    language = letter_language(ticket.contact, ticket.partner)
    body, html = signed(
        message.body_text, message.body_html, signature(ticket.partner, language)
    )
    reply_to = reply_to_address(ticket.partner)
    files = attachments_of(message)
    for address in addresses:
        sent.append(send(
            ticket=ticket, message=message, recipient=address, subject=ticket_subject(ticket),
            body=body, html=html, thread=thread, reply_to=reply_to, files=files,
            dedupe_key=f"mail:reply:{message.pk}:{address}"[:255],
        ))
    return sent
