"""Reply templates, macros and the send buttons: placeholders filled, a typical request's
macro applied in one choice, a reply sent together with the resolution or the hand-over,
all or nothing."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from firstline.core.models import AuditEvent
from firstline.outbox.models import OutboxMessage
from firstline.quality import macros
from firstline.quality import script as rules
from firstline.quality.script_models import (
    CannedReply,
    ClassificationField,
    Macro,
    StepKind,
    TicketStep,
)
from firstline.sla.models import TypicalRequest
from firstline.tickets.models import Message, Status, Ticket
from tests.conftest import client_for
from tests.test_script_support import configure, fill_script

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def typical_with_macro(side, cfg, then=Macro.Then.RESOLVE):
    typical = TypicalRequest.objects.create(
        partner=side.partner, name="Медленно работает ВМ", resolution_minutes=120,
        instruction="Перенести ВМ на свободный узел.",
    )
    macro = Macro.objects.create(
        partner=side.partner, name="Медленно работает ВМ", typical_request=typical,
        classification={str(cfg.service_field.pk): "Облако → ВМ",
                        str(cfg.type_field.pk): "Инцидент"},
        reply_text="{имя}, здравствуйте! Вы написали: «{слова}». ВМ перенесена. Заявка {номер}.",
        then=then,
    )
    return typical, macro


def counts():
    return (Message.objects.count(), OutboxMessage.objects.count(), TicketStep.objects.count(),
            AuditEvent.objects.count())


# --- Placeholders --------------------------------------------------------------------------


def test_placeholders_take_the_name_the_words_the_deadline_in_the_partners_zone_and_number(
    cast
):
    ticket = cast.a.ticket
    cast.a.partner.time_zone = "Asia/Yekaterinburg"  # UTC+5
    cast.a.partner.save()
    Ticket.objects.filter(pk=ticket.pk).update(
        resolution_due_at=datetime(2026, 3, 14, 13, 0, tzinfo=UTC))
    ticket = Ticket.objects.select_related("partner", "contact").get(pk=ticket.pk)

    text = macros.fill("{имя}: «{слова}», {срок}, {номер}; {Name} {deadline} {неизвестно}",
                       ticket)

    assert text == (f"Ivan alpha: «I cannot reach FTP (alpha)», до 18:00 14.03, {ticket.number}; "
                    f"Ivan alpha до 18:00 14.03 {{неизвестно}}")


def test_the_ticket_page_offers_the_partners_canned_replies_and_macro_replies_filled_in(cast):
    cfg = configure(cast.a)
    typical_with_macro(cast.a, cfg)
    CannedReply.objects.create(partner=cast.a.partner, name="Уточню", text="{имя}, уточню.")
    CannedReply.objects.create(partner=cast.b.partner, name="Beta only", text="Чужой ответ")

    page = client_for(cast.operator).get(reverse("ticket", args=[cast.a.ticket.pk]))

    html = page.content.decode()
    assert 'data-reply="Ivan alpha, уточню."' in html
    assert f"Заявка {cast.a.ticket.number}." in html  # the macro's reply, filled in
    assert "Чужой ответ" not in html


# --- Choosing a typical request or a macro ----------------------------------------------------


def test_choosing_a_typical_request_names_it_and_sets_its_macros_classification(cast):
    cfg = configure(cast.a)
    typical, _macro = typical_with_macro(cast.a, cfg)
    ticket = cast.a.ticket

    response = client_for(cast.operator).post(
        reverse("script-step", args=[ticket.pk, "typical"]),
        {"typical-typical_request": f"t{typical.pk}"}, **HTMX)

    assert response.status_code == 200
    assert 'id="step-finish"' in response.content.decode()  # the step, for HTMX to swap
    ticket.refresh_from_db()
    assert ticket.typical_request == typical
    assert rules.classification_values(ticket) == {cfg.service_field.pk: "Облако → ВМ",
                                                   cfg.type_field.pk: "Инцидент"}
    assert list(TicketStep.objects.filter(ticket=ticket).values_list("kind", flat=True)) == [
        StepKind.TYPICAL, StepKind.CLASSIFY]


def test_a_macro_of_its_own_classifies_without_a_typical_request(cast):
    cfg = configure(cast.a)
    macro = Macro.objects.create(
        partner=cast.a.partner, name="Почта", then=Macro.Then.HAND_OVER,
        classification={str(cfg.service_field.pk): "Почта"})
    response = client_for(cast.operator).post(
        reverse("script-step", args=[cast.a.ticket.pk, "typical"]),
        {"typical-typical_request": f"m{macro.pk}"})
    assert response.status_code == 302
    ticket = Ticket.objects.get(pk=cast.a.ticket.pk)
    assert ticket.typical_request is None
    assert rules.classification_values(ticket) == {cfg.service_field.pk: "Почта"}


def test_another_partners_macro_is_refused_and_changes_nothing(cast):
    cfg_b = configure(cast.b)
    macro = Macro.objects.create(partner=cast.b.partner, name="Beta",
                                 classification={str(cfg_b.type_field.pk): "Инцидент"})
    before = counts()
    response = client_for(cast.operator).post(
        reverse("script-step", args=[cast.a.ticket.pk, "typical"]),
        {"typical-typical_request": f"m{macro.pk}"}, **HTMX)
    assert response.status_code == 422
    assert "Choose a typical request or macro of this partner." in response.content.decode()
    assert counts() == before


def test_macro_problems_name_a_foreign_value_and_a_blocking_reply(cast):
    cfg = configure(cast.a)
    macro = Macro(partner=cast.a.partner, name="x",
                  classification={str(cfg.type_field.pk): "Нет такого"},
                  reply_text="Ваша проблема решена.")
    problems = macros.macro_problems(macro)
    assert set(problems) == {"classification", "reply_text"}
    assert "Нет такого" in problems["classification"]


# --- Sending with what follows ------------------------------------------------------------------


def test_send_and_resolve_sends_the_reply_and_resolves_in_one_post(cast):
    ticket = cast.a.ticket
    response = client_for(cast.operator).post(
        reverse("ticket-add-message", args=[ticket.pk]),
        {"kind": "reply", "text": "Ivan alpha, доступ восстановлен.", "then": "resolve"}, **HTMX)

    assert response.status_code == 200
    assert "Sent; the ticket is resolved." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == Status.RESOLVED
    assert Message.objects.filter(ticket=ticket, kind=Message.Kind.REPLY).count() == 1
    assert OutboxMessage.objects.count() >= 1  # mailed to the customer


def test_send_and_hand_over_without_the_script_sends_nothing(cast):
    configure(cast.a)
    before = counts()
    response = client_for(cast.operator).post(
        reverse("ticket-add-message", args=[cast.a.ticket.pk]),
        {"kind": "reply", "text": "Передаём инженерам.", "then": "hand_over"})
    assert response.status_code == 400
    errors = " ".join(response.context["message_form"].non_field_errors())
    assert "cannot be handed over to the partner" in errors
    assert "The classification is not filled in: Услуга." in errors
    assert counts() == before
    assert Ticket.objects.get(pk=cast.a.ticket.pk).status == Status.NEW


def test_send_and_hand_over_saves_the_diagnostics_typed_with_it_and_routes(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    fill_script(ticket, cast.operator, cfg)
    response = client_for(cast.operator).post(
        reverse("ticket-add-message", args=[ticket.pk]),
        {"kind": "reply", "text": "Ivan alpha, передали инженеру облака.", "then": "hand_over",
         f"diagnose-param_{cfg.vm_id.pk}": "vm-9", f"diagnose-param_{cfg.tracert.pk}": "1 a\r\n2 b",
         f"classify-field_{cfg.service_field.pk}": "Облако → ВМ",
         f"classify-field_{cfg.type_field.pk}": ""}, **HTMX)
    assert response.status_code == 200, response.content.decode()[:500]
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_PARTNER and ticket.assignee == cast.a.engineer
    assert rules.diagnostic_results(ticket) == {cfg.vm_id.pk: "vm-9", cfg.tracert.pk: "1 a\n2 b"}
    # Only what changed is a step: the classification was already so.
    assert TicketStep.objects.filter(ticket=ticket, kind=StepKind.CLASSIFY).count() == 1


def test_a_reply_refused_by_the_rules_does_not_resolve_either(cast):
    before = counts()
    response = client_for(cast.operator).post(
        reverse("ticket-add-message", args=[cast.a.ticket.pk]),
        {"kind": "reply", "text": "Ваша проблема решена.", "then": "resolve"}, **HTMX)
    assert response.status_code == 422
    assert counts() == before
    assert Ticket.objects.get(pk=cast.a.ticket.pk).status == Status.NEW


def test_an_unknown_follow_up_is_refused(cast):
    response = client_for(cast.operator).post(
        reverse("ticket-add-message", args=[cast.a.ticket.pk]),
        {"kind": "reply", "text": "Ivan alpha, готово.", "then": "close"})
    assert response.status_code == 400
    assert not Message.objects.filter(kind=Message.Kind.REPLY).exists()


# --- Narrower choices ----------------------------------------------------------------------------


def test_values_linked_to_services_are_offered_only_for_their_service(cast):
    field = ClassificationField(
        partner=cast.a.partner, name="Услуга", kind=ClassificationField.Kind.TREE,
        values=["Облако → ВМ", "Облако → Диск", "Почта → Ящик", "Прочее"],
        value_services={"Облако": [1], "Облако → Диск": [2], "Почта": [2]},
    )
    assert rules.values_for_service(field, 1) == ["Облако → ВМ", "Прочее"]
    assert rules.values_for_service(field, 2) == ["Облако → Диск", "Почта → Ящик", "Прочее"]
    assert rules.values_for_service(field, None) == field.values
    assert rules.values_for_service(field, 1, keep="Почта → Ящик") == [
        "Облако → ВМ", "Почта → Ящик", "Прочее"]


def test_the_classification_list_follows_the_tickets_service(cast):
    cfg = configure(cast.a)
    cfg.service_field.value_services = {"Почта": [cast.a.service.pk + 1000]}
    cfg.service_field.save()
    page = client_for(cast.operator).get(reverse("ticket", args=[cast.a.ticket.pk]))
    form = page.context["checklist"].forms["classify"]
    offered = [value for value, _label in form.fields[f"field_{cfg.service_field.pk}"].choices]
    assert offered == ["", "Облако → ВМ", "Облако → Диск"]


def test_a_macro_defined_in_admin_is_refused_with_a_foreign_value_and_saved_when_right(cast):
    from firstline.core.models import User

    cfg = configure(cast.a)
    admin = User.objects.create_superuser("macro-admin", "admin@provider.example", "pw-123456")
    client = client_for(admin)
    data = {"partner": cast.a.partner.pk, "name": "Почта в спаме", "typical_request": "",
            "classification": f'{{"{cfg.type_field.pk}": "Нет такого"}}',
            "reply_text": "{имя}, включили DKIM.", "then": "resolve"}

    refused = client.post("/admin/quality/macro/add/", data)
    assert refused.status_code == 200 and not Macro.objects.exists()
    assert "“Нет такого” is not a value of “Тип”." in refused.content.decode()

    data["classification"] = f'{{"{cfg.type_field.pk}": "Запрос"}}'
    assert client.post("/admin/quality/macro/add/", data).status_code == 302
    assert Macro.objects.get().classification == {str(cfg.type_field.pk): "Запрос"}


def test_an_administrator_links_values_to_services_and_a_foreign_service_is_refused(cast):
    from firstline.core.models import User

    cfg = configure(cast.a)
    admin = User.objects.create_superuser("values-admin", "admin@provider.example", "pw-123456")
    client = client_for(admin)
    url = f"/admin/quality/classificationfield/{cfg.service_field.pk}/change/"

    refused = client.post(url, {"value_services": f'{{"Облако": [{cast.b.service.pk}]}}'})
    assert refused.status_code == 200
    assert "Name services of this partner" in refused.content.decode()

    saved = client.post(url, {"value_services": f'{{"Облако": [{cast.a.service.pk}]}}'})
    assert saved.status_code == 302
    cfg.service_field.refresh_from_db()
    assert cfg.service_field.value_services == {"Облако": [cast.a.service.pk]}
    assert cfg.service_field.values == ["Облако → ВМ", "Облако → Диск", "Почта"]  # untouched
