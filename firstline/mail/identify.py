"""Who wrote a letter, and how sure we are (F5).

The sender's address is looked up among the partner's contacts; an unknown address becomes
a new, unconfirmed contact, so the ticket has somebody to answer. The ticket records how the
customer was identified: a confirmed address, the organisation's code word, or its contract
number named in the letter. An unconfirmed address alone identifies nobody.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from firstline.contacts.models import Contact, ContactEmail, Organisation
from firstline.core.models import Partner
from firstline.mail.parsed import Address
from firstline.tickets.models import IdentifiedBy

NAME_MAX = Contact._meta.get_field("name").max_length or 200

# «Договор № А-123/2024 от …», "contract no. alpha-001": the first token with a digit that
# follows the word, within a few characters.
_CONTRACT = re.compile(
    r"(?:договор\w*|контракт\w*|contract|agreement)\s*(?:(?:№|#|no\.?|number|номер)\s*)?"
    r"[:\-—–]?\s*([\w][\w\-/.]*\d[\w\-/]*|\d[\w\-/.]*)",
    re.IGNORECASE,
)
# «кодовое слово: Ромашка», "code word: daisy", "codeword - daisy".
_CODE_WORD = re.compile(
    r"(?:кодовое\s+слово|code\s*word)\s*(?:[:\-—–=]|is|—)?\s*[«\"“'„]?([^\s«»\"“”'.,;!?]+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Sender:
    contact: Contact
    email: ContactEmail
    created: bool


def known_email(
    partner: Partner, address: str, emails: "KnownEmails | None" = None
) -> ContactEmail | None:
    """The partner's row for this address (its contact and organisation loaded), or None.

    `emails`: the batch's addresses, looked up already (see KnownEmails)."""
    address = address.strip().lower()
    if emails is not None and emails.has(partner.pk, address):
        return emails.get(partner.pk, address)
    found = (
        ContactEmail.objects.filter(partner=partner, address=address)
        .select_related("contact__organisation")
        .first()
    )
    if emails is not None:
        emails.add(partner.pk, address, found)
    return found


class KnownEmails:
    """The sender addresses of a batch of letters, looked up in one query instead of one a
    letter (firstline.mail.ingest.process_stored). Rows the batch creates (a new sender's
    contact) are added as they are made, so a second letter from that sender in the same
    batch finds it, as a query would have; the instances are shared, so a change one letter
    makes to a contact (identify links its organisation) is what the next one sees."""

    def __init__(self, pairs: Iterable[tuple[int, str]]) -> None:
        wanted = {(partner_id, address.strip().lower()) for partner_id, address in pairs
                  if address and address.strip()}
        self._rows: dict[tuple[int, str], ContactEmail | None] = dict.fromkeys(wanted)
        if not wanted:
            return
        found = ContactEmail.objects.filter(
            partner_id__in={partner_id for partner_id, _address in wanted},
            address__in={address for _partner_id, address in wanted},
        ).select_related("contact__organisation")
        for row in found:
            key = (row.partner_id, row.address)
            if key in self._rows:
                self._rows[key] = row

    def has(self, partner_id: int, address: str) -> bool:
        return (partner_id, address) in self._rows

    def get(self, partner_id: int, address: str) -> ContactEmail | None:
        return self._rows.get((partner_id, address))

    def add(self, partner_id: int, address: str, row: ContactEmail | None) -> None:
        self._rows[(partner_id, address)] = row


def name_for(address: Address) -> str:
    """The display name, else the local part of the address ("ivan.petrov")."""
    name = " ".join(address.name.split()).strip(" \"'")
    return (name or address.email.partition("@")[0] or address.email)[:NAME_MAX]


def sender_contact(
    partner: Partner, address: Address, known: ContactEmail | None = None,
    emails: KnownEmails | None = None,
) -> Sender:
    """The partner's contact with this address, created unconfirmed when there is none.

    `known` is the address's row when the caller has looked it up already."""
    found = known or known_email(partner, address.email, emails)
    if found is not None:
        return Sender(found.contact, found, created=False)
    try:
        # A savepoint: a letter from the same new address processed at the same moment
        # creates the contact first; then this one uses it.
        with transaction.atomic():
            contact = Contact.objects.create(partner=partner, name=name_for(address))
            email = ContactEmail.objects.create(
                partner=partner, contact=contact, address=address.email, is_confirmed=False
            )
    except IntegrityError:
        # Read again, and kept for the batch's next letters: the cached "none" is out of date.
        found = known_email(partner, address.email)
        if found is None:
            raise
        if emails is not None:
            emails.add(partner.pk, found.address, found)
        return Sender(found.contact, found, created=False)
    if emails is not None:
        emails.add(partner.pk, email.address, email)
    return Sender(contact, email, created=True)


def contract_numbers(text: str) -> list[str]:
    numbers = [match.group(1).rstrip(".-/") for match in _CONTRACT.finditer(text)]
    return list(dict.fromkeys(number for number in numbers if number))[:20]


def code_words(text: str) -> list[str]:
    return list(dict.fromkeys(match.group(1) for match in _CODE_WORD.finditer(text)))[:5]


def identify(partner: Partner, sender: Sender, text: str) -> str:
    """How the sender is identified; links a contact without organisation to the one named.

    A contract number or code word of another organisation than the contact's identifies
    nobody: it is somebody else's.
    """
    if sender.email.is_confirmed:
        return IdentifiedBy.CONFIRMED_EMAIL
    return identify_by_text(partner, sender.contact, text)


def identify_by_text(partner: Partner, contact: Contact, text: str) -> str:
    """The script's identification from what the customer wrote (any written channel): the
    organisation's code word or contract number; links a contact without organisation."""
    organisation = contact.organisation
    named: Organisation | None = None
    numbers = contract_numbers(text)
    if numbers:
        named = Organisation.objects.filter(partner=partner, contract_number__in=numbers).first()
        if named is not None and organisation is not None and named.pk != organisation.pk:
            named = None
    candidate = organisation or named
    how = IdentifiedBy.NONE
    if candidate is not None and any(candidate.check_code_word(w) for w in code_words(text)):
        how = IdentifiedBy.CODE_WORD
    elif named is not None:
        how = IdentifiedBy.CONTRACT_NUMBER
    if how != IdentifiedBy.NONE and organisation is None and candidate is not None:
        contact.organisation = candidate
        contact.save(update_fields=["organisation"])
    return how
