"""Writes the "mail from the wild" corpus (tests/data/mail/wild/*.eml).

Letters written by hand in the shapes that real clients send (Outlook/Exchange,
Thunderbird, Yandex, Mail.ru, Gmail, Apple Mail, Exim, SpamAssassin), one group per class
that an outside review found failing: attached letters (w13), auto-replies vs bounces (w14),
plain-text forwards (w15), encoded display names with commas (w16), attachment names (w17),
charsets (w18), garbled addresses (w19) and two From headers (w20). What each letter must
parse to is in tests/test_mail_wild_parsing.py. Run: `python tests/data/mail/wild/make_wild.py`.
"""

import base64
import quopri
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
LETTERS: dict[str, Callable[[], bytes]] = {}


def letter(name: str) -> Callable[[Callable[[], bytes]], Callable[[], bytes]]:
    def register(build: Callable[[], bytes]) -> Callable[[], bytes]:
        LETTERS[name] = build
        return build

    return register


def crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def b64(data: bytes | str, charset: str = "utf-8") -> str:
    raw = data.encode(charset) if isinstance(data, str) else data
    encoded = base64.b64encode(raw).decode("ascii")
    return "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


def qp(text: str, charset: str = "utf-8") -> str:
    return quopri.encodestring(text.encode(charset)).decode("ascii")


def ew(text: str, charset: str = "utf-8", encoding: str = "B") -> str:
    data = text.encode(charset)
    if encoding == "B":
        return f"=?{charset}?B?{base64.b64encode(data).decode('ascii')}?="
    encoded = "".join(
        chr(byte) if byte < 128 and chr(byte).isalnum()
        else "_" if byte == 32 else f"={byte:02X}"
        for byte in data
    )
    return f"=?{charset}?Q?{encoded}?="


def rfc2231(text: str, charset: str = "utf-8") -> str:
    return f"{charset}''{quote(text.encode(charset), safe='')}"


# --- 13: attached letters ----------------------------------------------------------------------

INNER_RU = """From: {sender}
To: buh@romashka.example
Subject: {subject}
Date: Mon, 10 Mar 2025 09:30:00 +0300
Message-ID: <{mid}>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

{body}
"""


def inner_ru(sender: str, subject: str, mid: str, text: str) -> str:
    return INNER_RU.format(sender=sender, subject=ew(subject), mid=mid, body=b64(text))


@letter("w13-01-thunderbird-forward-as-attachment")
def _() -> bytes:
    inner = inner_ru(
        f"{ew('Бухгалтерия')} <buh@romashka.example>", "Акт сверки за февраль",
        "w13-01-inner@romashka.example", "Добрый день! Акт сверки во вложении, просьба подписать.",
    )
    return crlf(f"""From: {ew("Ольга Смирнова")} <olga@romashka.example>
To: help@alpha.example
Subject: Fwd: {ew("Акт сверки за февраль")}
Date: Tue, 11 Mar 2025 10:00:00 +0300
Message-ID: <w13-01@romashka.example>
User-Agent: Mozilla Thunderbird
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="------------tb1301"

This is a multi-part message in MIME format.
--------------tb1301
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

Пересылаю письмо, акт так и не пришёл в ЛК.

--------------tb1301
Content-Type: message/rfc822; name="=?UTF-8?B?0JDQutGCINGB0LLQtdGA0LrQuC5lbWw=?="
Content-Disposition: attachment; filename*={rfc2231("Акт сверки.eml", "UTF-8")}

{inner}
--------------tb1301--
""")


@letter("w13-02-gmail-forward-as-attachment-no-text")
def _() -> bytes:
    inner = inner_ru(
        f"{ew('Иван Петров')} <ivan@stroymarket.example>", "Не открывается сайт",
        "w13-02-inner@stroymarket.example",
        "Сайт stroymarket.example со вчерашнего вечера отдаёт ошибку 503.",
    )
    return crlf(f"""From: Ivan Petrov <ivan.petrov@gmail.example>
To: help@alpha.example
Subject: =?UTF-8?B?RndkOiDQndC1INC+0YLQutGA0YvQstCw0LXRgtGB0Y8g0YHQsNC50YI=?=
Date: Tue, 11 Mar 2025 11:00:00 +0300
Message-ID: <CAw1302@mail.gmail.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="000000000000gm1302"

--000000000000gm1302
Content-Type: multipart/alternative; boundary="000000000000gm1302alt"

--000000000000gm1302alt
Content-Type: text/plain; charset="UTF-8"


--000000000000gm1302alt
Content-Type: text/html; charset="UTF-8"

<div dir="ltr"><br></div>

--000000000000gm1302alt--
--000000000000gm1302
Content-Type: message/rfc822; name="Не открывается сайт.eml"
Content-Disposition: attachment; filename="Не открывается сайт.eml"

{inner}
--000000000000gm1302--
""")


@letter("w13-03-spamassassin-report")
def _() -> bytes:
    return crlf("""From: Maria Sidorova <maria@fabrika.example>
To: help@alpha.example
Subject: *****SPAM***** Re: Перенос домена
Date: Wed, 12 Mar 2025 08:15:00 +0300
Message-ID: <w13-03-report@mx.alpha.example>
X-Spam-Flag: YES
X-Spam-Status: Yes, score=5.2 required=5.0
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="----------=_67D0A1B2.SA"

This is a multi-part message in MIME format.

------------=_67D0A1B2.SA
Content-Type: text/plain; charset=iso-8859-1
Content-Disposition: inline
Content-Transfer-Encoding: 8bit

Spam detection software, running on the system "mx.alpha.example",
has identified this incoming email as possible spam.

Content analysis details:   (5.2 points, 5.0 required)

------------=_67D0A1B2.SA
Content-Type: message/rfc822; x-spam-type=original
Content-Description: original message before SpamAssassin
Content-Disposition: attachment
Content-Transfer-Encoding: 8bit

From: Maria Sidorova <maria@fabrika.example>
To: help@alpha.example
Subject: Re: =?utf-8?B?0J/QtdGA0LXQvdC+0YEg0LTQvtC80LXQvdCw?=
Date: Wed, 12 Mar 2025 08:14:00 +0300
Message-ID: <w13-03-original@fabrika.example>
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Перенос домена fabrika.example согласуем на пятницу, NS поменяем сами.

------------=_67D0A1B2.SA--
""")


@letter("w13-04-digest")
def _() -> bytes:
    return crlf("""From: Служба поддержки Ромашки <noreply@romashka.example>
To: help@alpha.example
Subject: =?utf-8?B?0JTQsNC50LTQttC10YHRgiDQvtCx0YDQsNGJ0LXQvdC40Lk=?=
Date: Thu, 13 Mar 2025 07:00:00 +0300
Message-ID: <w13-04-digest@romashka.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="dig-outer"

--dig-outer
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Два обращения клиентов за ночь, пересылаем одним письмом.

--dig-outer
Content-Type: multipart/digest; boundary="dig-inner"

--dig-inner

From: client1@shop.example
Subject: =?utf-8?B?0J3QtdGCINC/0L7Rh9GC0Ys=?=
Date: Wed, 12 Mar 2025 23:10:00 +0300
Message-ID: <w13-04-a@shop.example>
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Не приходит почта на ящик info@shop.example.

--dig-inner

From: client2@kafe.example
Subject: =?utf-8?B?0KHQtdGA0YLQuNGE0LjQutCw0YI=?=
Date: Thu, 13 Mar 2025 01:40:00 +0300
Message-ID: <w13-04-b@kafe.example>
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Браузер пишет, что сертификат kafe.example истёк.

--dig-inner--

--dig-outer--
""")


@letter("w13-05-apple-mail-inline-rfc822-cp1251")
def _() -> bytes:
    inner_text = "Уважаемые коллеги! Сообщаем о смене реквизитов с 1 апреля.".encode("cp1251")
    inner = (
        b"From: =?windows-1251?B?" + base64.b64encode("Бухгалтерия".encode("cp1251"))
        + b"?= <buh@vector.example>\nTo: s.kuznetsov@vector.example\n"
        b"Subject: =?windows-1251?B?" + base64.b64encode("Смена реквизитов".encode("cp1251"))
        + b"?=\nDate: Fri, 14 Mar 2025 12:00:00 +0300\nMessage-ID: <w13-05-inner@vector.example>\n"
        b"Content-Type: text/plain; charset=windows-1251\nContent-Transfer-Encoding: 8bit\n\n"
        + inner_text + b"\n"
    )
    head = crlf(f"""From: Sergey Kuznetsov <s.kuznetsov@vector.example>
To: help@alpha.example
Subject: {ew("Fwd: Смена реквизитов", "utf-8", "Q")}
Date: Fri, 14 Mar 2025 12:30:00 +0300
Message-ID: <w13-05@vector.example>
X-Mailer: Apple Mail (2.3731.500.231)
Mime-Version: 1.0 (Mac OS X Mail 16.0)
Content-Type: multipart/mixed; boundary="Apple-Mail=_w1305"


--Apple-Mail=_w1305
Content-Transfer-Encoding: quoted-printable
Content-Type: text/plain; charset=utf-8

""") + crlf(qp("Нужно ли менять что-то в договоре?\n")) + crlf("""
--Apple-Mail=_w1305
Content-Disposition: inline
Content-Type: message/rfc822

""")
    return head + inner.replace(b"\n", b"\r\n") + crlf("""
--Apple-Mail=_w1305--
""")


@letter("w13-06-outlook-nested-forward")
def _() -> bytes:
    innermost = inner_ru(
        "noc@upstream.example", "Авария на магистрали", "w13-06-innermost@upstream.example",
        "Авария на магистрали устранена в 05:40.",
    )
    return crlf(f"""From: {ew("Денис Горшков", "koi8-r")} <d.gorshkov@unix-shop.example>
To: help@alpha.example
Subject: FW: =?utf-8?B?0JDQstCw0YDQuNGPINC90LAg0LzQsNCz0LjRgdGC0YDQsNC70Lg=?=
Date: Sat, 15 Mar 2025 09:00:00 +0300
Message-ID: <w13-06@unix-shop.example>
X-Mailer: Microsoft Outlook 16.0
Content-Type: multipart/mixed; boundary="_004_w1306_"
MIME-Version: 1.0

--_004_w1306_
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

{b64("Это к вчерашней заявке.")}

--_004_w1306_
Content-Type: message/rfc822

From: admin@unix-shop.example
To: d.gorshkov@unix-shop.example
Subject: FW: Авария
Date: Sat, 15 Mar 2025 08:00:00 +0300
Message-ID: <w13-06-inner@unix-shop.example>
Content-Type: multipart/mixed; boundary="_005_inner_"
MIME-Version: 1.0

--_005_inner_
Content-Type: text/plain; charset="us-ascii"

FYI

--_005_inner_
Content-Type: message/rfc822

{innermost}
--_005_inner_--

--_004_w1306_--
""")


# --- 14: auto-replies are not bounces ---------------------------------------------------------


def auto_reply(
    *, sender: str, subject: str, headers: str, text: str, mid: str, charset: str = "utf-8"
) -> bytes:
    return crlf(f"""Return-Path: <>
From: {sender}
To: help@alpha.example
Subject: {subject}
Date: Mon, 17 Mar 2025 10:00:05 +0300
Message-ID: <{mid}>
In-Reply-To: <ack-w14@alpha.example>
References: <ack-w14@alpha.example>
{headers}MIME-Version: 1.0
Content-Type: text/plain; charset={charset}
Content-Transfer-Encoding: base64

{b64(text, charset)}
""")


@letter("w14-01-exchange-ru-automatic-reply")
def _() -> bytes:
    return auto_reply(
        sender=f"{ew('Волкова Анна Сергеевна')} <a.volkova@lesprom.example>",
        subject=f"{ew('Автоматический ответ: ')} {ew('[FL-000001] Ваш вопрос принят')}",
        headers="Auto-Submitted: auto-generated\nX-Auto-Response-Suppress: All\n"
                "X-MS-Exchange-Inbox-Rules-Loop: a.volkova@lesprom.example\n",
        text="Здравствуйте! Я в отпуске до 24 марта, по срочным вопросам — Сергей Кузнецов.",
        mid="w14-01@lesprom.example",
    )


@letter("w14-02-yandex-autoreply")
def _() -> bytes:
    return auto_reply(
        sender=f"{ew('Иван Петров')} <ivan.petrov@stroymarket.example>",
        subject=f"{ew('Автоответ: Re: Ваш вопрос принят')}",
        headers="Auto-Submitted: auto-replied\nX-Yandex-Autoreply: yes\n",
        text="Спасибо за письмо. Отвечу после 20 марта.",
        mid="w14-02@yandex.example",
    )


@letter("w14-03-mailru-not-in-office")
def _() -> bytes:
    return auto_reply(
        sender=f"{ew('Мария Сидорова')} <maria@fabrika.example>",
        subject=f"{ew('Нет на месте: Ваш вопрос принят')}",
        headers="Auto-Submitted: auto-replied\nX-Mailru-Msgtype: autoreply\n",
        text="Меня нет на месте до понедельника.",
        mid="w14-03@mail.example",
    )


@letter("w14-04-gmail-vacation-custom-subject")
def _() -> bytes:
    return auto_reply(
        sender="Peter Brown <peter@brown-consulting.example>",
        subject="Back on Monday",
        headers="Auto-Submitted: auto-replied\nPrecedence: auto_reply\n",
        text="I am travelling and will answer on Monday.",
        mid="w14-04@mail.gmail.example",
    )


@letter("w14-05-exchange-de-automatische-antwort")
def _() -> bytes:
    return auto_reply(
        sender=f"{ew('Bürling, Andreas', 'iso-8859-1', 'Q')} <andreas.buerling@firma.example>",
        subject=ew("Automatische Antwort: Ihre Anfrage", "iso-8859-1", "Q"),
        headers="X-Auto-Response-Suppress: All\n",
        text="Ich bin bis zum 21.03. nicht im Büro.",
        mid="w14-05@firma.example", charset="iso-8859-1",
    )


@letter("w14-06-x-autoreply-with-bounce-words")
def _() -> bytes:
    # The customer's auto-reply quotes a subject that talks about undelivered mail: still an
    # auto-reply, not a bounce.
    return auto_reply(
        sender="Olga <olga@romashka.example>",
        subject=f"{ew('Автоответ: Письмо не доставлено')}",
        headers="X-Autoreply: yes\n",
        text="Я в командировке, отвечу позже.",
        mid="w14-06@romashka.example",
    )


@letter("w14-07-real-dsn-from-null-sender")
def _() -> bytes:
    return crlf("""Return-Path: <>
From: Mail Delivery System <MAILER-DAEMON@mx.alpha.example>
To: help@alpha.example
Subject: Undelivered Mail Returned to Sender
Date: Mon, 17 Mar 2025 10:00:05 +0300
Message-ID: <w14-07@mx.alpha.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn1407"

--dsn1407
Content-Type: text/plain; charset=us-ascii

Your message could not be delivered.

--dsn1407
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.alpha.example

Final-Recipient: rfc822; gone@lesprom.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--dsn1407
Content-Type: text/rfc822-headers

Message-ID: <ack-w14@alpha.example>
From: help@alpha.example
To: gone@lesprom.example

--dsn1407--
""")


# --- 15: plain-text forwards stay visible ----------------------------------------------------


def plain(*, sender: str, subject: str, text: str, mid: str, headers: str = "") -> bytes:
    return crlf(f"""From: {sender}
To: help@alpha.example
Subject: {subject}
Date: Tue, 18 Mar 2025 11:00:00 +0300
Message-ID: <{mid}>
{headers}MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

{b64(text)}
""")


@letter("w15-01-yandex-forward-with-signature")
def _() -> bytes:
    return plain(
        sender=f"{ew('Анна Волкова')} <a.volkova@yandex.example>",
        subject=ew("Fwd: Счёт на оплату"),
        text=(
            "Добрый день, а этот счёт от вас?\n\n-- \nАнна Волкова\n\n"
            "-------- Пересылаемое сообщение --------\n"
            "18.03.2025, 09:12, \"Billing\" <billing@hoster.example>:\n\n"
            "Счёт № 4411 на сумму 12 000 руб. Оплатить до 25.03.\n\n"
            "-------- Конец пересылаемого сообщения --------\n"
        ),
        mid="w15-01@yandex.example",
    )


@letter("w15-02-thunderbird-ru-redirected")
def _() -> bytes:
    return plain(
        sender="Sergey Kuznetsov <s.kuznetsov@vector.example>",
        subject=ew("Fwd: Ошибка резервного копирования"),
        text=(
            "\n\n\n-------- Перенаправленное сообщение --------\n"
            "Тема: \tОшибка резервного копирования\n"
            "Дата: \tTue, 18 Mar 2025 03:00:00 +0300\n"
            "От: \tbackup@vector.example\n"
            "Кому: \tadmin@vector.example\n\n\n\n"
            "Задание nightly завершилось с ошибкой: нет места на диске /backup.\n"
        ),
        mid="w15-02@vector.example",
        headers="User-Agent: Mozilla Thunderbird\n",
    )


@letter("w15-03-outlook-ru-forward-block")
def _() -> bytes:
    return plain(
        sender=f"{ew('Волкова Анна Сергеевна')} <a.volkova@lesprom.example>",
        subject=ew("ПЕРЕСЛ: Отключение электроэнергии"),
        text=(
            "Коллеги, это затронет наш сервер?\n\n"
            "________________________________\n"
            "От: Управляющая компания <uk@bc-lesnoy.example>\n"
            "Отправлено: 18 марта 2025 г. 8:40\n"
            "Кому: Волкова Анна Сергеевна\n"
            "Тема: Отключение электроэнергии\n\n"
            "20 марта с 10:00 до 14:00 в бизнес-центре будет отключено электричество.\n"
        ),
        mid="w15-03@lesprom.example",
        headers="X-Mailer: Microsoft Outlook 16.0\n",
    )


@letter("w15-04-outlook-en-original-message-forward")
def _() -> bytes:
    return plain(
        sender="John Smith <john.smith@northwind.example>",
        subject="FW: Certificate expiry notice",
        text=(
            "Please renew this one.\n\n"
            "-----Original Message-----\n"
            "From: Certificates <noreply@ca.example>\n"
            "Sent: Tuesday, March 18, 2025 7:00 AM\n"
            "To: John Smith <john.smith@northwind.example>\n"
            "Subject: Certificate expiry notice\n\n"
            "The certificate for shop.northwind.example expires in 7 days.\n"
        ),
        mid="w15-04@northwind.example",
    )


@letter("w15-05-gmail-forwarded-message-alternative")
def _() -> bytes:
    text = (
        "Посмотрите, пожалуйста.\n\n"
        "---------- Forwarded message ---------\n"
        "От: Robot <robot@monitoring.example>\n"
        "Date: вт, 18 мар. 2025 г. в 06:00\n"
        "Subject: Disk almost full\n"
        "To: <maria@fabrika.example>\n\n\n"
        "Диск /var заполнен на 95%.\n"
    )
    html = (
        "<div dir=\"ltr\">Посмотрите, пожалуйста.<br><br><div class=\"gmail_quote\">"
        "<div dir=\"ltr\" class=\"gmail_attr\">---------- Forwarded message ---------<br>"
        "От: <strong>Robot</strong> &lt;robot@monitoring.example&gt;<br>"
        "Date: вт, 18 мар. 2025 г. в 06:00<br>Subject: Disk almost full<br>"
        "To: &lt;maria@fabrika.example&gt;<br></div><br><br>"
        "<div>Диск /var заполнен на 95%.</div></div></div>"
    )
    return crlf(f"""From: Maria <maria@fabrika.example>
To: help@alpha.example
Subject: Fwd: Disk almost full
Date: Tue, 18 Mar 2025 11:00:00 +0300
Message-ID: <CAw1505@mail.gmail.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="000000000000w1505"

--000000000000w1505
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: base64

{b64(text)}
--000000000000w1505
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: base64

{b64(html)}
--000000000000w1505--
""")


@letter("w15-06-apple-mail-begin-forwarded")
def _() -> bytes:
    return plain(
        sender="Peter Brown <peter@brown-consulting.example>",
        subject="Fwd: Invoice 2025-03",
        text=(
            "Is this correct?\n\nSent from my iPhone\n\n"
            "Begin forwarded message:\n\n"
            "> From: Billing <billing@hoster.example>\n"
            "> Date: 18 March 2025 at 08:00:00 GMT+3\n"
            "> To: peter@brown-consulting.example\n"
            "> Subject: Invoice 2025-03\n"
            ">\n"
            "> Your invoice for March is 240 EUR.\n"
        ),
        mid="w15-06@brown-consulting.example",
    )


@letter("w15-07-mailru-forward-ot-kogo")
def _() -> bytes:
    return plain(
        sender=f"{ew('Дмитрий')} <dima@mail.example>",
        subject=ew("Fwd: Доступ к панели"),
        text=(
            "\n\n\n-------- Пересылаемое сообщение --------\n"
            "От кого: Олег <oleg@unix-shop.example>\n"
            "Кому: dima@mail.example\n"
            "Дата: Вторник, 18 марта 2025, 10:05 +03:00\n"
            "Тема: Доступ к панели\n\n"
            "Дима, я не могу войти в панель: пишет «неверный пароль».\n\n"
            "----------------------------------------------------------------------\n"
        ),
        mid="w15-07@mail.example",
    )


@letter("w15-08-outlook-reply-original-message-is-folded")
def _() -> bytes:
    return plain(
        sender="John Smith <john.smith@northwind.example>",
        subject="RE: Certificate expiry notice",
        text=(
            "Thanks, renewed.\n\n"
            "-----Original Message-----\n"
            "From: Support <help@alpha.example>\n"
            "Sent: Tuesday, March 18, 2025 9:00 AM\n"
            "To: John Smith <john.smith@northwind.example>\n"
            "Subject: Certificate expiry notice\n\n"
            "Please confirm the renewal.\n"
        ),
        mid="w15-08@northwind.example",
    )


@letter("w15-09-reply-to-a-forward-is-folded")
def _() -> bytes:
    return plain(
        sender=f"{ew('Волкова Анна Сергеевна')} <a.volkova@lesprom.example>",
        subject=ew("RE: ПЕРЕСЛ: Отключение электроэнергии"),
        text=(
            "Спасибо, понятно.\n\n"
            "От: Служба поддержки <help@alpha.example>\n"
            "Отправлено: 18 марта 2025 г. 12:00\n"
            "Кому: Волкова Анна Сергеевна\n"
            "Тема: RE: ПЕРЕСЛ: Отключение электроэнергии\n\n"
            "Сервер на ИБП, отключение не заметит.\n\n"
            "-------- Пересылаемое сообщение --------\n"
            "старое\n"
        ),
        mid="w15-09@lesprom.example",
    )


# --- 16: encoded display names with a comma --------------------------------------------------


@letter("w16-01-exchange-lastname-comma-q")
def _() -> bytes:
    return plain(
        sender="=?iso-8859-1?Q?B=FCrling,=20Andreas?= <Andreas.Buerling@Firma.example>",
        subject="Zugang zum FTP",
        text="Hallo, der FTP-Zugang funktioniert nicht mehr.",
        mid="w16-01@firma.example",
    )


@letter("w16-02-exchange-ru-comma-base64-and-list")
def _() -> bytes:
    return plain(
        sender=f"{ew('Петров, Иван Сергеевич')} <ivan.petrov@stroymarket.example>",
        subject=ew("Не работает VPN"),
        text="VPN не подключается с 9 утра.",
        mid="w16-02@stroymarket.example",
        headers=(
            f"Cc: {ew('Сидорова, Мария', 'koi8-r')} <maria@fabrika.example>, "
            f"{ew('Кузнецов, Сергей', 'utf-8', 'Q')} <s.kuznetsov@vector.example>\n"
        ),
    )


@letter("w16-03-q-encoded-comma-and-angle")
def _() -> bytes:
    return plain(
        sender="=?utf-8?Q?Smith=2C_John_=3Cjohn=3E?= <john.smith@northwind.example>",
        subject="VPN",
        text="VPN is down.",
        mid="w16-03@northwind.example",
    )


@letter("w16-04-raw-utf8-unquoted-comma")
def _() -> bytes:
    return crlf("""From: Иванова, Мария <m.ivanova@romashka.example>
To: help@alpha.example
Subject: =?utf-8?B?0J/QvtGH0YLQsA==?=
Date: Tue, 18 Mar 2025 11:00:00 +0300
Message-ID: <w16-04@romashka.example>
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Почта не отправляется.
""")


# --- 17: attachment names --------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def with_file(*, sender: str, subject: str, text: str, mid: str, part_headers: str) -> bytes:
    return crlf(f"""From: {sender}
To: help@alpha.example
Subject: {subject}
Date: Wed, 19 Mar 2025 10:00:00 +0300
Message-ID: <{mid}>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="att-{mid}"

--att-{mid}
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

{b64(text)}
--att-{mid}
{part_headers}Content-Transfer-Encoding: base64

{b64(PDF)}
--att-{mid}--
""")


@letter("w17-01-outlook-rfc2231-number-sign-parentheses")
def _() -> bytes:
    name = "Счёт №15 (март), итог.pdf"
    return with_file(
        sender="Anna <a.volkova@lesprom.example>", subject=ew("Счёт"),
        text="Счёт во вложении.", mid="w17-01@lesprom.example",
        part_headers=(
            f"Content-Type: application/pdf; name=\"{ew(name)}\"\n"
            f"Content-Disposition: attachment; filename*={rfc2231(name)}\n"
        ),
    )


@letter("w17-02-thunderbird-rfc2231-continuations")
def _() -> bytes:
    name = "Акт выполненных работ № 7 от 19.03.2025 (подписан).pdf"
    encoded = rfc2231(name)
    first, second = encoded[:60], encoded[60:]
    return with_file(
        sender="Sergey <s.kuznetsov@vector.example>", subject=ew("Акт"),
        text="Акт подписан.", mid="w17-02@vector.example",
        part_headers=(
            "Content-Type: application/pdf\n"
            f"Content-Disposition: attachment;\n filename*0*={first};\n filename*1*={second}\n"
        ),
    )


@letter("w17-03-apple-nfd-encoded-word")
def _() -> bytes:
    import unicodedata

    name = unicodedata.normalize("NFD", "Отчёт за май — итоговый.pdf")
    return with_file(
        sender="Peter <peter@brown-consulting.example>", subject="Report",
        text="Report attached.", mid="w17-03@brown-consulting.example",
        part_headers=(
            f"Content-Type: application/pdf; name=\"{ew(name)}\"\n"
            f"Content-Disposition: attachment; filename=\"{ew(name)}\"\n"
        ),
    )


@letter("w17-04-mailru-raw-utf8-name")
def _() -> bytes:
    return with_file(
        sender="Dima <dima@mail.example>", subject=ew("Скриншот ошибки"),
        text="Вот что показывает панель.", mid="w17-04@mail.example",
        part_headers=(
            "Content-Type: application/pdf; name=\"Ошибка входа, панель 2.pdf\"\n"
            "Content-Disposition: attachment; filename=\"Ошибка входа, панель 2.pdf\"\n"
        ),
    )


@letter("w17-05-latin1-rfc2231-accents-and-path")
def _() -> bytes:
    name = "C:\\Users\\Jérôme\\Réunion d'équipe (v2).pdf"
    return with_file(
        sender="Jérôme <jerome@bureau.example>", subject="Réunion",
        text="Voir la pièce jointe.", mid="w17-05@bureau.example",
        part_headers=(
            "Content-Type: application/pdf\n"
            f"Content-Disposition: attachment; filename*={rfc2231(name, 'iso-8859-1')}\n"
        ),
    )


# --- 18: charsets -----------------------------------------------------------------------------


def raw_letter(head: str, body: bytes, header_bytes: dict[str, bytes] | None = None) -> bytes:
    data = crlf(head)
    for placeholder, value in (header_bytes or {}).items():
        data = data.replace(placeholder.encode("ascii"), value)
    return data + body.replace(b"\n", b"\r\n")


@letter("w18-01-norwegian-raw-latin1-name")
def _() -> bytes:
    return raw_letter(
        """From: NAME <jorgen@fjord.example>
To: help@alpha.example
Subject: Innlogging feiler
Date: Thu, 20 Mar 2025 09:00:00 +0100
Message-ID: <w18-01@fjord.example>
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: 8bit

""",
        "Hei, innloggingen på kontrollpanelet feiler for Ødegård.\n".encode("latin-1"),
        {"NAME": "Jørgen Ødegård".encode("latin-1")},
    )


@letter("w18-02-unknown-label-on-utf8")
def _() -> bytes:
    return raw_letter(
        """From: =?x-unknown-utf?B?0J7Qu9C10LM=?= <oleg@unix-shop.example>
To: help@alpha.example
Subject: =?utf-8?B?0J/QsNC90LXQu9GM?=
Date: Thu, 20 Mar 2025 09:00:00 +0300
Message-ID: <w18-02@unix-shop.example>
Content-Type: text/plain; charset="utf-8lite"
Content-Transfer-Encoding: 8bit

""",
        "Не открывается панель управления, ошибка 500.\n".encode(),
    )


@letter("w18-03-iso2022jp-nec-extensions")
def _() -> bytes:
    # JIS X 0208 bytes of "①番の件" (NEC row 13 for ①) and "㈱" — what CP50220 writes.
    subject = base64.b64encode(b"\x1b$B-!HV$N7o\x1b(B").decode("ascii")
    return raw_letter(
        f"""From: Tanaka <tanaka@kaisha.example>
To: help@alpha.example
Subject: =?ISO-2022-JP?B?{subject}?=
Date: Thu, 20 Mar 2025 17:00:00 +0900
Message-ID: <w18-03@kaisha.example>
Content-Type: text/plain; charset=ISO-2022-JP
Content-Transfer-Encoding: 7bit

""",
        b"\x1b$B-j\x1b(B Tanaka\n\x1b$B-!HV$N7o$G$9!#\x1b(B\n",
    )


@letter("w18-04-undeclared-cp1251-body")
def _() -> bytes:
    return raw_letter(
        """From: Oleg <oleg@unix-shop.example>
To: help@alpha.example
Subject: Backup
Date: Thu, 20 Mar 2025 09:00:00 +0300
Message-ID: <w18-04@unix-shop.example>
Content-Type: text/plain
Content-Transfer-Encoding: 8bit

""",
        "Резервная копия за вчера не создана, проверьте задание.\n".encode("cp1251"),
    )


@letter("w18-05-undeclared-koi8r-body")
def _() -> bytes:
    return raw_letter(
        """From: Oleg <oleg@unix-shop.example>
To: help@alpha.example
Subject: Mail
Date: Thu, 20 Mar 2025 09:00:00 +0300
Message-ID: <w18-05@unix-shop.example>

""",
        "Почта уходит с задержкой в полчаса, очередь растёт.\n".encode("koi8-r"),
    )


@letter("w18-06-undeclared-latin1-german-body")
def _() -> bytes:
    return raw_letter(
        """From: Andreas <andreas.buerling@firma.example>
To: help@alpha.example
Subject: Zugang
Date: Thu, 20 Mar 2025 09:00:00 +0100
Message-ID: <w18-06@firma.example>
Content-Type: text/plain
Content-Transfer-Encoding: 8bit

""",
        "Grüße aus München, der Zugang für Jürgen geht nicht.\n".encode("latin-1"),
    )


@letter("w18-07-raw-cp1251-subject-declared-body")
def _() -> bytes:
    return raw_letter(
        """From: =?windows-1251?B?yuvo5e3y?= <client@shop.example>
To: help@alpha.example
Subject: SUBJ
Date: Thu, 20 Mar 2025 09:00:00 +0300
Message-ID: <w18-07@shop.example>
Content-Type: text/plain; charset=windows-1251
Content-Transfer-Encoding: 8bit

""",
        "Сайт недоступен.\n".encode("cp1251"),
        {"SUBJ": "Сайт не работает".encode("cp1251")},
    )


@letter("w18-08-undeclared-gbk-body")
def _() -> bytes:
    return raw_letter(
        """From: Li <li@gongsi.example>
To: help@alpha.example
Subject: Server
Date: Thu, 20 Mar 2025 15:00:00 +0800
Message-ID: <w18-08@gongsi.example>
Content-Type: text/plain
Content-Transfer-Encoding: 8bit

""",
        "我们的服务器今天上午无法访问，请尽快处理。谢谢！\n".encode("gbk"),
    )


# --- 19: garbled addresses are never trimmed to a fragment -----------------------------------


@letter("w19-01-spaces-inside-angle-brackets")
def _() -> bytes:
    return crlf("""Return-Path: <bounce-77@mailer.example>
From: Power Quadrant <power quadrant system@example.com>
To: help@alpha.example
Subject: Partnership offer
Date: Fri, 21 Mar 2025 09:00:00 +0000
Message-ID: <w19-01@mailer.example>
Content-Type: text/plain; charset=us-ascii

We would like to offer you a partnership.
""")


@letter("w19-02-double-at")
def _() -> bytes:
    return crlf("""From: =?utf-8?B?0JjQstCw0L0=?= <ivan@@stroymarket.example>
To: help@alpha.example
Subject: =?utf-8?B?0J/QvtC80L7Qs9C40YLQtQ==?=
Date: Fri, 21 Mar 2025 09:00:00 +0300
Message-ID: <w19-02@stroymarket.example>
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Не работает сайт.
""")


@letter("w19-03-space-in-domain")
def _() -> bytes:
    return crlf("""From: Ivan <ivan@stroy market.example>
Sender: Ivan <ivan@stroymarket.example>
To: help@alpha.example
Subject: Site down
Date: Fri, 21 Mar 2025 09:00:00 +0300
Message-ID: <w19-03@stroymarket.example>
Content-Type: text/plain; charset=us-ascii

The site is down.
""")


@letter("w19-04-trailing-dot-domain")
def _() -> bytes:
    return crlf("""From: =?utf-8?B?0JjQstCw0L0g0J/QtdGC0YDQvtCy?= <Ivan.Petrov@Stroymarket.example.>
To: help@alpha.example
Subject: =?utf-8?B?0J3QtSDRgNCw0LHQvtGC0LDQtdGCIEZUUA==?=
Date: Fri, 21 Mar 2025 09:00:00 +0300
Message-ID: <w19-04@stroymarket.example>
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

С утра не работает FTP.
""")


@letter("w19-05-garbled-reply-to")
def _() -> bytes:
    return crlf("""From: Maria <maria@fabrika.example>
Reply-To: Maria <maria at fabrika dot example>
To: help@alpha.example
Subject: =?utf-8?B?0J/QvtGH0YLQsA==?=
Date: Fri, 21 Mar 2025 09:00:00 +0300
Message-ID: <w19-05@fabrika.example>
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Почта не приходит.
""")


# --- 20: two From headers --------------------------------------------------------------------


@letter("w20-01-junk-from-then-valid")
def _() -> bytes:
    return crlf("""From: "You are a WINNER" <winner at prize>
From: =?utf-8?B?0J7Qu9GM0LPQsCDQodC80LjRgNC90L7QstCw?= <olga@romashka.example>
To: help@alpha.example
Subject: =?utf-8?B?0J3QtSDQv9GA0LjRhdC+0LTRj9GCINC/0LjRgdGM0LzQsA==?=
Date: Sat, 22 Mar 2025 09:00:00 +0300
Message-ID: <w20-01@romashka.example>
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Не приходят письма с сайта.
""")


@letter("w20-02-valid-from-then-another")
def _() -> bytes:
    return crlf("""From: Sergey Kuznetsov <s.kuznetsov@vector.example>
From: Marketing <promo@ads.example>
To: help@alpha.example
Subject: Backup
Date: Sat, 22 Mar 2025 09:00:00 +0300
Message-ID: <w20-02@vector.example>
Content-Type: text/plain; charset=us-ascii

The backup failed again.
""")


@letter("w20-03-bare-name-from-then-valid")
def _() -> bytes:
    return crlf("""From: undisclosed sender
From: Peter Brown <peter@brown-consulting.example>
Sender: Bulk Relay <relay@bulk.example>
To: help@alpha.example
Subject: VPS
Date: Sat, 22 Mar 2025 09:00:00 +0000
Message-ID: <w20-03@brown-consulting.example>
Content-Type: text/plain; charset=us-ascii

Please reboot my VPS.
""")


def main() -> None:
    for old in HERE.glob("*.eml"):
        old.unlink()
    for name, build in LETTERS.items():
        (HERE / f"{name}.eml").write_bytes(build())
    print(f"{len(LETTERS)} letters written to {HERE}")


if __name__ == "__main__":
    main()
