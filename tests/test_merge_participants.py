"""Merging a duplicate keeps everyone who wrote on it: its mail participants, and its own
contact when that is someone else, join the target, so replies reach them and their
letters are taken on the target's thread. Nobody is added twice."""

import pytest

from firstline.mail import threading
from firstline.mail.models import Mailbox, MailParticipant
from firstline.outbox.models import OutboxMessage
from firstline.tickets import merge as merging
from firstline.tickets.models import Message
from firstline.tickets.services import add_message
from tests.test_tickets_spam_merge import duplicate as make_duplicate

pytestmark = pytest.mark.django_db


def _participant(ticket, contact, address: str) -> None:
    MailParticipant.objects.create(partner=ticket.partner, ticket=ticket, contact=contact,
                                   address=address)


def _addresses(ticket) -> list[str]:
    return list(MailParticipant.objects.filter(ticket=ticket).order_by("id").values_list(
        "address", flat=True))


def test_the_target_gains_the_duplicates_participants_and_its_contact_once_each(cast):
    target, duplicate = cast.a.ticket, cast.a.other_ticket  # Ivan's, and Olga's duplicate
    _participant(target, cast.a.contact, "Copy@client.example")
    _participant(duplicate, cast.a.other_contact, "boss@client.example")
    _participant(duplicate, cast.a.other_contact, "copy@client.example")  # target has it
    _participant(duplicate, cast.a.contact, "IVAN@alpha.example")  # the target's contact

    merging.merge(source=duplicate, target=target, actor=cast.operator)

    assert _addresses(target) == ["Copy@client.example", "boss@client.example",
                                  "olga@alpha.example"]
    # The duplicate keeps its own (its history is unchanged).
    assert len(_addresses(duplicate)) == 3


def test_the_same_customer_writing_twice_adds_nobody(cast):
    source = make_duplicate(cast.a)  # Ivan again: the target's own contact
    merging.merge(source=source, target=cast.a.ticket, actor=cast.operator)

    assert _addresses(cast.a.ticket) == []


def test_replies_on_the_target_reach_the_duplicates_people_and_their_letters_join(cast):
    Mailbox.objects.create(partner=cast.a.partner, address="help@alpha.example")
    target, duplicate = cast.a.ticket, cast.a.other_ticket
    _participant(duplicate, cast.a.other_contact, "boss@client.example")
    assert not threading.may_join(target, "boss@client.example", None)

    merging.merge(source=duplicate, target=target, actor=cast.operator)
    reply = add_message(ticket=target, actor=cast.operator, kind=Message.Kind.REPLY,
                        text="Доступ к FTP восстановлен.")

    mailed = set(OutboxMessage.objects.filter(ticket=target, channel="email").filter(
        body__contains="восстановлен").values_list("recipient", flat=True))
    assert mailed == {"ivan@alpha.example", "boss@client.example", "olga@alpha.example"}
    assert reply.kind == Message.Kind.REPLY
    assert threading.may_join(target, "boss@client.example", None)


def test_a_refused_merge_adds_nobody(cast):
    _participant(cast.a.other_ticket, cast.a.other_contact, "boss@client.example")

    with pytest.raises(merging.ValidationError):
        merging.merge(source=cast.a.other_ticket, target=cast.b.ticket, actor=cast.operator)

    assert _addresses(cast.a.ticket) == [] and _addresses(cast.b.ticket) == []
