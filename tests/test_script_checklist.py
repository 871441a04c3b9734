"""The checklist on a ticket: steps with who and when, hand-over rules, routing, the partner's
view, and tenancy."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from firstline.core.models import AuditEvent
from firstline.quality import services
from firstline.quality.script_models import StepKind, TicketStep
from firstline.sla.models import TypicalRequest
from firstline.tickets.models import IdentifiedBy, Message, Priority, Status, Ticket
from tests.conftest import client_for
from tests.test_script_support import (
    CODE_WORD,
    configure,
    contract_of,
    fill_script,
    step_url,
    ticket_state,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def snapshot(ticket):
    return ticket_state(ticket), TicketStep.objects.count(), AuditEvent.objects.count()


def nothing_changed_since(ticket, state, steps, audit):
    assert ticket_state(ticket) == state
    assert TicketStep.objects.count() == steps
    assert AuditEvent.objects.count() == audit


# --- Steps with who and when -----------------------------------------------------------------


def test_each_step_is_recorded_with_its_actor_and_time(cast):
    cfg = configure(cast.a)
    with time_machine.travel(T0, tick=False) as clock:
        ticket = Ticket.objects.get(pk=cast.a.ticket.pk)
        Ticket.objects.filter(pk=ticket.pk).update(created_at=T0)
        ticket.refresh_from_db()
        clock.move_to(T0 + timedelta(minutes=2))
        services.identify(ticket=ticket, actor=cast.operator,
                          contract_number=contract_of(ticket), code_word=CODE_WORD)
        clock.move_to(T0 + timedelta(minutes=5))
        services.classify(ticket=ticket, actor=cast.operator,
                          values={cfg.service_field.pk: "Облако → Диск",
                                  cfg.type_field.pk: "Инцидент"})
        clock.move_to(T0 + timedelta(minutes=9))
        services.diagnose(ticket=ticket, actor=cast.supervisor,
                          results={cfg.vm_id.pk: "vm-4711", cfg.tracert.pk: "1 10.0.0.1 1 ms"})

    steps = list(TicketStep.objects.filter(ticket=ticket).values_list(
        "kind", "actor", "done_at", "partner"))
    assert steps == [
        (StepKind.IDENTIFY, cast.operator.pk, T0 + timedelta(minutes=2), cast.a.partner.pk),
        (StepKind.CLASSIFY, cast.operator.pk, T0 + timedelta(minutes=5), cast.a.partner.pk),
        (StepKind.DIAGNOSE, cast.supervisor.pk, T0 + timedelta(minutes=9), cast.a.partner.pk),
    ]
    ticket.refresh_from_db()
    assert ticket.classified_at == T0 + timedelta(minutes=5)
    assert ticket.diagnosed_at == T0 + timedelta(minutes=9)
    assert ticket.classification == [
        {"field": cfg.service_field.pk, "name": "Услуга", "value": "Облако → Диск"},
        {"field": cfg.type_field.pk, "name": "Тип", "value": "Инцидент"},
    ]
    assert [item["result"] for item in ticket.diagnostics] == ["vm-4711", "1 10.0.0.1 1 ms"]
    assert ticket.identified_by == IdentifiedBy.CODE_WORD
    assert TicketStep.objects.get(kind=StepKind.IDENTIFY).data == {
        "methods": [IdentifiedBy.CONTRACT_NUMBER, IdentifiedBy.CODE_WORD]}
    assert list(AuditEvent.objects.filter(action__startswith="script.").values_list(
        "action", "actor")) == [("script.identified", cast.operator.pk),
                               ("script.classified", cast.operator.pk),
                               ("script.diagnosed", cast.supervisor.pk)]

    page = client_for(cast.operator).get(f"/tickets/{ticket.pk}/").content.decode()
    assert "9 min after creation" in page  # classification and diagnostics
    local = timezone.localtime(T0 + timedelta(minutes=5)).strftime("%d.%m.%Y %H:%M")
    assert f"Olga Operator · <time>{local}</time>" in page


def test_classification_time_counts_from_the_first_complete_classification(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    with time_machine.travel(ticket.created_at + timedelta(minutes=3), tick=False) as clock:
        # The optional field alone does not complete the classification.
        services.classify(ticket=ticket, actor=cast.operator,
                          values={cfg.type_field.pk: "Запрос"})
        ticket.refresh_from_db()
        assert ticket.classified_at is None
        clock.shift(timedelta(minutes=4))
        services.classify(ticket=ticket, actor=cast.operator,
                          values={cfg.service_field.pk: "Почта"})
        clock.shift(timedelta(minutes=10))
        services.classify(ticket=ticket, actor=cast.operator,
                          values={cfg.service_field.pk: "Облако → ВМ"})
    ticket.refresh_from_db()
    assert ticket.classified_at == ticket.created_at + timedelta(minutes=7)
    assert {item["name"]: item["value"] for item in ticket.classification} == {
        "Услуга": "Облако → ВМ", "Тип": "Запрос"}  # the earlier value kept


def test_a_wrong_code_word_is_refused_and_the_code_word_is_never_kept(cast):
    configure(cast.a)
    ticket = cast.a.ticket
    state, steps, audit = snapshot(ticket)

    with pytest.raises(ValidationError) as refused:
        services.identify(ticket=ticket, actor=cast.operator, code_word="красный кит")
    assert refused.value.message_dict == {"code_word": ["The code word does not match."]}
    nothing_changed_since(ticket, state, steps, audit)

    response = client_for(cast.operator).post(step_url(ticket, "identify"), {
        "identify-code_word": "красный кит", "identify-contract_number": "wrong-1"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "The code word does not match." in page
    assert "The contract number does not match." in page
    assert "красный кит" not in page  # the typed code word is not echoed back

    services.identify(ticket=ticket, actor=cast.operator, code_word=" Синий КИТ ")
    assert CODE_WORD not in str(list(TicketStep.objects.values("data")))
    assert CODE_WORD not in str(list(AuditEvent.objects.values("before", "after")))


def test_a_confirmed_email_identifies_only_a_contact_that_has_one(cast):
    ticket = cast.a.ticket
    services.identify(ticket=ticket, actor=cast.operator, confirmed_email=True)
    ticket.refresh_from_db()
    assert ticket.identified_by == IdentifiedBy.CONFIRMED_EMAIL
    cast.a.other_contact.emails.update(is_confirmed=False)
    with pytest.raises(ValidationError) as refused:
        services.identify(ticket=cast.a.other_ticket, actor=cast.operator, confirmed_email=True)
    assert "confirmed_email" in refused.value.message_dict


def test_nothing_to_check_is_refused(cast):
    with pytest.raises(ValidationError) as refused:
        services.identify(ticket=cast.a.ticket, actor=cast.operator)
    assert "__all__" in refused.value.message_dict


def test_a_value_outside_the_field_is_refused(cast):
    cfg = configure(cast.a)
    with pytest.raises(ValidationError) as refused:
        services.classify(ticket=cast.a.ticket, actor=cast.operator,
                          values={cfg.service_field.pk: "Облако"})  # a node, not a value
    assert refused.value.message_dict == {
        f"field_{cfg.service_field.pk}": ["“Облако” is not a value of “Услуга”."]}


def test_another_partners_field_cannot_be_filled_in(cast):
    configure(cast.a)
    cfg_b = configure(cast.b)
    with pytest.raises(ValidationError):
        services.classify(ticket=cast.a.ticket, actor=cast.operator,
                          values={cfg_b.service_field.pk: "Почта"})
    assert cast.a.ticket.classification == []


# --- Prioritisation and resolution by instruction ----------------------------------------------


def test_a_yes_to_an_urgency_question_raises_the_priority(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    old_due = ticket.resolution_due_at

    services.prioritise(ticket=ticket, actor=cast.operator,
                        answers={cfg.everyone.pk: True, cfg.vip.pk: True})

    ticket.refresh_from_db()
    assert ticket.priority == Priority.CRITICAL  # the highest «yes» wins
    assert ticket.resolution_due_at < old_due  # the deadlines follow the priority
    step = TicketStep.objects.get(kind=StepKind.PRIORITISE)
    assert step.data["priority"] == "critical" and step.data["before"] == "normal"
    assert AuditEvent.objects.filter(action="ticket.priority_changed").count() == 1


def test_no_yes_keeps_the_priority(cast):
    cfg = configure(cast.a)
    services.prioritise(ticket=cast.a.ticket, actor=cast.operator,
                        answers={cfg.everyone.pk: False, cfg.vip.pk: False})
    cast.a.ticket.refresh_from_db()
    assert cast.a.ticket.priority == Priority.NORMAL
    assert not AuditEvent.objects.filter(action="ticket.priority_changed").exists()
    assert TicketStep.objects.filter(kind=StepKind.PRIORITISE).count() == 1


def test_a_typical_request_sets_its_norm_and_shows_its_instruction(cast):
    typical = TypicalRequest.objects.create(
        partner=cast.a.partner, name="Сброс пароля FTP", resolution_minutes=30,
        instruction="Сбросьте пароль в панели и отправьте ссылку клиенту.",
    )
    ticket = cast.a.ticket
    client = client_for(cast.operator)

    response = client.post(step_url(ticket, "typical"), {"typical-typical_request": typical.pk})

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.typical_request == typical
    # The norm of the typical request, in (whole) business minutes of the 24x7 fallback.
    assert abs(ticket.resolution_due_at - ticket.created_at - timedelta(minutes=30)) < timedelta(
        minutes=1)
    assert TicketStep.objects.get(kind=StepKind.TYPICAL).data["name"] == "Сброс пароля FTP"
    assert AuditEvent.objects.filter(action="ticket.typical_request_changed").exists()
    page = client.get(f"/tickets/{ticket.pk}/").content.decode()
    assert "Сбросьте пароль в панели" in page


def test_another_partners_typical_request_is_refused(cast):
    typical = TypicalRequest.objects.create(partner=cast.b.partner, name="Beta only",
                                            resolution_minutes=30)
    response = client_for(cast.operator).post(step_url(cast.a.ticket, "typical"),
                                              {"typical-typical_request": typical.pk})
    assert response.status_code == 400
    cast.a.ticket.refresh_from_db()
    assert cast.a.ticket.typical_request is None


# --- Hand-over ----------------------------------------------------------------------------------


def test_hand_over_without_required_diagnostics_is_refused_and_changes_nothing(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    services.identify(ticket=ticket, actor=cast.operator, contract_number=contract_of(ticket),
                      confirmed_email=True)
    services.classify(ticket=ticket, actor=cast.operator,
                      values={cfg.service_field.pk: "Облако → ВМ"})
    services.diagnose(ticket=ticket, actor=cast.operator,
                      results={cfg.tracert.pk: "1 10.0.0.1"})  # the optional one only
    state, steps, audit = snapshot(ticket)

    with pytest.raises(ValidationError) as refused:
        services.hand_over(ticket, cast.operator)

    assert refused.value.message_dict == {
        "diagnostics": ["The diagnostics are not filled in: ID виртуальной машины."]}
    nothing_changed_since(ticket, state, steps, audit)


def test_hand_over_names_everything_that_is_missing(cast):
    configure(cast.a)
    response = client_for(cast.operator).post(step_url(cast.a.ticket, "handover"), {})
    assert response.status_code == 400
    page = response.content.decode()
    assert ("The customer is not identified yet: Contract number; one of: Code word, "
            "Confirmed e-mail.") in page
    assert "The classification is not filled in: Услуга." in page
    assert "The diagnostics are not filled in: ID виртуальной машины." in page
    assert Ticket.objects.get(pk=cast.a.ticket.pk).status == Status.NEW


def test_hand_over_with_everything_routes_to_the_engineer_by_rule(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    fill_script(ticket, cast.operator, cfg)
    client = client_for(cast.operator)

    response = client.post(step_url(ticket, "handover"), {})

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_PARTNER
    assert ticket.assignee == cast.a.engineer
    assert ticket.partner_group == "Облачная группа"
    assert ticket.handed_over_at is not None and ticket.routing_corrections == 0
    step = TicketStep.objects.get(kind=StepKind.HAND_OVER)
    assert step.actor == cast.operator
    assert step.data["rule"] == cfg.cloud_rule.pk and step.data["assignee"] == cast.a.engineer.pk
    event = AuditEvent.objects.get(action="script.handed_over")
    assert event.after["group"] == "Облачная группа"
    assert AuditEvent.objects.filter(action="ticket.status_changed",
                                     after__status="waiting_partner").exists()


def test_a_ticket_no_rule_names_goes_by_the_catch_all_rule(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    fill_script(ticket, cast.operator, cfg, service="Почта")
    ticket = services.hand_over(ticket, cast.operator)
    assert ticket.assignee is None and ticket.partner_group == "Поддержка"


def test_an_explicit_engineer_wins_over_the_rules_but_must_be_the_partners(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    fill_script(ticket, cast.operator, cfg)
    with pytest.raises(ValidationError) as refused:
        services.hand_over(ticket, cast.operator, to_user=cast.b.engineer)
    assert list(refused.value.message_dict) == ["assignee"]
    ticket = services.hand_over(ticket, cast.operator, to_user=cast.a.manager, group="L2")
    assert (ticket.assignee, ticket.partner_group) == (cast.a.manager, "L2")


def test_a_re_route_to_someone_else_counts_as_a_correction(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    fill_script(ticket, cast.operator, cfg)
    services.hand_over(ticket, cast.operator)
    ticket = services.hand_over(ticket, cast.operator)  # the same target again
    assert ticket.routing_corrections == 0

    ticket = services.hand_over(ticket, cast.operator, to_user=cast.a.manager)

    assert ticket.routing_corrections == 1
    assert ticket.assignee == cast.a.manager and ticket.partner_group == ""
    assert TicketStep.objects.filter(kind=StepKind.HAND_OVER).last().data["correction"] is True


def test_a_return_from_the_partner_counts_as_one_correction(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    fill_script(ticket, cast.operator, cfg)
    services.hand_over(ticket, cast.operator)
    engineer = client_for(cast.a.engineer)

    response = engineer.post(step_url(ticket, "handback"),
                             {"handback-reason": "Это вопрос почты, не облака."})

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN and ticket.assignee is None
    assert ticket.routing_corrections == 1
    assert Message.objects.filter(ticket=ticket, kind=Message.Kind.NOTE,
                                  body_text__contains="Это вопрос почты").exists()
    # Re-routed after the return: the same mistake is not counted twice.
    services.classify(ticket=ticket, actor=cast.operator,
                      values={cfg.service_field.pk: "Почта"})
    ticket = services.hand_over(ticket, cast.operator)
    assert ticket.routing_corrections == 1 and ticket.partner_group == "Поддержка"


def test_only_a_ticket_waiting_for_the_partner_can_be_returned(cast):
    with pytest.raises(ValidationError) as refused:
        services.hand_back(cast.a.ticket, cast.a.engineer, "not ours")
    assert list(refused.value.message_dict) == ["status"]


def test_a_resolved_ticket_cannot_be_handed_over(cast):
    ticket = cast.a.ticket
    from firstline.tickets.services import TicketChange, change_ticket
    change_ticket(ticket=ticket, actor=cast.operator, change=TicketChange(status="resolved"))
    with pytest.raises(ValidationError) as refused:
        services.hand_over(ticket, cast.operator)
    assert "status" in refused.value.message_dict


# --- The partner's view, and who may do what -----------------------------------------------------


def test_the_partner_sees_classification_and_diagnostic_results_read_only(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    fill_script(ticket, cast.operator, cfg)
    services.diagnose(ticket=ticket, actor=cast.operator,
                      results={cfg.tracert.pk: "1  10.0.0.1  0.4 ms\n2  vm.alpha  1.2 ms"})
    services.hand_over(ticket, cast.operator)

    page = client_for(cast.a.engineer).get(f"/tickets/{ticket.pk}/").content.decode()

    assert "Облако → ВМ" in page
    assert "vm-4711" in page and "2  vm.alpha  1.2 ms" in page
    assert "tracert от точки подключения до ВМ" in page
    assert "Return to the first line" in page
    assert step_url(ticket, "classify") not in page  # no forms for the partner
    assert CODE_WORD not in page


def test_partner_accounts_cannot_work_the_script(cast):
    cfg = configure(cast.a)
    with pytest.raises(PermissionDenied):
        services.classify(ticket=cast.a.ticket, actor=cast.a.engineer,
                          values={cfg.service_field.pk: "Почта"})
    response = client_for(cast.a.engineer).post(
        step_url(cast.a.ticket, "classify"), {f"classify-field_{cfg.service_field.pk}": "Почта"})
    assert response.status_code == 403
    assert Ticket.objects.get(pk=cast.a.ticket.pk).classification == []


@pytest.mark.parametrize("step", ["identify", "classify", "diagnose", "prioritise", "typical",
                                  "handover", "handback"])
def test_another_partners_ticket_is_404_for_every_step(cast, step):
    configure(cast.b)
    state = ticket_state(cast.b.ticket)
    for user in (cast.a.engineer, cast.a.manager):
        response = client_for(user).post(step_url(cast.b.ticket, step), {})
        assert response.status_code == 404
    assert ticket_state(cast.b.ticket) == state
    assert not TicketStep.objects.exists()


def test_customers_are_kept_out_and_unknown_steps_are_404(cast):
    assert client_for(cast.a.customer).post(step_url(cast.a.ticket, "classify"),
                                            {}).status_code == 403
    assert client_for(cast.operator).post(step_url(cast.a.ticket, "escalate"),
                                          {}).status_code == 404


def test_the_operator_works_the_whole_script_from_the_ticket_page(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    client = client_for(cast.operator)
    page = client.get(f"/tickets/{ticket.pk}/").content.decode()
    assert "Identify the customer" in page and "Не работает у всех сотрудников?" in page
    assert "Пожалуйста, пришлите ID виртуальной машины" in page  # the request to the customer

    posts = [
        ("identify", {"identify-contract_number": contract_of(ticket),
                      "identify-confirmed_email": "on"}),
        ("classify", {f"classify-field_{cfg.service_field.pk}": "Облако → ВМ",
                      f"classify-field_{cfg.type_field.pk}": ""}),
        ("diagnose", {f"diagnose-param_{cfg.vm_id.pk}": "vm-1",
                      f"diagnose-param_{cfg.tracert.pk}": ""}),
        ("prioritise", {f"prioritise-question_{cfg.vip.pk}": "on"}),
        ("handover", {"handover-assignee": "", "handover-group": ""}),
    ]
    for step, data in posts:
        response = client.post(step_url(ticket, step), data)
        assert response.status_code == 302, (step, response.content.decode()[:2000])

    ticket.refresh_from_db()
    assert ticket.priority == Priority.HIGH
    assert ticket.status == Status.WAITING_PARTNER and ticket.assignee == cast.a.engineer
    assert [step.kind for step in TicketStep.objects.all()] == [
        "identify", "classify", "diagnose", "prioritise", "hand_over"]
