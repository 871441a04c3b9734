"""The automatic acknowledgement (F2, F3): at once, by name, in the customer's words, with
the deadline; per-partner templates refused when they cannot say all three; no loops."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError

from firstline.mail.autoreply import request_words
from firstline.mail.models import AckTemplate, AutoReplyLog
from firstline.mail.parsed import Address
from firstline.mail.threading import thread_tag
from firstline.outbox.delivery import deliver_due
from firstline.outbox.models import OutboxMessage
from firstline.quality.rules import ReplyContext, ReplyKind, check_reply, default_ruleset
from firstline.tickets.models import Message, Status
from tests.test_mail_ingest import acks, email_tickets, letter, make_mailbox, receive
from tests.test_sla_deadlines import office_policy


@pytest.fixture
def mailbox(cast):
    return make_mailbox(cast.a)

MSK = ZoneInfo("Europe/Moscow")
TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=MSK)


def the_ack(inbound) -> OutboxMessage:
    (ack,) = acks(inbound.ticket)
    return ack


def test_the_acknowledgement_meets_the_three_criteria(cast, mailbox) -> None:
    office_policy(cast.a.partner)
    with time_machine.travel(TUESDAY_10, tick=False):
        inbound = receive(mailbox, letter(subject="нет доступа на FTP",
                                          text="Не могу зайти на FTP с утра."))
    ticket = inbound.ticket
    ack = the_ack(inbound)
    assert ack.recipient == "ivan@alpha.example"
    assert ack.subject.startswith(f"[{thread_tag(ticket)}] ")
    assert "Здравствуйте, Ivan alpha!" in ack.body
    assert "Ваш вопрос «нет доступа на FTP»" in ack.body
    # 1080 business minutes of 9:00-18:00 from Tuesday 10:00: Thursday 10:00, Moscow time.
    assert ticket.resolution_due_at == datetime(2026, 3, 5, 10, 0, tzinfo=MSK)
    assert "не позднее 05.03.2026 10:00 (Europe/Moscow, UTC+03:00)" in ack.body
    assert "Partner alpha" in ack.body  # the partner's signature, not the provider's
    context = ReplyContext(kind=ReplyKind.ACKNOWLEDGEMENT, customer_name="Ivan alpha",
                           customer_words="нет доступа на FTP")
    assert check_reply(ack.body, context, default_ruleset("ru")) == []
    assert inbound.problems == ""


def test_the_acknowledgement_is_automatic_and_not_the_first_response(cast, mailbox) -> None:
    office_policy(cast.a.partner)
    with time_machine.travel(TUESDAY_10, tick=False):
        inbound = receive(mailbox, letter())
    ticket = inbound.ticket
    reply = ticket.messages.get(kind=Message.Kind.REPLY)
    assert reply.is_automatic and reply.author is None
    assert reply.body_text == the_ack(inbound).body
    assert ticket.status == Status.NEW
    assert ticket.first_response_at is None and ticket.reaction_in_time is None
    assert ticket.due_at == ticket.reaction_due_at  # reaction still due


def test_the_acknowledgement_is_in_the_outbox_with_the_ticket_and_its_headers(
    cast, mailbox
) -> None:
    parsed = letter()
    inbound = receive(mailbox, parsed)
    ack = the_ack(inbound)
    assert ack.partner == cast.a.partner and ack.ticket == inbound.ticket
    assert ack.headers["In-Reply-To"] == f"<{parsed.message_id}>"
    assert ack.headers["Reply-To"] == "help@alpha.example"
    assert ack.headers["Auto-Submitted"] == "auto-replied"
    assert ack.headers["X-Firstline-Loop"] == inbound.ticket.number
    assert deliver_due() == 1
    (sent,) = mail.outbox
    assert sent.from_email == "support@alpha.example"
    assert sent.to == ["ivan@alpha.example"]
    assert sent.extra_headers["Message-ID"] == ack.headers["Message-ID"]


def test_without_an_agreed_deadline_it_says_we_are_clarifying(cast, mailbox) -> None:
    inbound = receive(mailbox, letter())  # the partner has no SLA policy
    body = the_ack(inbound).body
    assert "Мы уточняем информацию по Вашему вопросу и свяжемся с Вами в ближайшее время." in body
    assert "не позднее" not in body


@pytest.mark.parametrize("subject", ["", "Вопрос", "ПОМОГИТЕ!", "Проблема", "Help", "Re:",
                                     "question", "Re: Fwd: Вопрос"])
def test_a_generic_subject_is_replaced_by_the_first_sentence(subject) -> None:
    text = "Здравствуйте!\nНе работает почта на домене example.ru. Уже второй день."
    assert request_words(subject, text) == "Не работает почта на домене example.ru"


def test_a_telling_subject_is_kept_as_the_customer_wrote_it() -> None:
    assert request_words("Re: [FL-000012] нет доступа на FTP", "…") == "нет доступа на FTP"


def test_a_long_first_sentence_is_cut_at_a_word() -> None:
    words = request_words("", "слово " * 60)
    assert len(words) <= 151 and words.endswith("слово…")


def test_a_contact_who_prefers_english_gets_the_english_acknowledgement(cast, mailbox) -> None:
    cast.a.contact.language = "en"
    cast.a.contact.save(update_fields=["language"])
    text = "VPN drops every ten minutes. Since Monday."
    sender = Address("John Smith", "ivan@alpha.example")
    inbound = receive(mailbox, letter(subject="Help", text=text, sender=sender))
    ack = the_ack(inbound)
    assert ack.body.startswith("Hello Ivan alpha,")  # the contact's name on file
    assert "“VPN drops every ten minutes”" in ack.body
    assert "will contact you shortly" in ack.body
    assert inbound.problems == ""


def test_the_partners_own_template_is_used(cast, mailbox) -> None:
    AckTemplate.objects.create(
        partner=cast.a.partner, language="ru", subject="Заявка {number}: {request}",
        body="{name}, добрый день! Ваш вопрос «{request}» принят под номером {number}. "
             "{deadline}\n{signature}",
        signature="Команда {partner}",
    )
    inbound = receive(mailbox, letter())
    ack = the_ack(inbound)
    number = inbound.ticket.number
    assert ack.subject == f"Заявка {number}: Нет доступа на FTP"
    assert ack.body.startswith("Ivan alpha, добрый день!")
    assert ack.body.endswith("Команда Partner alpha")


def test_the_number_is_put_in_a_subject_that_lacks_it(cast, mailbox) -> None:
    AckTemplate.objects.create(partner=cast.a.partner, language="ru", subject="Принято",
                               body="{name}, Ваш вопрос «{request}» принят. {deadline}")
    inbound = receive(mailbox, letter())
    assert the_ack(inbound).subject == f"[{thread_tag(inbound.ticket)}] Принято"


# Templates refused -------------------------------------------------------------------------


def template(**fields) -> AckTemplate:
    values = {"language": "ru", "subject": "[{number}] {request}",
              "body": "Здравствуйте, {name}! Ваш вопрос «{request}» принят. {deadline}"}
    values.update(fields)
    return AckTemplate(**values)


@pytest.mark.parametrize("missing", ["{name}", "{request}", "{deadline}"])
def test_a_template_without_a_criterion_is_refused_naming_the_field(cast, missing) -> None:
    body = "Здравствуйте, {name}! Ваш вопрос «{request}» принят. {deadline}".replace(missing, "")
    with pytest.raises(ValidationError) as error:
        template(partner=cast.a.partner, body=body).save()
    assert list(error.value.message_dict) == ["body"]
    assert missing in error.value.message_dict["body"][0]
    assert not AckTemplate.objects.exists()


def test_an_unknown_placeholder_is_refused_naming_the_field(cast) -> None:
    with pytest.raises(ValidationError) as error:
        template(partner=cast.a.partner, subject="[{number}] {ticket}").save()
    assert list(error.value.message_dict) == ["subject"]
    assert "{ticket}" in error.value.message_dict["subject"][0]


def test_a_malformed_template_is_refused(cast) -> None:
    with pytest.raises(ValidationError) as error:
        template(partner=cast.a.partner, body="{name} {request} {deadline} {oops").save()
    assert "body" in error.value.message_dict


def test_a_template_with_a_forbidden_phrase_is_refused(cast) -> None:
    body = "Здравствуйте, {name}! Ваша проблема «{request}» принята. {deadline}"
    with pytest.raises(ValidationError) as error:
        template(partner=cast.a.partner, body=body).save()
    assert "проблема" in " ".join(error.value.message_dict["body"])


def test_the_provider_defaults_pass_their_own_check(cast) -> None:
    from firstline.mail.autoreply import DEFAULTS

    for language, parts in DEFAULTS.items():
        template(partner=cast.a.partner, language=language, **parts).save()
    assert AckTemplate.objects.count() == 2


# Rate limit and loops ----------------------------------------------------------------------


def test_automatic_replies_to_one_address_are_limited_per_hour(cast, mailbox, settings) -> None:
    settings.FIRSTLINE_MAIL_AUTOREPLY_MAX = 3
    with time_machine.travel(TUESDAY_10, tick=False) as clock:
        for index in range(5):
            receive(mailbox, letter(subject=f"Вопрос номер {index}"))
            clock.shift(timedelta(minutes=5))
        assert len(email_tickets(cast.a.partner)) == 5  # every request is a ticket
        assert OutboxMessage.objects.filter(recipient="ivan@alpha.example").count() == 3
        limited = email_tickets(cast.a.partner)[-1].inbound_mail.get()
        assert "automatic replies" in limited.problems
        clock.shift(timedelta(hours=1))
        receive(mailbox, letter(subject="Ещё вопрос"))
    assert OutboxMessage.objects.filter(recipient="ivan@alpha.example").count() == 4
    assert AutoReplyLog.objects.count() == 4


def test_an_auto_responder_does_not_make_a_loop(cast, mailbox) -> None:
    """Our acknowledgement goes out, the customer's auto-responder answers it, and we do not
    answer again."""
    inbound = receive(mailbox, letter())
    assert deliver_due() == 1
    (our_ack,) = mail.outbox
    our_id = our_ack.extra_headers["Message-ID"].strip("<>")
    auto_reply = letter(
        subject=f"Автоответ: {our_ack.subject}", text="Я в отпуске до 10 марта.",
        in_reply_to=(our_id,), references=(our_id,), auto_submitted=True,
    )
    answer = receive(mailbox, auto_reply)
    assert answer.ticket == inbound.ticket
    assert answer.ticket_message.kind == Message.Kind.NOTE
    assert deliver_due() == 0
    assert len(mail.outbox) == 1
    assert len(email_tickets(cast.a.partner)) == 1


def test_a_naive_auto_responder_is_stopped_by_the_rate_limit(cast, mailbox) -> None:
    """A robot that marks nothing and starts a new thread each time gets three answers an
    hour, not an endless exchange."""
    robot = Address("Robot", "robot@naive.example")
    receive(mailbox, letter(sender=robot, subject="Ваш запрос получен", text="Спасибо."))
    for round_ in range(10):
        deliver_due()
        receive(mailbox, letter(sender=robot, subject=f"Ваш запрос получен {round_}",
                                text="Спасибо за письмо."))
    deliver_due()
    assert len([m for m in mail.outbox if m.to == ["robot@naive.example"]]) == 3
