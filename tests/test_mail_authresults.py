"""A forged From does not write into a customer's ticket by a bare number (mailauth).

The mailbox trusts its receiving mail server's Authentication-Results (RFC 8601) under the
authserv-id it names; a letter whose From domain that server failed (DMARC, or SPF without
an aligned DKIM pass) joins a ticket only when it answers the ticket's mail. By a bare number
or its address alone it is kept as a marked internal note: no reopen, no SLA change, no
automatic reply. Letters go in end to end: `firstline mail_in`, `mail_work`, the real
parser (tests.test_mail_security_thread.pipe).
"""
import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from firstline.contacts.models import ContactEmail
from firstline.mail import authresults
from firstline.mail.authresults import State, parse_header, verdict
from firstline.mail.ingest import process
from firstline.mail.models import InboundMail, Mailbox, MailParticipant
from firstline.outbox.delivery import deliver_due
from firstline.outbox.models import OutboxMessage
from firstline.tickets.models import IdentifiedBy, Message, Status, Ticket
from tests.conftest import client_for
from tests.test_mail_ingest import make_mailbox
from tests.test_mail_ingest_e2e import eml
from tests.test_mail_security_thread import (
    pipe,
    portal_page,
    reply_and_deliver_message_id,
    resolved,
)

MX = "mx.alpha.example"
CUSTOMER = "ivan@alpha.example"
FORGER = "mallory@evil.example"


def raw_with(*values: str, sender: str = CUSTOMER) -> bytes:
    """A letter with these Authentication-Results headers on top, as a server adds them."""
    head = "".join(f"Authentication-Results: {value}\r\n" for value in values)
    return (
        f"{head}Received: from mail.example by {MX}\r\nFrom: <{sender}>\r\n"
        "Subject: hi\r\n\r\nbody\r\n"
    ).encode()


# The parser --------------------------------------------------------------------------------


def test_a_gmail_shaped_header_with_comments_and_an_unquoted_signature() -> None:
    header = parse_header(
        "mx.google.com;\r\n       dkim=pass header.i=@alpha.example header.s=20230601 "
        "header.b=Ab/Cd+e=;\r\n       spf=pass (google.com: domain of ivan@alpha.example "
        "designates 192.0.2.1 as permitted sender) smtp.mailfrom=ivan@alpha.example;\r\n"
        "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=alpha.example"
    )
    assert header is not None and header.authserv_id == "mx.google.com"
    dkim, spf, dmarc = header.results
    assert (dkim.method, dkim.result) == ("dkim", "pass")
    assert dkim.properties == {"header.i": "@alpha.example", "header.s": "20230601",
                               "header.b": "Ab/Cd+e="}
    assert (spf.result, spf.properties) == ("pass", {"smtp.mailfrom": "ivan@alpha.example"})
    assert (dmarc.result, dmarc.properties) == ("pass", {"header.from": "alpha.example"})


def test_version_method_version_reason_nested_comments_and_quoted_values() -> None:
    header = parse_header(
        'MX.Alpha.Example 1; dkim/1=fail (bad (nested \\) comment) sig) '
        'reason="signature did not verify; sorry" header.d=alpha.example '
        'header.b="a b"; ; iprev=pass policy.iprev=192.0.2.1;'
    )
    assert header is not None and header.authserv_id == MX
    dkim, iprev = header.results
    assert (dkim.method, dkim.result, dkim.reason) == (
        "dkim", "fail", "signature did not verify; sorry"
    )
    assert dkim.properties == {"header.d": "alpha.example", "header.b": "a b"}
    assert (iprev.method, iprev.properties) == ("iprev", {"policy.iprev": "192.0.2.1"})
    none = parse_header(f"{MX} (checked nothing); None")
    assert none is not None and none.results == ()


def test_several_headers_are_read_from_the_letter_folded_and_top_first() -> None:
    raw = (
        f"Authentication-Results: {MX};\r\n\tdmarc=fail (p=reject) header.from=alpha.example\r\n"
        f"ARC-Authentication-Results: i=1; {MX}; dmarc=pass\r\n"
        f"authentication-results:{MX}; spf=fail smtp.mailfrom=alpha.example\r\n"
        "From: <ivan@alpha.example>\r\n\r\n"
        f"Authentication-Results: {MX}; dmarc=pass (in the body: not a header)\r\n"
    ).encode()
    assert authresults.header_values(raw) == [
        f"{MX}; dmarc=fail (p=reject) header.from=alpha.example",
        f"{MX}; spf=fail smtp.mailfrom=alpha.example",
    ]
    assert verdict(raw, CUSTOMER, {MX}) == authresults.Verdict(State.UNVERIFIED, "DMARC: fail")


def test_unknown_methods_and_results_decide_nothing() -> None:
    raw = raw_with(f"{MX}; arc=pass; x-custom=ok header.x=1; iprev=pass; "
                   "dmarc=bestguesspass; auth=pass smtp.auth=ivan")
    assert verdict(raw, CUSTOMER, {MX}) == authresults.Verdict(State.UNDECIDED, "")


def test_a_header_from_an_untrusted_authserv_id_is_ignored() -> None:
    forged = "attacker.example; dmarc=pass header.from=alpha.example"
    assert verdict(raw_with(forged), CUSTOMER, {MX}) is None
    assert verdict(raw_with(forged), CUSTOMER, set()) is None  # nothing trusted: not read
    # The trusted server's failure stands whatever the sender wrote beside it.
    both = raw_with(f"{MX}; dmarc=fail header.from=alpha.example", forged)
    assert verdict(both, CUSTOMER, {MX.upper()}).state == State.UNVERIFIED


def test_a_failure_under_the_trusted_id_wins_over_a_pass() -> None:
    """A header slipped past a server that does not strip them can only make it worse."""
    raw = raw_with(f"{MX}; dmarc=pass header.from=alpha.example",
                   f"{MX}; dmarc=fail header.from=alpha.example")
    assert verdict(raw, CUSTOMER, {MX}).state == State.UNVERIFIED


@pytest.mark.parametrize("value", [
    "",
    ";",
    "   ",
    f"{MX}",
    f"{MX}; dkim",
    f"{MX}; dkim pass",
    f"{MX}; =pass",
    f"{MX}; dkim=",
    f"{MX}; dkim=pass header.d",
    f"{MX}; (unclosed comment dmarc=fail",
    f"{MX}; dmarc=fail) header.from=alpha.example",
    f'{MX}; dmarc=fail reason="unclosed',
    f"{MX}; dkim/x=pass",
    f"{MX} dmarc=fail",
    "[mx]; dmarc=fail",
    # Microsoft 365 leaves out the authserv-id: its header cannot be attributed.
    "spf=fail (sender IP is 192.0.2.1) smtp.mailfrom=alpha.example; dmarc=fail "
    "action=none header.from=alpha.example",
    "\x00\xff\ud7ff; dmarc=fail",
    "(" * 5000 + "x",
])
def test_a_malformed_header_gives_no_verdict_and_never_raises(value: str) -> None:
    assert parse_header(value) is None
    assert verdict(raw_with(value), CUSTOMER, {MX, "spf"}) is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(' ;=/.()"\\@abcdefmx1\t\r\n-'), max_size=80))
def test_the_parser_never_raises(value: str) -> None:
    parse_header(f"{MX}{value}")
    verdict(f"Authentication-Results: {MX}{value}\r\n\r\n".encode(), CUSTOMER, {MX})


def test_not_raw_mail_at_all_gives_no_verdict() -> None:
    assert verdict(b"\xff\xfe\x00garbage without headers", CUSTOMER, {MX}) is None
    assert verdict(b"", "", {MX}) is None


@pytest.mark.parametrize(("results", "state", "reason"), [
    ("dmarc=fail header.from=alpha.example", State.UNVERIFIED, "DMARC: fail"),
    ("dmarc=pass header.from=alpha.example", State.VERIFIED, "DMARC: pass"),
    ("dmarc=pass", State.VERIFIED, "DMARC: pass"),  # no header.from: the letter's From
    # DMARC decides over SPF and DKIM.
    ("spf=fail smtp.mailfrom=alpha.example; dmarc=pass", State.VERIFIED, "DMARC: pass"),
    ("dkim=pass header.d=alpha.example; dmarc=fail", State.UNVERIFIED, "DMARC: fail"),
    # A result about another From domain is not about this letter's.
    ("dmarc=fail header.from=other.example", State.UNDECIDED, ""),
    # Without a deciding DMARC result: a hard SPF fail, unless DKIM passes aligned.
    ("spf=fail smtp.mailfrom=ivan@alpha.example", State.UNVERIFIED, "SPF: fail"),
    ("dmarc=none; spf=fail smtp.mailfrom=alpha.example", State.UNVERIFIED, "SPF: fail"),
    ("dmarc=temperror; spf=fail", State.UNVERIFIED, "SPF: fail"),
    ("spf=fail smtp.mailfrom=alpha.example; dkim=pass header.d=alpha.example",
     State.VERIFIED, "DKIM: pass"),
    ("spf=fail smtp.mailfrom=alpha.example; dkim=pass header.d=mail.alpha.example",
     State.VERIFIED, "DKIM: pass"),
    ("spf=fail smtp.mailfrom=alpha.example; dkim=pass header.i=@alpha.example",
     State.VERIFIED, "DKIM: pass"),
    # DKIM by somebody else's domain (an ESP, a bare TLD) is not the From domain's.
    ("spf=fail smtp.mailfrom=alpha.example; dkim=pass header.d=esp.example",
     State.UNVERIFIED, "SPF: fail"),
    ("spf=fail smtp.mailfrom=alpha.example; dkim=pass header.d=example",
     State.UNVERIFIED, "SPF: fail"),
    ("spf=fail smtp.mailfrom=alpha.example; dkim=fail header.d=alpha.example",
     State.UNVERIFIED, "SPF: fail"),
    # A soft fail, or a fail of an envelope domain that is not the From's, decides nothing.
    ("spf=softfail smtp.mailfrom=alpha.example", State.UNDECIDED, ""),
    ("spf=fail smtp.mailfrom=bounces.esp.example", State.UNDECIDED, ""),
    ("spf=pass smtp.mailfrom=alpha.example", State.VERIFIED, "SPF: pass"),
    ("spf=pass smtp.mailfrom=bounces.esp.example", State.UNDECIDED, ""),
])
def test_the_rule(results: str, state: str, reason: str) -> None:
    assert verdict(raw_with(f"{MX}; {results}"), CUSTOMER, {MX}) == authresults.Verdict(
        state, reason
    )


def test_the_setting_names_several_ids_and_refuses_what_cannot_be_one() -> None:
    assert authresults.trusted_ids(" MX1.alpha.example, mx2.alpha.example\n") == {
        "mx1.alpha.example", "mx2.alpha.example"
    }
    assert authresults.trusted_ids("") == frozenset()
    assert authresults.invalid_ids("mx.alpha.example; dmarc=pass") == ["mx.alpha.example;",
                                                                        "dmarc=pass"]
    assert authresults.invalid_ids("mx.alpha.example mx2") == []
    assert authresults.invalid_ids("почта.рф") == ["почта.рф"]


# End to end --------------------------------------------------------------------------------


@pytest.fixture
def mailbox(cast) -> Mailbox:
    return make_mailbox(cast.a, trusted_authserv_ids=MX)


def checked(result: str, sender: str = CUSTOMER) -> str:
    domain = sender.rpartition("@")[2]
    return f"Authentication-Results: {MX}; {result} header.from={domain}\n"


def clock(ticket: Ticket) -> tuple:
    ticket.refresh_from_db()
    return (ticket.status, ticket.reaction_due_at, ticket.resolution_due_at,
            ticket.paused_since, ticket.resolved_at, ticket.reaction_in_time,
            ticket.resolution_in_time, ticket.first_response_at)


def test_a_forged_customer_letter_by_a_bare_number_becomes_a_marked_note(cast, mailbox):
    ticket = resolved(cast)
    before = clock(ticket)
    outbox_before = OutboxMessage.objects.count()
    inbound = pipe(eml(
        sender=f"Ivan alpha <{CUSTOMER}>", subject=f"Re: [{ticket.number}] FTP",
        message_id="<forged@evil.example>",
        headers=f"{checked('dmarc=fail (p=reject)')}Reply-To: {FORGER}\n",
        body="Пришлите, пожалуйста, новый пароль FTP на этот адрес.\n",
    ))
    note = inbound.ticket_message
    assert inbound.ticket == ticket and note.kind == Message.Kind.NOTE
    assert note.author_contact is None
    assert "DMARC: fail" in note.body_text and CUSTOMER in note.body_text
    assert "новый пароль FTP на этот адрес" in note.body_text
    assert inbound.sender_check == InboundMail.SenderCheck.UNVERIFIED
    assert inbound.sender_check_reason == "DMARC: fail"
    assert "DMARC: fail" in inbound.problems and ticket.number in inbound.problems
    # Not the customer's words: no reopen, the SLA clock untouched, nothing mailed to
    # anybody, nothing in the customer's portal, nobody new on the ticket.
    assert clock(ticket) == before and before[0] == Status.RESOLVED
    assert OutboxMessage.objects.count() == outbox_before
    assert not ticket.messages.filter(kind=Message.Kind.INBOUND).exclude(
        pk=ticket.messages.order_by("id").first().pk
    ).exists()
    assert "новый пароль FTP" not in portal_page(cast, ticket)
    assert not MailParticipant.objects.filter(ticket=ticket).exists()
    assert not ContactEmail.objects.filter(address=FORGER).exists()


def test_a_forged_participant_or_a_failed_spf_is_a_note_too(cast, mailbox):
    ticket = resolved(cast)
    MailParticipant.objects.create(partner=cast.a.partner, ticket=ticket,
                                   contact=cast.a.other_contact, address="olga@alpha.example")
    inbound = pipe(eml(
        sender="olga@alpha.example", subject=f"Re: [{ticket.number}] FTP",
        message_id="<spf@evil.example>",
        headers=f"Authentication-Results: {MX}; spf=fail smtp.mailfrom=alpha.example\n",
        body="Отмените заявку.\n",
    ))
    ticket.refresh_from_db()
    assert inbound.ticket_message.kind == Message.Kind.NOTE
    assert "SPF: fail" in inbound.ticket_message.body_text
    assert ticket.status == Status.RESOLVED


def test_a_verified_customer_letter_joins_by_the_number_as_before(cast, mailbox):
    ticket = resolved(cast)
    inbound = pipe(eml(subject=f"Re: [{ticket.number}] FTP", message_id="<ok@alpha.example>",
                       headers=checked("dmarc=pass"), body="Опять не работает.\n"))
    ticket.refresh_from_db()
    assert inbound.ticket_message.kind == Message.Kind.INBOUND
    assert inbound.ticket_message.author_contact == cast.a.contact
    assert ticket.status == Status.OPEN
    assert inbound.sender_check == InboundMail.SenderCheck.VERIFIED
    assert inbound.sender_check_reason == "DMARC: pass"


def test_an_unverified_letter_answering_our_mail_joins_and_is_marked(cast, mailbox):
    """Answering a Message-ID we sent proves the writer holds the ticket's mail (a
    forwarder or a mailing list often breaks DMARC): it joins, marked for the operator."""
    ticket = resolved(cast)
    our_letter = reply_and_deliver_message_id(cast, ticket)
    inbound = pipe(eml(
        subject="Re: FTP", message_id="<answer@alpha.example>",
        headers=f"{checked('dmarc=fail')}In-Reply-To: {our_letter}\nReferences: {our_letter}\n",
        body="Спасибо, заработало. Но есть вопрос.\n",
    ))
    ticket.refresh_from_db()
    assert inbound.ticket_message.kind == Message.Kind.INBOUND
    assert ticket.status == Status.OPEN
    assert inbound.sender_check == InboundMail.SenderCheck.UNVERIFIED
    assert "DMARC: fail" in inbound.problems and ticket.number in inbound.problems


def test_without_a_trusted_id_the_headers_are_not_read(cast):
    mailbox = make_mailbox(cast.a)
    assert mailbox.trusted_authserv_ids == ""
    ticket = resolved(cast)
    inbound = pipe(eml(subject=f"Re: [{ticket.number}] FTP", message_id="<as-today@alpha>",
                       headers=checked("dmarc=fail"), body="Снова не работает.\n"))
    ticket.refresh_from_db()
    assert inbound.ticket_message.kind == Message.Kind.INBOUND
    assert ticket.status == Status.OPEN
    assert (inbound.sender_check, inbound.sender_check_reason) == ("", "")


def test_the_forgers_own_pass_under_another_id_does_not_help(cast, mailbox):
    ticket = resolved(cast)
    inbound = pipe(eml(
        subject=f"Re: [{ticket.number}] FTP", message_id="<own-pass@evil.example>",
        headers=("Authentication-Results: evil.example; dmarc=pass header.from=alpha.example\n"
                 f"{checked('dmarc=fail')}"),
        body="Закройте заявку.\n",
    ))
    assert inbound.ticket_message.kind == Message.Kind.NOTE


def test_an_unverified_new_letter_opens_a_ticket_without_an_acknowledgement(cast, mailbox):
    mail.outbox.clear()
    inbound = pipe(eml(message_id="<new-forged@evil.example>",
                       headers=f"{checked('dmarc=fail')}Reply-To: {FORGER}\n"))
    assert inbound.ticket is not None and inbound.ticket_message.kind == Message.Kind.INBOUND
    assert "DMARC: fail" in inbound.problems
    # Ivan's address is confirmed, but a forged From proves nothing about whose it is.
    assert ContactEmail.objects.get(address=CUSTOMER).is_confirmed
    assert inbound.ticket.identified_by == IdentifiedBy.NONE
    deliver_due()
    assert mail.outbox == []
    assert not OutboxMessage.objects.filter(ticket=inbound.ticket).exists()
    # The same letter verified is acknowledged as always.
    verified = pipe(eml(message_id="<new-ok@alpha.example>", headers=checked("dmarc=pass")))
    deliver_due()
    assert [letter.to for letter in mail.outbox] == [[CUSTOMER]]
    assert verified.sender_check == InboundMail.SenderCheck.VERIFIED
    assert verified.ticket.identified_by == IdentifiedBy.CONFIRMED_EMAIL


def test_processing_again_recomputes_the_check(cast, mailbox):
    ticket = resolved(cast)
    inbound = pipe(eml(subject=f"Re: [{ticket.number}] FTP", message_id="<again@evil>",
                       headers=checked("dmarc=fail"), body="Ещё раз.\n"))
    assert inbound.sender_check == InboundMail.SenderCheck.UNVERIFIED
    Mailbox.objects.filter(pk=mailbox.pk).update(trusted_authserv_ids="")
    InboundMail.objects.filter(pk=inbound.pk).update(status=InboundMail.Status.STORED)
    again = process(InboundMail.objects.get(pk=inbound.pk))
    assert (again.sender_check, again.sender_check_reason) == ("", "")
    assert again.ticket_message.kind == Message.Kind.INBOUND


# The mark and the setting ------------------------------------------------------------------


def test_the_mark_shows_the_verdict_to_staff_only(cast, mailbox):
    ticket = resolved(cast)
    inbound = pipe(eml(subject=f"Re: [{ticket.number}] FTP", message_id="<mark@evil>",
                       headers=checked("dmarc=fail"), body="Текст.\n"))
    message = Message.objects.prefetch_related("inbound_letters").get(
        pk=inbound.ticket_message_id
    )
    with translation.override("ru"):
        staff = render_to_string("mail/message_sender.html",
                                 {"message": message, "user": cast.operator})
        customer = render_to_string("mail/message_sender.html",
                                    {"message": message, "user": cast.a.customer})
        verified = render_to_string("mail/message_sender.html", {
            "message": pipe(eml(subject=f"Re: [{ticket.number}] FTP", message_id="<v@alpha>",
                                headers=checked("dmarc=pass"))).ticket_message,
            "user": cast.operator,
        })
    assert "Отправитель не подтверждён (DMARC: fail)" in staff
    assert "mail-unverified" in staff
    assert customer.strip() == "" and verified.strip() == ""


def test_the_admin_saves_the_setting_and_refuses_a_bad_one(cast, mailbox):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = client_for(admin)
    url = f"/admin/mail/mailbox/{mailbox.pk}/change/"
    form = {
        "partner": cast.a.partner.pk, "address": mailbox.address, "is_active": "on",
        "imap_host": "", "imap_port": 993, "imap_security": "ssl", "imap_username": "",
        "new_imap_password": "", "imap_folder": "INBOX", "imap_processed_folder": "",
        "unknown_sender_policy": "flag",
    }
    response = client.post(url, {**form, "trusted_authserv_ids": "mx.alpha.example; spf=pass"},
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "mx.alpha.example;" in errors["trusted_authserv_ids"][0]
    mailbox.refresh_from_db()
    assert mailbox.trusted_authserv_ids == MX
    saved = client.post(url, {**form, "trusted_authserv_ids": "mx1.alpha.example mx2"})
    assert saved.status_code == 302
    mailbox.refresh_from_db()
    assert mailbox.trusted_authserv_ids == "mx1.alpha.example mx2"


def test_the_model_refuses_a_bad_setting_too(cast):
    box = Mailbox(partner=cast.a.partner, address="x@alpha.example",
                  trusted_authserv_ids="mx.alpha.example (comment)")
    with pytest.raises(ValidationError) as error:
        box.full_clean()
    assert "trusted_authserv_ids" in error.value.message_dict



def test_the_ticket_page_marks_the_unverified_letter_for_the_staff(cast, mailbox):
    ticket = resolved(cast)
    pipe(eml(
        sender=f"Ivan alpha <{CUSTOMER}>", subject=f"Re: [{ticket.number}] FTP",
        message_id="<forged-page@evil.example>", headers=checked("dmarc=fail"),
        body="Пришлите пароль.\n",
    ))
    page = client_for(cast.operator).get(reverse("ticket", args=[ticket.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("mail-unverified") == 1
    assert "Sender not verified (DMARC: fail)" in html  # the operator reads English
