"""Which ticket a letter belongs to, and the Message-IDs that tie letters to tickets.

A reply names the letters it answers in In-Reply-To and References; every letter we send
and receive about a ticket is a MailReference, so those ids lead to the ticket. A letter
whose client dropped the headers still carries the ticket number in its subject
("[FL-000123-7KQX] Re: …": the number and its check). Both lookups stay inside the
mailbox's partner: another partner's number in a subject is just text.

Finding the ticket is not permission to write on it as the customer (`may_join`): a
ticket number is easy to guess, and a thread can be forwarded. Only the ticket's contact
and its participants join; a colleague from the contact's organisation joins when the
mailbox allows it. Anybody else's letter is kept for the operator as an internal note
(`handling`), unless it proves it holds the ticket's mail (it answers a letter we sent
about the ticket, or keeps the subject tag with its check) and the mailbox's unknown-sender
policy says to add such senders. A letter whose From the mailbox's trusted mail server
could not verify (`firstline.mail.authresults`: the address may be forged) joins only when
it proves it holds the ticket's mail, whoever it claims to be from.
"""

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

from firstline.contacts.models import Contact, ContactEmail
from firstline.core.bulk import insert_all
from firstline.core.models import Partner
from firstline.mail.models import MailParticipant, MailReference
from firstline.mail.parsed import ParsedMail
from firstline.tickets.models import Message, Ticket

# "[FL-000123-7KQX]": the number as people know it, and a check that only our letters carry
# (an HMAC of partner and ticket under SECRET_KEY, 20 bits in Crockford's base 32). A number
# without it, or with a wrong one, still names the ticket, but proves nothing about the
# sender: numbers are a sequence anybody can guess.
_SUBJECT_NUMBER = re.compile(r"\bFL-?0*(\d{1,12})(?:-([0-9A-Z]{4}))?\b", re.IGNORECASE)
_CHECK_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# References grow with every letter; the first one and the newest ones are what matter.
MAX_REFERENCES = 20
ID_MAX = MailReference._meta.get_field("message_id").max_length or 500


def clean_id(value: str) -> str:
    """'<abc@host>' -> 'abc@host', the form ids are stored and compared in."""
    return value.strip().strip("<>").strip()[:ID_MAX]


def thread_ids(parsed: ParsedMail) -> list[str]:
    """The ids a letter answers: In-Reply-To first, then References newest first."""
    ids = [clean_id(value) for value in (*parsed.in_reply_to, *reversed(parsed.references))]
    return [value for value in dict.fromkeys(ids) if value][: MAX_REFERENCES * 2]


def number_in_subject(subject: str) -> int | None:
    found = tag_in_subject(subject)
    return found[0] if found else None


def tag_in_subject(subject: str) -> tuple[int, str] | None:
    """The first ticket number in a subject and its check ("" when it has none)."""
    match = _SUBJECT_NUMBER.search(subject or "")
    return (int(match.group(1)), (match.group(2) or "").upper()) if match else None


def _check(partner_id: int, ticket_id: int, secret: str) -> str:
    digest = salted_hmac(
        "firstline.mail.thread-tag", f"{partner_id}:{ticket_id}", secret=secret,
        algorithm="sha256",
    ).digest()
    bits = int.from_bytes(digest[:3], "big") >> 4
    return "".join(_CHECK_ALPHABET[(bits >> shift) & 31] for shift in (15, 10, 5, 0))


def thread_tag(ticket: Ticket) -> str:
    """'FL-000123-7KQX': what our letters carry in the subject, in brackets."""
    return f"{ticket.number}-{_check(ticket.partner_id, ticket.pk, settings.SECRET_KEY)}"


def tagged(subject: str, ticket: Ticket) -> str:
    """The subject with the ticket's bracketed number carrying its check."""
    return subject.replace(f"[{ticket.number}]", f"[{thread_tag(ticket)}]", 1)


def check_is_valid(ticket: Ticket, check: str) -> bool:
    """Does the check belong to this ticket (under the current or a previous SECRET_KEY)?"""
    if not check:
        return False
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(
        constant_time_compare(check.upper(), _check(ticket.partner_id, ticket.pk, secret))
        for secret in secrets
    )


@dataclass(frozen=True)
class Known:
    """What the Message-IDs of a letter tell: it is ours come back, or it answers a ticket
    (`answers_ours`: one of the ids is a letter we sent about it, unguessable)."""

    ours: bool
    ticket_id: int | None
    answers_ours: bool = False


# (message_id, ticket_id, partner_id, direction): what look_up reads of a MailReference.
ReferenceRow = tuple[str, int, int, str]
_REFERENCE_COLUMNS = ("message_id", "ticket_id", "partner_id", "direction")


def wanted_ids(parsed: ParsedMail) -> list[str]:
    """The ids `look_up` asks about: the letter's own, then those it answers."""
    own = clean_id(parsed.message_id)
    answered = thread_ids(parsed)
    return [own, *answered] if own else answered


class KnownReferences:
    """The MailReferences a batch of letters asks about, read in one query instead of one a
    letter (firstline.mail.ingest.process_stored). While `recording()`, every reference the
    batch remembers is added too: a letter answering one processed earlier in the same batch
    finds its ticket, as a query would have. The new rows themselves are written together
    at the end of the batch (`write`, one COPY), in its transaction: nothing in the batch
    reads them back from the table."""

    def __init__(self, ids: Iterable[str]) -> None:
        wanted = {value for value in ids if value}
        self._rows: dict[str, list[ReferenceRow]] = {value: [] for value in wanted}
        self._new: list[MailReference] = []
        if wanted:
            rows = MailReference.objects.filter(message_id__in=wanted).order_by("id")
            for row in rows.values_list(*_REFERENCE_COLUMNS):
                self._rows[row[0]].append(row)

    def rows(self, wanted: list[str]) -> list[ReferenceRow] | None:
        """The rows for these ids; None when one of them was not looked up."""
        if any(value not in self._rows for value in wanted):
            return None
        return [row for value in wanted for row in self._rows[value]]

    def add(self, row: ReferenceRow) -> None:
        if row[0] in self._rows:
            self._rows[row[0]].append(row)

    def remember(self, reference: MailReference) -> None:
        self._new.append(reference)
        self.add((reference.message_id, reference.ticket_id, reference.partner_id,
                  reference.direction))

    def write(self) -> None:
        insert_all(MailReference, self._new)
        self._new = []

    @contextmanager
    def recording(self) -> Iterator["KnownReferences"]:
        token = _recording.set(self)
        try:
            yield self
        finally:
            _recording.reset(token)


_recording: ContextVar[KnownReferences | None] = ContextVar("mail_references", default=None)


def look_up(
    partner: Partner, parsed: ParsedMail, references: KnownReferences | None = None
) -> Known:
    """One query for both: our own id coming back (any partner), the ticket answered (this
    partner's only: another partner's ids are just text). `references`: the batch's, read
    already."""
    own = clean_id(parsed.message_id)
    answered = thread_ids(parsed)
    wanted = [own, *answered] if own else answered
    if not wanted:
        return Known(False, None)
    rows = references.rows(wanted) if references is not None else None
    if rows is None:
        rows = MailReference.objects.filter(message_id__in=wanted).values_list(
            *_REFERENCE_COLUMNS
        )
    ours = False
    tickets: dict[str, int] = {}
    # Tickets one of whose letters from us is answered: our Message-IDs are random, while a
    # customer's own id (also remembered) may be predictable or known to people they copied.
    sent: set[int] = set()
    for message_id, ticket_id, partner_id, direction in rows:
        if message_id == own and direction == MailReference.Direction.OUT:
            ours = True
        if partner_id == partner.pk:
            tickets.setdefault(message_id, ticket_id)
            if direction == MailReference.Direction.OUT:
                sent.add(ticket_id)
    ticket_id = next((tickets[value] for value in answered if value in tickets), None)
    return Known(ours, ticket_id, ticket_id in sent)


@dataclass(frozen=True)
class Found:
    """The ticket a letter belongs to, and whether the letter proves it holds the ticket's
    mail: it answers one of the letters we sent about it, or its subject carries the
    ticket's tag with a valid check. A bare number proves nothing: numbers are guessed."""

    ticket: Ticket
    proven: bool


def find_ticket(
    partner: Partner, parsed: ParsedMail, known: Known | None = None
) -> Found | None:
    """The partner's ticket this letter answers, or None for a new request."""
    known = known or look_up(partner, parsed)
    tag = tag_in_subject(parsed.subject)
    ticket_id = known.ticket_id if known.ticket_id is not None else (tag[0] if tag else None)
    if ticket_id is None:
        return None
    ticket = Ticket.objects.filter(partner=partner, pk=ticket_id).first()
    if ticket is None:
        return None
    ticket.partner = partner  # the row the filter names: not read again
    check = tag[1] if tag is not None and tag[0] == ticket.pk else ""
    proven = known.answers_ours or check_is_valid(ticket, check)
    if ticket.merged_into_id is not None:
        # A merged duplicate's thread goes on in the ticket it was merged into
        # (firstline.tickets.merge keeps that one unmerged, so one step is enough).
        merged = Ticket.objects.filter(partner=partner, pk=ticket.merged_into_id).first()
        if merged is not None:
            merged.partner = partner
            ticket = merged
    return Found(ticket, proven)


def may_join(
    ticket: Ticket, address: str, known: ContactEmail | None, *, colleagues: bool = False
) -> bool:
    """May a letter from `address` join the ticket as the customer's?

    Yes for any address of the ticket's contact and for the ticket's participants; for a
    colleague (a confirmed address of a contact in the contact's organisation) only when
    `colleagues` (the mailbox's setting). An unconfirmed address never counts as a
    colleague: naming the contract number in a letter links its new contact to the
    organisation, and contract numbers are not secrets.
    """
    address = address.strip().lower()
    if known is not None and known.contact_id == ticket.contact_id is not None:
        return True
    if MailParticipant.objects.filter(ticket=ticket, address__iexact=address).exists():
        return True
    if not (colleagues and known is not None and known.is_confirmed) or ticket.contact_id is None:
        return False
    organisation_id = known.contact.organisation_id
    return organisation_id is not None and Contact.objects.filter(
        pk=ticket.contact_id, organisation_id=organisation_id
    ).exists()


def remember(
    *,
    ticket: Ticket,
    message_id: str,
    direction: str,
    message: Message | None = None,
    outbox_id: int | None = None,
    recipient: str = "",
) -> None:
    value = clean_id(message_id)
    if not value:
        return
    reference = MailReference(
        partner_id=ticket.partner_id, ticket=ticket, message_id=value, direction=direction,
        ticket_message=message, outbox_id=outbox_id, recipient=recipient[:500],
    )
    batch = _recording.get()
    if batch is not None:
        batch.remember(reference)  # written with the batch's others
    else:
        reference.save(force_insert=True)


def _bracketed(ids: Iterable[str]) -> str:
    return " ".join(f"<{value}>" for value in ids)


def thread_headers(ticket: Ticket) -> dict[str, str]:
    """In-Reply-To and References for the next letter on the ticket's thread."""
    ids = list(
        MailReference.objects.filter(ticket=ticket)
        .order_by("created_at", "id")
        .values_list("message_id", flat=True)
    )
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1):]]
    return {"In-Reply-To": f"<{ids[-1]}>", "References": _bracketed(ids)}


def add_participant(ticket: Ticket, contact: Contact, address: str) -> None:
    # One statement whether or not they are already one (INSERT … ON CONFLICT DO NOTHING).
    MailParticipant.objects.bulk_create(
        [MailParticipant(partner_id=ticket.partner_id, ticket=ticket, contact=contact,
                         address=address)],
        ignore_conflicts=True,
    )


def answering(parsed: ParsedMail) -> dict[str, str]:
    """In-Reply-To and References for a letter answering this one (the acknowledgement)."""
    own = clean_id(parsed.message_id)
    if not own:
        return {}
    ids = [clean_id(value) for value in parsed.references if clean_id(value)]
    ids = list(dict.fromkeys([*ids[-(MAX_REFERENCES - 1):], own]))
    return {"In-Reply-To": f"<{own}>", "References": _bracketed(ids)}
