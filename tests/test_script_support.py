"""Helpers for the script tests (no tests here): a configured script for a partner."""

from dataclasses import dataclass

from django.urls import reverse

from firstline.core.models import User
from firstline.quality import services
from firstline.quality.script_models import (
    ClassificationField,
    DiagnosticParameter,
    IdentificationRule,
    RoutingRule,
    ScriptSettings,
    UrgencyQuestion,
)
from firstline.tickets.models import Priority, Ticket

CODE_WORD = "синий кит"


@dataclass
class Configured:
    service_field: ClassificationField
    type_field: ClassificationField
    vm_id: DiagnosticParameter
    tracert: DiagnosticParameter
    everyone: UrgencyQuestion
    vip: UrgencyQuestion
    cloud_rule: RoutingRule
    default_rule: RoutingRule


def configure(side) -> Configured:
    """Partner `side`'s script: contract number required, then the code word or a confirmed
    e-mail; a required tree field and an optional list; a required VM id and an optional
    tracert; two urgency questions; cloud tickets go to the engineer, the rest to a group."""
    ScriptSettings.objects.create(
        partner=side.partner,
        contract_number=IdentificationRule.REQUIRED,
        code_word=IdentificationRule.ONE_OF,
        confirmed_email=IdentificationRule.ONE_OF,
    )
    side.organisation.set_code_word(CODE_WORD)
    side.organisation.save()
    service_field = ClassificationField.objects.create(
        partner=side.partner, position=1, name="Услуга", kind=ClassificationField.Kind.TREE,
        values=["Облако → ВМ", "Облако → Диск", "Почта"], required=True,
    )
    type_field = ClassificationField.objects.create(
        partner=side.partner, position=2, name="Тип", kind=ClassificationField.Kind.LIST,
        values=["Инцидент", "Запрос"],
    )
    vm_id = DiagnosticParameter.objects.create(
        partner=side.partner, position=1, name="ID виртуальной машины", required=True,
        request_text="Пожалуйста, пришлите ID виртуальной машины: так мы быстрее найдем ее.",
    )
    tracert = DiagnosticParameter.objects.create(
        partner=side.partner, position=2, name="tracert от точки подключения до ВМ",
        request_text="Пожалуйста, пришлите вывод tracert до ВМ.",
    )
    everyone = UrgencyQuestion.objects.create(
        partner=side.partner, position=1, text="Не работает у всех сотрудников?",
        priority=Priority.CRITICAL,
    )
    vip = UrgencyQuestion.objects.create(
        partner=side.partner, position=2, text="Затронут VIP-клиент?", priority=Priority.HIGH,
    )
    cloud_rule = RoutingRule.objects.create(
        partner=side.partner, position=1, classification_field=service_field, value="Облако",
        assignee=side.engineer, group="Облачная группа",
    )
    default_rule = RoutingRule.objects.create(
        partner=side.partner, position=9, group="Поддержка",
    )
    return Configured(service_field, type_field, vm_id, tracert, everyone, vip, cloud_rule,
                      default_rule)


def fill_script(ticket: Ticket, operator: User, cfg: Configured,
                service: str = "Облако → ВМ") -> None:
    """Every step a hand-over needs, done by `operator`."""
    services.identify(ticket=ticket, actor=operator, contract_number=contract_of(ticket),
                      code_word=CODE_WORD)
    services.classify(ticket=ticket, actor=operator, values={cfg.service_field.pk: service})
    services.diagnose(ticket=ticket, actor=operator, results={cfg.vm_id.pk: "vm-4711"})


def contract_of(ticket: Ticket) -> str:
    return ticket.contact.organisation.contract_number


def step_url(ticket: Ticket, step: str) -> str:
    return reverse("script-step", args=[ticket.pk, step])


def ticket_state(ticket: Ticket) -> dict:
    return Ticket.objects.filter(pk=ticket.pk).values().get()
