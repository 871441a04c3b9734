"""Demo typical requests and macros that match the demo tickets, so that "resolve by
instruction" and "hand over in one action" show on `make run`.

Each typical request has an instruction for the first line and a macro: the classification
it sets and the reply it fills in (placeholders: {имя}, {слова}, {срок}, {номер}). One macro
of its own hands a VM that does not answer over to the partner's engineers. The values of
the «Услуга → компонент» field are linked to their services, so a ticket of one service
sees only its own values.
"""

from dataclasses import dataclass

from firstline.core.models import Partner, Service
from firstline.quality.script_models import ClassificationField, Macro
from firstline.sla.models import TypicalRequest

KIND_FIELD = "Тип обращения"
COMPONENT_FIELD = "Услуга → компонент"


@dataclass(frozen=True)
class DemoMacro:
    tag: str  # the service it is about (core.demo PartnerSpec.services keys)
    name: str
    instruction: str  # "" for a macro without a typical request
    minutes: int
    kind: str
    component: str
    reply: str
    then: str = Macro.Then.RESOLVE


MACROS = (
    DemoMacro(
        "vm", "Медленно работает ВМ",
        "1. Открыть в мониторинге узел гипервизора этой ВМ: дисковая очередь и iowait.\n"
        "2. Если очередь выше нормы — перенести ВМ на свободный узел (панель → ВМ → "
        "«Перенести»), это занимает около минуты и не останавливает ВМ.\n"
        "3. Ответить клиенту шаблоном и решить заявку.",
        4 * 60, "Инцидент", "Производительность",
        "{имя}, здравствуйте!\n\nВы написали: «{слова}». Мы перенесли виртуальную машину на "
        "менее нагруженный узел, время отклика диска вернулось к норме.\n\nПожалуйста, "
        "проверьте скорость работы сайта: если задержки останутся, ответьте на это письмо, "
        "и мы продолжим работу по заявке {номер}.",
    ),
    DemoMacro(
        "mail", "Письма попадают в спам",
        "1. Попросить у клиента письмо с заголовками или найти его в журнале отправки.\n"
        "2. Проверить SPF, DKIM и DMARC домена (панель → Почта → «Проверка домена»).\n"
        "3. Включить DKIM-подпись; если DNS домена не у нас — приложить TXT-запись.\n"
        "4. Ответить клиенту шаблоном и решить заявку.",
        8 * 60, "Запрос на обслуживание", "Настройка",
        "{имя}, здравствуйте!\n\nВы написали: «{слова}». Мы включили для Вашего домена "
        "подпись DKIM: через несколько часов письма начнут проходить проверку почтовых "
        "сервисов и перестанут попадать в спам.\n\nЕсли DNS домена обслуживается не у нас, "
        "добавьте, пожалуйста, TXT-запись из вложения — так письма будут доходить до "
        "Ваших клиентов. Номер заявки: {номер}.",
    ),
    DemoMacro(
        "ftp", "Нет доступа на FTP",
        "1. Найти в журнале FTP неудачные попытки входа с IP клиента.\n"
        "2. Снять блокировку IP (панель → Безопасность → «Блокировки»).\n"
        "3. Ответить клиенту шаблоном и решить заявку.",
        2 * 60, "Инцидент", "Доступ",
        "{имя}, здравствуйте!\n\nВы написали: «{слова}». Доступ восстановлен: после "
        "нескольких неудачных попыток входа адрес временно блокировался защитой от подбора "
        "пароля, мы сняли блокировку.\n\nПожалуйста, подключитесь ещё раз — пароль из "
        "панели управления подойдёт. Номер заявки: {номер}.",
    ),
    DemoMacro(
        "internet", "Низкая скорость интернета",
        "1. Попросить результат speedtest при подключении компьютера к роутеру кабелем.\n"
        "2. Если по кабелю скорость по тарифу — причина в Wi-Fi: выслать инструкцию по "
        "переключению роутера на 5 ГГц.\n"
        "3. Ответить клиенту шаблоном и решить заявку.",
        8 * 60, "Консультация", "Производительность",
        "{имя}, здравствуйте!\n\nВы написали: «{слова}». По кабелю скорость соответствует "
        "тарифу, снижение даёт Wi-Fi роутера. Чтобы вернуть скорость, переключите роутер на "
        "диапазон 5 ГГц — инструкция во вложении.\n\nЕсли скорость останется низкой, "
        "ответьте на это письмо, и мы продолжим работу по заявке {номер}.",
    ),
    DemoMacro(
        "domain", "Продление домена", "", 4 * 60, "Запрос на обслуживание", "Настройка",
        "{имя}, здравствуйте!\n\nМы продлили Ваш домен на год, новая дата окончания видна в "
        "панели управления. Номер заявки: {номер}.",
    ),
    DemoMacro(
        "vm", "ВМ недоступна — передать дежурному инженеру", "", 0, "Инцидент", "Доступ",
        "{имя}, здравствуйте!\n\nВы написали: «{слова}». Мы передали заявку {номер} "
        "дежурному инженеру, он уже проверяет сервер. Ответим {срок}.",
        then=Macro.Then.HAND_OVER,
    ),
)


def create_macros(partner: Partner, services: dict[str, Service]) -> None:
    """The typical requests and macros of `partner` for the services it has (by tag)."""
    fields = {field.name: field for field in ClassificationField.objects.filter(partner=partner)}
    component = fields.get(COMPONENT_FIELD)
    if component is not None:
        component.value_services = {service.name: [service.pk] for service in services.values()}
        component.save(update_fields=["value_services"])
    for spec in MACROS:
        service = services.get(spec.tag)
        if service is None:
            continue
        typical = None
        if spec.minutes and spec.then == Macro.Then.RESOLVE:
            typical, _created = TypicalRequest.objects.get_or_create(
                partner=partner, name=spec.name,
                defaults={"instruction": spec.instruction, "resolution_minutes": spec.minutes},
            )
        classification = {}
        if KIND_FIELD in fields:
            classification[str(fields[KIND_FIELD].pk)] = spec.kind
        if component is not None:
            classification[str(component.pk)] = f"{service.name} → {spec.component}"
        Macro.objects.create(partner=partner, name=spec.name, typical_request=typical,
                             classification=classification, reply_text=spec.reply,
                             then=spec.then)
