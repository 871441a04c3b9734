"""Demo processing scripts: what the operator checks for each demo partner (F7–F11, F18)."""

from firstline.core.models import Partner, Service, User
from firstline.quality.script_models import (
    CannedReply,
    ClassificationField,
    DiagnosticParameter,
    IdentificationRule,
    RoutingRule,
    ScriptSettings,
    UrgencyQuestion,
)
from firstline.tickets.models import Priority


def create_script(partner: Partner, services: list[Service], engineer: User) -> None:
    ScriptSettings.objects.create(
        partner=partner,
        contract_number=IdentificationRule.REQUIRED,
        code_word=IdentificationRule.ONE_OF,
        confirmed_email=IdentificationRule.ONE_OF,
    )
    kind = ClassificationField.objects.create(
        partner=partner, position=1, name="Тип обращения", required=True,
        values=["Инцидент", "Запрос на обслуживание", "Консультация", "Жалоба"],
    )
    ClassificationField.objects.create(
        partner=partner, position=2, name="Услуга → компонент",
        kind=ClassificationField.Kind.TREE, required=True,
        values=[f"{service.name} → {part}" for service in services
                for part in ("Доступ", "Производительность", "Настройка")],
    )
    ClassificationField.objects.create(
        partner=partner, position=3, name="Комментарий классификатора",
        kind=ClassificationField.Kind.TEXT,
    )
    DiagnosticParameter.objects.create(
        partner=partner, position=1, name="tracert от точки подключения до ВМ", required=True,
        request_text="Пожалуйста, пришлите вывод команды tracert от Вашего компьютера до "
                     "сервера, чтобы мы быстрее нашли, где теряется связь.",
    )
    DiagnosticParameter.objects.create(
        partner=partner, position=2, name="ID виртуальной машины или договора",
        request_text="Пожалуйста, сообщите ID виртуальной машины из панели управления — так "
                     "мы сразу найдём её и проверим состояние.",
    )
    UrgencyQuestion.objects.bulk_create([
        UrgencyQuestion(partner=partner, position=1, text="Не работает у всех сотрудников?",
                        priority=Priority.CRITICAL),
        UrgencyQuestion(partner=partner, position=2, text="Остановлена работа клиента?",
                        priority=Priority.HIGH),
    ])
    RoutingRule.objects.create(
        partner=partner, position=1, classification_field=kind, value="Инцидент",
        assignee=engineer, group="Дежурная смена",
    )
    CannedReply.objects.bulk_create([
        CannedReply(
            partner=partner, name="Запрос tracert", language="ru",
            text="Здравствуйте!\n\nПожалуйста, пришлите вывод команды tracert до сервера — "
                 "это поможет нам быстрее найти причину ситуации.",
        ),
        CannedReply(
            partner=partner, name="Уточню информацию", language="ru",
            text="Здравствуйте!\n\nЯ сейчас уточню информацию по Вашему вопросу и вернусь с "
                 "ответом в течение часа.",
        ),
    ])
