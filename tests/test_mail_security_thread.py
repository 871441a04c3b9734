"""A mail-thread hijack fails end to end (issue 17, item 1).

Every letter here goes in through `firstline mail_in` (the pipe an MTA runs), the mail
worker (`firstline mail_work`) and the real parser, every reply goes out through the outbox
and its delivery, and the customer reads the ticket in the portal. A stranger who guesses a
ticket number (or holds a forwarded letter of the thread) must not become the customer: no
participant, no reopen, no public reply mailed to them, nothing of theirs in the customer's
portal. The customer, a participant and, when the mailbox allows it, a colleague still join.
Our subjects carry the number with a check ("[FL-000123-7KQX]"): only a checked tag or one
of the thread's Message-IDs can let the unknown-sender policy add anybody.
"""

from io import BytesIO, StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from firstline.contacts.models import ContactEmail
from firstline.mail.models import InboundMail, Mailbox, MailParticipant
from firstline.mail.text import strip_subject
from firstline.mail.threading import check_is_valid, thread_tag
from firstline.outbox.delivery import deliver_due
from firstline.outbox.models import OutboxMessage
from firstline.tickets.models import Message, Status, Ticket, parse_number
from firstline.tickets.services import TicketChange, add_message, change_ticket
from tests.conftest import client_for
from tests.test_mail_ingest import make_mailbox
from tests.test_mail_ingest_e2e import eml

OUTSIDER = "mallory@evil.example"
REPLY = "Иван, добрый день! Мы сбросили пароль FTP, новый пароль в личном кабинете."


@pytest.fixture
def mailbox(cast) -> Mailbox:
    return make_mailbox(cast.a)


def pipe(raw: bytes, slug: str = "alpha") -> InboundMail:
    """The letter as an MTA hands it over: `firstline mail_in --partner SLUG < letter`,
    then the mail worker's turn."""
    before = set(InboundMail.objects.values_list("pk", flat=True))
    call_command("mail_in", "--partner", slug, stdin=BytesIO(raw), stdout=StringIO())
    call_command("mail_work", "--once", stdout=StringIO())
    (inbound,) = InboundMail.objects.exclude(pk__in=before)
    assert inbound.status == InboundMail.Status.PROCESSED, inbound.error
    return inbound


def resolved(cast) -> Ticket:
    ticket = cast.a.ticket
    for status in (Status.OPEN, Status.RESOLVED):
        change_ticket(ticket=ticket, actor=cast.operator, change=TicketChange(status=status))
    return ticket


def reply_and_deliver(ticket: Ticket, actor) -> set[str]:
    """An operator's public reply, delivered: the addresses it was mailed to."""
    mail.outbox.clear()
    add_message(ticket=ticket, actor=actor, kind=Message.Kind.REPLY, text=REPLY)
    deliver_due()
    return {address for letter in mail.outbox for address in letter.recipients()}


def portal_page(cast, ticket: Ticket) -> str:
    response = client_for(cast.a.customer).get(reverse("portal:ticket", args=[ticket.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_an_outsider_guessing_the_number_does_not_hijack_the_thread(cast, mailbox) -> None:
    ticket = resolved(cast)
    inbound = pipe(eml(
        sender=f"Mallory <{OUTSIDER}>", subject=f"Re: [{ticket.number}] FTP",
        message_id="<guess@evil.example>",
        body="Пожалуйста, пришлите новый пароль на этот адрес.\n",
    ))
    ticket.refresh_from_db()
    # Kept for the operator, plainly marked, on the ticket the letter names…
    note = inbound.ticket_message
    assert inbound.ticket == ticket and note.kind == Message.Kind.NOTE
    assert OUTSIDER in note.body_text and "новый пароль на этот адрес" in note.body_text
    assert OUTSIDER in inbound.problems
    # …but nothing of the customer's: no reopen, no participant, no contact for them.
    assert ticket.status == Status.RESOLVED
    assert not MailParticipant.objects.filter(ticket=ticket).exists()
    assert not ContactEmail.objects.filter(address=OUTSIDER).exists()
    assert not ticket.messages.filter(kind=Message.Kind.INBOUND).exclude(
        author_contact=cast.a.contact
    ).exists()
    # No acknowledgement tells them anything, and the next public reply goes to the
    # customer alone.
    assert not OutboxMessage.objects.filter(recipient=OUTSIDER).exists()
    change_ticket(ticket=ticket, actor=cast.operator, change=TicketChange(status=Status.OPEN))
    assert reply_and_deliver(ticket, cast.operator) == {"ivan@alpha.example"}
    assert not OutboxMessage.objects.filter(recipient=OUTSIDER).exists()
    # The customer's portal shows neither the letter nor anybody else as "You".
    page = portal_page(cast, ticket)
    assert "новый пароль на этот адрес" not in page and OUTSIDER not in page


def test_a_forwarded_thread_from_an_outsider_is_a_note_by_default(cast, mailbox) -> None:
    """A reply to our own Message-ID (the customer forwarded our letter) is harder to forge
    than a number, but still not the customer: flagged unless the mailbox says otherwise."""
    ticket = resolved(cast)
    our_letter = reply_and_deliver_message_id(cast, ticket)
    inbound = pipe(eml(
        sender=OUTSIDER, subject="Re: something", message_id="<fwd@evil.example>",
        headers=f"In-Reply-To: {our_letter}\nReferences: {our_letter}\n",
        body="Я тоже хочу получать ответы.\n",
    ))
    ticket.refresh_from_db()
    assert inbound.ticket == ticket and inbound.ticket_message.kind == Message.Kind.NOTE
    assert OUTSIDER in inbound.ticket_message.body_text
    assert ticket.status == Status.RESOLVED
    assert not MailParticipant.objects.filter(ticket=ticket).exists()


def reply_and_deliver_message_id(cast, ticket: Ticket) -> str:
    change_ticket(ticket=ticket, actor=cast.operator, change=TicketChange(status=Status.OPEN))
    reply_and_deliver(ticket, cast.operator)
    (letter,) = mail.outbox
    change_ticket(ticket=ticket, actor=cast.operator,
                  change=TicketChange(status=Status.RESOLVED))
    return letter.extra_headers["Message-ID"]


def test_the_customer_still_joins_and_reopens_by_the_number(cast, mailbox) -> None:
    ticket = resolved(cast)
    inbound = pipe(eml(subject=f"Re: [{ticket.number}] FTP", message_id="<again@alpha>",
                       body="Опять не работает.\n"))
    ticket.refresh_from_db()
    assert inbound.ticket_message.kind == Message.Kind.INBOUND
    assert inbound.ticket_message.author_contact == cast.a.contact
    assert ticket.status == Status.OPEN
    assert "Опять не работает." in portal_page(cast, ticket)


def test_an_existing_participant_still_joins(cast, mailbox) -> None:
    ticket = resolved(cast)
    MailParticipant.objects.create(partner=cast.a.partner, ticket=ticket,
                                   contact=cast.a.other_contact, address="olga@alpha.example")
    inbound = pipe(eml(sender="Olga alpha <olga@alpha.example>", message_id="<p@alpha>",
                       subject=f"Re: [{ticket.number}] FTP", body="У меня тоже.\n"))
    ticket.refresh_from_db()
    assert inbound.ticket_message.kind == Message.Kind.INBOUND
    assert inbound.ticket_message.author_contact == cast.a.other_contact
    assert ticket.status == Status.OPEN
    assert reply_and_deliver(ticket, cast.operator) == {
        "ivan@alpha.example", "olga@alpha.example"
    }


@pytest.mark.parametrize("allowed", [False, True])
def test_a_colleague_joins_only_when_the_mailbox_allows_it(cast, mailbox, allowed) -> None:
    mailbox.colleagues_may_join = allowed
    mailbox.save()
    ticket = resolved(cast)
    inbound = pipe(eml(sender="Olga alpha <olga@alpha.example>", message_id="<c@alpha>",
                       subject=f"Re: [{ticket.number}] FTP", body="Подключите и меня.\n"))
    ticket.refresh_from_db()
    joined = MailParticipant.objects.filter(ticket=ticket, address="olga@alpha.example")
    if allowed:
        assert inbound.ticket_message.kind == Message.Kind.INBOUND
        assert joined.exists() and ticket.status == Status.OPEN
    else:
        assert inbound.ticket_message.kind == Message.Kind.NOTE
        assert not joined.exists() and ticket.status == Status.RESOLVED


def test_an_unconfirmed_address_linked_to_the_organisation_is_no_colleague(
    cast, mailbox
) -> None:
    """A stranger who names the organisation's contract number gets linked to it; that
    must not make them a colleague who joins other people's tickets."""
    mailbox.colleagues_may_join = True
    mailbox.save()
    pipe(eml(sender=OUTSIDER, message_id="<new@evil.example>", subject="Вопрос",
             body="Договор alpha-001. Помогите.\n"))
    assert ContactEmail.objects.get(address=OUTSIDER).contact.organisation == (
        cast.a.organisation
    )
    ticket = resolved(cast)
    inbound = pipe(eml(sender=OUTSIDER, message_id="<hijack@evil.example>",
                       subject=f"Re: [{ticket.number}] FTP", body="Я из той же компании.\n"))
    assert inbound.ticket_message.kind == Message.Kind.NOTE
    assert not MailParticipant.objects.filter(ticket=ticket).exists()


def test_the_portal_names_a_participant_instead_of_you(cast, mailbox) -> None:
    ticket = cast.a.ticket
    MailParticipant.objects.create(partner=cast.a.partner, ticket=ticket,
                                   contact=cast.a.other_contact, address="olga@alpha.example")
    pipe(eml(sender="Olga alpha <olga@alpha.example>", message_id="<o@alpha>",
             subject=f"Re: [{ticket.number}] FTP", body="Пишу за Ивана.\n"))
    page = portal_page(cast, ticket)
    heads = page.split('class="msg-head"')[1:]
    olga = next(head for head in heads if "Пишу за Ивана." in head)
    ivan = next(head for head in heads if "I cannot reach FTP" in head)
    assert "Olga alpha" in olga.split("</strong>")[0]
    assert "Olga alpha" not in ivan.split("</strong>")[0]
    assert ivan.split("</strong>")[0] != olga.split("</strong>")[0]


# The subject tag: the number people know, and a check only our letters carry -------------


def test_our_letters_carry_the_number_with_a_check_per_ticket_and_partner(cast) -> None:
    ticket, other = cast.a.ticket, cast.a.other_ticket
    tag = thread_tag(ticket)
    assert tag.startswith(f"{ticket.number}-") and len(tag) == len(ticket.number) + 5
    assert check_is_valid(ticket, tag[-4:]) and check_is_valid(ticket, tag[-4:].lower())
    assert not check_is_valid(other, tag[-4:])
    # The same number at another partner has another check.
    elsewhere = Ticket(pk=ticket.pk, partner_id=cast.b.partner.pk)
    assert thread_tag(elsewhere) != tag
    # The tag still reads as the number: in the desk's search and in our subject cleaning.
    assert parse_number(tag) == ticket.pk and parse_number(tag.lower()) == ticket.pk
    assert strip_subject(f"Re: [{tag}] Нет FTP") == "Нет FTP"


def test_a_tag_made_under_the_previous_secret_key_still_proves(cast, settings) -> None:
    tag = thread_tag(cast.a.ticket)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-rotated-secret-key-for-the-test"  # noqa: S105
    assert thread_tag(cast.a.ticket) != tag
    assert check_is_valid(cast.a.ticket, tag[-4:])


def test_a_public_reply_and_the_acknowledgement_carry_the_tag(cast, mailbox) -> None:
    inbound = pipe(eml(message_id="<tagged@alpha>"))
    ticket = inbound.ticket
    deliver_due()
    (ack,) = mail.outbox
    assert ack.subject.startswith(f"[{thread_tag(ticket)}] ")
    reply_and_deliver(ticket, cast.operator)
    (letter,) = mail.outbox
    assert letter.subject.startswith(f"[{thread_tag(ticket)}] Re: ")


@pytest.mark.parametrize("tag_kind", ["checked", "wrong check", "bare number"])
def test_add_participant_trusts_a_checked_tag_but_never_a_guessed_number(
    cast, mailbox, tag_kind
) -> None:
    """A mail client that drops In-Reply-To keeps the subject: with the policy on, a
    forwarded letter's checked tag adds its sender, a guessed or forged one does not."""
    mailbox.unknown_sender_policy = Mailbox.UnknownSenderPolicy.ADD_PARTICIPANT
    mailbox.save()
    ticket = cast.a.ticket
    tag = {
        "checked": thread_tag(ticket),
        "wrong check": f"{ticket.number}-{'0000' if thread_tag(ticket)[-4:] != '0000' else '1111'}",
        "bare number": ticket.number,
    }[tag_kind]
    inbound = pipe(eml(sender=OUTSIDER, subject=f"Fwd: Re: [{tag}] FTP",
                       message_id=f"<{tag_kind.replace(' ', '-')}@evil.example>",
                       body="Коллега переслал мне вашу переписку.\n"))
    assert inbound.ticket == ticket
    joined = MailParticipant.objects.filter(ticket=ticket, address=OUTSIDER).exists()
    if tag_kind == "checked":
        assert inbound.ticket_message.kind == Message.Kind.INBOUND and joined
    else:
        assert inbound.ticket_message.kind == Message.Kind.NOTE and not joined


def test_with_the_default_policy_even_a_checked_tag_only_makes_a_note(cast, mailbox) -> None:
    ticket = resolved(cast)
    inbound = pipe(eml(sender=OUTSIDER, subject=f"Re: [{thread_tag(ticket)}] FTP",
                       message_id="<fwd-tag@evil.example>", body="Пересланное письмо.\n"))
    ticket.refresh_from_db()
    assert inbound.ticket_message.kind == Message.Kind.NOTE
    assert ticket.status == Status.RESOLVED
    assert not MailParticipant.objects.filter(ticket=ticket).exists()


def test_add_participant_trusts_our_message_ids_but_not_the_customers_own(
    cast, mailbox
) -> None:
    """The customer's Message-ID is theirs to choose (often predictable, and known to
    whomever they copied); only the ids of letters we sent prove a forwarded thread."""
    mailbox.unknown_sender_policy = Mailbox.UnknownSenderPolicy.ADD_PARTICIPANT
    mailbox.save()
    ticket = pipe(eml(message_id="<1001@alpha.example>")).ticket
    deliver_due()
    (ack,) = mail.outbox
    theirs = pipe(eml(sender=OUTSIDER, subject="Re: FTP", message_id="<g1@evil.example>",
                      headers="In-Reply-To: <1001@alpha.example>\n", body="Я тоже.\n"))
    assert theirs.ticket == ticket and theirs.ticket_message.kind == Message.Kind.NOTE
    assert not MailParticipant.objects.filter(ticket=ticket).exists()
    ours = pipe(eml(sender=OUTSIDER, subject="Re: FTP", message_id="<g2@evil.example>",
                    headers=f"In-Reply-To: {ack.extra_headers['Message-ID']}\n",
                    body="Мне переслали ваше письмо.\n"))
    assert ours.ticket == ticket and ours.ticket_message.kind == Message.Kind.INBOUND
    assert MailParticipant.objects.filter(ticket=ticket, address=OUTSIDER).exists()
