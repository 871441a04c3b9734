"""Deterministic demo data: three partners, their people and ~200 tickets over 60 days.

Used by `firstline seed_demo` (and so by `firstline run` on an empty database). Every
random choice comes from one `random.Random(SEED)`, so two runs build the same data, only
shifted to the current time. Rows are written with the ORM directly, mostly with
`bulk_create`: the ticket services stamp "now" on everything, while demo tickets need a
past that looks lived in (replies after the request, resolutions after the replies).

Every demo account has the password DEMO_PASSWORD. It is for local demos only: never load
this data into a database that real people can reach.
"""

import dataclasses
import random
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Q

from firstline.calls.models import Call
from firstline.contacts.models import Contact, ContactEmail, ContactPhone, Organisation
from firstline.core import demo_macros, demo_mail, demo_script, demo_sla
from firstline.core.clock import now
from firstline.core.models import AuditEvent, Partner, Service, Tariff, User
from firstline.tickets.html import text_to_html
from firstline.tickets.models import Channel, Message, Priority, Status, Ticket

DEMO_PASSWORD = "demo12345"  # noqa: S105 - demo-only, printed on purpose
SEED = 20240601  # fixed: every run builds the same people, texts and ticket mix
TICKET_COUNT = 200
HISTORY_DAYS = 60

Role = User.Role
Kind = Message.Kind


# --- Reference data -------------------------------------------------------------------------


@dataclass(frozen=True)
class TariffSpec:
    code: str
    name: str
    requests: int
    minutes: int
    monthly_fee: str
    overage_request_fee: str
    overage_minute_fee: str


# MISSION F34; the first month of every plan costs 4900 RUB, 3 ServiceDesk accounts included.
TARIFFS = (
    TariffSpec("start", "Старт", 10, 50, "4900", "350", "9"),
    TariffSpec("optimum", "Оптимум", 50, 300, "13900", "300", "8"),
    TariffSpec("all-inclusive", "Всё включено", 200, 1000, "39900", "250", "7"),
)
FIRST_MONTH_FEE = Decimal("4900")
ACCOUNTS_INCLUDED = 3


@dataclass(frozen=True)
class PersonSpec:
    username: str
    role: str
    first_name: str
    last_name: str


STAFF = (
    PersonSpec("operator", Role.OPERATOR, "Ольга", "Смирнова"),
    PersonSpec("operator2", Role.OPERATOR, "Дмитрий", "Волков"),
    PersonSpec("supervisor", Role.SUPERVISOR, "Марина", "Лебедева"),
    PersonSpec("admin", Role.ADMIN, "Алексей", "Морозов"),
)


@dataclass(frozen=True)
class PartnerSpec:
    name: str
    slug: str
    legal_name: str
    phone: str
    greeting: str
    time_zone: str
    tariff_code: str
    contract_prefix: str
    services: dict[str, str]  # scenario tag -> service name
    engineer: tuple[str, str]
    manager: tuple[str, str]
    ticket_share: int  # relative number of tickets: bigger plan, more requests


PARTNERS = (
    PartnerSpec(
        name="Облакотека", slug="oblakoteka", legal_name="ООО «Облакотека»",
        phone="+7 495 120-45-67", greeting=Partner.Greeting.PERSONAL,
        time_zone="Europe/Moscow", tariff_code="all-inclusive", contract_prefix="OBL",
        services={
            "vm": "ВМ / VPS", "backup": "Резервное копирование", "dns": "DNS",
            "s3": "Объектное хранилище S3",
        },
        engineer=("Игорь", "Белов"), manager=("Светлана", "Орлова"), ticket_share=90,
    ),
    PartnerSpec(
        name="ТелеСвязь Плюс", slug="telesvyaz", legal_name="АО «ТелеСвязь Плюс»",
        phone="+7 343 311-22-33", greeting=Partner.Greeting.NEUTRAL,
        time_zone="Asia/Yekaterinburg", tariff_code="optimum", contract_prefix="TSP",
        services={
            "internet": "Интернет", "phone": "IP-телефония", "mail": "Почта",
            "cctv": "Видеонаблюдение",
        },
        engineer=("Роман", "Никитин"), manager=("Татьяна", "Григорьева"), ticket_share=70,
    ),
    PartnerSpec(
        name="ХостингПро", slug="hostingpro", legal_name="ООО «ХостингПро»",
        phone="+7 495 777-08-09", greeting=Partner.Greeting.PERSONAL,
        time_zone="Europe/Moscow", tariff_code="start", contract_prefix="HPR",
        services={
            "hosting": "Виртуальный хостинг", "ftp": "FTP", "mail": "Почта",
            "domain": "Домены", "ssl": "SSL-сертификаты",
        },
        engineer=("Павел", "Крылов"), manager=("Юлия", "Зайцева"), ticket_share=40,
    ),
)

# (name, mail domain) of the partners' customer companies; each goes to one partner only.
ORGANISATIONS = (
    ("ООО «СтройМаркет»", "stroymarket"), ("ООО «Вкусная линия»", "vkusnaya-liniya"),
    ("АО «Северный терминал»", "sevterminal"), ("ООО «ТехноСфера»", "technosfera"),
    ("ООО «Альфа-Логистик»", "alfa-logistic"), ("ИП Кузьмина Е. А.", "kuzmina-shop"),
    ("ООО «Клиника Здоровье»", "zdorovie-clinic"), ("ООО «Лингва»", "lingva"),
    ("ООО «Уральские окна»", "uralokna"), ("ООО «Фермер и Ко»", "fermer"),
    ("АНО «Код будущего»", "kod-budushchego"), ("ООО «Печатный двор»", "pechatny-dvor"),
    ("ООО «Мотор-Сервис»", "motor-service"), ("ООО «Отель Волга»", "hotel-volga"),
    ("ООО «ЭкоДом»", "ekodom"), ("ООО «ИнфоСофт»", "infosoft"),
    ("ЗАО «Промтехснаб»", "promtekhsnab"), ("ООО «Цветочная лавка»", "tsvetochnaya-lavka"),
    ("ООО «Аптека Плюс»", "apteka-plus"), ("ООО «Зерно»", "zerno-coffee"),
)
CODE_WORDS = (
    "ромашка", "гранит", "маяк", "кедр", "янтарь", "сапфир", "бриз", "компас", "ласточка",
    "василёк", "сокол", "айсберг", "рубин", "тайга", "вершина", "метель", "причал", "радуга",
    "жасмин", "байкал",
)
MALE_NAMES = (
    "Иван", "Алексей", "Сергей", "Андрей", "Михаил", "Николай", "Артём", "Константин",
    "Евгений", "Максим", "Олег", "Виктор", "Денис", "Григорий",
)
FEMALE_NAMES = (
    "Анна", "Мария", "Екатерина", "Наталья", "Елена", "Ирина", "Дарья", "Ксения", "Вера",
    "Людмила", "Полина", "Алина",
)
# Masculine forms; the feminine of all of these adds «а».
SURNAMES = (
    "Соколов", "Кузнецов", "Попов", "Новиков", "Фёдоров", "Егоров", "Павлов", "Орехов",
    "Тихонов", "Ковалёв", "Жуков", "Гусев", "Медведев", "Виноградов", "Богданов", "Давыдов",
    "Максимов", "Степанов", "Назаров", "Комаров", "Сорокин", "Ильин", "Калинин", "Фомин",
)
# Enough transliteration to turn a Russian name into a mailbox name.
TRANSLIT = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    (
        "a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p",
        "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya",
    ),
    strict=True,
))


@dataclass(frozen=True)
class Scenario:
    """One kind of request, with every text its conversation may need.

    "{domain}" in a text stands for the customer's own domain, filled in per ticket.
    """

    tag: str  # which service it is about (PartnerSpec.services keys)
    subject: str
    summary: str  # the request in the customer's words, quoted back in the first reply
    text: str
    priority: str
    question: str  # the clarifying question (a request, says what the customer gains)
    answer: str
    diagnosis: str  # the operator's internal note
    engineer: str  # the partner engineer's note when the ticket was handed over
    solution: str
    monitoring: bool = False


SCENARIOS = (
    Scenario(
        "ftp", "Нет доступа на FTP", "нет доступа на FTP",
        "Добрый день! С утра не могу подключиться к FTP: FileZilla пишет «530 Login "
        "incorrect», хотя пароль я не менял. Сайт при этом работает.",
        Priority.NORMAL,
        "Пожалуйста, пришлите логин FTP-пользователя и примерное время последней попытки "
        "входа — по ним мы быстрее найдём запись в журнале сервера.",
        "Логин site_upload, пробовал около 10:40. Пароль копирую из панели управления.",
        "В журнале FTP пять неудачных попыток входа подряд с IP клиента — сработала "
        "временная блокировка защиты от подбора пароля.",
        "Снял блокировку IP, для этого аккаунта поднял порог до 10 попыток.",
        "Доступ восстановлен: после нескольких неудачных попыток входа адрес временно "
        "блокировался защитой от подбора пароля, блокировку мы сняли. Пожалуйста, "
        "подключитесь ещё раз — пароль из панели управления подойдёт.",
    ),
    Scenario(
        "mail", "Не работает почта", "не приходят письма",
        "Со вчерашнего вечера на ящики нашего домена не приходят письма, отправка "
        "работает. Сотрудники не получают заказы от клиентов, очень срочно!",
        Priority.HIGH,
        "Пожалуйста, пришлите адрес отправителя и примерное время отправки одного из "
        "писем, которое не дошло, — по ним мы проследим путь письма.",
        "Отправитель info@supplier.example, письмо ушло вчера около 18:20.",
        "MX-запись домена указывает на старый сервер: вчера клиент сам правил DNS-зону.",
        "Вернул правильную MX-запись, очередь входящих на старом сервере перенаправил.",
        "Письма не доставлялись, потому что в DNS домена изменилась MX-запись. Мы вернули "
        "правильное значение, новые письма уже приходят, задержавшиеся будут доставлены в "
        "течение часа. Пожалуйста, проверьте почту.",
    ),
    Scenario(
        "mail", "Письма попадают в спам", "наши письма попадают в спам",
        "Клиенты жалуются, что наши письма с рассылкой счетов попадают в спам у Яндекса и "
        "Gmail. Что можно сделать?",
        Priority.NORMAL,
        "Пожалуйста, перешлите нам одно такое письмо вложением (с заголовками) — по ним мы "
        "увидим, какую проверку оно не проходит.",
        "Переслал письмо, которое ушло в спам у клиента на Gmail.",
        "В заголовках dkim=none: для домена не опубликована DKIM-подпись, SPF в порядке.",
        "Сгенерировал DKIM-ключ, запись для публикации в DNS приложил к заявке.",
        "Письма попадали в спам, потому что для домена не была настроена подпись DKIM. Мы "
        "включили её; если DNS домена обслуживается не у нас, добавьте, пожалуйста, "
        "TXT-запись из вложения. Через несколько часов письма начнут проходить проверку.",
    ),
    Scenario(
        "vm", "Медленно работает ВМ", "медленно работает ВМ",
        "Виртуальная машина vm-web-02 последние два дня сильно тормозит: сайт открывается "
        "по 10–15 секунд, при этом загрузка CPU внутри ВМ невысокая.",
        Priority.NORMAL,
        "Пожалуйста, пришлите вывод команд top и iostat -x 1 5 с этой ВМ — по ним мы "
        "увидим, упирается ли она в диск, и сможем быстрее вернуть скорость.",
        "Прислал во вложении, iowait около 40%.",
        "По графикам гипервизора высокая дисковая очередь на узле hv-17: соседняя ВМ "
        "создаёт нагрузку.",
        "Мигрировал ВМ на узел hv-21, задержки диска в норме.",
        "ВМ перенесена на менее нагруженный узел, время отклика диска вернулось к норме. "
        "Пожалуйста, проверьте скорость работы сайта.",
    ),
    Scenario(
        "vm", "ВМ недоступна по SSH", "сервер не отвечает по SSH",
        "Не могу подключиться к серверу 185.12.40.17 по SSH, ping тоже не проходит. Это "
        "боевой сервер, стоит вся работа!",
        Priority.CRITICAL,
        "Пожалуйста, откройте консоль ВМ в панели управления и пришлите снимок экрана — "
        "так мы сразу увидим, загрузилась ли система.",
        "В консоли kernel panic после обновления, скриншот приложил.",
        "ВМ не загружается после обновления ядра, сеть на гипервизоре в порядке.",
        "Загрузил ВМ с предыдущим ядром через rescue-режим, сервер доступен.",
        "Сервер снова доступен: после обновления система не смогла загрузиться с новым "
        "ядром, мы запустили её с предыдущей версией. Пожалуйста, не перезагружайте ВМ до "
        "повторной установки обновления — инструкцию пришлём отдельно.",
    ),
    Scenario(
        "vm", "Вопрос", "можно ли увеличить диск ВМ без перезагрузки",
        "Здравствуйте! Подскажите, можно ли увеличить диск виртуальной машины без "
        "перезагрузки? Сейчас 50 ГБ, нужно 100 ГБ.",
        Priority.LOW,
        "Пожалуйста, уточните имя ВМ и файловую систему диска — подскажем точные шаги "
        "именно для Вашей конфигурации.",
        "ВМ vm-1c-01, файловая система ext4.",
        "Типовой вопрос, инструкция есть в базе знаний.",
        "Подтверждаю, для ext4 расширение онлайн поддерживается.",
        "Да, диск можно увеличить без перезагрузки: в панели управления откройте ВМ → "
        "«Диски» → «Изменить размер», затем внутри ВМ выполните growpart и resize2fs. "
        "Подробная инструкция — в разделе «Виртуальные машины» базы знаний.",
    ),
    Scenario(
        "backup", "Не восстанавливается резервная копия", "бэкап не восстанавливается",
        "Пытаюсь восстановить резервную копию ВМ за 12-е число, задача висит на 0% уже "
        "больше часа. Нужно срочно вернуть данные бухгалтерии.",
        Priority.HIGH,
        "Пожалуйста, пришлите номер задачи восстановления из панели — по нему мы найдём её "
        "на сервере резервного копирования.",
        "Задача restore-58213.",
        "Задача восстановления стоит в очереди за плановым копированием всего кластера.",
        "Поднял приоритет задачи restore-58213, восстановление прошло успешно.",
        "Резервная копия восстановлена: задача ждала в очереди за плановым копированием, "
        "мы подняли её приоритет. Пожалуйста, проверьте данные на ВМ.",
    ),
    Scenario(
        "dns", "Не обновляются DNS-записи", "не обновляется A-запись",
        "Три часа назад поменял A-запись для shop.{domain}, а сайт всё ещё "
        "открывается со старого сервера.",
        Priority.NORMAL,
        "Пожалуйста, пришлите вывод команды nslookup shop.{domain} 8.8.8.8 — так "
        "мы проверим, какой адрес видят публичные DNS-серверы.",
        "nslookup отдаёт уже новый адрес, а у нас в офисе всё ещё старый.",
        "У записи TTL 86400, наши NS уже отдают новый адрес — кэш у провайдера клиента.",
        "Проверил зону, записи корректны, TTL уменьшил до 3600.",
        "Новая запись уже опубликована, старый адрес ещё хранится в кэше DNS-серверов, "
        "потому что время жизни записи было сутки. Мы уменьшили его до часа; полностью "
        "обновление разойдётся до завтрашнего утра.",
    ),
    Scenario(
        "s3", "Ошибка 403 при загрузке в хранилище", "ошибка 403 при загрузке файлов",
        "При загрузке файлов в бакет backups-1c через rclone получаем ошибку 403 "
        "AccessDenied. Вчера всё работало.",
        Priority.NORMAL,
        "Пожалуйста, пришлите идентификатор ключа доступа (без секретной части) — мы "
        "проверим его права на бакет.",
        "Ключ YCAJE7x0-demo.",
        "У ключа истёк срок действия, выпущен 365 дней назад.",
        "Продлил ключ, права на бакет на запись подтверждены.",
        "Срок действия ключа доступа истёк. Мы его продлили, загрузка снова работает. "
        "Чтобы это не повторилось, в панели можно включить напоминание за 14 дней.",
    ),
    Scenario(
        "domain", "Как продлить домен?", "как продлить домен",
        "Здравствуйте. Срок регистрации нашего домена заканчивается через две недели. "
        "Подскажите, как продлить домен и сколько это стоит?",
        Priority.LOW,
        "Пожалуйста, уточните имя домена — мы проверим срок регистрации и подскажем "
        "стоимость продления.",
        "Домен {domain}.",
        "Домен на аккаунте клиента, автопродление выключено.",
        "Продление через панель доступно, цена по прайсу.",
        "Продлить домен можно в панели управления: «Домены» → выберите домен → «Продлить». "
        "Стоимость продления на год — 990 ₽. Чтобы не следить за сроком, на той же "
        "странице можно включить автопродление.",
    ),
    Scenario(
        "hosting", "Сайт выдаёт ошибку 500", "сайт выдаёт ошибку 500",
        "Наш интернет-магазин с утра показывает «500 Internal Server Error». Мы ничего не "
        "меняли!",
        Priority.HIGH,
        "Пожалуйста, пришлите адрес страницы, на которой видите ошибку, и время последнего "
        "обновления сайта — так мы быстрее найдём причину в журнале.",
        "Ошибка на всех страницах, обновляли плагины вчера вечером.",
        "В error.log: PHP Fatal error в плагине кэширования после автообновления.",
        "Отключил плагин кэширования, сайт работает; клиенту нужно обновить плагин.",
        "Сайт снова работает: ошибку вызывал плагин кэширования после автоматического "
        "обновления, мы его отключили. Пожалуйста, установите его свежую версию или "
        "напишите нам — поможем.",
    ),
    Scenario(
        "hosting", "Вопрос", "можно ли перенести сайт без простоя",
        "Добрый день! Можно ли перенести наш сайт с другого хостинга к вам без простоя? "
        "Сайт на WordPress, база около 2 ГБ.",
        Priority.LOW,
        "Пожалуйста, пришлите адрес сайта и примерную дату переезда — мы подготовим "
        "план переноса под Ваш сайт.",
        "Сайт {domain}, хотели бы до конца месяца.",
        "Типовой перенос, бесплатный для тарифов хостинга.",
        "Перенос согласован, окно на выходных.",
        "Да, перенесём бесплатно и без простоя: сначала копируем сайт и базу, проверяем "
        "его по временному адресу, а затем переключаем DNS. Переключение займёт до "
        "суток, всё это время сайт работает.",
    ),
    Scenario(
        "ssl", "Браузер пишет «Подключение не защищено»", "браузер ругается на сертификат",
        "Сегодня при входе на сайт браузер пишет «Подключение не защищено», клиенты "
        "боятся оформлять заказы.",
        Priority.HIGH,
        "Пожалуйста, пришлите адрес сайта с этим предупреждением — мы проверим сертификат.",
        "https://{domain}",
        "Сертификат Let's Encrypt истёк вчера: автопродление не прошло из-за редиректа.",
        "Исправил редирект для проверки, сертификат перевыпущен.",
        "Сертификат сайта истёк, потому что автоматическое продление не прошло проверку. "
        "Мы перевыпустили сертификат и исправили настройку, сайт снова открывается без "
        "предупреждения.",
    ),
    Scenario(
        "internet", "Нет интернета в офисе", "нет интернета в офисе",
        "В офисе на ул. Малышева, 51 с 9 утра нет интернета, на роутере красным горит "
        "индикатор WAN. Работа стоит!",
        Priority.CRITICAL,
        "Пожалуйста, перезагрузите роутер и пришлите фото индикаторов — по ним мы поймём, "
        "есть ли сигнал на линии.",
        "Перезагрузили, WAN всё так же красный, фото приложили.",
        "Порт клиента на коммутаторе доступа в down, ещё 12 абонентов дома без связи — "
        "похоже на повреждение кабеля.",
        "Бригада заменила повреждённый участок кабеля в подъезде.",
        "Повреждённый участок кабеля заменён, связь восстановлена. Пожалуйста, проверьте "
        "доступ в интернет.",
    ),
    Scenario(
        "internet", "Низкая скорость интернета", "низкая скорость интернета",
        "По тарифу у нас 100 Мбит/с, а вечером speedtest показывает 15–20.",
        Priority.NORMAL,
        "Пожалуйста, пришлите результат speedtest при подключении компьютера к роутеру "
        "кабелем — так мы исключим влияние Wi-Fi.",
        "Кабелем 94 Мбит/с, по Wi-Fi 18.",
        "По кабелю скорость в норме, ограничивает Wi-Fi роутера (2,4 ГГц, занятый канал).",
        "Проверил порт, ошибок нет.",
        "По кабелю скорость соответствует тарифу, снижение даёт Wi-Fi. Чтобы вернуть "
        "скорость, переключите роутер на диапазон 5 ГГц — инструкцию мы приложили.",
    ),
    Scenario(
        "internet", "Вопрос", "можно ли получить статический IP",
        "Подскажите, можно ли подключить статический IP-адрес и сколько это стоит?",
        Priority.LOW,
        "Пожалуйста, уточните номер договора — мы проверим, доступна ли услуга на Вашем "
        "подключении.",
        "Номер договора в карточке, подключение на Малышева, 51.",
        "Типовой вопрос.",
        "Услуга доступна на этом узле.",
        "Да, статический IP можно подключить в личном кабинете: «Услуги» → «Статический "
        "IP». Стоимость — 200 ₽ в месяц, адрес назначается в течение часа.",
    ),
    Scenario(
        "phone", "Не проходят входящие звонки", "не проходят входящие звонки",
        "С обеда на наш многоканальный номер не проходят входящие звонки: клиенты слышат "
        "«абонент недоступен». Исходящие работают.",
        Priority.HIGH,
        "Пожалуйста, пришлите номер, на который звонили, и время одного неуспешного "
        "звонка — по ним мы найдём вызов в журнале.",
        "Звонили на +7 343 200-10-10 в 13:05.",
        "SIP-регистрация АТС клиента отсутствует с 12:58.",
        "АТС клиента сменила внешний IP, обновил разрешённые адреса на SBC.",
        "Входящие звонки снова проходят: после смены внешнего адреса Вашей АТС её нужно "
        "было добавить в разрешённые, мы это сделали. Пожалуйста, сделайте тестовый звонок.",
    ),
    Scenario(
        "cctv", "Камера не показывает изображение", "камера не показывает изображение",
        "В приложении видеонаблюдения камера «Склад-2» показывает чёрный экран, остальные "
        "работают.",
        Priority.NORMAL,
        "Пожалуйста, проверьте, горит ли индикатор питания на камере, и пришлите фото — "
        "так мы поймём, нужен ли выезд.",
        "Индикатор не горит.",
        "Камера не в сети с 02:14, по PoE-порту нет нагрузки.",
        "Заменили блок питания PoE на складе.",
        "Камера снова в сети: на складе заменили блок питания. Архив за время простоя, к "
        "сожалению, не записан.",
    ),
    Scenario(
        "vm", "[Мониторинг] Хост vm-db-01 недоступен", "хост vm-db-01 недоступен",
        "Триггер: ICMP ping loss 100% более 5 минут.\nХост: vm-db-01 (10.20.3.14)\n"
        "Severity: Disaster",
        Priority.CRITICAL,
        "Пожалуйста, подтвердите, не ведёте ли Вы сейчас работы на сервере vm-db-01 — так "
        "мы исключим ложную тревогу.",
        "Нет, работ не ведём, база недоступна.",
        "ВМ остановлена гипервизором: закончилось место на хранилище тома.",
        "Расширил пул хранения, ВМ запущена, база поднялась.",
        "Сервер vm-db-01 снова работает: его остановила нехватка места на хранилище, мы "
        "добавили ёмкость. Пожалуйста, проверьте работу приложения.",
        monitoring=True,
    ),
    Scenario(
        "vm", "[Мониторинг] Заканчивается место на диске /var", "мало места на /var",
        "Триггер: Free disk space on /var < 5%\nХост: vm-web-02\nSeverity: High",
        Priority.HIGH,
        "Пожалуйста, подтвердите, можно ли удалить архивы журналов старше 30 дней — это "
        "освободит место без риска для сайта.",
        "Да, удаляйте.",
        "/var/log/nginx занимает 38 ГБ, ротация журналов отключена.",
        "Включил ротацию журналов, старые архивы удалил.",
        "Мы освободили место на диске и включили ротацию журналов, чтобы ситуация не "
        "повторилась.",
        monitoring=True,
    ),
    Scenario(
        "internet", "[Мониторинг] Загрузка канала uplink-2 98%", "загрузка канала 98%",
        "Триггер: Interface uplink-2 utilisation > 95% более 10 минут\nУзел: ekb-core-1",
        Priority.HIGH,
        "Пожалуйста, подтвердите, не запускали ли Вы сейчас резервное копирование в "
        "облако — так мы поймём, ожидаема ли нагрузка.",
        "Нет, не запускали.",
        "Пик трафика от одного абонента — похоже на заражённое устройство (исходящий флуд).",
        "Ограничил полосу абонента, уведомил его менеджера.",
        "Загрузка канала вернулась к норме: источник нагрузки найден и ограничен.",
        monitoring=True,
    ),
    Scenario(
        "hosting", "[Мониторинг] Сайт отвечает 502", "сайт отвечает 502",
        "Триггер: HTTP check https://{domain} returned 502\nSeverity: High",
        Priority.HIGH,
        "Пожалуйста, подтвердите, не обновляли ли Вы сейчас сайт — так мы исключим "
        "плановые работы.",
        "Нет, ничего не трогали.",
        "PHP-FPM пула клиента упал по OOM.",
        "Увеличил лимит памяти пула, перезапустил PHP-FPM.",
        "Сайт снова отвечает: процессам PHP не хватало памяти, мы увеличили лимит.",
        monitoring=True,
    ),
)

SCENARIO_TEXTS = (
    "subject", "summary", "text", "question", "answer", "diagnosis", "engineer", "solution",
)

ENGINEER_ACKS = (
    "Принял, разбираюсь. Результат сообщу до конца дня.",
    "Взял в работу. Нужно окно для работ на узле, согласую с дежурным.",
    "Смотрю журналы, похоже на последствия вчерашнего обновления. Отпишусь.",
)

# Channel of a human request (monitoring alerts have their own scenarios).
CHANNEL_WEIGHTS = {
    Channel.EMAIL: 45, Channel.PHONE: 27, Channel.PORTAL: 20, Channel.API: 8,
}
MONITORING_SHARE = 0.08
PRIORITY_ORDER = (Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.LOW)
# How soon the first line reacts, by priority (minutes, lower and upper bound).
REACTION_MINUTES = {
    Priority.CRITICAL: (2, 12), Priority.HIGH: (5, 30),
    Priority.NORMAL: (10, 90), Priority.LOW: (20, 240),
}
# Which status a ticket of a given age is in: old ones are done, recent ones still being
# worked, with a few forgotten ones so the queue has something overdue to show.
STATUS_WEIGHTS_BY_AGE: tuple[tuple[timedelta, dict[str, int]], ...] = (
    (timedelta(hours=4), {
        Status.NEW: 40, Status.OPEN: 30, Status.WAITING_CUSTOMER: 10,
        Status.WAITING_PARTNER: 10, Status.RESOLVED: 10,
    }),
    (timedelta(hours=12), {
        Status.NEW: 10, Status.OPEN: 30, Status.WAITING_CUSTOMER: 20,
        Status.WAITING_PARTNER: 15, Status.RESOLVED: 25,
    }),
    (timedelta(hours=48), {
        Status.NEW: 2, Status.OPEN: 10, Status.WAITING_CUSTOMER: 15,
        Status.WAITING_PARTNER: 13, Status.RESOLVED: 60,
    }),
    (timedelta(days=5), {
        Status.OPEN: 5, Status.WAITING_CUSTOMER: 5, Status.WAITING_PARTNER: 10,
        Status.RESOLVED: 40, Status.CLOSED: 40,
    }),
    (timedelta(days=10), {Status.WAITING_PARTNER: 2, Status.RESOLVED: 18, Status.CLOSED: 80}),
    (timedelta(days=HISTORY_DAYS), {Status.WAITING_PARTNER: 1, Status.CLOSED: 99}),
)
# The newest tickets get these, so the operator queue always shows every active status.
NEWEST_STATUSES = (Status.NEW, Status.OPEN, Status.WAITING_CUSTOMER, Status.WAITING_PARTNER)


# --- What the builder returns -----------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    role: str
    username: str
    sees: str


@dataclass(frozen=True)
class CodeWord:
    partner: str
    contract_number: str
    organisation: str
    code_word: str


@dataclass
class Summary:
    logins: list[Login] = field(default_factory=list)
    code_words: list[CodeWord] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Staff:
    operators: list[User]
    supervisor: User
    admin: User

    def pick_handler(self, rng: random.Random) -> User:
        # Operators do most of the work; the supervisor picks up the odd ticket.
        return rng.choices([*self.operators, self.supervisor], weights=[45, 45, 10])[0]


@dataclass
class PartnerKit:
    """A created partner with what its tickets refer to."""

    spec: PartnerSpec
    partner: Partner
    services: dict[str, Service]
    engineer: User
    manager: User
    contacts: list[Contact]
    portal_contacts: list[Contact]
    scenarios: list[Scenario]
    domains: dict[int, str]  # organisation id -> its domain, for the scenario texts


def demo_conflicts() -> list[str]:
    """Demo usernames and partners that already exist (the demo would collide with them)."""
    usernames = [spec.username for spec in STAFF]
    for spec in PARTNERS:
        usernames += [f"{spec.slug}-engineer", f"{spec.slug}-manager"]
    taken = sorted(User.objects.filter(username__in=usernames).values_list("username", flat=True))
    partners = Partner.objects.filter(
        Q(slug__in=[spec.slug for spec in PARTNERS]) | Q(name__in=[spec.name for spec in PARTNERS])
    )
    return taken + sorted(partners.values_list("name", flat=True))


@transaction.atomic
def build_demo(*, moment: datetime | None = None, seed: int = SEED) -> Summary:
    """Create the whole demo data set as of `moment` (default: now), in one transaction."""
    moment = moment or now()
    rng = random.Random(seed)
    # PBKDF2 is deliberately slow (~0.3 s); every demo account shares one password, so one
    # hash serves them all and the seed stays fast.
    password_hash = make_password(DEMO_PASSWORD)
    summary = Summary()
    tariffs = _create_tariffs()
    staff = _create_staff(password_hash, summary)
    code_words = list(CODE_WORDS)
    organisations = list(ORGANISATIONS)
    rng.shuffle(code_words)
    rng.shuffle(organisations)
    kits = [
        _create_partner(
            rng, spec, tariffs[spec.tariff_code], moment, password_hash, organisations,
            code_words, summary,
        )
        for spec in PARTNERS
    ]
    tickets = _create_tickets(rng, moment, staff, kits)
    # Imported here: the surveys app builds on the demo's tickets and contacts.
    from firstline.surveys.demo_surveys import create_surveys

    create_surveys(moment)
    # The calls app, likewise: its demo calls go with the demo's phone tickets.
    from firstline.calls.demo_calls import create_calls

    create_calls(moment, staff.operators)
    # Incidents: one past incident with its announcements, planned works ahead.
    from firstline.incidents.demo_incidents import create_incidents

    create_incidents(moment, staff.operators[0] if staff.operators else None)
    # Telegram: one partner's bot (inactive, a made-up token) and a few chats with tickets.
    from firstline.telegram.demo_telegram import create_telegram

    create_telegram(moment, staff.operators[0] if staff.operators else None)
    # Billing: each partner on the plan of its tariff, so its usage shows right away.
    from firstline.billing.demo_billing import subscribe_partners

    subscribe_partners()
    summary.counts = {
        "partners": len(kits),
        "users": User.objects.count(),
        "organisations": Organisation.objects.count(),
        "contacts": Contact.objects.count(),
        "tickets": len(tickets),
        "messages": Message.objects.count(),
        "audit events": AuditEvent.objects.count(),
        "calls": Call.objects.count(),
    }
    return summary


# --- Tariffs, people, partners --------------------------------------------------------------


def _create_tariffs() -> dict[str, Tariff]:
    # Tariffs are editable plans (F34): if a plan already exists, keep its edited figures.
    tariffs = {}
    for spec in TARIFFS:
        tariffs[spec.code], _created = Tariff.objects.get_or_create(
            code=spec.code,
            defaults={
                "name": spec.name,
                "requests_included": spec.requests,
                "minutes_included": spec.minutes,
                "monthly_fee": Decimal(spec.monthly_fee),
                "first_month_fee": FIRST_MONTH_FEE,
                "overage_request_fee": Decimal(spec.overage_request_fee),
                "overage_minute_fee": Decimal(spec.overage_minute_fee),
                "accounts_included": ACCOUNTS_INCLUDED,
            },
        )
    return tariffs


def _user(
    username: str, role: str, password_hash: str, *, first_name: str = "",
    last_name: str = "", email: str = "", partner: Partner | None = None,
) -> User:
    is_admin = role == Role.ADMIN
    return User(
        username=username, role=role, password=password_hash, first_name=first_name,
        last_name=last_name, email=email, partner=partner,
        # The administrator also gets Django's admin site.
        is_staff=is_admin, is_superuser=is_admin,
    )


def _create_staff(password_hash: str, summary: Summary) -> Staff:
    users = User.objects.bulk_create(
        _user(
            spec.username, spec.role, password_hash, first_name=spec.first_name,
            last_name=spec.last_name, email=f"{spec.username}@firstline.example",
        )
        for spec in STAFF
    )
    by_name = {user.username: user for user in users}
    sees = {
        Role.OPERATOR: "operator queue, all partners",
        Role.SUPERVISOR: "operator queue, reports, billing",
        Role.ADMIN: "everything, plus Django admin at /admin/",
    }
    summary.logins += [Login(user.role, user.username, sees[Role(user.role)]) for user in users]
    return Staff(
        operators=[by_name["operator"], by_name["operator2"]],
        supervisor=by_name["supervisor"],
        admin=by_name["admin"],
    )


def _create_partner(
    rng: random.Random, spec: PartnerSpec, tariff: Tariff, moment: datetime,
    password_hash: str, organisation_pool: list[tuple[str, str]], code_words: list[str],
    summary: Summary,
) -> PartnerKit:
    # Partners and their customers exist well before the first demo ticket.
    since = moment - timedelta(days=HISTORY_DAYS + 30)
    partner = Partner.objects.create(
        name=spec.name, slug=spec.slug, legal_name=spec.legal_name,
        support_email=f"support@{spec.slug}.example", support_phone=spec.phone,
        greeting=spec.greeting, time_zone=spec.time_zone, tariff=tariff, created_at=since,
    )
    services = _create_services(partner, spec)
    engineer, manager = User.objects.bulk_create([
        _user(f"{spec.slug}-engineer", Role.ENGINEER, password_hash, partner=partner,
              first_name=spec.engineer[0], last_name=spec.engineer[1],
              email=f"engineer@{spec.slug}.example"),
        _user(f"{spec.slug}-manager", Role.MANAGER, password_hash, partner=partner,
              first_name=spec.manager[0], last_name=spec.manager[1],
              email=f"manager@{spec.slug}.example"),
    ])
    # The biggest plan is served around the clock; the others in office hours.
    demo_sla.create_sla(partner, services.values(), spec.tariff_code == "all-inclusive")
    demo_script.create_script(partner, list(services.values()), engineer)
    demo_macros.create_macros(partner, services)
    demo_mail.create_mailbox(partner)
    summary.logins += [
        Login(Role.ENGINEER, engineer.username, f"partner area of {spec.name}"),
        Login(Role.MANAGER, manager.username, f"partner area of {spec.name}"),
    ]
    count = rng.randint(4, 6)
    picked = [organisation_pool.pop() for _ in range(count)]
    words = [code_words.pop() for _ in range(count)]
    organisations = _create_organisations(rng, partner, spec, picked, words, since, summary)
    contacts = _create_contacts(rng, partner, organisations, since)
    portal_contacts = contacts[:2]
    _create_portal_users(partner, portal_contacts, password_hash, summary)
    scenarios = [scenario for scenario in SCENARIOS if scenario.tag in services]
    domains = {org.pk: f"{domain}.example" for org, domain in organisations}
    return PartnerKit(spec, partner, services, engineer, manager, contacts, portal_contacts,
                      scenarios, domains)


def _create_services(partner: Partner, spec: PartnerSpec) -> dict[str, Service]:
    created = Service.objects.bulk_create(
        Service(partner=partner, name=name) for name in spec.services.values()
    )
    return dict(zip(spec.services, created, strict=True))


def _create_organisations(
    rng: random.Random, partner: Partner, spec: PartnerSpec,
    names: list[tuple[str, str]], code_words: list[str], since: datetime, summary: Summary,
) -> list[tuple[Organisation, str]]:
    """The partner's customer companies, each with a contract number and a code word."""
    number = rng.randint(100, 300)
    organisations = []
    for name, _domain in names:
        number += rng.randint(1, 40)
        organisations.append(Organisation(
            partner=partner, name=name, contract_number=f"{spec.contract_prefix}-{number:04d}",
            is_vip=rng.random() < 0.2, created_at=since,
        ))
    _hash_code_words(organisations, code_words)
    Organisation.objects.bulk_create(organisations)
    summary.code_words += [
        CodeWord(partner.name, org.contract_number, org.name, word)
        for org, word in zip(organisations, code_words, strict=True)
    ]
    return [(org, domain) for org, (_name, domain) in zip(organisations, names, strict=True)]


def _hash_code_words(organisations: list[Organisation], code_words: list[str]) -> None:
    # Code words are hashed like passwords (~0.3 s each). hashlib releases the GIL while
    # hashing, so threads hash them in parallel; each call only sets its own object's field.
    def hash_one(pair: tuple[Organisation, str]) -> None:
        pair[0].set_code_word(pair[1])

    with ThreadPoolExecutor() as pool:
        list(pool.map(hash_one, zip(organisations, code_words, strict=True)))


def _translit(text: str) -> str:
    return "".join(TRANSLIT.get(char, char) for char in text.lower())


def _person_name(rng: random.Random, used: set[str]) -> tuple[str, str]:
    while True:
        if rng.random() < 0.55:
            first, last = rng.choice(MALE_NAMES), rng.choice(SURNAMES)
        else:
            first, last = rng.choice(FEMALE_NAMES), rng.choice(SURNAMES) + "а"
        if f"{first} {last}" not in used:
            used.add(f"{first} {last}")
            return first, last


def _mobile(rng: random.Random) -> str:
    return (
        f"+7 9{rng.randint(10, 99)} {rng.randint(100, 999)}-"
        f"{rng.randint(10, 99)}-{rng.randint(10, 99)}"
    )


def _create_contacts(
    rng: random.Random, partner: Partner, organisations: list[tuple[Organisation, str]],
    since: datetime,
) -> list[Contact]:
    """10-15 people of the partner's customers, with 1-2 e-mails and 1-2 phones each."""
    used: set[str] = set()
    people = []
    for _ in range(rng.randint(10, 15)):
        organisation, domain = rng.choice(organisations)
        first, last = _person_name(rng, used)
        people.append((organisation, domain, first, last))
    contacts = Contact.objects.bulk_create(
        Contact(partner=partner, organisation=organisation, name=f"{first} {last}",
                created_at=since)
        for organisation, _domain, first, last in people
    )
    emails, phones = [], []
    for index, (contact, (_org, domain, first, last)) in enumerate(
        zip(contacts, people, strict=True)
    ):
        login = f"{_translit(first)}.{_translit(last)}"
        # The first two get portal accounts, which need an address that identifies them.
        confirmed = index < 2 or rng.random() < 0.7
        emails.append(ContactEmail(partner=partner, contact=contact,
                                   address=f"{login}@{domain}.example", is_confirmed=confirmed))
        if rng.random() < 0.35:
            private = f"{_translit(last)}{rng.randint(70, 99)}@mail.example"
            emails.append(ContactEmail(partner=partner, contact=contact, address=private))
        for _ in range(rng.choice((1, 1, 2))):
            phones.append(ContactPhone(partner=partner, contact=contact, number=_mobile(rng)))
    # bulk_create skips ContactEmail.save(), which lower-cases; the addresses above already are.
    ContactEmail.objects.bulk_create(emails)
    ContactPhone.objects.bulk_create(phones)
    return contacts


def _create_portal_users(
    partner: Partner, contacts: list[Contact], password_hash: str, summary: Summary
) -> None:
    """Customer portal accounts, linked to their contacts (the portal finds tickets that way)."""
    for contact in contacts:
        email = contact.emails.get(is_confirmed=True).address
        user = _user(f"{partner.slug}:{email}", Role.CUSTOMER, password_hash, partner=partner,
                     email=email, first_name=contact.name)
        user.save()
        contact.user = user
        contact.save(update_fields=["user"])
        # Customers sign in on their partner's portal with the e-mail, not the username.
        summary.logins.append(Login(
            Role.CUSTOMER, email,
            f"customer portal of {partner.name} at /portal/{partner.slug}/login/",
        ))


# --- Tickets ------------------------------------------------------------------------------------


@dataclass
class Step:
    """One thing that happened to a ticket after the customer's first message."""

    gap: timedelta  # after the previous step; squeezed if the ticket is too young for it
    actor: User | None  # None: a customer without an account, or the system
    kind: str | None = None  # a Message.Kind, or None for a status change alone
    text: str = ""
    status: str | None = None  # the ticket's status after this step; None keeps it
    from_customer: bool = False
    at: datetime | None = None  # set by _lay_out


@dataclass
class TicketPlan:
    kit: PartnerKit
    scenario: Scenario
    created_at: datetime
    status: str
    priority: str
    channel: str
    contact: Contact
    handler: User  # the provider employee who works the ticket
    steps: list[Step] = field(default_factory=list)
    assignee: User | None = None

    @property
    def customer_user(self) -> User | None:
        # Portal requests come from the customer's account; e-mail and calls do not.
        return self.contact.user if self.channel == Channel.PORTAL else None

    @property
    def handed_over(self) -> bool:
        return any(step.status == Status.WAITING_PARTNER for step in self.steps)


def _create_tickets(
    rng: random.Random, moment: datetime, staff: Staff, kits: list[PartnerKit]
) -> list[Ticket]:
    plans = _plan_tickets(rng, moment, staff, kits)
    for plan in plans:
        plan.steps = _conversation(rng, plan)
        _lay_out(plan, moment)
        plan.assignee = _assignee(rng, plan)
    tickets = Ticket.objects.bulk_create([_ticket_row(plan) for plan in plans])
    demo_sla.schedule_escalations(tickets, moment)
    Message.objects.bulk_create(
        _flatten(_messages(ticket, plan) for ticket, plan in zip(tickets, plans, strict=True)),
        batch_size=500,
    )
    AuditEvent.objects.bulk_create(
        _flatten(_audit_rows(ticket, plan) for ticket, plan in zip(tickets, plans, strict=True)),
        batch_size=500,
    )
    return tickets


def _flatten[T](groups: Iterable[list[T]]) -> list[T]:
    return [item for group in groups for item in group]


def _plan_tickets(
    rng: random.Random, moment: datetime, staff: Staff, kits: list[PartnerKit]
) -> list[TicketPlan]:
    # Oldest first, so ticket numbers grow with time as they would in real life.
    ages = sorted((_ticket_age(rng) for _ in range(TICKET_COUNT)), reverse=True)
    shares = [kit.spec.ticket_share for kit in kits]
    plans = [
        _plan_ticket(rng, rng.choices(kits, weights=shares)[0], staff, moment - age, age)
        for age in ages
    ]
    for plan, status in zip(reversed(plans), NEWEST_STATUSES, strict=False):
        plan.status = status
    return plans


def _ticket_age(rng: random.Random) -> timedelta:
    # A fresh tail on top of an even spread, so the queue has a working day's worth of
    # active tickets while the history still covers the whole period.
    roll = rng.random()
    if roll < 0.12:
        return timedelta(minutes=rng.uniform(5, 12 * 60))
    if roll < 0.20:
        return timedelta(hours=rng.uniform(12, 48))
    if roll < 0.28:
        return timedelta(days=rng.uniform(2, 5))
    return timedelta(days=rng.uniform(5, HISTORY_DAYS))


def _status_for_age(rng: random.Random, age: timedelta) -> str:
    weights = STATUS_WEIGHTS_BY_AGE[-1][1]
    for limit, bucket in STATUS_WEIGHTS_BY_AGE:
        if age < limit:
            weights = bucket
            break
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _priority(rng: random.Random, base: str) -> str:
    # Mostly the scenario's own urgency; sometimes the caller's situation shifts it a step.
    index = PRIORITY_ORDER.index(Priority(base))
    roll = rng.random()
    if roll < 0.1:
        index -= 1
    elif roll < 0.2:
        index += 1
    return PRIORITY_ORDER[max(0, min(index, len(PRIORITY_ORDER) - 1))]


def _plan_ticket(
    rng: random.Random, kit: PartnerKit, staff: Staff, created_at: datetime, age: timedelta
) -> TicketPlan:
    alerts = [scenario for scenario in kit.scenarios if scenario.monitoring]
    monitoring = bool(alerts) and rng.random() < MONITORING_SHARE
    if monitoring:
        scenario, channel = rng.choice(alerts), Channel.MONITORING
    else:
        scenario = rng.choice([scenario for scenario in kit.scenarios if not scenario.monitoring])
        channel = rng.choices(list(CHANNEL_WEIGHTS), weights=list(CHANNEL_WEIGHTS.values()))[0]
    # Only customers with an account write through the portal.
    contact = rng.choice(kit.portal_contacts if channel == Channel.PORTAL else kit.contacts)
    domain = kit.domains[contact.organisation_id] if contact.organisation_id else "example.com"
    return TicketPlan(
        kit=kit, scenario=_with_domain(scenario, domain), created_at=created_at,
        status=_status_for_age(rng, age), priority=_priority(rng, scenario.priority),
        channel=channel, contact=contact, handler=staff.pick_handler(rng),
    )


def _with_domain(scenario: Scenario, domain: str) -> Scenario:
    texts = {name: getattr(scenario, name).replace("{domain}", domain) for name in SCENARIO_TEXTS}
    return dataclasses.replace(scenario, **texts)


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(minutes=rng.uniform(low, high))


def _hours_phrase(hours: int) -> str:
    # "в течение N ..." takes the genitive: 1, 21, 31... часа; everything else часов.
    return f"{hours} часа" if hours % 10 == 1 and hours % 100 != 11 else f"{hours} часов"


def _reply_text(plan: TicketPlan, body: str) -> str:
    """A public reply as the quality rules want it: by name, on the partner's behalf."""
    first_name = plan.contact.name.split()[0]
    partner = plan.kit.partner
    if partner.greeting == Partner.Greeting.PERSONAL:
        signature = f"С уважением,\n{plan.handler.first_name}, техническая поддержка «{partner}»"
    else:
        signature = f"С уважением,\nтехническая поддержка «{partner}»"
    return f"Здравствуйте, {first_name}!\n\n{body}\n\n{signature}"


def _acknowledgement(plan: TicketPlan) -> str:
    hours, working = demo_sla.resolution_hours(plan.kit.partner, plan.priority)
    span = _hours_phrase(hours).replace(" ", " рабочих ", 1) if working else _hours_phrase(hours)
    return (
        f"Мы приняли в работу Ваш вопрос «{plan.scenario.summary}». Сейчас проверяем "
        f"ситуацию и сообщим результат в течение {span}."
    )


def _conversation(rng: random.Random, plan: TicketPlan) -> list[Step]:
    """The steps after the first message that lead the ticket to its planned status."""
    scenario, handler, engineer = plan.scenario, plan.handler, plan.kit.engineer
    reaction = _minutes(rng, *REACTION_MINUTES[Priority(plan.priority)])
    ack = _acknowledgement(plan)

    def reply(gap: timedelta, body: str, status: str | None) -> Step:
        return Step(gap, handler, Kind.REPLY, _reply_text(plan, body), status)

    def steps(*names: str) -> list[Step]:
        # Built on demand: each Step is laid out in time once, so none may be shared.
        makers: dict[str, Callable[[], Step]] = {
            "ack": lambda: reply(reaction, ack, Status.OPEN),
            "ask_first": lambda: reply(
                reaction, f"{ack}\n\n{scenario.question}", Status.WAITING_CUSTOMER
            ),
            "ask": lambda: reply(_minutes(rng, 10, 60), scenario.question,
                                 Status.WAITING_CUSTOMER),
            "answer": lambda: Step(_minutes(rng, 20, 600), plan.customer_user, Kind.INBOUND,
                                   scenario.answer, Status.OPEN, from_customer=True),
            "diagnosis": lambda: Step(_minutes(rng, 5, 45), handler, Kind.NOTE,
                                      scenario.diagnosis),
            "hand_over": lambda: Step(
                _minutes(rng, 2, 20), handler, Kind.NOTE,
                f"Передаю инженерам «{plan.kit.partner}»: нужна проверка на стороне "
                "партнёра, у первой линии нет доступа к этой инфраструктуре.",
                Status.WAITING_PARTNER,
            ),
            "engineer_ack": lambda: Step(_minutes(rng, 15, 180), engineer, Kind.NOTE,
                                         rng.choice(ENGINEER_ACKS)),
            "engineer_fix": lambda: Step(_minutes(rng, 60, 480), engineer, Kind.NOTE,
                                         scenario.engineer),
            "solve": lambda: reply(
                _minutes(rng, 10, 120),
                f"{scenario.solution}\n\nЕсли что-то пойдёт не так, просто ответьте на это "
                "письмо.",
                Status.RESOLVED,
            ),
            # Resolved within the first contact: the acknowledgement carries the answer.
            "solve_first": lambda: reply(reaction, scenario.solution, Status.RESOLVED),
            "close": lambda: Step(
                _minutes(rng, 24 * 60, 72 * 60), rng.choice([None, None, handler]),
                status=Status.CLOSED,
            ),
        }
        return [makers[name]() for name in names]

    resolutions = (
        ("solve_first",),
        ("ask_first", "answer", "diagnosis", "solve"),
        ("ack", "diagnosis", "hand_over", "engineer_fix", "solve"),
        ("ask_first", "answer", "diagnosis", "hand_over", "engineer_fix", "solve"),
    )
    variants: dict[str, Sequence[tuple[str, ...]]] = {
        Status.NEW: ((),),
        Status.OPEN: (
            ("ack",), ("ack", "diagnosis"), ("ask_first", "answer"),
            ("ask_first", "answer", "diagnosis"),
        ),
        Status.WAITING_CUSTOMER: (("ask_first",), ("ack", "diagnosis", "ask")),
        Status.WAITING_PARTNER: (
            ("ack", "diagnosis", "hand_over", "engineer_ack"),
            ("ask_first", "answer", "diagnosis", "hand_over", "engineer_ack"),
        ),
        Status.RESOLVED: resolutions,
        Status.CLOSED: tuple((*names, "close") for names in resolutions),
    }
    return steps(*rng.choice(variants[plan.status]))


def _lay_out(plan: TicketPlan, moment: datetime) -> None:
    """Give every step its time, squeezing the gaps when the ticket is younger than them."""
    total = sum((step.gap for step in plan.steps), timedelta())
    room = moment - plan.created_at - timedelta(minutes=1)
    scale = min(1.0, room / total) if total else 1.0
    at = plan.created_at
    for step in plan.steps:
        at += step.gap * scale
        step.at = at


def _assignee(rng: random.Random, plan: TicketPlan) -> User | None:
    if plan.handed_over:
        return plan.kit.engineer
    if plan.status == Status.NEW or rng.random() < 0.15:
        return None
    return plan.handler


def _ticket_row(plan: TicketPlan) -> Ticket:
    ticket = Ticket(
        partner=plan.kit.partner, contact=plan.contact, channel=plan.channel,
        subject=plan.scenario.subject, customer_words=plan.scenario.text, status=plan.status,
        priority=plan.priority, assignee=plan.assignee,
        service=plan.kit.services[plan.scenario.tag],
        created_at=plan.created_at,
        updated_at=plan.steps[-1].at if plan.steps else plan.created_at,
    )
    demo_sla.replay(ticket, [
        (step.at, step.kind == Kind.REPLY and not step.from_customer, step.status)
        for step in plan.steps
    ])
    return ticket


def _messages(ticket: Ticket, plan: TicketPlan) -> list[Message]:
    # On the phone the operator types the request in, as create_ticket records it.
    taker = plan.handler if plan.channel == Channel.PHONE else None
    first = Message(
        partner=ticket.partner, ticket=ticket, kind=Kind.INBOUND, author=taker,
        author_contact=plan.contact, body_text=ticket.customer_words,
        body_html=text_to_html(ticket.customer_words), created_at=ticket.created_at,
    )
    return [first] + [
        Message(
            partner=ticket.partner, ticket=ticket, kind=step.kind, author=step.actor,
            author_contact=plan.contact if step.from_customer else None,
            body_text=step.text, body_html=text_to_html(step.text), created_at=step.at,
        )
        for step in plan.steps
        if step.kind is not None
    ]


def _audit_rows(ticket: Ticket, plan: TicketPlan) -> list[AuditEvent]:
    """The ticket's trail as the services would have written it: created, assigned, moved."""

    def event(at: datetime, actor: User | None, action: str, before: dict[str, Any],
              after: dict[str, Any]) -> AuditEvent:
        return AuditEvent(
            created_at=at, actor=actor, partner=ticket.partner, action=action,
            target_type=Ticket._meta.model_name, target_id=str(ticket.pk),
            before=before, after=after,
        )

    creator = {Channel.PHONE: plan.handler, Channel.PORTAL: plan.customer_user}.get(plan.channel)
    rows = [event(ticket.created_at, creator, "ticket.created", {}, {
        "subject": ticket.subject, "channel": ticket.channel, "status": Status.NEW,
        "priority": ticket.priority, "contact": plan.contact.name,
        "service": ticket.service.name if ticket.service else None,
    })]
    status: str = Status.NEW
    assigned = plan.assignee is None
    for step in plan.steps:
        assert step.at is not None
        if not assigned and (step.status == Status.WAITING_PARTNER or step.actor == plan.assignee):
            # Operators take a ticket with their first action; a hand-over assigns the engineer.
            assigned = True
            rows.append(event(step.at, step.actor, "ticket.assigned", {"assignee": None},
                              {"assignee": plan.assignee.display_name}))
        if step.status is not None and step.status != status:
            rows.append(event(step.at, step.actor, "ticket.status_changed",
                              {"status": status}, {"status": step.status}))
            status = step.status
    return rows
