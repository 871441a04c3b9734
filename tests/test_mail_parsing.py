"""The mail parser over a corpus of real-world shapes (tests/data/mail/, written by
make_corpus.py there): for each message the exact sender, subject, new text (with the
quoted history folded away), attachments and flags; then the details that matter to
ingest: message ids, dates, delivery reports, forwarded messages, inline images, the
size limit, and what is reported as a problem.

Pure functions of bytes: no database.
"""

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

import pytest

from firstline.mail.parsed import Address, DeliveryReport, ParsedMail
from firstline.mail.parsing import parse

CORPUS = Path(__file__).resolve().parent / "data" / "mail"
MSK = timezone(timedelta(hours=3))


@cache
def parsed(name: str) -> ParsedMail:
    return parse((CORPUS / f"{name}.eml").read_bytes())


@dataclass(frozen=True)
class Expected:
    name: str
    sender: Address
    subject: str
    text: str
    folded: str = ""  # a piece of the quoted history / signature: in full_text, not in text
    attachments: tuple[tuple[str, int], ...] = ()  # (filename, size)
    flags: frozenset[str] = field(default_factory=frozenset)  # auto, bulk, daemon, report


def expect(name: str, sender: tuple[str, str], subject: str, text: str, *,
           folded: str = "", attachments: tuple[tuple[str, int], ...] = (),
           flags: str = "") -> Expected:
    return Expected(name, Address(*sender), subject, text, folded, attachments,
                    frozenset(flags.split()))


PDF_SIZE = 2088  # the fake PDF make_corpus.py writes
PNG_SIZE = 68

EXPECTED = [
    expect(
        "01-plain-utf8-ftp", ("Иван Петров", "ivan.petrov@stroymarket.example"),
        "Не работает FTP",
        "Добрый день!\n\nС утра не работает FTP на сервере ftp.stroymarket.example: клиент "
        "пишет\n«530 Login incorrect», хотя пароль не меняли.\n\nС уважением,\nИван Петров",
    ),
    expect(
        "02-question-qp-signature", ("Ольга Смирнова", "olga@romashka.example"), "Вопрос",
        "Здравствуйте!\n\nПодскажите, пожалуйста, можно ли перенести почтовый домен на ваш "
        "хостинг\nбез остановки почты? Сейчас MX указывает на старого провайдера.\n\n"
        "С уважением,\nОльга Смирнова",
        folded="бухгалтерия ООО «Ромашка»",
    ),
    expect(
        "03-reply-gmail-ru-attribution", ("Иван Петров", "ivan.petrov@stroymarket.example"),
        "Re: Не работает FTP [#1042]", "Спасибо, заработало после смены пароля.",
        folded="пн, 3 мар. 2025 г. в 10:00, Служба поддержки <support@alpha.example>:",
    ),
    expect(
        "04-reply-thunderbird-flowed", ("Sergey Kuznetsov", "s.kuznetsov@vector.example"),
        "Re: Ошибка 502 на сайте",
        "Добрый день. Проверили ещё раз: сайт открывается, но админка отдаёт ошибку 502 "
        "примерно раз в минуту.",
        folded="03.03.2025 12:15, Служба поддержки пишет:",
    ),
    expect(
        "05-reply-outlook-ru-cp1251", ("Волкова Анна Сергеевна", "a.volkova@lesprom.example"),
        "RE: Сброс пароля",
        "Добрый день!\n\nПароль пришёл, спасибо. Но теперь не открывается phpMyAdmin.\n\n"
        "С уважением,\nАнна Волкова",
        folded="Отправлено: 3 марта 2025 г. 14:20",
    ),
    expect(
        "06-reply-outlook-en-original-message", ("John Smith", "john.smith@northwind.example"),
        "RE: Nightly backup failed",
        "Hi team,\n\nthe backup job still fails every night, log attached earlier.\n\n"
        "Regards,\nJohn",
        folded="Hello John, could you send us the job log?",
    ),
    expect(
        "07-reply-on-wrote-wrapped", ("Peter Brown", "peter@brown-consulting.example"),
        "Re: VPS migration window", "Yes, please go ahead with the migration on Saturday.",
        folded="we can migrate your VPS",
    ),
    expect(
        "08-forward-inline-ru", ("Анна Волкова", "a.volkova@lesprom.example"),
        "Fwd: Плановые работы",
        # A forward is not a quote: the forwarded letter stays in the text.
        "Коллеги, посмотрите, пожалуйста, что это за письмо от провайдера.\n\n"
        "-------- Пересылаемое сообщение --------\nОт: noc@upstream.example\n"
        "Дата: 05.03.2025 08:00\nТема: Плановые работы\nКому: admin@lesprom.example\n\n"
        "Уважаемый клиент! 10 марта с 02:00 до 04:00 плановые работы на магистрали.\n"
        "-------- Конец пересылаемого сообщения --------",
    ),
    expect(
        "09-forward-attached-rfc822", ("Ольга Смирнова", "olga@romashka.example"),
        "Fwd: Счёт за хостинг не пришёл",
        "Пересылаю письмо бухгалтерии, счёт действительно не приходил.",
        attachments=(("forwarded.eml", 392),),
    ),
    expect(
        "10-auto-reply-ru", ("Анна Волкова", "a.volkova@lesprom.example"),
        "Автоматический ответ: RE: Сброс пароля [#1044]",
        "Здравствуйте!\n\nЯ в отпуске до 17 марта. По срочным вопросам обращайтесь к Сергею "
        "Кузнецову.",
        flags="auto",
    ),
    expect(
        "11-out-of-office-en-x-autoreply", ("Peter Brown", "peter@brown-consulting.example"),
        "Out of Office: VPS migration window",
        "I am out of the office until Monday with limited access to e-mail.",
        flags="auto",
    ),
    expect(
        "12-dsn-postfix", ("Mail Delivery System", "mailer-daemon@mx.alpha.example"),
        "Undelivered Mail Returned to Sender",
        "This is the mail system at host mx.alpha.example.\n\nI'm sorry to have to inform "
        "you that your message could not\nbe delivered to one or more recipients.\n\n"
        "<ivan.petroff@stroymarket.example>: host mx.stroymarket.example[192.0.2.25]\n"
        "    said: 550 5.1.1 <ivan.petroff@stroymarket.example>: Recipient address\n"
        "    rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)",
        flags="auto daemon report",
    ),
    expect(
        "13-dsn-returned-message",
        ("Mail Delivery Subsystem", "mailer-daemon@relay.lesprom.example"),
        "Delivery Status Notification (Failure)",
        "Сообщение не доставлено одному из получателей.\n\nops@lesprom.example — почтовый "
        "ящик переполнен.",
        attachments=(("Ваша заявка #1048 принята.eml", 455),),  # the returned letter
        flags="auto daemon report",
    ),
    expect(
        "14-bounce-plain-postfix", ("MAILER-DAEMON", "mailer-daemon@old-relay.example"),
        "Undelivered Mail Returned to Sender",
        "This is the mail system at host old-relay.example.\n\nI'm sorry to have to inform "
        "you that your message could not\nbe delivered to one or more recipients. It's "
        "attached below.\n\n<nobody@closed-company.example>: host "
        "mx.closed-company.example[198.51.100.7]\n    said: 550 5.7.1 Mailbox unavailable "
        "(in reply to RCPT TO command)\n\n------ This is a copy of the message, including "
        "all the headers. ------\n\nReturn-Path: <support@alpha.example>\nFrom: "
        "support@alpha.example\nTo: nobody@closed-company.example\nSubject: Your request "
        "[#1049]\nMessage-ID: <ticket-1049-1@alpha.example>\n\nHello, we have received "
        "your request.",
        flags="daemon report",
    ),
    expect(
        "15-bounce-qmail-failure-notice", ("", "mailer-daemon@mail.qmail-host.example"),
        "failure notice",
        "Hi. This is the qmail-send program at mail.qmail-host.example.\nI'm afraid I "
        "wasn't able to deliver your message to the following addresses.\nThis is a "
        "permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<gone@qmail-host.example>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\nReturn-Path: "
        "<support@alpha.example>\nMessage-ID: <ticket-1050-1@alpha.example>\nSubject: Your "
        "request [#1050]\n\nHello.",
        flags="daemon report",
    ),
    expect(
        "16-newsletter-html-only", ("Хостинг Пример", "news@hosting.example"),
        "Новости за март: новые тарифы VPS",
        "Новости за март\nМы запустили новые тарифы VPS.\nСкидка 20% до конца месяца.\n"
        "- VPS-1: 2 ядра\n- VPS-2: 4 ядра\nПодробнее",
        flags="bulk",
    ),
    expect(
        "17-koi8r-outlook-express", ("Василий Сидоров", "vasya@narod.example"),
        "Re: Панель управления",
        "Здравствуйте.\n\nНе могу зайти в панель управления, пишет \"неверный логин\".\n"
        "Логин vasya2005.\n\nВасилий",
        folded="Уточните, пожалуйста, логин.",
    ),
    expect(
        "18-cp1251-labelled-koi8r", ("Магазин Вектор", "shop@vector.example"),
        "Домен не делегирован",
        "Добрый вечер! После продления домена сайт не открывается, пишет, что\nдомен не "
        "делегирован. Оплату провели вчера.",
    ),
    expect(
        "19-cp1251-labelled-latin1", ("", "buh@vector.example"), "Счёт на оплату",
        "Прошу выставить счёт на оплату хостинга за второй квартал.\nРеквизиты прежние.",
    ),
    expect(
        "20-utf8-labelled-cp1251", ("", "info@vector.example"), "Не приходят письма",
        "Не приходят письма на ящик info@vector.example с позавчерашнего дня.",
    ),
    expect(
        "21-unknown-charset-label", ("", "it@zavod.example"), "Увеличить квоту",
        "Просим увеличить квоту почтового ящика до 10 ГБ.",
    ),
    expect(
        "22-iso-8859-5", ("Дмитрий", "dima@unix-shop.example"), "Медленная база данных",
        "Проверьте, пожалуйста, почему медленно работает сервер баз данных.",
    ),
    expect(
        "23-raw-utf8-headers", ("Мария Иванова", "maria@fabrika.example"),
        "Не работает почта на телефоне",
        "На айфоне почта перестала синхронизироваться, на компьютере всё работает.",
    ),
    expect(
        "24-raw-cp1251-headers", ("Бухгалтерия", "buh@fabrika.example"),
        "Акт сверки за февраль", "Пришлите, пожалуйста, акт сверки за февраль.",
    ),
    expect(
        "25-gbk-labelled-gb2312", ("朱镕堃", "zhu@trade.example"), "服务器无法访问",
        "您好！我是朱镕堃，我们的服务器无法访问，请帮忙检查。",
    ),
    expect(
        "26-encoded-words-adjacent-split", ("Отдел ИТ", "it@fabrika.example"),
        "Заявка: сервер недоступен", "Сервер 192.0.2.10 не отвечает на ping.",
    ),
    expect(
        "27-broken-encoded-words", ("Тест", "test@fabrika.example"),
        "[#1051]Почта не работает (срочно) =?utf-8?B?0JrQ",
        "Почта не работает со вчерашнего вечера.",
    ),
    expect(
        "28-rfc2231-filenames", ("Olga", "olga@romashka.example"), "Документы по договору",
        "Договор и скан паспорта во вложении.",
        attachments=(("Договор № 15.pdf", PDF_SIZE), ("Скан паспорта.png", PNG_SIZE),
                     ("Прайс.xlsx", 205)),
    ),
    expect(
        "29-header-continuation-unindented", ("Иван Петров", "ivan.petrov@stroymarket.example"),
        "Сайт отдаёт ошибку 500 после обновления",
        "После обновления CMS главная страница отдаёт 500.",
    ),
    expect(
        "30-text-with-pdf-attachment", ("Sergey Kuznetsov", "s.kuznetsov@vector.example"),
        "Счёт на оплату", "Платёжка во вложении, проверьте поступление.",
        attachments=(("payment-0311.pdf", PDF_SIZE),),
    ),
    expect(
        "31-alternative-empty-plain", ("Maria", "maria@fabrika.example"),
        "Снова недоступен сайт", "Сайт снова недоступен.\n\nПроверьте, пожалуйста, nginx.",
    ),
    expect(
        "32-html-inline-images", ("Dmitry", "dima@unix-shop.example"),
        "Ошибка в панели (скриншот)",
        "Вот что показывает панель:\n[скриншот]\n\nОшибка появляется при входе.",
        attachments=(("image001.png", PNG_SIZE), ("full-screen.png", 3 * PNG_SIZE)),
    ),
    expect(
        "33-broken-base64", ("", "it@zavod.example"), "Ошибка SSL",
        "Не открывается сайт, ошибка SSL.",
    ),
    expect(
        "34-missing-boundary", ("", "it@zavod.example"), "Лог ошибок",
        "Лог ошибок веб-сервера во вложении.", attachments=(("error.log", 27),),
    ),
    expect(
        "35-truncated", ("", "it@zavod.example"), "Обрезанное письмо",
        "Отправляю отчёт, связь плохая.", attachments=(("report.pdf", 221),),
    ),
    expect(
        "36-nested-multiparts", ("Sergey Kuznetsov", "s.kuznetsov@vector.example"),
        "Резервное копирование", "Резервная копия не создаётся, см. лог.",
        attachments=(("image-1.png", PNG_SIZE), ("backup.log", 51), ("attachment-3.docx", 102)),
    ),
    expect(
        "37-mailing-list", ("Monitoring", "robot@monitor.example"),
        "[noc] disk usage 91% on web-03", "web-03: /var 91% used", flags="bulk",
    ),
    expect(
        "38-sender-fallback", ("Robot", "robot@billing.example"), "Invoice reminder",
        "Your invoice 2025-03 is due.",
    ),
    expect(
        "39-html-only-outlook-reply-ru", ("Дмитрий", "dima@unix-shop.example"),
        "RE: Сертификат истекает", "Добрый день!\nСертификат продлили, спасибо.",
        folded="сертификат истекает через 3 дня",
    ),
    expect(
        "40-gmail-html-blockquote", ("Maria", "maria@fabrika.example"),
        "Re: Перезагрузка сервера", "Да, можно перезагружать.",
        folded="> Можно ли перезагрузить сервер сегодня в 23:00?",
    ),
    expect(
        "41-apple-mail-mixed-inline", ("Peter Brown", "peter@brown-consulting.example"),
        "Фото стойки", "Вот фото стойки:\n\nИндикатор горит красным.",
        folded="Отправлено с iPhone", attachments=(("IMG_0041.png", PNG_SIZE),),
    ),
    expect(
        "42-calendar-invite", ("John Smith", "john.smith@northwind.example"),
        "Созвон по миграции", "Приглашаю на созвон в пятницу.",
        attachments=(("attachment-1.ics", 144),),
    ),
    expect(
        "43-smime-signed", ("", "security@bank.example"), "Signed request",
        "Please open port 8443 on our firewall.", attachments=(("smime.p7s", 256),),
    ),
    expect(
        "44-forward-base64-rfc822", ("Анна Волкова", "a.volkova@lesprom.example"),
        "Fwd: Авария на линии",
        # Attached inline: its text is shown under the message, clearly marked.
        # (Labels in the installation's language: English under the test settings.)
        "Это касается и нас?\n\n---------- Attached message ----------\n"
        "From: noc@upstream.example\nDate: 13.03.2025 06:00 +0300\n"
        "Subject: Авария на линии\n\nАвария на линии, работы ведутся.",
        attachments=(("Авария на линии.eml", 336),),
    ),
    expect(
        "45-russian-date-and-lf", ("", "form@site.example"), "Заявка с сайта",
        "Имя: Олег\nТелефон: +7 900 000-00-00\nСообщение: перезвоните",
    ),
    expect("46-empty-body", ("Ivan", "ivan.petrov@stroymarket.example"), "", ""),
    expect(
        "48-dsn-delayed", ("", "postmaster@relay.example"), "Delayed Mail (still being retried)",
        "Your message has not been delivered yet; we will keep trying for 5 days.",
        flags="auto daemon report",
    ),
    expect(
        "49-mbox-from-line-x-autorespond", ("Helpdesk robot", "robot@helpdesk.example"),
        "Ticket received", "Your ticket has been received.", flags="auto bulk",
    ),
    expect(
        "50-reply-the-bat-you-wrote", ("Василий", "vasya@narod.example"),
        "Re: Не работает FTP", "Здравствуйте, Служба.\n\nВсё работает, заявку можно закрывать.",
        folded="Проверьте, пожалуйста, доступ к FTP.",
    ),
    expect(
        "51-bounce-exim-plain", ("Mail Delivery System", "mailer-daemon@mx1.hosting.example"),
        "Mail delivery failed: returning message to sender",
        "This message was created automatically by mail delivery software.\n\nA message "
        "that you sent could not be delivered to one or more of its\nrecipients. This is a "
        "permanent error. The following address(es) failed:\n\n  Director@Romashka.example\n"
        "    host mx.romashka.example [203.0.113.5]\n    SMTP error from remote mail server "
        "after RCPT TO:<director@romashka.example>:\n    550 5.1.1 No such user here\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
        "Return-path: <support@alpha.example>\nMessage-ID: <ticket-1053-2@alpha.example>\n"
        "Subject: Re: [#1053]\n\nHello.",
        flags="auto daemon report",
    ),
    expect(
        "52-dsn-exchange-ru", ("", "postmaster@partner.example"),
        "Недоставленное сообщение: Ваша заявка [#1054]",
        "Не удалось доставить сообщение следующим получателям:\n\nИван Иванов "
        "(ivanov@partner.example)\nАдрес электронной почты не найден.",
        flags="auto daemon report",
    ),
    expect(
        "53-html-meta-charset-cp1251", ("", "noreply@site.example"), "Заявка с сайта",
        "Имя:\tОлег\nВопрос:\tКак подключить SSL?",
    ),
]
# Not in the table: 47-not-mail-at-all (a PNG with no headers), checked on its own below.


def flags_of(mail: ParsedMail) -> frozenset[str]:
    present = {
        "auto": mail.auto_submitted,
        "bulk": mail.bulk,
        "daemon": mail.from_mailer_daemon,
        "report": mail.delivery_report is not None,
    }
    return frozenset(name for name, on in present.items() if on)


def test_the_corpus_is_large_enough_and_every_message_is_checked():
    """At least 40 messages; each one has its expectation (or a test of its own)."""
    on_disk = {path.stem for path in CORPUS.glob("*.eml")}
    checked = {item.name for item in EXPECTED} | {"47-not-mail-at-all"}
    assert len(on_disk) >= 40
    assert on_disk == checked


@pytest.mark.parametrize("case", EXPECTED, ids=lambda case: case.name)
def test_corpus_message(case: Expected):
    """Sender, subject, new text, folded history, attachments and flags are exactly as a
    person reading the message would say."""
    mail = parsed(case.name)
    assert mail.sender == case.sender
    assert mail.subject == case.subject
    assert mail.text == case.text
    if case.folded:
        assert case.folded in mail.full_text
        assert case.folded not in mail.text
    assert [(a.filename, a.size) for a in mail.attachments] == list(case.attachments)
    assert flags_of(mail) == case.flags


@pytest.mark.parametrize("case", EXPECTED, ids=lambda case: case.name)
def test_corpus_message_invariants(case: Expected):
    """What ingest relies on for every message: aware dates, bare message ids, lower-case
    addresses, kept attachment bytes matching their size, no NUL characters."""
    mail = parsed(case.name)
    assert mail.date is None or mail.date.utcoffset() is not None
    for message_id in (mail.message_id, *mail.in_reply_to, *mail.references):
        assert "<" not in message_id and ">" not in message_id and " " not in message_id
    for address in (mail.sender, *mail.to, *mail.cc, *mail.reply_to):
        assert address.email == address.email.lower()
    for attachment in mail.attachments:
        assert attachment.filename and "/" not in attachment.filename
        assert attachment.content is None or len(attachment.content) == attachment.size
    for text in (mail.subject, mail.text, mail.full_text, mail.html):
        assert "\x00" not in text
    assert mail.text in mail.full_text or not mail.full_text


# --- Headers ---------------------------------------------------------------------------------


def test_message_ids_lose_their_brackets_and_references_keep_their_order():
    mail = parsed("03-reply-gmail-ru-attribution")
    assert mail.message_id == "CAF=reply-1@mail.gmail.example"
    assert mail.in_reply_to == ("ticket-1042-1@alpha.example",)
    assert mail.references == (
        "20250303091245.4711@stroymarket.example",
        "ticket-1042-1@alpha.example",
    )


def test_recipients_are_decoded_and_lower_cased():
    mail = parsed("06-reply-outlook-en-original-message")
    assert mail.to == (Address("Support", "support@alpha.example"),)
    assert mail.cc == (
        Address("Mary Jones", "mary.jones@northwind.example"),
        Address("", "ops@northwind.example"),
    )
    assert parsed("05-reply-outlook-ru-cp1251").to == (
        Address("Служба поддержки", "support@alpha.example"),
    )


def test_reply_to_is_read_and_from_without_address_falls_back_to_sender():
    mail = parsed("38-sender-fallback")
    assert mail.reply_to == (Address("Billing Team", "billing@billing.example"),)
    assert mail.sender == Address("Robot", "robot@billing.example")


def test_dates_are_aware():
    assert parsed("01-plain-utf8-ftp").date == datetime(2025, 3, 3, 9, 12, 45, tzinfo=MSK)
    assert parsed("15-bounce-qmail-failure-notice").date == datetime(
        2025, 3, 7, 7, 10, tzinfo=UTC
    )  # "-0000": UTC, offset unknown


def test_a_date_written_in_russian_is_read():
    assert parsed("45-russian-date-and-lf").date == datetime(2025, 3, 10, 14, 5, tzinfo=MSK)


@pytest.mark.parametrize(("header", "expected"), [
    ("Mon, 3 Mar 2025 10:00:00 MSK", datetime(2025, 3, 3, 10, 0, tzinfo=MSK)),
    ("Mon, 3 Mar 2025 10:00:00 +0300 (MSK)", datetime(2025, 3, 3, 10, 0, tzinfo=MSK)),
    ("2025-03-03T10:00:00+03:00", datetime(2025, 3, 3, 10, 0, tzinfo=MSK)),
    ("Mon, 3 Mar 2025 10:00:00", datetime(2025, 3, 3, 10, 0, tzinfo=UTC)),
    ("вчера вечером", None),
    ("Mon, 99 Foo 99999 99:99:99 +9999", None),
])
def test_dates_in_odd_shapes(header: str, expected: datetime | None):
    assert parse(f"Date: {header}\r\n\r\nx".encode()).date == expected


def test_missing_date_and_message_id_give_none_and_empty():
    mail = parsed("46-empty-body")
    assert mail.date is None
    assert mail.message_id == ""
    assert mail.full_text == "" and mail.html == "" and mail.attachments == ()


def test_header_continuation_without_indentation_keeps_the_following_headers():
    """The unindented encoded word is part of Subject; To and Date after it are headers."""
    mail = parsed("29-header-continuation-unindented")
    assert mail.to == (Address("", "support@alpha.example"),)
    assert mail.date == datetime(2025, 3, 11, 10, 0, tzinfo=MSK)


def test_an_unknown_charset_in_an_encoded_word_is_reported():
    assert any("x-broken" in problem for problem in parsed("27-broken-encoded-words").problems)


# --- Charsets --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "declared", "actual"), [
    ("18-cp1251-labelled-koi8r", "koi8-r", "windows-1251"),
    ("19-cp1251-labelled-latin1", "iso-8859-1", "windows-1251"),
    ("20-utf8-labelled-cp1251", "windows-1251", "utf-8"),
])
def test_a_lying_charset_label_is_overruled_and_reported(name: str, declared: str, actual: str):
    problems = parsed(name).problems
    assert f"text/plain: charset '{declared}' declared, text is {actual}" in problems


def test_an_unknown_charset_label_is_reported_with_the_charset_used():
    assert (
        "text/plain: unknown charset 'x-cyrillic-win'; read as windows-1251"
        in parsed("21-unknown-charset-label").problems
    )


def test_correctly_labelled_messages_report_no_problems():
    for name in ("01-plain-utf8-ftp", "05-reply-outlook-ru-cp1251", "17-koi8r-outlook-express",
                 "22-iso-8859-5", "25-gbk-labelled-gb2312", "28-rfc2231-filenames",
                 "53-html-meta-charset-cp1251"):
        assert parsed(name).problems == (), name


# --- Bodies ----------------------------------------------------------------------------------


def test_html_is_sanitised_and_its_text_keeps_line_breaks():
    mail = parsed("16-newsletter-html-only")
    assert "<script" not in mail.html and "track()" not in mail.html
    assert "onclick" not in mail.html
    assert "Новости хостинга" not in mail.html  # the <title>
    assert "body{font-family" not in mail.html
    assert '<a href="https://hosting.example/promo"' in mail.html
    assert mail.full_text.splitlines()[:3] == [
        "Новости за март", "Мы запустили новые тарифы VPS.", "Скидка 20% до конца месяца.",
    ]


def test_text_only_messages_have_no_html():
    assert parsed("01-plain-utf8-ftp").html == ""


def test_alternative_keeps_the_plain_text_and_the_html():
    mail = parsed("05-reply-outlook-ru-cp1251")
    assert mail.full_text.startswith("Добрый день!\n\nПароль пришёл")
    assert "<p>Пароль пришёл, спасибо. Но теперь не открывается phpMyAdmin.</p>" in mail.html


def test_flowed_text_is_joined_and_signature_in_quote_does_not_cut_early():
    mail = parsed("03-reply-gmail-ru-attribution")
    assert "> --" in mail.full_text  # the quoted signature belongs to the history
    assert parsed("04-reply-thunderbird-flowed").full_text.startswith(
        "Добрый день. Проверили ещё раз: сайт открывается, но админка отдаёт ошибку 502"
    )


def test_inline_image_is_marked_and_the_html_keeps_its_cid():
    mail = parsed("32-html-inline-images")
    inline, attached = mail.attachments
    assert inline.inline and inline.content_id == "image001.png@01DB9000.ABCDEF00"
    assert inline.content_type == "image/png" and inline.content.startswith(b"\x89PNG")
    assert not attached.inline and attached.content_id == "unreferenced@unix-shop.example"
    assert 'src="cid:image001.png@01DB9000.ABCDEF00"' in mail.html


def test_image_without_a_reference_from_html_is_a_plain_attachment():
    (image,) = parsed("41-apple-mail-mixed-inline").attachments
    assert not image.inline


def test_attachment_names_from_rfc2231_and_encoded_words_and_their_bytes():
    pdf, png, xlsx = parsed("28-rfc2231-filenames").attachments
    assert pdf.content_type == "application/pdf" and pdf.content.startswith(b"%PDF-1.4")
    assert png.content.startswith(b"\x89PNG")
    assert xlsx.content == b"scan:" + bytes(range(200))


def test_nested_multiparts_find_text_html_inline_image_and_attachments():
    mail = parsed("36-nested-multiparts")
    image, log, docx = mail.attachments
    assert image.inline and image.content_id == "logo36"
    assert log.content == b"rsync error: timeout in data send/receive (code 30)"
    assert docx.content_type.endswith("wordprocessingml.document")
    assert '<img src="cid:logo36">' in mail.html


def test_a_signed_message_shows_the_signed_text():
    (signature,) = parsed("43-smime-signed").attachments
    assert signature.content_type == "application/pkcs7-signature"


# --- Forwarded messages ----------------------------------------------------------------------


def test_attached_message_is_parsed_as_forwarded():
    (inner,) = parsed("09-forward-attached-rfc822").forwarded
    assert inner.sender == Address("Бухгалтерия", "buh@romashka.example")
    assert inner.subject == "Счёт за хостинг не пришёл"
    assert inner.text == "Ольга, счёт за март так и не пришёл. Узнай у хостера, пожалуйста."
    assert inner.message_id == "inner-0009@romashka.example"
    (kept,) = parsed("09-forward-attached-rfc822").attachments
    assert (kept.filename, kept.content_type) == ("forwarded.eml", "message/rfc822")
    assert parse(kept.content).message_id == "inner-0009@romashka.example"
    # Attached as a file (disposition "attachment") under a text of its own: a file only.
    assert "Ольга, счёт за март" not in parsed("09-forward-attached-rfc822").text


def test_attached_message_sent_in_base64_is_decoded_first():
    (inner,) = parsed("44-forward-base64-rfc822").forwarded
    assert inner.sender == Address("", "noc@upstream.example")
    assert inner.subject == "Авария на линии"
    assert inner.text == "Авария на линии, работы ведутся."
    (kept,) = parsed("44-forward-base64-rfc822").attachments
    assert kept.filename == "Авария на линии.eml"
    assert parse(kept.content).subject == "Авария на линии"


# --- Bounces ---------------------------------------------------------------------------------


def test_dsn_names_the_failed_recipient_status_diagnostic_and_original_message():
    assert parsed("12-dsn-postfix").delivery_report == DeliveryReport(
        failed_recipients=("ivan.petroff@stroymarket.example",),
        original_message_id="ticket-1047-1@alpha.example",
        status="5.1.1",
        diagnostic="550 5.1.1 <ivan.petroff@stroymarket.example>: Recipient address rejected: "
        "User unknown in virtual mailbox table",
    )


def test_dsn_with_the_returned_message_counts_only_failed_recipients():
    mail = parsed("13-dsn-returned-message")
    assert mail.delivery_report == DeliveryReport(
        failed_recipients=("ops@lesprom.example",),
        original_message_id="ticket-1048-1@alpha.example",
        status="5.2.2",
        diagnostic="552 5.2.2 Mailbox full",
    )
    (returned,) = mail.forwarded
    assert returned.subject == "Ваша заявка #1048 принята"


def test_a_delay_report_has_no_failed_recipients():
    assert parsed("48-dsn-delayed").delivery_report == DeliveryReport(
        failed_recipients=(),
        original_message_id="ticket-1052-1@alpha.example",
        status="4.4.7",
        diagnostic="421 4.4.7 Connection timed out",
    )


def test_plain_postfix_notice_from_mailer_daemon_is_read():
    assert parsed("14-bounce-plain-postfix").delivery_report == DeliveryReport(
        failed_recipients=("nobody@closed-company.example",),
        original_message_id="ticket-1049-1@alpha.example",
        status="5.7.1",
        diagnostic="550 5.7.1 Mailbox unavailable (in reply to RCPT TO command)",
    )


def test_qmail_failure_notice_is_read():
    assert parsed("15-bounce-qmail-failure-notice").delivery_report == DeliveryReport(
        failed_recipients=("gone@qmail-host.example",),
        original_message_id="ticket-1050-1@alpha.example",
        status="5.1.1",
        diagnostic="Sorry, no mailbox here by that name. (#5.1.1)",
    )


def test_exim_notice_is_read():
    assert parsed("51-bounce-exim-plain").delivery_report == DeliveryReport(
        failed_recipients=("director@romashka.example",),
        original_message_id="ticket-1053-2@alpha.example",
        status="5.1.1",
        diagnostic="550 5.1.1 No such user here",
    )


def test_exchange_report_in_russian_is_read():
    assert parsed("52-dsn-exchange-ru").delivery_report == DeliveryReport(
        failed_recipients=("ivanov@partner.example",),
        original_message_id="ticket-1054-1@alpha.example",
        status="5.1.10",
        diagnostic="550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found",
    )


def test_a_customer_writing_about_undelivered_mail_is_not_a_bounce():
    raw = (
        "From: Ivan <ivan@example.ru>\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Мне пришло это, 550 5.1.1 <boss@example.ru>: User unknown. Что делать?\r\n"
    ).encode()
    mail = parse(raw)
    assert mail.delivery_report is None and not mail.from_mailer_daemon


# --- Broken messages -------------------------------------------------------------------------


def test_broken_base64_is_read_as_far_as_it_goes_and_reported():
    assert "base64 body was broken; decoded what could be read" in parsed(
        "33-broken-base64"
    ).problems


def test_missing_boundary_is_recovered_and_reported():
    problems = parsed("34-missing-boundary").problems
    assert "multipart part without a boundary" in problems
    assert "MIME boundary recovered from the body ('=_lost_boundary')" in problems


def test_truncated_message_keeps_what_arrived_and_says_so():
    mail = parsed("35-truncated")
    assert "closing MIME boundary missing (message truncated?)" in mail.problems
    assert mail.attachments[0].content.startswith(b"%PDF-1.4")


def test_bytes_that_are_not_mail_become_text_for_an_operator():
    mail = parsed("47-not-mail-at-all")
    assert mail.sender == Address("", "") and mail.subject == ""
    assert "IHDR" in mail.full_text and "IEND" in mail.full_text
    assert mail.problems


def test_absurd_nesting_falls_back_to_headers_and_raw_text():
    """A multipart nested 2,000 deep exhausts the email package's recursion; the headers
    and the body as text are still there."""
    body = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(2000)
    )
    mail = parse(b"From: Ivan <ivan@example.ru>\r\nSubject: deep\r\n" + body + b"\r\nhello")
    assert mail.sender == Address("Ivan", "ivan@example.ru") and mail.subject == "deep"
    assert mail.full_text.endswith("hello")
    assert mail.problems[0].startswith("message structure could not be read (RecursionError)")


def test_non_bytes_input_does_not_raise():
    assert parse(None).problems == ("input is not bytes (TypeError)",)  # type: ignore[arg-type]
    assert parse(bytearray(b"Subject: x\r\n\r\ny")).subject == "x"  # type: ignore[arg-type]


# --- Size limit ------------------------------------------------------------------------------


def big_message(size: int) -> bytes:
    """A 'backup' attachment of `size` bytes, base64 in 76-character lines."""
    block = bytes(range(256)) * 4096  # 1 MiB, compressible enough to build quickly
    data = (block * (size // len(block) + 1))[:size]
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (
        b"From: Ivan <ivan.petrov@stroymarket.example>\r\nSubject: backup\r\n"
        b"Content-Type: multipart/mixed; boundary=big\r\n\r\n--big\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + "Бэкап сайта во вложении.".encode()
        + b"\r\n--big\r\nContent-Type: application/zip\r\n"
        b"Content-Disposition: attachment; filename=\"site-backup.zip\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--big--\r\n"
    )


def test_attachment_over_the_limit_keeps_its_size_not_its_bytes():
    size = 15 * 1024 * 1024 + 3
    mail = parse(big_message(size))
    (attachment,) = mail.attachments
    assert attachment.filename == "site-backup.zip"
    assert attachment.content is None
    assert attachment.size == size
    assert mail.text == "Бэкап сайта во вложении."


def test_a_higher_limit_keeps_the_bytes():
    size = 15 * 1024 * 1024 + 3
    (attachment,) = parse(big_message(size), max_attachment_bytes=16 * 1024 * 1024).attachments
    assert attachment.size == size and attachment.content is not None
    assert len(attachment.content) == size and attachment.content[:3] == b"\x00\x01\x02"


def test_small_limit_applies_to_every_attachment():
    mail = parse((CORPUS / "28-rfc2231-filenames.eml").read_bytes(), max_attachment_bytes=100)
    assert [(a.filename, a.size, a.content is None) for a in mail.attachments] == [
        ("Договор № 15.pdf", PDF_SIZE, True),
        ("Скан паспорта.png", PNG_SIZE, False),
        ("Прайс.xlsx", 205, True),
    ]
