"""Script settings per partner: limits, validation, audit, and who may change whose."""

import pytest
from django.urls import reverse

from firstline.core.models import AuditEvent, User
from firstline.quality.rules import ReplyContext, ReplyKind, check_reply, default_ruleset
from firstline.quality.script_models import (
    CannedReply,
    ClassificationField,
    DiagnosticParameter,
    IdentificationRule,
    RoutingRule,
    ScriptSettings,
    UrgencyQuestion,
)
from tests.conftest import client_for, make_user
from tests.test_script_support import configure

pytestmark = pytest.mark.django_db


@pytest.fixture
def supervisor(cast):
    return client_for(cast.supervisor)


def add_url(side, kind):
    return reverse("script-setting-add", args=[side.partner.pk, kind])


def edit_url(side, kind, pk):
    return reverse("script-setting-edit", args=[side.partner.pk, kind, pk])


def delete_url(side, kind, pk):
    return reverse("script-setting-delete", args=[side.partner.pk, kind, pk])


def field_data(**changes):
    data = {"fields-position": 1, "fields-name": "Услуга", "fields-kind": "list",
            "fields-values": "Облако\nПочта", "fields-required": "on"}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def parameter_data(**changes):
    data = {"diagnostics-position": 1, "diagnostics-name": "ID виртуальной машины",
            "diagnostics-request_text": "Пожалуйста, пришлите ID ВМ.",
            "diagnostics-required": "on"}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def reply_data(**changes):
    data = {"replies-name": "Доступ восстановлен", "replies-language": "ru",
            "replies-text": "Иван, доступ к FTP восстановлен. Проверьте, пожалуйста."}
    data.update(changes)
    return data


def form_errors(response, kind):
    return response.context["forms"][kind].errors


# --- Classification fields and diagnostic parameters ----------------------------------------


def test_a_supervisor_adds_a_tree_field_written_with_indents_and_arrows(cast, supervisor):
    response = supervisor.post(add_url(cast.a, "fields"), field_data(
        **{"fields-kind": "tree", "fields-values": "Облако\n  ВМ\n  Диск\nПочта → Ящики"}))

    assert response.status_code == 302
    field = ClassificationField.objects.get(partner=cast.a.partner)
    assert field.values == ["Облако → ВМ", "Облако → Диск", "Почта → Ящики"]
    assert field.required
    event = AuditEvent.objects.get(action="script.classification_field_saved")
    assert event.actor == cast.supervisor and event.partner == cast.a.partner
    assert event.after["values"] == field.values and event.before == {}


def test_a_fifth_classification_field_is_refused_and_nothing_is_saved(cast, supervisor):
    for number in range(4):
        response = supervisor.post(add_url(cast.a, "fields"),
                                   field_data(**{"fields-name": f"Поле {number}"}))
        assert response.status_code == 302
    audit_before = AuditEvent.objects.count()

    response = supervisor.post(add_url(cast.a, "fields"), field_data(**{"fields-name": "Пятое"}))

    assert response.status_code == 400
    assert form_errors(response, "fields")["__all__"] == [
        "A partner has at most 4 classification fields: delete one before adding another."]
    assert "at most 4 classification fields" in response.content.decode()
    assert ClassificationField.objects.filter(partner=cast.a.partner).count() == 4
    assert AuditEvent.objects.count() == audit_before
    # The limit is per partner: partner B still has room.
    assert supervisor.post(add_url(cast.b, "fields"), field_data()).status_code == 302


def test_a_third_diagnostic_parameter_is_refused(cast, supervisor):
    assert supervisor.post(add_url(cast.a, "diagnostics"), parameter_data()).status_code == 302
    assert supervisor.post(add_url(cast.a, "diagnostics"), parameter_data(
        **{"diagnostics-name": "tracert от точки подключения до ВМ",
           "diagnostics-required": None})).status_code == 302

    response = supervisor.post(add_url(cast.a, "diagnostics"),
                               parameter_data(**{"diagnostics-name": "mtr"}))

    assert response.status_code == 400
    assert form_errors(response, "diagnostics")["__all__"] == [
        "A partner has at most 2 diagnostic parameters: delete one before adding another."]
    assert list(DiagnosticParameter.objects.filter(partner=cast.a.partner)
                .values_list("name", "required")) == [
        ("ID виртуальной машины", True), ("tracert от точки подключения до ВМ", False)]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"fields-values": ""}, "values", "Enter the values, one a line."),
        ({"fields-kind": "text", "fields-values": "Облако"}, "values",
         "A free-text field has no list of values."),
        ({"fields-values": "Облако\nоблако"}, "values", "“облако” is listed twice."),
        ({"fields-name": ""}, "name", "This field is required."),
    ],
)
def test_bad_classification_fields_are_refused_naming_the_field(
    cast, supervisor, changes, field, message
):
    response = supervisor.post(add_url(cast.a, "fields"), field_data(**changes))

    assert response.status_code == 400
    assert form_errors(response, "fields")[field] == [message]
    assert not ClassificationField.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="script.").exists()


def test_a_field_name_is_unique_per_partner_in_any_case(cast, supervisor):
    assert supervisor.post(add_url(cast.a, "fields"), field_data()).status_code == 302
    response = supervisor.post(add_url(cast.a, "fields"), field_data(**{"fields-name": "услуга"}))
    assert response.status_code == 400
    assert form_errors(response, "fields")["name"] == [
        "This partner already has a classification field with this name."]


def test_a_field_is_edited_on_its_own_page_and_the_change_audited(cast, supervisor):
    cfg = configure(cast.a)
    url = edit_url(cast.a, "fields", cfg.type_field.pk)
    page = supervisor.get(url)
    assert page.status_code == 200
    assert "Инцидент\nЗапрос" in page.content.decode()

    response = supervisor.post(url, field_data(**{
        "fields-name": "Тип", "fields-values": "Инцидент\nЗапрос\nКонсультация",
        "fields-required": None}))

    assert response.status_code == 302
    cfg.type_field.refresh_from_db()
    assert cfg.type_field.values == ["Инцидент", "Запрос", "Консультация"]
    event = AuditEvent.objects.get(action="script.classification_field_saved")
    assert event.before["values"] == ["Инцидент", "Запрос"]
    assert event.after["values"] == ["Инцидент", "Запрос", "Консультация"]


def test_values_routing_rules_use_cannot_disappear_nor_their_field(cast, supervisor):
    cfg = configure(cast.a)

    response = supervisor.post(edit_url(cast.a, "fields", cfg.service_field.pk), field_data(
        **{"fields-kind": "tree", "fields-values": "Почта"}))
    assert response.status_code == 400
    assert response.context["form"].errors["values"] == [
        "Routing rules use values no longer listed: Облако."]

    response = supervisor.post(delete_url(cast.a, "fields", cfg.service_field.pk), follow=True)
    assert "Routing rules use this field" in response.content.decode()
    assert ClassificationField.objects.filter(pk=cfg.service_field.pk).exists()

    assert supervisor.post(delete_url(cast.a, "fields", cfg.type_field.pk)).status_code == 302
    assert not ClassificationField.objects.filter(pk=cfg.type_field.pk).exists()
    assert AuditEvent.objects.get(action="script.classification_field_deleted").before[
        "name"] == "Тип"


# --- Urgency questions, routing rules, identification -----------------------------------------


def test_an_urgency_question_sets_a_priority_on_yes(cast, supervisor):
    response = supervisor.post(add_url(cast.a, "questions"), {
        "questions-position": 1, "questions-text": "Не работает у всех сотрудников?",
        "questions-priority": "critical"})
    assert response.status_code == 302
    question = UrgencyQuestion.objects.get(partner=cast.a.partner)
    assert question.priority == "critical"
    response = supervisor.post(add_url(cast.a, "questions"), {
        "questions-position": 2, "questions-text": "Срочно?", "questions-priority": "urgent"})
    assert response.status_code == 400
    assert "priority" in form_errors(response, "questions")


def test_a_routing_rule_routes_a_tree_node_to_an_engineer_of_the_partner(cast, supervisor):
    cfg = configure(cast.a)
    RoutingRule.objects.all().delete()
    response = supervisor.post(add_url(cast.a, "routing"), {
        "routing-position": 1, "routing-condition": f"{cfg.service_field.pk}:Облако",
        "routing-assignee": cast.a.engineer.pk, "routing-group": "Облако"})
    assert response.status_code == 302
    rule = RoutingRule.objects.get()
    assert (rule.classification_field, rule.value, rule.assignee) == (
        cfg.service_field, "Облако", cast.a.engineer)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"routing-group": ""}, "assignee",
         "Name where the ticket goes: an engineer, a group or both."),
        ({"routing-assignee": "beta"}, "assignee",
         "Select a valid choice. That choice is not one of the available choices."),
        ({"routing-condition": "beta-field"}, "condition", None),
        ({"routing-service": "beta"}, "service",
         "Select a valid choice. That choice is not one of the available choices."),
    ],
)
def test_a_routing_rule_is_refused_without_a_target_or_with_another_partners_rows(
    cast, supervisor, data, field, message
):
    configure(cast.a)
    cfg_b = configure(cast.b)
    RoutingRule.objects.filter(partner=cast.a.partner).delete()
    values = {"routing-position": 1, "routing-group": "Группа", **data}
    if values.get("routing-assignee") == "beta":
        values["routing-assignee"] = cast.b.engineer.pk
    if values.get("routing-service") == "beta":
        values["routing-service"] = cast.b.service.pk
    if values.get("routing-condition") == "beta-field":
        values["routing-condition"] = f"{cfg_b.service_field.pk}:Облако"

    response = supervisor.post(add_url(cast.a, "routing"), values)

    assert response.status_code == 400
    errors = form_errors(response, "routing")[field]
    assert errors == [message] if message else errors
    assert not RoutingRule.objects.filter(partner=cast.a.partner).exists()


def test_identification_rules_are_saved_per_partner_and_audited(cast, supervisor):
    response = supervisor.post(reverse("script-identification", args=[cast.a.partner.pk]), {
        "identification-contract_number": "required", "identification-code_word": "one_of",
        "identification-confirmed_email": "one_of"})
    assert response.status_code == 302
    settings = ScriptSettings.objects.get(partner=cast.a.partner)
    assert (settings.contract_number, settings.code_word, settings.confirmed_email) == (
        IdentificationRule.REQUIRED, IdentificationRule.ONE_OF, IdentificationRule.ONE_OF)
    assert not ScriptSettings.objects.filter(partner=cast.b.partner).exists()
    event = AuditEvent.objects.get(action="script.identification_saved")
    assert event.after["contract_number"] == "required"

    response = supervisor.post(reverse("script-identification", args=[cast.a.partner.pk]), {
        "identification-contract_number": "sometimes", "identification-code_word": "one_of",
        "identification-confirmed_email": "one_of"})
    assert response.status_code == 400
    assert ScriptSettings.objects.get(partner=cast.a.partner).contract_number == "required"


# --- Canned replies -------------------------------------------------------------------------


def test_a_canned_reply_with_a_forbidden_word_is_refused_with_the_findings_message(
    cast, supervisor
):
    text = "Иван, у вас проблема с доступом к FTP, мы ее решаем."
    expected = [f.message for f in check_reply(
        text, ReplyContext(kind=ReplyKind.REGULAR, language="ru"), default_ruleset("ru"))
        if f.blocking]
    assert expected  # «проблема» is forbidden by default

    response = supervisor.post(add_url(cast.a, "replies"), reply_data(**{"replies-text": text}))

    assert response.status_code == 400
    assert form_errors(response, "replies")["text"] == [" ".join(expected)]
    assert "«ситуация»" in expected[0] or "ситуация" in expected[0]
    assert not CannedReply.objects.exists()


def test_a_clean_canned_reply_is_saved(cast, supervisor):
    assert supervisor.post(add_url(cast.a, "replies"), reply_data()).status_code == 302
    reply = CannedReply.objects.get()
    assert (reply.partner, reply.language) == (cast.a.partner, "ru")
    assert AuditEvent.objects.filter(action="script.canned_reply_saved").count() == 1


def test_an_english_canned_reply_is_checked_by_the_english_rules(cast, supervisor):
    response = supervisor.post(add_url(cast.a, "replies"), reply_data(**{
        "replies-language": "en", "replies-name": "Sorry",
        "replies-text": "Sorry, I don't know."}))
    assert response.status_code == 400
    assert form_errors(response, "replies")["text"]


# --- Pages, who may, and whose rows ------------------------------------------------------------


def test_the_settings_page_shows_the_partners_script_only(cast, supervisor):
    configure(cast.a)
    page = supervisor.get(reverse("script-settings", args=[cast.a.partner.pk])).content.decode()
    assert "Облако → ВМ" in page and "ID виртуальной машины" in page
    assert "Не работает у всех сотрудников?" in page and "Облачная группа" in page
    assert "Classification fields (2 of 4)" in page
    other = supervisor.get(reverse("script-settings", args=[cast.b.partner.pk])).content.decode()
    assert "Облако → ВМ" not in other
    assert supervisor.get(reverse("script-partners")).status_code == 200


def settings_requests(cast, cfg):
    a = cast.a
    return [
        ("get", reverse("script-partners"), None),
        ("get", reverse("script-settings", args=[a.partner.pk]), None),
        ("post", reverse("script-identification", args=[a.partner.pk]),
         {"identification-contract_number": "not_asked", "identification-code_word": "not_asked",
          "identification-confirmed_email": "not_asked"}),
        ("post", add_url(a, "fields"), field_data(**{"fields-name": "Intruder"})),
        ("post", add_url(a, "diagnostics"), parameter_data(**{"diagnostics-name": "Intruder"})),
        ("post", add_url(a, "replies"), reply_data()),
        ("get", edit_url(a, "fields", cfg.type_field.pk), None),
        ("post", edit_url(a, "fields", cfg.type_field.pk), field_data(**{"fields-name": "X"})),
        ("post", delete_url(a, "fields", cfg.type_field.pk), None),
        ("post", delete_url(a, "routing", cfg.default_rule.pk), None),
        ("post", delete_url(a, "questions", cfg.vip.pk), None),
    ]


def snapshot():
    return [list(model.objects.order_by("pk").values()) for model in (
        ScriptSettings, ClassificationField, DiagnosticParameter, UrgencyQuestion, RoutingRule,
        CannedReply)]


@pytest.mark.parametrize("who", ["operator", "engineer", "manager", "customer"])
def test_operators_and_partner_accounts_get_403_on_every_settings_url(cast, who):
    cfg = configure(cast.a)
    client = client_for(getattr(cast, who, None) or getattr(cast.a, who))
    before = snapshot()
    for method, url, data in settings_requests(cast, cfg):
        response = getattr(client, method)(url, data or {})
        assert response.status_code == 403, (method, url)
    assert snapshot() == before
    assert not AuditEvent.objects.filter(action__startswith="script.").exists()


def test_an_administrator_may_change_scripts(cast):
    admin = client_for(make_user("admin", User.Role.ADMIN))
    assert admin.get(reverse("script-settings", args=[cast.a.partner.pk])).status_code == 200
    assert admin.post(add_url(cast.a, "fields"), field_data()).status_code == 302


@pytest.mark.parametrize("kind", ["fields", "diagnostics", "questions", "routing"])
def test_another_partners_row_is_404_through_a_forged_url(cast, supervisor, kind):
    configure(cast.a)
    cfg_b = configure(cast.b)
    row = {"fields": cfg_b.type_field, "diagnostics": cfg_b.tracert, "questions": cfg_b.vip,
           "routing": cfg_b.default_rule}[kind]
    before = snapshot()

    assert supervisor.get(edit_url(cast.a, kind, row.pk)).status_code == 404
    assert supervisor.post(edit_url(cast.a, kind, row.pk), {}).status_code == 404
    assert supervisor.post(delete_url(cast.a, kind, row.pk)).status_code == 404

    assert snapshot() == before
    assert not AuditEvent.objects.filter(action__startswith="script.").exists()


def test_unknown_kinds_and_missing_partners_are_404(cast, supervisor):
    assert supervisor.post(add_url(cast.a, "calendars"), {}).status_code == 404
    assert supervisor.get(reverse("script-settings", args=[9999])).status_code == 404
    response = supervisor.post(reverse("script-setting-add", args=[9999, "fields"]),
                               field_data())
    assert response.status_code == 404
    assert not ClassificationField.objects.exists()


def test_the_nav_shows_scripts_to_supervisors_only(cast, supervisor):
    assert reverse("script-partners") in supervisor.get(reverse("queue")).content.decode()
    operator = client_for(cast.operator)
    assert reverse("script-partners") not in operator.get(reverse("queue")).content.decode()
