"""What a parsed letter does, inside the processing transaction of `ingest.process`.

In order: our own mail coming back is ignored (a loop); a bounce becomes a note on the
ticket of the letter that bounced and marks the address as failing; a letter on a ticket's
thread from its customer or a participant is added to it (the customer's answer resumes the
ticket like a portal answer), anybody else's is kept as an internal note for the operator
(`threading.may_join`); any other letter opens a ticket and gets the acknowledgement.
Automatic mail (auto-replies, bulk, mailer daemons) is never answered automatically and
never resumes a ticket.

When the mailbox trusts its mail server's Authentication-Results (`authresults`), a letter
whose From the server could not verify (DMARC fail…: the address may be forged) joins a
ticket only if it proves it holds the ticket's mail (`threading.Found.proven`); by a bare
number or by its address alone it is kept as an internal note, like a stranger's letter.
It never gets an automatic reply: the real owner of the address did not write it.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from firstline.contacts.models import ContactEmail
from firstline.core import audit, config_cache
from firstline.core.clock import now
from firstline.core.models import Partner
from firstline.mail import authresults, autoreply, identify, threading
from firstline.mail.models import InboundMail, Mailbox, MailReference
from firstline.mail.outbound import LOOP_HEADER
from firstline.mail.parsed import ParsedMail
from firstline.mail.rawheaders import header_block
from firstline.outbox.models import Channel as OutboxChannel
from firstline.outbox.services import clean_recipient
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel, Message, Status, Ticket

RESULT_FIELDS = [
    "status", "ignored_because", "is_automatic", "is_bounce", "problems", "error", "ticket",
    "ticket_message", "sender", "subject", "message_id", "sender_check", "sender_check_reason",
]
SUBJECT_MAX = Ticket._meta.get_field("subject").max_length or 300
_LOOP = re.compile(rb"^" + LOOP_HEADER.encode() + rb":", re.IGNORECASE | re.MULTILINE)

MailStatus = InboundMail.Status


class Result:
    """What processing found out, written onto the inbound row at the end."""

    def __init__(
        self, inbound: InboundMail, parsed: ParsedMail, lookups: "Lookups | None" = None
    ) -> None:
        self.inbound = inbound
        self.parsed = parsed
        self.lookups = lookups
        self.problems: list[str] = list(parsed.problems)
        self.verdict: authresults.Verdict | None = None

    @property
    def unverified(self) -> str:
        """Why the trusted mail server says the From domain failed its check ("DMARC:
        fail"); "" when it does not say so."""
        return self.verdict.reason if self.verdict is not None and self.verdict.failed else ""

    def done(self, ticket: Ticket | None, message: Message | None) -> None:
        self.inbound.status = MailStatus.PROCESSED
        self.inbound.ticket = ticket
        self.inbound.ticket_message = message

    def empty(self) -> None:
        # No subject, text or file: nothing to open a ticket with, but somebody wrote; an
        # operator looks at it (an attachment the client dropped, a wrong address…).
        self.inbound.status = MailStatus.FAILED
        self.inbound.error = _("The letter is empty: no subject, no text, no attachment.")

    def ignore(self, because: str, ticket: Ticket | None = None) -> None:
        self.inbound.status = MailStatus.IGNORED
        self.inbound.ignored_because = because
        self.inbound.ticket = ticket


@dataclass(frozen=True)
class Lookups:
    """What the letters of a batch would otherwise each ask the database: the Message-IDs
    they name, their senders' addresses, the automatic replies their answer addresses got.
    Read in three queries for the batch (`look_up_batch`); what the batch itself writes is
    added as it goes, so each letter sees what it would have seen asking alone."""

    references: threading.KnownReferences
    emails: identify.KnownEmails
    replies: autoreply.RecentReplies

    def write(self) -> None:
        """The rows the batch kept to write together (references, automatic-reply log)."""
        self.references.write()
        self.replies.write()


def look_up_batch(letters: Sequence[tuple[ParsedMail, Mailbox]]) -> Lookups:
    ids: list[str] = []
    senders: list[tuple[int, str]] = []
    recipients: list[str] = []
    for parsed, mailbox in letters:
        ids += threading.wanted_ids(parsed)
        senders.append((mailbox.partner_id, parsed.sender.email))
        recipients.append(ack_recipient(parsed))
    return Lookups(
        threading.KnownReferences(ids), identify.KnownEmails(senders),
        autoreply.RecentReplies(recipients),
    )


def handle(
    inbound: InboundMail, parsed: ParsedMail, raw: bytes, mailbox: Mailbox,
    lookups: Lookups | None = None,
) -> None:
    """`lookups`: the batch's (process_stored), else each lookup is its own query."""
    partner = mailbox.partner
    result = Result(inbound, parsed, lookups)
    inbound.sender = parsed.sender.email[:500]
    inbound.subject = parsed.subject[:500]
    _adopt_message_id(inbound, parsed)
    _check_sender(result, raw, mailbox)
    inbound.is_automatic = bool(
        parsed.auto_submitted or parsed.bulk or parsed.from_mailer_daemon
        or parsed.delivery_report is not None
    )
    known = threading.look_up(partner, parsed, lookups.references if lookups else None)
    if known.ours or is_own(parsed, raw):
        result.ignore(InboundMail.Ignored.LOOP)
    elif parsed.delivery_report is not None or parsed.from_mailer_daemon:
        _bounce(result, partner)
    elif not parsed.sender.email:
        inbound.status = MailStatus.FAILED
        inbound.error = _("The letter has no usable sender address.")
    else:
        found = threading.find_ticket(partner, parsed, known)
        if found is not None and found.ticket.status == Status.CLOSED:
            result.problems.append(
                _("%(number)s is closed: a new ticket was opened.")
                % {"number": found.ticket.number}
            )
            found = None
        if found is not None:
            _on_thread(result, found, mailbox)
        else:
            _new_ticket(result, mailbox)
    inbound.problems = "\n".join(result.problems)


def _check_sender(result: Result, raw: bytes, mailbox: Mailbox) -> None:
    """The trusted server's verdict on the From domain, kept on the letter (also when it is
    processed again)."""
    trusted = authresults.trusted_ids(mailbox.trusted_authserv_ids)
    verdict = authresults.verdict(raw, result.parsed.sender.email, trusted) if trusted else None
    result.verdict = verdict
    result.inbound.sender_check = verdict.state if verdict else ""
    result.inbound.sender_check_reason = verdict.reason[:100] if verdict else ""


def _adopt_message_id(inbound: InboundMail, parsed: ParsedMail) -> None:
    # The header scan before storing found none, but the parser did (e.g. a folded header).
    found = threading.clean_id(parsed.message_id)
    if inbound.message_id or not found:
        return
    taken = InboundMail.objects.filter(mailbox_id=inbound.mailbox_id, message_id=found)
    if not taken.exclude(pk=inbound.pk).exists():
        inbound.message_id = found


def is_own(parsed: ParsedMail, raw: bytes) -> bool:
    """Our own letter come back: from one of our addresses, or with our loop mark.
    (A Message-ID we sent is the other sign: `threading.look_up` tells that.)"""
    if _LOOP.search(header_block(raw)):
        return True
    address = parsed.sender.email
    if not address:
        return False
    mailboxes, partners = config_cache.get(("mail.own_addresses",), _own_addresses)
    return address in mailboxes or address.upper() in partners


def _own_addresses() -> tuple[frozenset[str], frozenset[str]]:
    """Every mailbox address as stored, every partner support address upper-cased (as the
    case-insensitive comparison did): asked for every letter, so cached per process for a
    few seconds (firstline.core.config_cache), dropped when this process saves either."""
    mailboxes = frozenset(Mailbox.objects.values_list("address", flat=True))
    partners = frozenset(
        address.upper()
        for address in Partner.objects.values_list("support_email", flat=True)
        if address
    )
    return mailboxes, partners


config_cache.watch(Mailbox, Partner)


# Letters ---------------------------------------------------------------------------------


def _files(result: Result) -> list[UploadedFile]:
    limit = settings.FIRSTLINE_MAX_ATTACHMENT_BYTES
    files: list[UploadedFile] = []
    for item in result.parsed.attachments:
        if item.content is None or item.size > limit:
            result.problems.append(
                _("Attachment “%(name)s” (%(size)d bytes) was not kept: over the size limit.")
                % {"name": item.filename, "size": item.size}
            )
            continue
        files.append(SimpleUploadedFile(item.filename, item.content, item.content_type))
    return files


def _text(parsed: ParsedMail, files: list[UploadedFile]) -> str:
    text = (parsed.text or parsed.full_text or "").strip() or parsed.subject.strip()
    return text or "\n".join(f"[{upload.name}]" for upload in files)


def _remember(result: Result, ticket: Ticket, message: Message | None) -> None:
    threading.remember(
        ticket=ticket, message_id=result.inbound.message_id or result.parsed.message_id,
        direction=MailReference.Direction.IN, message=message,
    )


def _on_thread(result: Result, found: threading.Found, mailbox: Mailbox) -> None:
    parsed = result.parsed
    ticket = found.ticket
    files = _files(result)
    text = _text(parsed, files)
    if not text:
        result.empty()
        return
    address = parsed.sender.email
    if result.inbound.is_automatic:
        # An out-of-office is not the customer's answer: it must not resume the ticket.
        note = _("Automatic reply from %(address)s:") % {"address": address}
        message = _note(ticket, f"{note}\n\n{text}", files)
    else:
        known = identify.known_email(ticket.partner, address, _emails(result))
        # A forwarded thread (one of the ticket's Message-IDs, or its checked subject tag) may
        # add its sender when the mailbox says so; a bare number never does: numbers are
        # guessed.
        adds_strangers = (
            found.proven
            and mailbox.unknown_sender_policy == Mailbox.UnknownSenderPolicy.ADD_PARTICIPANT
        )
        if result.unverified and not found.proven:
            # Joining by the number or the address alone is exactly what a forged From does.
            message = _note(ticket, f"{_unverified_note(result, parsed)}\n\n{text}", files)
            result.problems.append(
                _("The mail server could not verify the sender %(address)s (%(reason)s) and the "
                  "letter does not answer the mail of %(number)s: it was kept as an internal "
                  "note.")
                % {"address": address, "reason": result.unverified,
                   "number": ticket.number}
            )
        elif adds_strangers or threading.may_join(
            ticket, address, known, colleagues=mailbox.colleagues_may_join
        ):
            sender = identify.sender_contact(
                ticket.partner, parsed.sender, known=known, emails=_emails(result)
            )
            if sender.contact.pk != ticket.contact_id:
                threading.add_participant(ticket, sender.contact, address)
            message = ticket_services.add_message(
                ticket=ticket, actor=None, kind=Message.Kind.INBOUND, text=text,
                attachments=files, contact=sender.contact, html=parsed.html,
            )
            if result.unverified:
                # It answers a letter we sent about the ticket (or keeps its checked tag):
                # whoever wrote it holds the ticket's mail. Joined, but marked.
                result.problems.append(
                    _("The mail server could not verify the sender %(address)s "
                      "(%(reason)s); the letter answers the mail of %(number)s and was added "
                      "to it.")
                    % {"address": address, "reason": result.unverified,
                       "number": ticket.number}
                )
        else:
            message = _note(ticket, f"{_unknown_sender_note(found, parsed)}\n\n{text}", files)
            result.problems.append(
                _("%(address)s is neither the customer nor a participant of %(number)s: the "
                  "letter was kept as an internal note.")
                % {"address": address, "number": ticket.number}
            )
    _remember(result, ticket, message)
    result.done(ticket, message)


def _emails(result: Result) -> identify.KnownEmails | None:
    return result.lookups.emails if result.lookups is not None else None


def _unknown_sender_note(found: threading.Found, parsed: ParsedMail) -> str:
    """The first line of the note an unknown sender's letter becomes: plain about what did
    not happen, so the operator does not answer a stranger as if they were the customer."""
    name = " ".join(parsed.sender.name.split())
    sender = f"{name} <{parsed.sender.email}>" if name else parsed.sender.email
    if found.proven:
        text = _(
            "Letter from an unknown sender %(sender)s, answering this ticket's mail (it may "
            "have been forwarded to them). Not shown to the customer, the sender not added as "
            "a participant, no public reply will go to them, the ticket's status unchanged. "
            "Check who it is before acting on it:"
        )
    else:
        text = _(
            "Letter from an unknown sender %(sender)s with this ticket's number in the "
            "subject. Not shown to the customer, the sender not added as a participant, no "
            "public reply will go to them, the ticket's status unchanged. Check who it is "
            "before acting on it:"
        )
    return text % {"sender": sender}


def _unverified_note(result: Result, parsed: ParsedMail) -> str:
    """The first line of the note an unverified letter becomes: the From may be forged, so
    the operator checks with the customer before believing it."""
    name = " ".join(parsed.sender.name.split())
    sender = f"{name} <{parsed.sender.email}>" if name else parsed.sender.email
    return _(
        "Letter signed as %(sender)s, but the mail server could not verify the sender "
        "(%(reason)s): the address may be forged. It names this ticket only by its number or "
        "its sender. Not shown to the customer, no automatic reply sent, the ticket's status "
        "unchanged. Check with the customer before acting on it:"
    ) % {"sender": sender, "reason": result.unverified}


def _note(ticket: Ticket, text: str, files: Sequence[UploadedFile] = ()) -> Message:
    return ticket_services.add_message(
        ticket=ticket, actor=None, kind=Message.Kind.NOTE, text=text, attachments=files
    )


def _new_ticket(result: Result, mailbox: Mailbox) -> None:
    parsed = result.parsed
    partner = mailbox.partner
    files = _files(result)
    text = _text(parsed, files)
    if not text:
        result.empty()
        return
    sender = identify.sender_contact(partner, parsed.sender, emails=_emails(result))
    written = f"{parsed.subject}\n{parsed.full_text or text}"
    # A From the mail server could not verify proves nothing about whose address it is: only
    # what the letter says (a code word, a contract number) may still identify the customer.
    how = (
        identify.identify_by_text(partner, sender.contact, written) if result.unverified
        else identify.identify(partner, sender, written)
    )
    ticket = ticket_services.create_ticket(
        partner=partner, actor=None, channel=Channel.EMAIL,
        subject=" ".join(parsed.subject.split())[:SUBJECT_MAX], text=text,
        contact=sender.contact, html=parsed.html, attachments=files, identified_by=how,
    )
    message = getattr(ticket, "opening_message", None) or ticket.messages.order_by("id").first()
    _remember(result, ticket, message)
    result.done(ticket, message)
    if result.inbound.is_automatic:
        result.problems.append(_("No acknowledgement: the letter was sent automatically."))
        return
    if result.unverified:
        # The address's owner may not have written it: no letter to them (or to the
        # Reply-To a forger chose) about it.
        result.problems.append(
            _("No acknowledgement: the mail server could not verify the sender (%(reason)s).")
            % {"reason": result.unverified}
        )
        return
    if ticket.service_id is not None and ticket.messages.filter(
        kind=Message.Kind.REPLY, is_automatic=True
    ).exists():
        # Already answered automatically as the ticket was created (the announcement of the
        # open incident it joined; only a ticket with a service joins one, see
        # firstline.incidents.intake): one automatic answer per new ticket.
        return
    _acknowledge(result, ticket, mailbox, sender.contact.name, text)


def ack_recipient(parsed: ParsedMail) -> str:
    """Where the acknowledgement goes: the letter's Reply-To, else its sender."""
    answer_to = next((item.email for item in parsed.reply_to if item.email), "")
    return answer_to or parsed.sender.email


def _acknowledge(
    result: Result, ticket: Ticket, mailbox: Mailbox, name: str, text: str
) -> None:
    parsed = result.parsed
    recipient = ack_recipient(parsed)
    replies = result.lookups.replies if result.lookups is not None else None
    if not autoreply.allowed(recipient, replies):
        result.problems.append(
            _("No acknowledgement: %(address)s got the most automatic replies allowed for "
              "now.") % {"address": recipient}
        )
        return
    thread = threading.answering(parsed)
    # An address the outbox refuses costs the acknowledgement, not the ticket: letter by
    # letter a savepoint undoes what was written of it. In a batch the outbox's own checks
    # run first, so no savepoint (two round trips) is needed; should the outbox refuse it
    # all the same, the ValidationError goes up, the batch is rolled back and its letters
    # are processed one by one, with the savepoint.
    in_batch = result.lookups is not None
    try:
        if in_batch:
            clean_recipient(OutboxChannel.EMAIL, recipient)
        with transaction.atomic(savepoint=not in_batch):
            _row, ack = autoreply.acknowledge(
                ticket, recipient=recipient, name=name, subject=parsed.subject, text=text,
                reply_to=mailbox.address, thread=thread, just_created=True, replies=replies,
            )
    except ValidationError as exc:
        if in_batch and transaction.get_connection().needs_rollback:
            raise
        result.problems.append(
            _("No acknowledgement: %(error)s") % {"error": "; ".join(exc.messages)}
        )
        return
    result.problems += [
        _("Acknowledgement: %(finding)s") % {"finding": finding.message}
        for finding in ack.findings
    ]


# Bounces ---------------------------------------------------------------------------------


def _bounce(result: Result, partner: Partner) -> None:
    parsed = result.parsed
    report = parsed.delivery_report
    result.inbound.is_bounce = True
    ids = [threading.clean_id(report.original_message_id)] if report else []
    ids += [threading.clean_id(item.message_id) for item in parsed.forwarded]
    ids += threading.thread_ids(parsed)
    ids = [value for value in ids if value]
    ref = (
        MailReference.objects.filter(
            partner=partner, direction=MailReference.Direction.OUT, message_id__in=ids
        )
        .select_related("ticket")
        .order_by("-id")
        .first()
        if ids else None
    )
    if ref is None:
        # Not a letter of ours (spam backscatter): nothing to attach to, nobody to mark.
        result.ignore(InboundMail.Ignored.BOUNCE)
        return
    failed = [address.strip().lower() for address in (report.failed_recipients if report else ())]
    failed = [address for address in failed if address] or [ref.recipient]
    # A 4.x.x report (delayed) means the server keeps trying: nothing is failing yet.
    delayed = report is not None and report.status.startswith("4")
    if delayed:
        lines = [_("The letter to %(recipients)s is delayed; the mail server keeps trying.")
                 % {"recipients": ", ".join(failed)}]
    else:
        _mark_failing(partner, failed, ref.ticket)
        lines = [_("The letter to %(recipients)s was not delivered.")
                 % {"recipients": ", ".join(failed)}]
    if report is not None and (report.status or report.diagnostic):
        lines.append(f"{report.status} {report.diagnostic}".strip())
    message = _note(ref.ticket, "\n".join(lines))
    result.done(ref.ticket, message)


def _mark_failing(partner: Partner, addresses: list[str], ticket: Ticket) -> None:
    moment = now()
    for email in ContactEmail.objects.filter(
        partner=partner, address__in=addresses, is_failing=False
    ).select_related("contact"):
        email.is_failing = True
        email.failing_since = moment
        email.save(update_fields=["is_failing", "failing_since"])
        audit.record(
            actor=None, partner=partner, action="contact.email_failing", target=email.contact,
            before={"address": email.address, "is_failing": False},
            after={"address": email.address, "is_failing": True, "ticket": ticket.number},
        )
