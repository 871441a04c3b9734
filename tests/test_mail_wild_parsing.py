"""Mail from the wild (tests/data/mail/wild/, written by make_wild.py there): for each letter
the sender, subject, text the operator sees, attachments and flags, one group per class an
outside review found failing (13 attached letters, 14 auto-replies, 15 forwards, 16 encoded
names with commas, 17 attachment names, 18 charsets, 19 garbled addresses, 20 two From
headers); then the rules behind each class on letters of their own.

Pure functions of bytes: no database. The attached-letter block's labels follow the
installation's language (English under the test settings; Russian is checked below).
"""

import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from django.test import override_settings

from firstline.mail.parsed import Address, ParsedMail
from firstline.mail.parsing import parse
from firstline.mail.parsing_charsets import decode_bytes, decode_iso2022_jp, guess
from firstline.mail.parsing_quotes import fold, forward_start, is_forward_subject

WILD = Path(__file__).resolve().parent / "data" / "mail" / "wild"


@cache
def parsed(name: str) -> ParsedMail:
    return parse((WILD / f"{name}.eml").read_bytes())


@dataclass(frozen=True)
class Expected:
    name: str
    sender: Address
    subject: str
    text: str
    attachments: tuple[tuple[str, int], ...]
    flags: frozenset[str]


def expect(name: str, sender: tuple[str, str], subject: str, text: str, *,
           attachments: tuple[tuple[str, int], ...] = (), flags: str = "") -> Expected:
    return Expected(name, Address(*sender), subject, text, attachments,
                    frozenset(flags.split()))


EXPECTED = [
    expect(
        "w13-01-thunderbird-forward-as-attachment",
        ("Ольга Смирнова", "olga@romashka.example"),
        "Fwd: Акт сверки за февраль",
        "Пересылаю письмо, акт так и не пришёл в ЛК.",
        attachments=(('Акт сверки.eml', 497),),
    ),
    expect(
        "w13-02-gmail-forward-as-attachment-no-text",
        ("Ivan Petrov", "ivan.petrov@gmail.example"),
        "Fwd: Не открывается сайт",
        "---------- Attached message ----------\n"
        "From: Иван Петров <ivan@stroymarket.example>\n"
        "Date: 10.03.2025 09:30 +0300\n"
        "Subject: Не открывается сайт\n"
        "\n"
        "Сайт stroymarket.example со вчерашнего вечера отдаёт ошибку 503.",
        attachments=(('Не открывается сайт.eml', 492),),
    ),
    expect(
        "w13-03-spamassassin-report",
        ("Maria Sidorova", "maria@fabrika.example"),
        "*****SPAM***** Re: Перенос домена",
        'Spam detection software, running on the system "mx.alpha.example",\n'
        "has identified this incoming email as possible spam.\n"
        "\n"
        "Content analysis details:   (5.2 points, 5.0 required)\n"
        "\n"
        "---------- Attached message ----------\n"
        "From: Maria Sidorova <maria@fabrika.example>\n"
        "Date: 12.03.2025 08:14 +0300\n"
        "Subject: Re: Перенос домена\n"
        "\n"
        "Перенос домена fabrika.example согласуем на пятницу, NS поменяем сами.",
        attachments=(('Re: Перенос домена.eml', 410),),
    ),
    expect(
        "w13-04-digest",
        ("Служба поддержки Ромашки", "noreply@romashka.example"),
        "Дайджест обращений",
        "Два обращения клиентов за ночь, пересылаем одним письмом.\n"
        "\n"
        "---------- Attached message ----------\n"
        "From: client1@shop.example\n"
        "Date: 12.03.2025 23:10 +0300\n"
        "Subject: Нет почты\n"
        "\n"
        "Не приходит почта на ящик info@shop.example.\n"
        "\n"
        "---------- Attached message ----------\n"
        "From: client2@kafe.example\n"
        "Date: 13.03.2025 01:40 +0300\n"
        "Subject: Сертификат\n"
        "\n"
        "Браузер пишет, что сертификат kafe.example истёк.",
        attachments=(('Нет почты.eml', 294), ('Сертификат.eml', 312)),
    ),
    expect(
        "w13-05-apple-mail-inline-rfc822-cp1251",
        ("Sergey Kuznetsov", "s.kuznetsov@vector.example"),
        "Fwd: Смена реквизитов",
        "Нужно ли менять что-то в договоре?\n"
        "\n"
        "---------- Attached message ----------\n"
        "From: Бухгалтерия <buh@vector.example>\n"
        "Date: 14.03.2025 12:00 +0300\n"
        "Subject: Смена реквизитов\n"
        "\n"
        "Уважаемые коллеги! Сообщаем о смене реквизитов с 1 апреля.",
        attachments=(('Смена реквизитов.eml', 375),),
    ),
    expect(
        "w13-06-outlook-nested-forward",
        ("Денис Горшков", "d.gorshkov@unix-shop.example"),
        "FW: Авария на магистрали",
        "Это к вчерашней заявке.\n"
        "\n"
        "---------- Attached message ----------\n"
        "From: admin@unix-shop.example\n"
        "Date: 15.03.2025 08:00 +0300\n"
        "Subject: FW: Авария\n"
        "\n"
        "FYI\n"
        "\n"
        "---------- Attached message ----------\n"
        "From: noc@upstream.example\n"
        "Date: 10.03.2025 09:30 +0300\n"
        "Subject: Авария на магистрали\n"
        "\n"
        "Авария на магистрали устранена в 05:40.",
        attachments=(('FW: Авария.eml', 799),),
    ),
    expect(
        "w14-01-exchange-ru-automatic-reply",
        ("Волкова Анна Сергеевна", "a.volkova@lesprom.example"),
        "Автоматический ответ: [FL-000001] Ваш вопрос принят",
        "Здравствуйте! Я в отпуске до 24 марта, по срочным вопросам — Сергей Кузнецов.",
        flags="auto",
    ),
    expect(
        "w14-02-yandex-autoreply",
        ("Иван Петров", "ivan.petrov@stroymarket.example"),
        "Автоответ: Re: Ваш вопрос принят",
        "Спасибо за письмо. Отвечу после 20 марта.",
        flags="auto",
    ),
    expect(
        "w14-03-mailru-not-in-office",
        ("Мария Сидорова", "maria@fabrika.example"),
        "Нет на месте: Ваш вопрос принят",
        "Меня нет на месте до понедельника.",
        flags="auto",
    ),
    expect(
        "w14-04-gmail-vacation-custom-subject",
        ("Peter Brown", "peter@brown-consulting.example"),
        "Back on Monday",
        "I am travelling and will answer on Monday.",
        flags="auto",
    ),
    expect(
        "w14-05-exchange-de-automatische-antwort",
        ("Bürling, Andreas", "andreas.buerling@firma.example"),
        "Automatische Antwort: Ihre Anfrage",
        "Ich bin bis zum 21.03. nicht im Büro.",
        flags="auto",
    ),
    expect(
        "w14-06-x-autoreply-with-bounce-words",
        ("Olga", "olga@romashka.example"),
        "Автоответ: Письмо не доставлено",
        "Я в командировке, отвечу позже.",
        flags="auto",
    ),
    expect(
        "w14-07-real-dsn-from-null-sender",
        ("Mail Delivery System", "mailer-daemon@mx.alpha.example"),
        "Undelivered Mail Returned to Sender",
        "Your message could not be delivered.",
        flags="auto daemon report",
    ),
    expect(
        "w15-01-yandex-forward-with-signature",
        ("Анна Волкова", "a.volkova@yandex.example"),
        "Fwd: Счёт на оплату",
        "Добрый день, а этот счёт от вас?\n"
        "\n"
        "-------- Пересылаемое сообщение --------\n"
        '18.03.2025, 09:12, "Billing" <billing@hoster.example>:\n'
        "\n"
        "Счёт № 4411 на сумму 12 000 руб. Оплатить до 25.03.\n"
        "\n"
        "-------- Конец пересылаемого сообщения --------",
    ),
    expect(
        "w15-02-thunderbird-ru-redirected",
        ("Sergey Kuznetsov", "s.kuznetsov@vector.example"),
        "Fwd: Ошибка резервного копирования",
        "-------- Перенаправленное сообщение --------\n"
        "Тема: \tОшибка резервного копирования\n"
        "Дата: \tTue, 18 Mar 2025 03:00:00 +0300\n"
        "От: \tbackup@vector.example\n"
        "Кому: \tadmin@vector.example\n"
        "\n"
        "\n"
        "\n"
        "Задание nightly завершилось с ошибкой: нет места на диске /backup.",
    ),
    expect(
        "w15-03-outlook-ru-forward-block",
        ("Волкова Анна Сергеевна", "a.volkova@lesprom.example"),
        "ПЕРЕСЛ: Отключение электроэнергии",
        "Коллеги, это затронет наш сервер?\n"
        "\n"
        "________________________________\n"
        "От: Управляющая компания <uk@bc-lesnoy.example>\n"
        "Отправлено: 18 марта 2025 г. 8:40\n"
        "Кому: Волкова Анна Сергеевна\n"
        "Тема: Отключение электроэнергии\n"
        "\n"
        "20 марта с 10:00 до 14:00 в бизнес-центре будет отключено электричество.",
    ),
    expect(
        "w15-04-outlook-en-original-message-forward",
        ("John Smith", "john.smith@northwind.example"),
        "FW: Certificate expiry notice",
        "Please renew this one.\n"
        "\n"
        "-----Original Message-----\n"
        "From: Certificates <noreply@ca.example>\n"
        "Sent: Tuesday, March 18, 2025 7:00 AM\n"
        "To: John Smith <john.smith@northwind.example>\n"
        "Subject: Certificate expiry notice\n"
        "\n"
        "The certificate for shop.northwind.example expires in 7 days.",
    ),
    expect(
        "w15-05-gmail-forwarded-message-alternative",
        ("Maria", "maria@fabrika.example"),
        "Fwd: Disk almost full",
        "Посмотрите, пожалуйста.\n"
        "\n"
        "---------- Forwarded message ---------\n"
        "От: Robot <robot@monitoring.example>\n"
        "Date: вт, 18 мар. 2025 г. в 06:00\n"
        "Subject: Disk almost full\n"
        "To: <maria@fabrika.example>\n"
        "\n"
        "\n"
        "Диск /var заполнен на 95%.",
    ),
    expect(
        "w15-06-apple-mail-begin-forwarded",
        ("Peter Brown", "peter@brown-consulting.example"),
        "Fwd: Invoice 2025-03",
        "Is this correct?\n"
        "\n"
        "Begin forwarded message:\n"
        "\n"
        "> From: Billing <billing@hoster.example>\n"
        "> Date: 18 March 2025 at 08:00:00 GMT+3\n"
        "> To: peter@brown-consulting.example\n"
        "> Subject: Invoice 2025-03\n"
        ">\n"
        "> Your invoice for March is 240 EUR.",
    ),
    expect(
        "w15-07-mailru-forward-ot-kogo",
        ("Дмитрий", "dima@mail.example"),
        "Fwd: Доступ к панели",
        "-------- Пересылаемое сообщение --------\n"
        "От кого: Олег <oleg@unix-shop.example>\n"
        "Кому: dima@mail.example\n"
        "Дата: Вторник, 18 марта 2025, 10:05 +03:00\n"
        "Тема: Доступ к панели\n"
        "\n"
        "Дима, я не могу войти в панель: пишет «неверный пароль».\n"
        "\n"
        "----------------------------------------------------------------------",
    ),
    expect(
        "w15-08-outlook-reply-original-message-is-folded",
        ("John Smith", "john.smith@northwind.example"),
        "RE: Certificate expiry notice",
        "Thanks, renewed.",
    ),
    expect(
        "w15-09-reply-to-a-forward-is-folded",
        ("Волкова Анна Сергеевна", "a.volkova@lesprom.example"),
        "RE: ПЕРЕСЛ: Отключение электроэнергии",
        "Спасибо, понятно.",
    ),
    expect(
        "w16-01-exchange-lastname-comma-q",
        ("Bürling, Andreas", "andreas.buerling@firma.example"),
        "Zugang zum FTP",
        "Hallo, der FTP-Zugang funktioniert nicht mehr.",
    ),
    expect(
        "w16-02-exchange-ru-comma-base64-and-list",
        ("Петров, Иван Сергеевич", "ivan.petrov@stroymarket.example"),
        "Не работает VPN",
        "VPN не подключается с 9 утра.",
    ),
    expect(
        "w16-03-q-encoded-comma-and-angle",
        ("Smith, John <john>", "john.smith@northwind.example"),
        "VPN",
        "VPN is down.",
    ),
    expect(
        "w16-04-raw-utf8-unquoted-comma",
        ("Иванова, Мария", "m.ivanova@romashka.example"),
        "Почта",
        "Почта не отправляется.",
    ),
    expect(
        "w17-01-outlook-rfc2231-number-sign-parentheses",
        ("Anna", "a.volkova@lesprom.example"),
        "Счёт",
        "Счёт во вложении.",
        attachments=(('Счёт №15 (март), итог.pdf', 45),),
    ),
    expect(
        "w17-02-thunderbird-rfc2231-continuations",
        ("Sergey", "s.kuznetsov@vector.example"),
        "Акт",
        "Акт подписан.",
        attachments=(('Акт выполненных работ № 7 от 19.03.2025 (подписан).pdf', 45),),
    ),
    expect(
        "w17-03-apple-nfd-encoded-word",
        ("Peter", "peter@brown-consulting.example"),
        "Report",
        "Report attached.",
        attachments=(('Отчёт за май — итоговый.pdf', 45),),
    ),
    expect(
        "w17-04-mailru-raw-utf8-name",
        ("Dima", "dima@mail.example"),
        "Скриншот ошибки",
        "Вот что показывает панель.",
        attachments=(('Ошибка входа, панель 2.pdf', 45),),
    ),
    expect(
        "w17-05-latin1-rfc2231-accents-and-path",
        ("Jérôme", "jerome@bureau.example"),
        "Réunion",
        "Voir la pièce jointe.",
        attachments=(("Réunion d'équipe (v2).pdf", 45),),
    ),
    expect(
        "w18-01-norwegian-raw-latin1-name",
        ("Jørgen Ødegård", "jorgen@fjord.example"),
        "Innlogging feiler",
        "Hei, innloggingen på kontrollpanelet feiler for Ødegård.",
    ),
    expect(
        "w18-02-unknown-label-on-utf8",
        ("Олег", "oleg@unix-shop.example"),
        "Панель",
        "Не открывается панель управления, ошибка 500.",
    ),
    expect(
        "w18-03-iso2022jp-nec-extensions",
        ("Tanaka", "tanaka@kaisha.example"),
        "①番の件",
        "㈱ Tanaka\n"
        "①番の件です。",
    ),
    expect(
        "w18-04-undeclared-cp1251-body",
        ("Oleg", "oleg@unix-shop.example"),
        "Backup",
        "Резервная копия за вчера не создана, проверьте задание.",
    ),
    expect(
        "w18-05-undeclared-koi8r-body",
        ("Oleg", "oleg@unix-shop.example"),
        "Mail",
        "Почта уходит с задержкой в полчаса, очередь растёт.",
    ),
    expect(
        "w18-06-undeclared-latin1-german-body",
        ("Andreas", "andreas.buerling@firma.example"),
        "Zugang",
        "Grüße aus München, der Zugang für Jürgen geht nicht.",
    ),
    expect(
        "w18-07-raw-cp1251-subject-declared-body",
        ("Клиент", "client@shop.example"),
        "Сайт не работает",
        "Сайт недоступен.",
    ),
    expect(
        "w18-08-undeclared-gbk-body",
        ("Li", "li@gongsi.example"),
        "Server",
        "我们的服务器今天上午无法访问，请尽快处理。谢谢！",
    ),
    expect(
        "w19-01-spaces-inside-angle-brackets",
        ("Power Quadrant", ""),
        "Partnership offer",
        "We would like to offer you a partnership.",
    ),
    expect(
        "w19-02-double-at",
        ("Иван", ""),
        "Помогите",
        "Не работает сайт.",
    ),
    expect(
        "w19-03-space-in-domain",
        ("Ivan", ""),
        "Site down",
        "The site is down.",
    ),
    expect(
        "w19-04-trailing-dot-domain",
        ("Иван Петров", "ivan.petrov@stroymarket.example"),
        "Не работает FTP",
        "С утра не работает FTP.",
    ),
    expect(
        "w19-05-garbled-reply-to",
        ("Maria", "maria@fabrika.example"),
        "Почта",
        "Почта не приходит.",
    ),
    expect(
        "w20-01-junk-from-then-valid",
        ("Ольга Смирнова", "olga@romashka.example"),
        "Не приходят письма",
        "Не приходят письма с сайта.",
    ),
    expect(
        "w20-02-valid-from-then-another",
        ("Sergey Kuznetsov", "s.kuznetsov@vector.example"),
        "Backup",
        "The backup failed again.",
    ),
    expect(
        "w20-03-bare-name-from-then-valid",
        ("Peter Brown", "peter@brown-consulting.example"),
        "VPS",
        "Please reboot my VPS.",
    ),
]


def flags_of(mail: ParsedMail) -> frozenset[str]:
    present = {
        "auto": mail.auto_submitted,
        "bulk": mail.bulk,
        "daemon": mail.from_mailer_daemon,
        "report": mail.delivery_report is not None,
    }
    return frozenset(name for name, on in present.items() if on)


def test_every_wild_letter_has_its_expectation():
    on_disk = {path.stem for path in WILD.glob("*.eml")}
    assert len(on_disk) >= 40
    assert on_disk == {item.name for item in EXPECTED}


@pytest.mark.parametrize("case", EXPECTED, ids=lambda case: case.name)
def test_wild_letter(case: Expected):
    """Sender, subject, the text shown, attachments and flags as a person reading the
    letter would say; nothing of the letter is lost from what the operator sees."""
    mail = parsed(case.name)
    assert mail.sender == case.sender
    assert mail.subject == case.subject
    assert mail.text == case.text
    assert [(a.filename, a.size) for a in mail.attachments] == list(case.attachments)
    assert flags_of(mail) == case.flags


@pytest.mark.parametrize("case", EXPECTED, ids=lambda case: case.name)
def test_wild_letter_invariants(case: Expected):
    mail = parsed(case.name)
    for address in (mail.sender, *mail.to, *mail.cc, *mail.reply_to):
        assert address.email == address.email.lower()
        assert " " not in address.email and not address.email.endswith(".")
    for attachment in mail.attachments:
        assert attachment.filename == unicodedata.normalize("NFC", attachment.filename)
        assert "/" not in attachment.filename and "\\" not in attachment.filename
        assert attachment.content is not None and len(attachment.content) == attachment.size
    assert "\x1b" not in mail.subject + mail.text  # no raw ISO-2022 escapes


# --- 13: attached letters ---------------------------------------------------------------------


def test_an_attached_letter_is_kept_as_an_eml_that_parses_back():
    mail = parsed("w13-05-apple-mail-inline-rfc822-cp1251")
    (kept,) = mail.attachments
    assert kept.content_type == "message/rfc822"
    again = parse(kept.content)
    assert again.message_id == "w13-05-inner@vector.example"
    assert again.text == "Уважаемые коллеги! Сообщаем о смене реквизитов с 1 апреля."


def test_nested_attached_letters_are_all_shown_and_the_outer_file_keeps_the_inner():
    mail = parsed("w13-06-outlook-nested-forward")
    (kept,) = mail.attachments
    inner = parse(kept.content)
    assert [item.message_id for item in inner.forwarded] == ["w13-06-innermost@upstream.example"]
    assert mail.text.count("---------- Attached message ----------") == 2


def test_a_letter_attached_as_a_file_under_text_of_its_own_is_a_file_only():
    mail = parsed("w13-01-thunderbird-forward-as-attachment")
    assert "Акт сверки во вложении" not in mail.text
    assert mail.forwarded[0].text == "Добрый день! Акт сверки во вложении, просьба подписать."


@override_settings(LANGUAGE_CODE="ru")
def test_the_attached_letter_block_speaks_the_installations_language():
    mail = parse((WILD / "w13-03-spamassassin-report.eml").read_bytes())
    assert "---------- Вложенное письмо ----------\nОт кого: Maria Sidorova" in mail.text
    assert "\nТема: Re: Перенос домена\n" in mail.text


def test_an_html_letter_shows_the_attached_letter_in_its_html_too():
    raw = (
        "From: a@b.example\r\nSubject: Fwd\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
        "--x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>See below</p>\r\n"
        "--x\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@d.example\r\nSubject: Inner\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nТекст <script>x</script>\r\n--x--\r\n"
    ).encode()
    mail = parse(raw)
    assert "<p>See below</p>" in mail.html
    assert 'class="attached-message"' in mail.html and "Текст &lt;script&gt;" in mail.html
    assert "<script>" not in mail.html


def test_a_bounce_does_not_show_the_returned_letter_as_text():
    mail = parse((Path(__file__).resolve().parent / "data" / "mail"
                  / "13-dsn-returned-message.eml").read_bytes())
    assert "Attached message" not in mail.text and mail.delivery_report is not None


# --- 14: auto-replies are not bounces ---------------------------------------------------------


@pytest.mark.parametrize("name", [
    "w14-01-exchange-ru-automatic-reply", "w14-02-yandex-autoreply",
    "w14-03-mailru-not-in-office", "w14-04-gmail-vacation-custom-subject",
    "w14-05-exchange-de-automatische-antwort", "w14-06-x-autoreply-with-bounce-words",
])
def test_an_out_of_office_from_the_null_return_path_is_an_auto_reply_with_its_text(name: str):
    mail = parsed(name)
    assert mail.auto_submitted
    assert not mail.from_mailer_daemon and mail.delivery_report is None
    assert mail.text and mail.sender.email


def test_a_real_report_from_the_null_return_path_is_still_a_bounce():
    mail = parsed("w14-07-real-dsn-from-null-sender")
    assert mail.delivery_report is not None
    assert mail.delivery_report.failed_recipients == ("gone@lesprom.example",)
    assert mail.delivery_report.original_message_id == "ack-w14@alpha.example"


# --- 15: forwards are not quotes ----------------------------------------------------------------


@pytest.mark.parametrize(("banner", "subject"), [
    ("-------- Пересылаемое сообщение --------", ""),
    ("-------- Перенаправленное сообщение --------", ""),
    ("-------- Forwarded Message --------", ""),
    ("---------- Forwarded message ---------", ""),
    ("Begin forwarded message:", ""),
    ("Начало переадресованного сообщения:", ""),
    ("----- Original Message -----", "Fwd: Счёт"),
    ("-----Original Message-----", "FW: Invoice"),
    ("-------- Исходное сообщение --------", "ПЕРЕСЛ: Счёт"),
])
def test_a_forward_keeps_the_forwarded_letter(banner: str, subject: str):
    full = f"Посмотрите, пожалуйста.\n\n{banner}\nОт: billing@hoster.example\n\nСчёт № 4411."
    text = fold(full, subject)
    assert text.startswith("Посмотрите, пожалуйста.")
    assert banner in text and text.endswith("Счёт № 4411.")


@pytest.mark.parametrize("subject", ["RE: Invoice", "Re: Fwd: Invoice", "Ответ: Счёт", ""])
def test_original_message_under_a_reply_subject_is_still_folded(subject: str):
    full = "Спасибо.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nOld text"
    assert fold(full, subject) == "Спасибо."


def test_outlook_header_block_starts_a_forward_only_under_a_forward_subject():
    full = ("Это к нам?\n\nFrom: Robot <r@x.example>\nSent: Monday, March 3, 2025\n"
            "To: Anna\nSubject: Alert\n\nDisk full")
    assert fold(full, "FW: Alert").endswith("Disk full")
    assert fold(full, "RE: Alert") == "Это к нам?"


def test_a_forward_banner_inside_reply_history_is_folded_with_it():
    full = ("Ок.\n\nOn Mon, 3 Mar 2025 at 10:00, Support <s@x.example> wrote:\n"
            "> ---------- Forwarded message ---------\n> old")
    assert fold(full, "Re: Fwd: x") == "Ок."
    assert forward_start(full.split("\n")) is None


def test_a_signature_above_a_forward_is_folded_but_the_forward_kept():
    full = ("См. ниже\n-- \nИван\n+7 900 000-00-00\n\n"
            "-------- Пересылаемое сообщение --------\nТекст")
    assert fold(full, "Fwd: x") == (
        "См. ниже\n\n-------- Пересылаемое сообщение --------\nТекст"
    )


@pytest.mark.parametrize(("subject", "forward"), [
    ("Fwd: x", True), ("FW: x", True), ("Fw: x", True), ("ПЕРЕСЛ: x", True),
    ("WG: x", True), ("TR: x", True), ("Re: Fwd: x", False), ("Forward planning", False),
    ("", False),
])
def test_forward_subjects(subject: str, forward: bool):
    assert is_forward_subject(subject) is forward


# --- 16: encoded display names with commas ----------------------------------------------------


@pytest.mark.parametrize(("header", "expected"), [
    ("=?iso-8859-1?Q?B=FCrling,=20Andreas?= <a@b.de>", [("Bürling, Andreas", "a@b.de")]),
    ("=?utf-8?B?0J/QtdGC0YDQvtCyLCDQmNCy0LDQvQ==?= <i@p.ru>, x@y.ru",
     [("Петров, Иван", "i@p.ru"), ("", "x@y.ru")]),
    ("=?utf-8?Q?A=2C_B?= <ab@c.ru>", [("A, B", "ab@c.ru")]),
    ("=?utf-8?Q?Doe,?= =?utf-8?Q?_Jane?= <jd@c.ru>", [("Doe, Jane", "jd@c.ru")]),
    ("Doe, Jane <jd@c.ru>", [("Doe, Jane", "jd@c.ru")]),
    ('"Doe, Jane" <jd@c.ru>, "Roe, Rick" <rr@c.ru>',
     [("Doe, Jane", "jd@c.ru"), ("Roe, Rick", "rr@c.ru")]),
])
def test_commas_inside_display_names_do_not_split_the_address(header: str, expected):
    mail = parse(f"From: x@y.example\r\nTo: {header}\r\n\r\nbody".encode())
    assert [(item.name, item.email) for item in mail.to] == expected


# --- 18: charsets -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "charset"), [
    ("Jørgen Ødegård", "latin-1"),
    ("Bürling, Müller Straße", "latin-1"),
    ("Crème brûlée à la française", "cp1252"),
    ("Привет, как дела? Всё хорошо.", "cp1251"),
    ("Привет, как дела? Всё хорошо.", "koi8-r"),
    ("我们的服务器今天上午无法访问，请尽快处理。", "gb18030"),
    ("サーバーに接続できません。至急確認をお願いします。", "shift_jis"),
    ("サーバーに接続できません。至急確認をお願いします。", "euc_jp"),
    ("서버에 접속할 수 없습니다. 빨리 확인해 주세요.", "euc_kr"),
    ("您好，伺服器無法連線，請盡快處理。", "big5"),
])
def test_undeclared_bytes_are_guessed_with_cjk_last(text: str, charset: str):
    assert guess(text.encode(charset)).text == text


def test_the_letters_own_charset_is_preferred_for_raw_header_bytes():
    data = "Øyvind".encode("latin-1")
    assert decode_bytes(data, None, hints=("iso-8859-1",)).text == "Øyvind"
    # ...but not against the bytes: a Russian name in a letter labelled Latin-1.
    russian = "Привет, Иван".encode("cp1251")
    assert decode_bytes(russian, None, hints=("iso-8859-1",)).text == "Привет, Иван"


@pytest.mark.parametrize("label", ["utf-8lite", "x-unknown", "unicode-2-0-utf-8", "utf8mb4"])
def test_an_unknown_label_on_utf8_text_reads_as_utf8(label: str):
    assert decode_bytes("Счёт за март".encode(), label).text == "Счёт за март"


def test_latin1_labels_read_windows_1252_quotes():
    assert decode_bytes("“Quoted” – €5".encode("cp1252"), "iso-8859-1").text == "“Quoted” – €5"
    assert decode_bytes(b"a\x81b", "iso-8859-1").text  # an unassigned byte: still text


def test_iso_2022_jp_with_nec_extensions_decodes():
    text, clean = decode_iso2022_jp(b"\x1b$B-!HV$N7o\x1b(B test \x1b$B-j\x1b(B")
    assert (text, clean) == ("①番の件 test ㈱", True)
    assert decode_bytes("こんにちは".encode("iso2022_jp"), "iso-2022-jp").text == "こんにちは"
    assert decode_bytes(b"\x1b$B-!\x1b(B", "cp50220").text == "①"
    half_width = decode_iso2022_jp(b"\x1b(I1\x1b(B")[0]
    assert half_width == "ｱ"


def test_iso_2022_jp_without_a_label_is_recognised_by_its_escapes():
    assert decode_bytes(b"\x1b$B$3$s$K$A$O\x1b(B", None).text == "こんにちは"


# --- 19, 20: addresses --------------------------------------------------------------------------


@pytest.mark.parametrize("header", [
    "<power quadrant system@example.com>",
    "Power <power quadrant system@example.com>",
    "Ivan <ivan@exa mple.ru>",
    "<ivan@@example.ru>",
    "Ivan <ivan..petrov@example.ru>",
    "Ivan <ivan@example..ru>",
])
def test_an_invalid_address_is_unusable_never_a_fragment(header: str):
    mail = parse(f"From: {header}\r\nReturn-Path: <other@x.example>\r\n\r\nbody".encode())
    assert mail.sender.email == ""
    assert any("not valid" in problem for problem in mail.problems)


@pytest.mark.parametrize(("header", "expected"), [
    ("Ivan Petrov ivan@example.ru", ("Ivan Petrov", "ivan@example.ru")),
    ('"Ivan" ivan@example.ru', ("Ivan", "ivan@example.ru")),
    ("Ivan <Ivan@Example.RU.>", ("Ivan", "ivan@example.ru")),
    ("ivan@example.ru (Иван)", ("Иван", "ivan@example.ru")),
    ("Broken <ivan@example.ru", ("Broken", "ivan@example.ru")),
    ('"Ivan Petrov <ivan@example.ru>"', ("Ivan Petrov", "ivan@example.ru")),
    ("Ivan <mailto:ivan@example.ru>", ("Ivan", "ivan@example.ru")),
    ('"O\'Brien, Pat" <pat.o\'brien@example.ie>', ("O'Brien, Pat", "pat.o'brien@example.ie")),
    ("Иван <Иван@Пример.РФ>", ("Иван", "иван@пример.рф")),
    ("Ivan < ivan@example.ru >", ("Ivan", "ivan@example.ru")),
    ('"Ivan" <ivan.petrov+tag@sub.example.co.uk>', ("Ivan", "ivan.petrov+tag@sub.example.co.uk")),
])
def test_whole_addresses_in_odd_shapes_are_read(header: str, expected):
    mail = parse(f"From: {header}\r\n\r\nbody".encode())
    assert (mail.sender.name, mail.sender.email) == expected


def test_a_from_without_any_address_still_falls_back_to_sender():
    mail = parse(b"From: undisclosed\r\nSender: Robot <robot@x.example>\r\n\r\nbody")
    assert mail.sender == Address("Robot", "robot@x.example")


@pytest.mark.parametrize(("headers", "expected"), [
    ('From: "Winner" <winner at prize>\r\nFrom: Olga <olga@r.example>', ("Olga", "olga@r.example")),
    ("From: Olga <olga@r.example>\r\nFrom: Spam <spam@s.example>", ("Olga", "olga@r.example")),
    ("From: nobody\r\nFrom: Olga <olga@r.example>\r\nSender: Relay <relay@r.example>",
     ("Olga", "olga@r.example")),
])
def test_with_two_from_headers_name_and_address_come_from_the_first_valid(headers, expected):
    mail = parse(f"{headers}\r\n\r\nbody".encode())
    assert (mail.sender.name, mail.sender.email) == expected


def test_raw_iso_2022_jp_headers_without_encoded_words_are_decoded():
    raw = (b"From: \x1b$BED\x43\x66\x1b(B <tanaka@kaisha.example>\r\n"
           b"Subject: \x1b$B-!HV$N7o\x1b(B\r\n\r\nbody")
    mail = parse(raw)
    assert (mail.sender.name, mail.subject) == ("田中", "①番の件")
