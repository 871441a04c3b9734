"""A merged duplicate's mail participants join the ticket it was merged into.

The receiver of `ticket.merged` (published by firstline.tickets.merge, which may not import
mail). After a merge, replies on the target go to its contact and its participants
(firstline.mail.outbound.recipients), and letters from them are accepted on its thread
(firstline.mail.threading.may_join). So everyone who wrote on the duplicate keeps hearing
about the matter and may go on writing:

- the duplicate's participants (the people copied on its letters);
- the duplicate's own contact, when it is someone other than the target's contact (a
  colleague who reported the same fault), by the address replies to them would use
  (confirmed and delivering first, as outbound.recipients chooses).

Nobody is added twice: an address the target already has (as a participant, or as an
address of its contact) is skipped, whatever its letter case. Runs inside the merge's
transaction; a few queries per merge, none per participant.
"""

from typing import Any

from firstline.contacts.models import ContactEmail
from firstline.mail.models import MailParticipant
from firstline.tickets.models import Ticket


def _contact_address(contact_id: int) -> str | None:
    return (ContactEmail.objects.filter(contact_id=contact_id)
            .order_by("is_failing", "-is_confirmed", "id")
            .values_list("address", flat=True).first())


def participants_to_add(target: Ticket, duplicate: Ticket) -> list[MailParticipant]:
    """The participants `target` gains from `duplicate` (not yet saved)."""
    known = {address.lower() for address in MailParticipant.objects.filter(
        ticket_id=target.pk).values_list("address", flat=True)}
    if target.contact_id is not None:
        known |= {address.lower() for address in ContactEmail.objects.filter(
            contact_id=target.contact_id).values_list("address", flat=True)}
    candidates = list(MailParticipant.objects.filter(ticket_id=duplicate.pk).order_by(
        "id").values_list("contact_id", "address"))
    if duplicate.contact_id is not None and duplicate.contact_id != target.contact_id:
        address = _contact_address(duplicate.contact_id)
        if address:
            candidates.append((duplicate.contact_id, address))
    added: list[MailParticipant] = []
    for contact_id, address in candidates:
        if address.lower() in known:
            continue
        known.add(address.lower())
        added.append(MailParticipant(partner_id=target.partner_id, ticket_id=target.pk,
                                     contact_id=contact_id, address=address))
    return added


def keep_participants(*, event: str, partner_id: int | None, moment: Any, ticket: Ticket,
                      duplicate: Ticket, **arguments: Any) -> None:
    """`ticket.merged` receiver: the target gains the duplicate's participants."""
    added = participants_to_add(ticket, duplicate)
    if added:
        # ON CONFLICT DO NOTHING: a letter that added one of them a moment ago is no error.
        MailParticipant.objects.bulk_create(added, ignore_conflicts=True)
