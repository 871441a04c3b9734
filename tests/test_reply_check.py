"""The reply rules at work (F3, F16, F17): the live check in the reply editor, refusing a
blocking reply in the desk and the API alike, and the lists supervisors edit per partner.
"""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from firstline.contacts.models import Contact
from firstline.core.models import AuditEvent
from firstline.quality import checking, phrases
from firstline.quality.phrase_models import ForbiddenPhraseSetting
from firstline.quality.rules import FindingCode, ReplyKind
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel, Message, Ticket
from tests.test_api_support import token_client

from .conftest import client_for

pytestmark = pytest.mark.django_db

ACK = ReplyKind.ACKNOWLEDGEMENT
GOOD_ACK = (
    "Иван, мы приняли в работу Ваш вопрос «нет доступа на FTP». Решим его в течение 4 часов."
)


def ru_ticket(side) -> Ticket:
    """A Russian-speaking customer's ticket of `side`'s partner."""
    contact = Contact.objects.create(partner=side.partner, name="Иван Петров")
    return ticket_services.create_ticket(
        partner=side.partner, actor=side.engineer, channel=Channel.PHONE, contact=contact,
        subject="Нет доступа на FTP", text="Нет доступа на FTP, пишет timeout.",
    )


def check(client, ticket: Ticket, text: str, kind: str = "reply",
          reply_kind: str = "regular"):
    return client.post(reverse("ticket-reply-check", args=[ticket.pk]),
                       {"text": text, "kind": kind, "reply_kind": reply_kind})


def reply(client, ticket: Ticket, text: str, reply_kind: str = "regular"):
    return client.post(reverse("ticket-add-message", args=[ticket.pk]),
                       {"kind": "reply", "text": text, "reply_kind": reply_kind})


def codes(ticket: Ticket, text: str, kind: str = "regular") -> set[str]:
    return {f.code.value for f in checking.check_for_ticket(text, ticket, kind)}


# --- The live check ------------------------------------------------------------------------


def test_the_check_marks_a_forbidden_word_in_any_form_with_its_suggestion_in_that_form(cast):
    response = check(client_for(cast.operator), cast.a.ticket,
                     "Иван, с проблемой разобрались.")

    assert response.status_code == 200
    page = response.content.decode()
    assert '<html' not in page  # a fragment for the panel, not a page
    assert 'class="forbidden_phrase blocking"' in page
    assert ">проблемой</mark>" in page
    assert 'data-replace="ситуацией"' in page and 'data-found="проблемой"' in page
    assert 'data-start="8" data-end="17"' in page
    assert "blocks sending" in page


def test_the_check_counts_offsets_as_the_browser_does(cast):
    """An emoji is two UTF-16 units in the editor and one code point in Python."""
    page = check(client_for(cast.operator), cast.a.ticket, "👍 проблема").content.decode()

    assert 'data-start="3" data-end="11"' in page


def test_a_clean_reply_gets_a_plain_all_clear(cast):
    page = check(client_for(cast.operator), cast.a.ticket,
                 "Иван, доступ восстановлен.").content.decode()

    assert "The reply meets the rules." in page and "<mark" not in page


def test_an_acknowledgement_without_the_customers_name_is_flagged_on_its_checklist(cast):
    ticket = ru_ticket(cast.a)
    client = client_for(cast.operator)

    without = check(client, ticket, GOOD_ACK.removeprefix("Иван, "), reply_kind=ACK)
    page = without.content.decode()
    assert 'class="check-missing"' in page
    assert "Address the customer by name (Иван)." in page
    assert 'data-insert="Иван, "' in page and 'data-where="start"' in page
    assert "The reply can be sent" in page  # by default only forbidden phrases block

    with_name = check(client, ticket, GOOD_ACK, reply_kind=ACK).content.decode()
    assert 'class="check-missing"' not in with_name
    assert with_name.count('class="check-ok"') == 4


def test_the_checklist_follows_the_reply_kind(cast):
    ticket = ru_ticket(cast.a)

    assert codes(ticket, "Иван, не вижу tracert в письме.", "clarifying_question") == {
        "statement_of_absence", "missing_request", "missing_benefit",
    }
    assert codes(ticket, "Иван, не вижу tracert в письме.") == set()
    assert "missing_deadline" in codes(ticket, "Иван, вопрос «нет доступа на FTP» принят.",
                                       "acknowledgement")


def test_a_note_is_not_checked_by_the_editor_nor_on_saving(cast):
    client = client_for(cast.operator)

    page = check(client, cast.a.ticket, "Проблема у клиента, не знаю что делать",
                 kind="note").content.decode()
    assert "Internal notes are not checked." in page

    response = client.post(reverse("ticket-add-message", args=[cast.a.ticket.pk]),
                           {"kind": "note", "text": "Проблема у клиента, не знаю что делать"})
    assert response.status_code == 302
    assert Message.objects.filter(ticket=cast.a.ticket, kind="note").exists()


def test_the_check_of_another_partners_ticket_is_a_404(cast):
    engineer = client_for(cast.a.engineer)

    assert check(engineer, cast.b.ticket, "проблема").status_code == 404
    assert check(engineer, cast.a.ticket, "проблема").status_code == 200
    assert check(client_for(cast.a.customer), cast.a.ticket, "проблема").status_code == 403


def test_the_check_takes_posts_only(cast):
    url = reverse("ticket-reply-check", args=[cast.a.ticket.pk])
    assert client_for(cast.operator).get(url).status_code == 405


def test_the_ticket_page_wires_the_editor_to_the_check(cast):
    page = client_for(cast.operator).get(reverse("ticket", args=[cast.a.ticket.pk]))

    html = page.content.decode()
    assert f'hx-post="{reverse("ticket-reply-check", args=[cast.a.ticket.pk])}"' in html
    assert 'hx-trigger="keyup changed delay:400ms' in html
    assert 'id="reply-check"' in html and "reply-check.js" in html
    assert 'name="reply_kind"' in html


# --- Sending -------------------------------------------------------------------------------


def test_a_blocking_word_refuses_the_reply_in_the_desk_naming_the_field_and_saving_nothing(
    cast,
):
    client = client_for(cast.operator)
    ticket = cast.a.ticket
    messages, events = Message.objects.count(), AuditEvent.objects.count()

    response = reply(client, ticket, "Иван, Ваша проблема решена, я не знаю почему.")

    assert response.status_code == 400
    errors = response.context["message_form"].errors["text"]
    assert len(errors) == 2
    assert "“проблема”" in errors[0] and "“ситуация”" in errors[0]
    assert "“я не знаю”" in errors[1]
    assert Message.objects.count() == messages and AuditEvent.objects.count() == events
    ticket.refresh_from_db()
    assert ticket.status == "new" and ticket.first_response_at is None
    # The operator's text stays in the editor, to be corrected.
    assert "Ваша проблема решена" in response.content.decode()


def test_non_blocking_findings_do_not_stop_a_reply(cast):
    ticket = ru_ticket(cast.a)

    response = reply(client_for(cast.operator), ticket, "Мы всё починили.", reply_kind=ACK)

    assert response.status_code == 302
    assert Message.objects.filter(ticket=ticket, kind="reply").exists()


def test_an_unknown_reply_kind_is_a_field_error(cast):
    with pytest.raises(ValidationError) as error:
        ticket_services.add_message(ticket=cast.a.ticket, actor=cast.operator, kind="reply",
                                    text="Hello", reply_kind="poem")
    assert "reply_kind" in error.value.message_dict


def test_a_blocking_word_refuses_the_reply_in_the_api_with_422_on_text(cast):
    client = token_client(cast.a.integration)
    url = f"/api/tickets/{cast.a.ticket.pk}/messages"
    count = Message.objects.count()

    response = client.post_json(url, {"kind": "reply", "text": "Your problem is solved."})

    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "Invalid input: text."
    assert [e["field"] for e in body["errors"]] == ["text"]
    assert "“problem”" in body["errors"][0]["message"]
    assert Message.objects.count() == count
    note = client.post_json(url, {"kind": "note", "text": "Their problem again."})
    assert note.status_code == 201


def test_the_api_checks_a_reply_as_the_kind_it_names(cast):
    ticket = ru_ticket(cast.a)
    client = token_client(cast.a.integration)
    url = f"/api/tickets/{ticket.pk}/messages"
    phrases.set_blocking(actor=cast.supervisor, partner=cast.a.partner,
                         codes=["forbidden_phrase", "missing_name"])

    refused = client.post_json(url, {"kind": "reply", "text": GOOD_ACK.removeprefix("Иван, "),
                                     "reply_kind": "acknowledgement"})
    sent = client.post_json(url, {"kind": "reply", "text": GOOD_ACK,
                                  "reply_kind": "acknowledgement"})

    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "text", "message": "Address the customer by name (Иван)."}
    ]
    assert sent.status_code == 201


def test_the_check_endpoint_of_the_api_returns_the_findings(cast):
    client = token_client(cast.a.integration)

    response = client.post_json("/api/replies/check", {
        "ticket_id": cast.a.ticket.pk, "text": "  Иван, с проблемой разобрались.",
        "kind": "regular",
    })

    assert response.status_code == 200
    assert response.json() == {
        "language": "ru",
        "blocked": True,
        "findings": [{
            "code": "forbidden_phrase",
            "message": "“проблемой” is a forbidden phrase in replies: write “ситуацией” "
                       "instead.",
            "span": [10, 19],
            "suggestion": "ситуацией",
            "alternatives": ["инцидентом", "вопросом"],
            "blocking": True,
        }],
    }


def test_the_check_endpoint_of_the_api_is_a_404_for_another_partners_ticket(cast):
    client = token_client(cast.a.integration)
    body = {"ticket_id": cast.b.ticket.pk, "text": "problem"}

    assert client.post_json("/api/replies/check", body).status_code == 404
    body["ticket_id"] = 10**9
    assert client.post_json("/api/replies/check", body).status_code == 404
    bad = client.post_json("/api/replies/check", {**body, "kind": "poem"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "kind"


# --- The lists, per provider and per partner -----------------------------------------------


def test_a_partners_removal_allows_a_phrase_for_that_partner_only(cast):
    phrases.save_phrase(actor=cast.supervisor, partner=cast.a.partner, language="ru",
                        phrase="проблемы", action="remove")

    assert codes(cast.a.ticket, "Ваша проблема решена.") == set()
    assert codes(cast.b.ticket, "Ваша проблема решена.") == {"forbidden_phrase"}
    # Only the phrase named: the idiom with the same word stays forbidden.
    assert codes(cast.a.ticket, "Без проблем, сделаем.") == {"forbidden_phrase"}
    assert reply(client_for(cast.operator), cast.a.ticket, "Проблема решена.").status_code == 302
    assert reply(client_for(cast.operator), cast.b.ticket, "Проблема решена.").status_code == 400


def test_a_partners_addition_forbids_a_phrase_for_that_partner_only(cast):
    phrases.save_phrase(actor=cast.supervisor, partner=cast.b.partner, language="ru",
                        phrase="тикет", action="add", suggestions=["заявка", "обращение"])

    findings = checking.check_for_ticket("Ваши тикеты закрыты.", cast.b.ticket, "regular")
    assert [(f.code, f.suggestion) for f in findings] == [
        (FindingCode.FORBIDDEN_PHRASE, "заявки")
    ]
    assert codes(cast.a.ticket, "Ваши тикеты закрыты.") == set()


def test_a_provider_wide_change_applies_to_every_partner_until_a_partner_undoes_it(cast):
    phrases.save_phrase(actor=cast.supervisor, partner=None, language="en",
                        phrase="ticket", action="add", suggestions=["request"])
    assert codes(cast.a.ticket, "Your tickets are closed.") == {"forbidden_phrase"}
    assert codes(cast.b.ticket, "Your tickets are closed.") == {"forbidden_phrase"}

    phrases.save_phrase(actor=cast.supervisor, partner=cast.a.partner, language="en",
                        phrase="tickets", action="remove")
    assert codes(cast.a.ticket, "Your tickets are closed.") == set()
    assert codes(cast.b.ticket, "Your tickets are closed.") == {"forbidden_phrase"}


def test_a_partner_can_change_the_suggestions_of_a_default(cast):
    phrases.save_phrase(actor=cast.supervisor, partner=cast.a.partner, language="ru",
                        phrase="проблема", action="add", suggestions=["задача"])

    [finding] = checking.check_for_ticket("С проблемой разобрались.", cast.a.ticket, "regular")
    assert finding.suggestion == "задачей"
    [other] = checking.check_for_ticket("С проблемой разобрались.", cast.b.ticket, "regular")
    assert other.suggestion == "ситуацией"


def test_a_partner_chooses_which_findings_block(cast):
    ticket = ru_ticket(cast.a)
    phrases.set_blocking(actor=cast.supervisor, partner=cast.a.partner,
                         codes=["missing_deadline"])
    client = client_for(cast.operator)

    assert reply(client, ticket, "Иван, вопрос «нет доступа на FTP» принят, проблему смотрим.",
                 reply_kind=ACK).status_code == 400
    assert reply(client, ticket, GOOD_ACK + " Проблему смотрим.",
                 reply_kind=ACK).status_code == 302


def test_saving_the_same_words_again_replaces_the_change_and_both_are_audited(cast):
    first = phrases.save_phrase(actor=cast.supervisor, partner=cast.a.partner, language="ru",
                                phrase="тикет", action="add", suggestions=["заявка"])
    second = phrases.save_phrase(actor=cast.supervisor, partner=cast.a.partner, language="ru",
                                 phrase="тикеты", action="add", suggestions=["обращение"])

    assert first.pk == second.pk and second.suggestions == ["обращение"]
    events = AuditEvent.objects.filter(action="quality.phrase_saved").order_by("id")
    assert [e.after["suggestions"] for e in events] == [["заявка"], ["обращение"]]
    assert events[1].before["phrase"] == "тикет" and events[1].actor == cast.supervisor


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"phrase": "  ", "action": "add", "suggestions": ["x"]}, "phrase"),
        ({"phrase": "...", "action": "add", "suggestions": ["x"]}, "phrase"),
        ({"phrase": "тикет", "action": "add", "suggestions": []}, "suggestions"),
        ({"phrase": "тикет", "action": "remove"}, "phrase"),
        ({"phrase": "тикет", "action": "ban", "suggestions": ["x"]}, "action"),
        ({"phrase": "тикет", "action": "add", "suggestions": ["x" * 301]}, "suggestions"),
    ],
)
def test_a_bad_change_is_refused_with_its_field_named(cast, changes, field):
    with pytest.raises(ValidationError) as error:
        phrases.save_phrase(actor=cast.supervisor, partner=None, language="ru", **changes)
    assert field in error.value.message_dict
    assert not ForbiddenPhraseSetting.objects.exists()


def test_only_supervisors_and_admins_change_the_lists(cast):
    with pytest.raises(PermissionDenied):
        phrases.save_phrase(actor=cast.operator, partner=None, language="ru",
                            phrase="тикет", action="add", suggestions=["заявка"])
    assert client_for(cast.operator).get(reverse("reply-rules")).status_code == 403
    assert client_for(cast.a.manager).get(reverse("reply-rules")).status_code == 403


# --- The page ------------------------------------------------------------------------------


def test_the_page_lists_the_defaults_and_a_partners_changes(cast):
    phrases.save_phrase(actor=cast.supervisor, partner=None, language="ru",
                        phrase="тикет", action="add", suggestions=["заявка"])
    phrases.save_phrase(actor=cast.supervisor, partner=cast.a.partner, language="ru",
                        phrase="проблема", action="remove")
    client = client_for(cast.supervisor)

    page = client.get(reverse("reply-rules-partner", args=[cast.a.partner.pk])).content.decode()

    assert "не смогу помочь" in page and "тикет" in page
    assert "allowed for this partner" in page and "Forbid again" in page
    assert 'name="codes" value="forbidden_phrase"' in page
    provider = client.get(reverse("reply-rules")).content.decode()
    assert "allowed for this partner" not in provider and "Undo this change" in provider
    assert "Reply rules" in provider  # the nav link


def test_the_page_adds_and_undoes_a_change_and_audits_both(cast):
    client = client_for(cast.supervisor)
    url = reverse("reply-rules-partner-phrase", args=[cast.a.partner.pk])

    response = client.post(url, {"language": "ru", "action": "add", "phrase": "тикет",
                                 "suggestions": "заявка\r\n\r\nобращение\r\n"})

    assert response.status_code == 302
    setting = ForbiddenPhraseSetting.objects.get()
    assert setting.partner == cast.a.partner and setting.suggestions == ["заявка", "обращение"]
    assert codes(cast.a.ticket, "Тикет закрыт.") == {"forbidden_phrase"}

    delete = reverse("reply-rules-phrase-delete", args=[setting.pk])
    assert client.post(delete).status_code == 302
    assert not ForbiddenPhraseSetting.objects.exists()
    assert codes(cast.a.ticket, "Тикет закрыт.") == set()
    actions = list(AuditEvent.objects.filter(partner=cast.a.partner, action__startswith="quality.")
                   .values_list("action", flat=True).order_by("id"))
    assert actions == ["quality.phrase_saved", "quality.phrase_deleted"]


def test_the_page_shows_a_refused_change_with_its_error(cast):
    response = client_for(cast.supervisor).post(
        reverse("reply-rules-phrase"), {"language": "ru", "action": "add", "phrase": "тикет"}
    )

    assert response.status_code == 400
    assert response.context["phrase_form"].errors["suggestions"]


def test_the_page_saves_the_blocking_codes_of_a_partner(cast):
    client = client_for(cast.supervisor)
    url = reverse("reply-rules-blocking", args=[cast.a.partner.pk])

    response = client.post(url, {"codes": ["forbidden_phrase", "missing_name"]})

    assert response.status_code == 302
    assert phrases.blocking_codes(cast.a.partner) == {"forbidden_phrase", "missing_name"}
    assert phrases.blocking_codes(cast.b.partner) == {"forbidden_phrase"}
    event = AuditEvent.objects.get(action="quality.blocking_changed")
    assert event.before == {"codes": ["forbidden_phrase"]}
    assert event.after == {"codes": ["forbidden_phrase", "missing_name"]}
    assert client.post(url, {"codes": ["nonsense"]}).status_code == 400


def test_the_rules_are_built_once_per_request(cast, django_assert_num_queries):
    # What request_started and request_finished do (sending those signals here would also
    # close the test's database connection).
    checking._begin()
    try:
        checking.ruleset_for(cast.a.partner, "ru")
        with django_assert_num_queries(0):
            checking.ruleset_for(cast.a.partner, "ru")
    finally:
        checking._end()
    with django_assert_num_queries(2):
        checking.ruleset_for(cast.a.partner, "ru")
