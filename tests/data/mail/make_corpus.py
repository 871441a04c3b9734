"""Writes the mail parser's test corpus (tests/data/mail/*.eml).

Every message is written here by hand as text; the script only applies what a mail
client would (charsets, quoted-printable, base64, encoded words) so that the exact bytes
are reproducible. Run from anywhere: `python tests/data/mail/make_corpus.py`. The 15 MB
attachment case is generated inside the test instead of being committed.
"""

import base64
import quopri
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRLF = "\r\n"

MESSAGES: dict[str, Callable[[], bytes]] = {}


def message(name: str) -> Callable[[Callable[[], bytes]], Callable[[], bytes]]:
    def register(build: Callable[[], bytes]) -> Callable[[], bytes]:
        MESSAGES[name] = build
        return build

    return register


def lines(text: str, newline: str = CRLF) -> str:
    """A block written indented in this file, with the given line endings.

    Only the template's own indentation is removed: multi-line values put into it (base64,
    quoted-printable, a whole message) start at column 0 and stay as they are.
    """
    rows = text.replace("\r\n", "\n").split("\n")
    if rows and not rows[0].strip():
        rows = rows[1:]
    first = next((row for row in rows if row.strip()), "")
    indent = first[: len(first) - len(first.lstrip())]
    result = []
    for row in rows:
        if row.startswith(indent):
            row = row[len(indent):]
        elif not row.strip():
            row = ""
        result.append(row)
    return newline.join(result)


def b64(data: bytes | str, charset: str = "utf-8") -> str:
    raw = data.encode(charset) if isinstance(data, str) else data
    encoded = base64.b64encode(raw).decode("ascii")
    return CRLF.join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


def qp(text: str, charset: str = "utf-8") -> str:
    raw = text.replace("\r\n", "\n").encode(charset)
    return quopri.encodestring(raw).decode("ascii").replace("\n", CRLF)


def ew(text: str, charset: str = "utf-8", encoding: str = "B") -> str:
    """One RFC 2047 encoded word."""
    raw = text.encode(charset)
    if encoding == "B":
        payload = base64.b64encode(raw).decode("ascii")
    else:
        payload = "".join(
            "_" if byte == 0x20 else chr(byte) if chr(byte).isalnum() and byte < 128
            else f"={byte:02X}"
            for byte in raw
        )
    return f"=?{charset}?{encoding}?{payload}?="


def build(headers: str, body: str | bytes, charset: str = "utf-8") -> bytes:
    head = lines(headers).encode("utf-8")
    if isinstance(body, str):
        body = body.encode(charset)
    return head + CRLF.encode() + body


# A small fake PDF and PNG: real magic numbers, deterministic contents.
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x9a\xa0"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


@message("01-plain-utf8-ftp")
def plain_utf8() -> bytes:
    body = lines("""
        Добрый день!

        С утра не работает FTP на сервере ftp.stroymarket.example: клиент пишет
        «530 Login incorrect», хотя пароль не меняли.

        С уважением,
        Иван Петров
        """)
    return build(f"""
        Return-Path: <ivan.petrov@stroymarket.example>
        From: {ew("Иван Петров")} <Ivan.Petrov@StroyMarket.example>
        To: Support <support@alpha.example>
        Subject: {ew("Не работает FTP")}
        Date: Mon, 03 Mar 2025 09:12:45 +0300
        Message-ID: <20250303091245.4711@stroymarket.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset="utf-8"
        Content-Transfer-Encoding: 8bit
        """, body)


@message("02-question-qp-signature")
def question_qp() -> bytes:
    body = lines("""
        Здравствуйте!

        Подскажите, пожалуйста, можно ли перенести почтовый домен на ваш хостинг
        без остановки почты? Сейчас MX указывает на старого провайдера.

        С уважением,
        Ольга Смирнова

        --\x20
        Ольга Смирнова, бухгалтерия ООО «Ромашка»
        тел. +7 495 000-00-00
        """)
    return build(f"""
        From: "{ew("Ольга Смирнова", encoding="Q")}" <olga@romashka.example>
        To: support@alpha.example
        Subject: {ew("Вопрос", encoding="Q")}
        Date: Tue, 4 Mar 2025 11:00:00 +0300
        Message-ID: <q-0001@romashka.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=UTF-8
        Content-Transfer-Encoding: quoted-printable
        """, qp(body))


@message("03-reply-gmail-ru-attribution")
def reply_gmail_ru() -> bytes:
    body = lines("""
        Спасибо, заработало после смены пароля.

        пн, 3 мар. 2025 г. в 10:00, Служба поддержки <support@alpha.example>:

        > Здравствуйте, Иван!
        >
        > Мы сбросили пароль FTP-пользователя, новый пароль отправлен по SMS.
        >
        > --
        > Служба поддержки
        """)
    return build(f"""
        From: {ew("Иван Петров")} <ivan.petrov@stroymarket.example>
        To: {ew("Служба поддержки")} <support@alpha.example>
        Subject: Re: {ew("Не работает FTP")} [#1042]
        Date: Mon, 3 Mar 2025 10:31:07 +0300
        Message-ID: <CAF=reply-1@mail.gmail.example>
        In-Reply-To: <ticket-1042-1@alpha.example>
        References: <20250303091245.4711@stroymarket.example>
         <ticket-1042-1@alpha.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset="UTF-8"
        Content-Transfer-Encoding: base64
        """, b64(body))


@message("04-reply-thunderbird-flowed")
def reply_thunderbird() -> bytes:
    # format=flowed: the first paragraph is one long line wrapped with trailing spaces.
    body = lines("""
        Добрый день. Проверили ещё раз: сайт открывается, но админка отдаёт\x20
        ошибку 502 примерно раз в минуту.

        03.03.2025 12:15, Служба поддержки пишет:
        > Здравствуйте! Перезапустили PHP-FPM, проверьте, пожалуйста.
        >
        > Служба поддержки
        """)
    return build(f"""
        From: Sergey Kuznetsov <S.Kuznetsov@Vector.example>
        To: support@alpha.example
        Subject: Re: {ew("Ошибка 502 на сайте")}
        Date: Mon, 3 Mar 2025 13:02:44 +0300
        Message-ID: <5a1d9f3e-0000-4000-8000-000000000004@vector.example>
        In-Reply-To: <ticket-1043-2@alpha.example>
        References: <ticket-1043-1@alpha.example> <ticket-1043-2@alpha.example>
        User-Agent: Mozilla Thunderbird
        MIME-Version: 1.0
        Content-Type: text/plain; charset=UTF-8; format=flowed
        Content-Transfer-Encoding: 8bit
        """, body)


@message("05-reply-outlook-ru-cp1251")
def reply_outlook_ru() -> bytes:
    plain = lines("""
        Добрый день!

        Пароль пришёл, спасибо. Но теперь не открывается phpMyAdmin.

        С уважением,
        Анна Волкова

        ________________________________
        От: Служба поддержки <support@alpha.example>
        Отправлено: 3 марта 2025 г. 14:20
        Кому: Анна Волкова <a.volkova@lesprom.example>
        Тема: RE: Сброс пароля

        Здравствуйте, Анна! Новый пароль отправлен по SMS.
        """)
    html = lines("""
        <html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">
        <style>p.MsoNormal{margin:0}</style></head><body lang=RU>
        <div class=WordSection1><p class=MsoNormal>Добрый день!</p>
        <p class=MsoNormal>&nbsp;</p>
        <p class=MsoNormal>Пароль пришёл, спасибо. Но теперь не открывается phpMyAdmin.</p>
        <p class=MsoNormal>&nbsp;</p>
        <p class=MsoNormal>С уважением,<br>Анна Волкова</p>
        <div style='border:none;border-top:solid #E1E1E1 1.0pt'>
        <p class=MsoNormal><b>От:</b> Служба поддержки &lt;support@alpha.example&gt;<br>
        <b>Отправлено:</b> 3 марта 2025 г. 14:20<br><b>Кому:</b> Анна Волкова<br>
        <b>Тема:</b> RE: Сброс пароля</p></div>
        <p class=MsoNormal>Здравствуйте, Анна! Новый пароль отправлен по SMS.</p>
        </div></body></html>
        """)
    boundary = "_000_OUTLOOKRU0305_"
    body = lines(f"""
        --{boundary}
        Content-Type: text/plain; charset="windows-1251"
        Content-Transfer-Encoding: quoted-printable

        {{plain}}
        --{boundary}
        Content-Type: text/html; charset="windows-1251"
        Content-Transfer-Encoding: quoted-printable

        {{html}}
        --{boundary}--
        """).format(plain=qp(plain, "windows-1251"), html=qp(html, "windows-1251"))
    return build(f"""
        From: {ew("Волкова Анна Сергеевна", "windows-1251")} <A.Volkova@lesprom.example>
        To: {ew("Служба поддержки", "windows-1251")} <support@alpha.example>
        Subject: {ew("RE: Сброс пароля", "windows-1251")}
        Thread-Topic: {ew("Сброс пароля", "windows-1251")}
        Date: Mon, 3 Mar 2025 11:41:02 +0000
        Message-ID: <AM0PR01MB1234ABCD@AM0PR01MB1234.eurprd01.prod.outlook.example>
        In-Reply-To: <ticket-1044-1@alpha.example>
        X-Mailer: Microsoft Outlook 16.0
        MIME-Version: 1.0
        Content-Type: multipart/alternative; boundary="{boundary}"
        """, body)


@message("06-reply-outlook-en-original-message")
def reply_outlook_en() -> bytes:
    body = lines("""
        Hi team,

        the backup job still fails every night, log attached earlier.

        Regards,
        John

        -----Original Message-----
        From: Support <support@alpha.example>
        Sent: Tuesday, March 4, 2025 9:00 AM
        To: John Smith <john.smith@northwind.example>
        Subject: RE: Nightly backup failed

        Hello John, could you send us the job log?
        """)
    return build("""
        From: John Smith <John.Smith@Northwind.example>
        To: "Support" <support@alpha.example>
        Cc: "Mary Jones" <MARY.JONES@northwind.example>, ops@northwind.example
        Subject: RE: Nightly backup failed
        Date: Tue, 4 Mar 2025 10:15:00 -0500
        Message-ID: <000001db8d0f$aabbccdd$eeff0011@northwind.example>
        In-Reply-To: <ticket-1045-2@alpha.example>
        X-Mailer: Microsoft Outlook 16.0
        MIME-Version: 1.0
        Content-Type: text/plain; charset="us-ascii"
        Content-Transfer-Encoding: 7bit
        """, body)


@message("07-reply-on-wrote-wrapped")
def reply_on_wrote() -> bytes:
    body = lines("""
        Yes, please go ahead with the migration on Saturday.

        On Wed, Mar 5, 2025 at 4:12 PM Alpha Support <support@alpha.example>
        wrote:

        > Hello Peter,
        > we can migrate your VPS to the new cluster this weekend.
        """)
    return build("""
        From: Peter Brown <peter@brown-consulting.example>
        To: Alpha Support <support@alpha.example>
        Subject: Re: VPS migration window
        Date: Wed, 05 Mar 2025 17:03:11 +0100
        Message-ID: <CAOPeter-0007@mail.example>
        In-Reply-To: <ticket-1046-1@alpha.example>
        References: <ticket-1046-1@alpha.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset="UTF-8"
        """, body)


@message("08-forward-inline-ru")
def forward_inline() -> bytes:
    body = lines("""
        Коллеги, посмотрите, пожалуйста, что это за письмо от провайдера.

        -------- Пересылаемое сообщение --------
        От: noc@upstream.example
        Дата: 05.03.2025 08:00
        Тема: Плановые работы
        Кому: admin@lesprom.example

        Уважаемый клиент! 10 марта с 02:00 до 04:00 плановые работы на магистрали.
        -------- Конец пересылаемого сообщения --------
        """)
    return build(f"""
        From: {ew("Анна Волкова")} <a.volkova@lesprom.example>
        To: support@alpha.example
        Subject: Fwd: {ew("Плановые работы")}
        Date: Wed, 05 Mar 2025 09:10:00 +0300
        Message-ID: <fwd-0008@lesprom.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=utf-8
        Content-Transfer-Encoding: {"base64"}
        """, b64(body))


@message("09-forward-attached-rfc822")
def forward_attached() -> bytes:
    inner = lines(f"""
        From: {ew("Бухгалтерия", "koi8-r")} <buh@romashka.example>
        To: olga@romashka.example
        Subject: {ew("Счёт за хостинг не пришёл", "koi8-r")}
        Date: Thu, 06 Mar 2025 08:30:00 +0300
        Message-ID: <inner-0009@romashka.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=koi8-r
        Content-Transfer-Encoding: 8bit

        """).encode("ascii") + lines("""
        Ольга, счёт за март так и не пришёл. Узнай у хостера, пожалуйста.
        """).encode("koi8-r")
    boundary = "------------fwd0009"
    head = lines(f"""
        From: {ew("Ольга Смирнова")} <olga@romashka.example>
        To: support@alpha.example
        Subject: Fwd: {ew("Счёт за хостинг не пришёл")}
        Date: Thu, 06 Mar 2025 09:00:00 +0300
        Message-ID: <outer-0009@romashka.example>
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="{boundary}"

        This is a multi-part message in MIME format.
        --{boundary}
        Content-Type: text/plain; charset=UTF-8
        Content-Transfer-Encoding: 8bit

        Пересылаю письмо бухгалтерии, счёт действительно не приходил.

        --{boundary}
        Content-Type: message/rfc822
        Content-Disposition: attachment; filename="forwarded.eml"

        """).encode("utf-8")
    return head + inner + lines(f"""

        --{boundary}--
        """).encode("ascii")


@message("10-auto-reply-ru")
def auto_reply_ru() -> bytes:
    body = lines("""
        Здравствуйте!

        Я в отпуске до 17 марта. По срочным вопросам обращайтесь к Сергею Кузнецову.
        """)
    return build(f"""
        From: {ew("Анна Волкова")} <a.volkova@lesprom.example>
        To: support@alpha.example
        Subject: {ew("Автоматический ответ: RE: Сброс пароля [#1044]")}
        Date: Thu, 06 Mar 2025 10:00:00 +0300
        Message-ID: <oof-0010@lesprom.example>
        In-Reply-To: <ticket-1044-3@alpha.example>
        Auto-Submitted: auto-replied
        X-Auto-Response-Suppress: All
        MIME-Version: 1.0
        Content-Type: text/plain; charset="utf-8"
        Content-Transfer-Encoding: base64
        """, b64(body))


@message("11-out-of-office-en-x-autoreply")
def out_of_office() -> bytes:
    body = lines("""
        I am out of the office until Monday with limited access to e-mail.
        """)
    return build("""
        From: Peter Brown <peter@brown-consulting.example>
        To: support@alpha.example
        Subject: Out of Office: VPS migration window
        Date: Thu, 06 Mar 2025 12:00:00 +0100
        Message-ID: <ooo-0011@brown-consulting.example>
        X-Autoreply: yes
        MIME-Version: 1.0
        Content-Type: text/plain; charset="us-ascii"
        """, body)


@message("12-dsn-postfix")
def dsn_postfix() -> bytes:
    boundary = "4F2A91C0DE.1741250000/mx.alpha.example"
    return build(f"""
        Return-Path: <>
        From: MAILER-DAEMON@mx.alpha.example (Mail Delivery System)
        To: support@alpha.example
        Subject: Undelivered Mail Returned to Sender
        Date: Thu, 06 Mar 2025 11:33:20 +0300 (MSK)
        Message-ID: <20250306083320.4F2A91C0DE@mx.alpha.example>
        Auto-Submitted: auto-replied
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status;
        \tboundary="{boundary}"
        """, lines(f"""
        This is a MIME-encapsulated message.

        --{boundary}
        Content-Description: Notification
        Content-Type: text/plain; charset=us-ascii

        This is the mail system at host mx.alpha.example.

        I'm sorry to have to inform you that your message could not
        be delivered to one or more recipients.

        <ivan.petroff@stroymarket.example>: host mx.stroymarket.example[192.0.2.25]
            said: 550 5.1.1 <ivan.petroff@stroymarket.example>: Recipient address
            rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)

        --{boundary}
        Content-Description: Delivery report
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.alpha.example
        X-Postfix-Queue-ID: 4F2A91C0DE
        Arrival-Date: Thu,  6 Mar 2025 11:33:19 +0300 (MSK)

        Final-Recipient: rfc822; Ivan.Petroff@stroymarket.example
        Original-Recipient: rfc822;ivan.petroff@stroymarket.example
        Action: failed
        Status: 5.1.1
        Remote-MTA: dns; mx.stroymarket.example
        Diagnostic-Code: smtp; 550 5.1.1 <ivan.petroff@stroymarket.example>: Recipient
            address rejected: User unknown in virtual mailbox table

        --{boundary}
        Content-Description: Undelivered Message Headers
        Content-Type: text/rfc822-headers

        From: support@alpha.example
        To: ivan.petroff@stroymarket.example
        Subject: =?utf-8?B?0JLQsNGI0LAg0LfQsNGP0LLQutCw?= [#1047]
        Message-ID: <ticket-1047-1@alpha.example>
        Date: Thu, 06 Mar 2025 11:33:10 +0300

        --{boundary}--
        """))


@message("13-dsn-returned-message")
def dsn_returned() -> bytes:
    boundary = "==dsn0013=="
    returned = lines(f"""
        From: Alpha Support <support@alpha.example>
        To: a.volkova@lesprom.example, ops@lesprom.example
        Subject: {ew("Ваша заявка #1048 принята")}
        Message-ID: <ticket-1048-1@alpha.example>
        Date: Fri, 07 Mar 2025 09:00:00 +0300
        MIME-Version: 1.0
        Content-Type: text/plain; charset=utf-8
        Content-Transfer-Encoding: base64

        {b64("Заявка принята, ответим в течение часа.")}
        """)
    return build(f"""
        From: Mail Delivery Subsystem <mailer-daemon@relay.lesprom.example>
        To: support@alpha.example
        Subject: Delivery Status Notification (Failure)
        Date: Fri, 07 Mar 2025 09:00:05 +0300
        Message-ID: <dsn-0013@relay.lesprom.example>
        Auto-Submitted: auto-replied
        MIME-Version: 1.0
        Content-Type: multipart/report; boundary="{boundary}";
         report-type="delivery-status"
        """, lines(f"""
        --{boundary}
        Content-Type: text/plain; charset=UTF-8
        Content-Transfer-Encoding: 8bit

        Сообщение не доставлено одному из получателей.

        ops@lesprom.example — почтовый ящик переполнен.

        --{boundary}
        Content-Type: message/delivery-status

        Reporting-MTA: dns; relay.lesprom.example

        Final-Recipient: rfc822; a.volkova@lesprom.example
        Action: delivered
        Status: 2.0.0

        Final-Recipient: rfc822; OPS@lesprom.example
        Action: failed
        Status: 5.2.2
        Diagnostic-Code: smtp; 552 5.2.2 Mailbox full

        --{boundary}
        Content-Type: message/rfc822

        {returned}
        --{boundary}--
        """))


@message("14-bounce-plain-postfix")
def bounce_plain() -> bytes:
    return build("""
        Return-Path: <>
        From: MAILER-DAEMON <MAILER-DAEMON@old-relay.example>
        To: support@alpha.example
        Subject: Undelivered Mail Returned to Sender
        Date: Fri, 07 Mar 2025 10:00:00 +0300
        Message-ID: <bounce-0014@old-relay.example>
        Content-Type: text/plain; charset=us-ascii
        """, lines("""
        This is the mail system at host old-relay.example.

        I'm sorry to have to inform you that your message could not
        be delivered to one or more recipients. It's attached below.

        <nobody@closed-company.example>: host mx.closed-company.example[198.51.100.7]
            said: 550 5.7.1 Mailbox unavailable (in reply to RCPT TO command)

        ------ This is a copy of the message, including all the headers. ------

        Return-Path: <support@alpha.example>
        From: support@alpha.example
        To: nobody@closed-company.example
        Subject: Your request [#1049]
        Message-ID: <ticket-1049-1@alpha.example>

        Hello, we have received your request.
        """))


@message("15-bounce-qmail-failure-notice")
def bounce_qmail() -> bytes:
    return build("""
        From: MAILER-DAEMON@mail.qmail-host.example
        To: support@alpha.example
        Subject: failure notice
        Date: 7 Mar 2025 07:10:00 -0000
        Message-ID: <bounce-0015@mail.qmail-host.example>
        """, lines("""
        Hi. This is the qmail-send program at mail.qmail-host.example.
        I'm afraid I wasn't able to deliver your message to the following addresses.
        This is a permanent error; I've given up. Sorry it didn't work out.

        <gone@qmail-host.example>:
        Sorry, no mailbox here by that name. (#5.1.1)

        --- Below this line is a copy of the message.

        Return-Path: <support@alpha.example>
        Message-ID: <ticket-1050-1@alpha.example>
        Subject: Your request [#1050]

        Hello.
        """))


@message("16-newsletter-html-only")
def newsletter() -> bytes:
    html = lines("""
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>Новости хостинга</title>
        <style>body{font-family:Arial}</style><script>track()</script></head>
        <body>
        <h1>Новости за март</h1>
        <p>Мы запустили <b>новые тарифы</b> VPS.<br>Скидка 20% до конца месяца.</p>
        <ul><li>VPS-1: 2 ядра</li><li>VPS-2: 4 ядра</li></ul>
        <p><a href="https://hosting.example/promo" onclick="x()">Подробнее</a></p>
        <img src="https://hosting.example/pixel.gif" width="1" height="1">
        </body></html>
        """)
    return build(f"""
        From: {ew("Хостинг Пример")} <news@hosting.example>
        To: support@alpha.example
        Subject: {ew("Новости за март: новые тарифы VPS")}
        Date: Sat, 08 Mar 2025 10:00:00 +0000
        Message-ID: <news-2025-03@hosting.example>
        List-Id: "Hosting news" <news.hosting.example>
        List-Unsubscribe: <https://hosting.example/unsubscribe?u=42>, <mailto:unsub@hosting.example>
        Precedence: bulk
        MIME-Version: 1.0
        Content-Type: text/html; charset=utf-8
        Content-Transfer-Encoding: quoted-printable
        """, qp(html))


@message("17-koi8r-outlook-express")
def koi8r_outlook_express() -> bytes:
    body = lines("""
        Здравствуйте.

        Не могу зайти в панель управления, пишет "неверный логин".
        Логин vasya2005.

        Василий

        ----- Original Message -----
        From: "Служба поддержки" <support@alpha.example>
        To: "Василий" <vasya@narod.example>
        Sent: Friday, March 07, 2025 2:00 PM
        Subject: Re: Панель управления

        > Уточните, пожалуйста, логин.
        """)
    return build(f"""
        From: {ew("Василий Сидоров", "koi8-r")} <vasya@narod.example>
        To: {ew("Служба поддержки", "koi8-r")} <support@alpha.example>
        Subject: {ew("Re: Панель управления", "koi8-r")}
        Date: Fri, 7 Mar 2025 15:30:00 +0300
        Message-ID: <001a01c0a1b2$12345670$0100a8c0@vasya>
        X-Mailer: Microsoft Outlook Express 6.00.2900.5512
        X-Priority: 3
        MIME-Version: 1.0
        Content-Type: text/plain;
        \tcharset="koi8-r"
        Content-Transfer-Encoding: 8bit
        """, body, "koi8-r")


@message("18-cp1251-labelled-koi8r")
def cp1251_labelled_koi8r() -> bytes:
    body = lines("""
        Добрый вечер! После продления домена сайт не открывается, пишет, что
        домен не делегирован. Оплату провели вчера.
        """)
    return build(f"""
        From: {ew("Магазин Вектор", "windows-1251")} <shop@vector.example>
        To: support@alpha.example
        Subject: {ew("Домен не делегирован", "windows-1251")}
        Date: Sat, 08 Mar 2025 19:00:00 +0300
        Message-ID: <mislabel-0018@vector.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=koi8-r
        Content-Transfer-Encoding: 8bit
        """, body, "windows-1251")


@message("19-cp1251-labelled-latin1")
def cp1251_labelled_latin1() -> bytes:
    body = lines("""
        Прошу выставить счёт на оплату хостинга за второй квартал.
        Реквизиты прежние.
        """)
    raw_subject = "Счёт на оплату".encode("windows-1251")
    subject = "=?iso-8859-1?B?" + base64.b64encode(raw_subject).decode() + "?="
    return build(f"""
        From: buh@vector.example
        To: support@alpha.example
        Subject: {subject}
        Date: Sat, 08 Mar 2025 19:30:00 +0300
        Message-ID: <mislabel-0019@vector.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=iso-8859-1
        Content-Transfer-Encoding: quoted-printable
        """, qp(body, "windows-1251"))


@message("20-utf8-labelled-cp1251")
def utf8_labelled_cp1251() -> bytes:
    body = lines("""
        Не приходят письма на ящик info@vector.example с позавчерашнего дня.
        """)
    return build("""
        From: info@vector.example
        To: support@alpha.example
        Subject: =?windows-1251?B?0J3QtSDQv9GA0LjRhdC+0LTRj9GCINC/0LjRgdGM0LzQsA==?=
        Date: Sun, 09 Mar 2025 09:00:00 +0300
        Message-ID: <mislabel-0020@vector.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=windows-1251
        Content-Transfer-Encoding: base64
        """, b64(body))


@message("21-unknown-charset-label")
def unknown_charset() -> bytes:
    body = lines("""
        Просим увеличить квоту почтового ящика до 10 ГБ.
        """)
    subject = base64.b64encode("Увеличить квоту".encode("windows-1251")).decode()
    return build(f"""
        From: it@zavod.example
        To: support@alpha.example
        Subject: =?x-cyrillic-win?B?{subject}?=
        Date: Sun, 09 Mar 2025 10:00:00 +0300
        Message-ID: <unknown-0021@zavod.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset="x-cyrillic-win"
        Content-Transfer-Encoding: 8bit
        """, body, "windows-1251")


@message("22-iso-8859-5")
def iso_8859_5() -> bytes:
    body = lines("""
        Проверьте, пожалуйста, почему медленно работает сервер баз данных.
        """)
    return build(f"""
        From: {ew("Дмитрий", "iso-8859-5", "Q")} <dima@unix-shop.example>
        To: support@alpha.example
        Subject: {ew("Медленная база данных", "iso-8859-5", "Q")}
        Date: Sun, 09 Mar 2025 11:00:00 +0300
        Message-ID: <iso5-0022@unix-shop.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=iso-8859-5
        Content-Transfer-Encoding: quoted-printable
        """, qp(body, "iso-8859-5"))


@message("23-raw-utf8-headers")
def raw_utf8_headers() -> bytes:
    head = lines("""
        From: Мария Иванова <maria@fabrika.example>
        To: support@alpha.example
        Subject: Не работает почта на телефоне
        Date: Mon, 10 Mar 2025 08:00:00 +0300
        Message-ID: <raw8-0023@fabrika.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=utf-8
        Content-Transfer-Encoding: 8bit

        """).encode("utf-8")
    return head + lines("""
        На айфоне почта перестала синхронизироваться, на компьютере всё работает.
        """).encode("utf-8")


@message("24-raw-cp1251-headers")
def raw_cp1251_headers() -> bytes:
    head = lines("""
        From: Бухгалтерия <buh@fabrika.example>
        To: support@alpha.example
        Subject: Акт сверки за февраль
        Date: Mon, 10 Mar 2025 09:00:00 +0300
        Message-ID: <raw8-0024@fabrika.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=windows-1251
        Content-Transfer-Encoding: 8bit

        """).encode("windows-1251")
    return head + lines("""
        Пришлите, пожалуйста, акт сверки за февраль.
        """).encode("windows-1251")


@message("25-gbk-labelled-gb2312")
def gbk_labelled_gb2312() -> bytes:
    # 镕 and 堃 exist in GBK, not in GB2312: Python's gb2312 codec fails on them.
    body = "您好！我是朱镕堃，我们的服务器无法访问，请帮忙检查。\r\n"
    subject = "=?gb2312?B?" + base64.b64encode("服务器无法访问".encode("gbk")).decode() + "?="
    return build(f"""
        From: =?gb2312?B?{base64.b64encode("朱镕堃".encode("gbk")).decode()}?= <zhu@trade.example>
        To: support@alpha.example
        Subject: {subject}
        Date: Mon, 10 Mar 2025 10:00:00 +0800
        Message-ID: <gbk-0025@trade.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset="gb2312"
        Content-Transfer-Encoding: base64
        """, b64(body.encode("gbk")))


@message("26-encoded-words-adjacent-split")
def encoded_words_adjacent() -> bytes:
    # An encoder that splits UTF-8 bytes in the middle of a character across words.
    raw = "Заявка: сервер недоступен".encode()
    first, second = raw[:9], raw[9:]
    subject = (
        "=?UTF-8?B?" + base64.b64encode(first).decode() + "?=\r\n =?UTF-8?B?"
        + base64.b64encode(second).decode() + "?="
    )
    return build(f"""
        From: {ew("Отдел ", encoding="Q")} {ew("ИТ", encoding="Q")} <it@fabrika.example>
        To: support@alpha.example
        Subject: {subject}
        Date: Mon, 10 Mar 2025 11:00:00 +0300
        Message-ID: <ew-0026@fabrika.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=utf-8
        """, "Сервер 192.0.2.10 не отвечает на ping.\r\n")


@message("27-broken-encoded-words")
def broken_encoded_words() -> bytes:
    # A word glued to text and without base64 padding, a Q word with raw spaces, a word in
    # an unknown charset label (windows-1251 bytes), and an unterminated word left as is.
    unpadded = base64.b64encode("Почта ".encode()).decode().rstrip("=")
    unknown = base64.b64encode("(срочно)".encode("windows-1251")).decode()
    subject = (
        f"[#1051]=?utf-8?B?{unpadded}?= "
        "=?utf-8?Q?=D0=BD=D0=B5 =D1=80=D0=B0=D0=B1=D0=BE=D1=82=D0=B0=D0=B5=D1=82_?= "
        f"=?x-broken?B?{unknown}?= =?utf-8?B?0JrQ"
    )
    return build(f"""
        From: =?utf-8?B?0KLQtdGB0YI?= <test@fabrika.example>
        To: support@alpha.example
        Subject: {subject}
        Date: Mon, 10 Mar 2025 12:00:00 +0300
        Message-ID: <ew-0027@fabrika.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=utf-8
        """, "Почта не работает со вчерашнего вечера.\r\n")


@message("28-rfc2231-filenames")
def rfc2231_filenames() -> bytes:
    boundary = "b28"
    scan = b"scan:" + bytes(range(200))
    return build(f"""
        From: Olga <olga@romashka.example>
        To: support@alpha.example
        Subject: {ew("Документы по договору")}
        Date: Tue, 11 Mar 2025 09:00:00 +0300
        Message-ID: <att-0028@romashka.example>
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="{boundary}"
        """, lines(f"""
        --{boundary}
        Content-Type: text/plain; charset=utf-8

        Договор и скан паспорта во вложении.
        --{boundary}
        Content-Type: application/pdf; name="=?utf-8?B?0JTQvtCz0L7QstC+0YAucGRm?="
        Content-Disposition: attachment;
         filename*=utf-8''%D0%94%D0%BE%D0%B3%D0%BE%D0%B2%D0%BE%D1%80%20%E2%84%96%2015.pdf
        Content-Transfer-Encoding: base64

        {b64(PDF)}
        --{boundary}
        Content-Type: image/png
        Content-Disposition: attachment;
         filename*0*=UTF-8''%D0%A1%D0%BA%D0%B0%D0%BD%20%D0%BF%D0%B0;
         filename*1*=%D1%81%D0%BF%D0%BE%D1%80%D1%82%D0%B0;
         filename*2=".png"
        Content-Transfer-Encoding: base64

        {b64(PNG)}
        --{boundary}
        Content-Type: application/octet-stream; name="=?utf-8?B?0J/RgNCw0LnRgS54bHN4?="
        Content-Disposition: attachment; filename="=?utf-8?B?0J/RgNCw0LnRgS54bHN4?="
        Content-Transfer-Encoding: base64

        {b64(scan)}
        --{boundary}--
        """))


@message("29-header-continuation-unindented")
def unindented_continuation() -> bytes:
    return build(f"""
        From: {ew("Иван Петров")} <ivan.petrov@stroymarket.example>
        Subject: {ew("Сайт отдаёт ошибку")}
        {ew(" 500 после обновления")}
        To: support@alpha.example
        Date: Tue, 11 Mar 2025 10:00:00 +0300
        Message-ID: <cont-0029@stroymarket.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=utf-8
        """, "После обновления CMS главная страница отдаёт 500.\r\n")


@message("30-text-with-pdf-attachment")
def text_with_pdf() -> bytes:
    boundary = "----=_NextPart_000_0030"
    return build(f"""
        From: "Sergey Kuznetsov" <s.kuznetsov@vector.example>
        To: support@alpha.example
        Subject: =?UTF-8?B?0KHRh9GR0YIg0L3QsCDQvtC/0LvQsNGC0YM=?=
        Date: Tue, 11 Mar 2025 11:00:00 +0300
        Message-ID: <pdf-0030@vector.example>
        MIME-Version: 1.0
        Content-Type: multipart/mixed;
        \tboundary="{boundary}"
        """, lines(f"""
        This is a multi-part message in MIME format.

        --{boundary}
        Content-Type: text/plain; charset="utf-8"
        Content-Transfer-Encoding: base64

        {b64("Платёжка во вложении, проверьте поступление.")}

        --{boundary}
        Content-Type: application/pdf; name="payment-0311.pdf"
        Content-Transfer-Encoding: base64
        Content-Disposition: attachment; filename="payment-0311.pdf"

        {b64(PDF)}

        --{boundary}--
        """))


@message("31-alternative-empty-plain")
def alternative_empty_plain() -> bytes:
    boundary = "alt31"
    html = (
        "<div dir=\"ltr\"><div>Сайт снова недоступен.</div><div><br></div>"
        "<div>Проверьте, пожалуйста, <b>nginx</b>.</div></div>"
    )
    return build(f"""
        From: Maria <maria@fabrika.example>
        To: support@alpha.example
        Subject: {ew("Снова недоступен сайт")}
        Date: Tue, 11 Mar 2025 12:00:00 +0300
        Message-ID: <alt-0031@fabrika.example>
        MIME-Version: 1.0
        Content-Type: multipart/alternative; boundary="{boundary}"
        """, lines(f"""
        --{boundary}
        Content-Type: text/plain; charset="UTF-8"


        --{boundary}
        Content-Type: text/html; charset="UTF-8"
        Content-Transfer-Encoding: base64

        {b64(html)}
        --{boundary}--
        """))


@message("32-html-inline-images")
def inline_images() -> bytes:
    outer, related = "mixed32", "related32"
    html = (
        '<html><body><p>Вот что показывает панель:</p>'
        '<p><img src="cid:image001.png@01DB9000.ABCDEF00" alt="скриншот"></p>'
        '<p>Ошибка появляется при входе.</p></body></html>'
    )
    return build(f"""
        From: "Dmitry" <dima@unix-shop.example>
        To: support@alpha.example
        Subject: {ew("Ошибка в панели (скриншот)")}
        Date: Tue, 11 Mar 2025 13:00:00 +0300
        Message-ID: <img-0032@unix-shop.example>
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="{outer}"
        """, lines(f"""
        --{outer}
        Content-Type: multipart/related; boundary="{related}"; type="text/html"

        --{related}
        Content-Type: text/html; charset=utf-8
        Content-Transfer-Encoding: base64

        {b64(html)}
        --{related}
        Content-Type: image/png; name="image001.png"
        Content-Description: image001.png
        Content-Disposition: inline; filename="image001.png"
        Content-ID: <image001.png@01DB9000.ABCDEF00>
        Content-Transfer-Encoding: base64

        {b64(PNG)}
        --{related}--

        --{outer}
        Content-Type: image/png; name="full-screen.png"
        Content-Disposition: attachment; filename="full-screen.png"
        Content-ID: <unreferenced@unix-shop.example>
        Content-Transfer-Encoding: base64

        {b64(PNG * 3)}
        --{outer}--
        """))


@message("33-broken-base64")
def broken_base64() -> bytes:
    encoded = base64.b64encode("Не открывается сайт, ошибка SSL.".encode()).decode()
    broken = encoded.rstrip("=") + "\r\n!!garbage!!"  # padding lost, junk appended
    return build(f"""
        From: it@zavod.example
        To: support@alpha.example
        Subject: {ew("Ошибка SSL")}
        Date: Wed, 12 Mar 2025 09:00:00 +0300
        Message-ID: <b64-0033@zavod.example>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=utf-8
        Content-Transfer-Encoding: base64
        """, broken + "\r\n")


@message("34-missing-boundary")
def missing_boundary() -> bytes:
    return build(f"""
        From: it@zavod.example
        To: support@alpha.example
        Subject: {ew("Лог ошибок")}
        Date: Wed, 12 Mar 2025 10:00:00 +0300
        Message-ID: <nobound-0034@zavod.example>
        MIME-Version: 1.0
        Content-Type: multipart/mixed
        """, lines(f"""
        --=_lost_boundary
        Content-Type: text/plain; charset=utf-8

        Лог ошибок веб-сервера во вложении.
        --=_lost_boundary
        Content-Type: text/plain; name="error.log"
        Content-Disposition: attachment; filename="error.log"
        Content-Transfer-Encoding: base64

        {b64("[error] upstream timed out\n")}
        --=_lost_boundary--
        """))


@message("35-truncated")
def truncated() -> bytes:
    boundary = "trunc35"
    data = b64(PDF)
    return build(f"""
        From: it@zavod.example
        To: support@alpha.example
        Subject: {ew("Обрезанное письмо")}
        Date: Wed, 12 Mar 2025 11:00:00 +0300
        Message-ID: <trunc-0035@zavod.example>
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="{boundary}"
        """, lines(f"""
        --{boundary}
        Content-Type: text/plain; charset=utf-8

        Отправляю отчёт, связь плохая.
        --{boundary}
        Content-Type: application/pdf; name="report.pdf"
        Content-Disposition: attachment; filename="report.pdf"
        Content-Transfer-Encoding: base64

        """) + data[:301])


@message("36-nested-multiparts")
def nested() -> bytes:
    mixed, alternative, related, inner = "m36", "a36", "r36", "i36"
    html = '<p>Резервная копия не создаётся, см. лог.</p><img src="cid:logo36">'
    return build(f"""
        From: Sergey Kuznetsov <s.kuznetsov@vector.example>
        To: support@alpha.example
        Subject: {ew("Резервное копирование")}
        Date: Wed, 12 Mar 2025 12:00:00 +0300
        Message-ID: <nested-0036@vector.example>
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="{mixed}"
        """, lines(f"""
        --{mixed}
        Content-Type: multipart/alternative; boundary="{alternative}"

        --{alternative}
        Content-Type: text/plain; charset=utf-8

        Резервная копия не создаётся, см. лог.
        --{alternative}
        Content-Type: multipart/related; boundary="{related}"

        --{related}
        Content-Type: text/html; charset=utf-8

        {html}
        --{related}
        Content-Type: image/png
        Content-ID: <logo36>
        Content-Transfer-Encoding: base64

        {b64(PNG)}
        --{related}--
        --{alternative}--
        --{mixed}
        Content-Type: multipart/mixed; boundary="{inner}"

        --{inner}
        Content-Type: text/plain; name="backup.log"
        Content-Disposition: attachment; filename="backup.log"

        rsync error: timeout in data send/receive (code 30)
        --{inner}
        Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document
        Content-Disposition: attachment
        Content-Transfer-Encoding: base64

        {b64(b"PK" + bytes(100))}
        --{inner}--
        --{mixed}--
        """))


@message("37-mailing-list")
def mailing_list() -> bytes:
    return build("""
        From: Monitoring <robot@monitor.example>
        To: noc-list@alpha.example
        Subject: [noc] disk usage 91% on web-03
        Date: Wed, 12 Mar 2025 13:00:00 +0000
        Message-ID: <mon-0037@monitor.example>
        List-Id: NOC <noc.alpha.example>
        Precedence: list
        Content-Type: text/plain; charset=us-ascii
        """, "web-03: /var 91% used\r\n")


@message("38-sender-fallback")
def sender_fallback() -> bytes:
    return build("""
        From: undisclosed
        Sender: Robot <Robot@Billing.example>
        Reply-To: Billing Team <billing@billing.example>
        To: support@alpha.example
        Subject: Invoice reminder
        Date: Wed, 12 Mar 2025 14:00:00 +0000
        Message-ID: <sender-0038@billing.example>
        Content-Type: text/plain; charset=us-ascii
        """, "Your invoice 2025-03 is due.\r\n")


@message("39-html-only-outlook-reply-ru")
def html_outlook_reply() -> bytes:
    html = lines("""
        <html><body>
        <div><p>Добрый день!</p><p>Сертификат продлили, спасибо.</p></div>
        <div style="border:none;border-top:solid #B5C4DF 1.0pt;padding:3.0pt 0cm 0cm 0cm">
        <p><b>От:</b> Служба поддержки [mailto:support@alpha.example]<br>
        <b>Отправлено:</b> среда, 12 марта 2025 г. 10:00<br>
        <b>Кому:</b> Дмитрий<br><b>Тема:</b> Сертификат истекает</p></div>
        <p>Дмитрий, сертификат истекает через 3 дня.</p>
        </body></html>
        """)
    return build(f"""
        From: {ew("Дмитрий")} <dima@unix-shop.example>
        To: support@alpha.example
        Subject: {ew("RE: Сертификат истекает")}
        Date: Wed, 12 Mar 2025 15:00:00 +0300
        Message-ID: <html-0039@unix-shop.example>
        MIME-Version: 1.0
        Content-Type: text/html; charset="utf-8"
        Content-Transfer-Encoding: base64
        """, b64(html))


@message("40-gmail-html-blockquote")
def gmail_blockquote() -> bytes:
    boundary = "000000000000gmail40"
    html = (
        '<div dir="ltr">Да, можно перезагружать.</div><br><div class="gmail_quote">'
        '<div dir="ltr" class="gmail_attr">ср, 12 мар. 2025 г. в 16:00, Служба поддержки '
        '&lt;<a href="mailto:support@alpha.example">support@alpha.example</a>&gt;:<br></div>'
        '<blockquote class="gmail_quote">Можно ли перезагрузить сервер сегодня в 23:00?'
        '</blockquote></div>'
    )
    return build(f"""
        From: Maria <maria@fabrika.example>
        To: support@alpha.example
        Subject: Re: {ew("Перезагрузка сервера")}
        Date: Wed, 12 Mar 2025 16:30:00 +0300
        Message-ID: <CAGmail-0040@mail.gmail.example>
        MIME-Version: 1.0
        Content-Type: multipart/alternative; boundary="{boundary}"
        """, lines(f"""
        --{boundary}
        Content-Type: text/html; charset="UTF-8"
        Content-Transfer-Encoding: base64

        {b64(html)}
        --{boundary}--
        """))


@message("41-apple-mail-mixed-inline")
def apple_mixed() -> bytes:
    boundary = "Apple-Mail-41"
    return build(f"""
        From: Peter Brown <peter@brown-consulting.example>
        To: support@alpha.example
        Subject: {ew("Фото стойки")}
        Date: Thu, 13 Mar 2025 09:00:00 +0300
        Message-ID: <apple-0041@brown-consulting.example>
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="{boundary}"
        """, lines(f"""
        --{boundary}
        Content-Transfer-Encoding: 8bit
        Content-Type: text/plain; charset=utf-8

        Вот фото стойки:

        --{boundary}
        Content-Disposition: inline; filename=IMG_0041.png
        Content-Type: image/png; name="IMG_0041.png"
        Content-Transfer-Encoding: base64

        {b64(PNG)}
        --{boundary}
        Content-Transfer-Encoding: 8bit
        Content-Type: text/plain; charset=utf-8

        Индикатор горит красным.

        Отправлено с iPhone
        --{boundary}--
        """))


@message("42-calendar-invite")
def calendar_invite() -> bytes:
    boundary = "cal42"
    ics = lines("""
        BEGIN:VCALENDAR
        METHOD:REQUEST
        BEGIN:VEVENT
        SUMMARY:Созвон по миграции
        DTSTART:20250314T100000Z
        END:VEVENT
        END:VCALENDAR
        """)
    return build(f"""
        From: John Smith <john.smith@northwind.example>
        To: support@alpha.example
        Subject: {ew("Созвон по миграции")}
        Date: Thu, 13 Mar 2025 10:00:00 +0000
        Message-ID: <cal-0042@northwind.example>
        MIME-Version: 1.0
        Content-Type: multipart/alternative; boundary="{boundary}"
        """, lines(f"""
        --{boundary}
        Content-Type: text/plain; charset="utf-8"
        Content-Transfer-Encoding: base64

        {b64("Приглашаю на созвон в пятницу.")}
        --{boundary}
        Content-Type: text/html; charset="utf-8"
        Content-Transfer-Encoding: base64

        {b64("<p>Приглашаю на созвон в пятницу.</p>")}
        --{boundary}
        Content-Type: text/calendar; charset="utf-8"; method=REQUEST
        Content-Transfer-Encoding: base64

        {b64(ics)}
        --{boundary}--
        """))


@message("43-smime-signed")
def smime_signed() -> bytes:
    boundary = "signed43"
    signature = bytes(range(64)) * 4
    return build(f"""
        From: security@bank.example
        To: support@alpha.example
        Subject: Signed request
        Date: Thu, 13 Mar 2025 11:00:00 +0300
        Message-ID: <signed-0043@bank.example>
        MIME-Version: 1.0
        Content-Type: multipart/signed; protocol="application/pkcs7-signature";
         micalg=sha-256; boundary="{boundary}"
        """, lines(f"""
        --{boundary}
        Content-Type: text/plain; charset=utf-8

        Please open port 8443 on our firewall.
        --{boundary}
        Content-Type: application/pkcs7-signature; name="smime.p7s"
        Content-Transfer-Encoding: base64
        Content-Disposition: attachment; filename="smime.p7s"

        {b64(signature)}
        --{boundary}--
        """))


@message("44-forward-base64-rfc822")
def forward_base64() -> bytes:
    boundary = "fwd44"
    inner = lines(f"""
        From: noc@upstream.example
        To: admin@lesprom.example
        Subject: {ew("Авария на линии")}
        Message-ID: <inner-0044@upstream.example>
        Date: Thu, 13 Mar 2025 06:00:00 +0300
        Content-Type: text/plain; charset=utf-8
        Content-Transfer-Encoding: 8bit

        Авария на линии, работы ведутся.
        """).encode("utf-8")
    return build(f"""
        From: {ew("Анна Волкова")} <a.volkova@lesprom.example>
        To: support@alpha.example
        Subject: Fwd: {ew("Авария на линии")}
        Date: Thu, 13 Mar 2025 08:00:00 +0300
        Message-ID: <fwd-0044@lesprom.example>
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="{boundary}"
        """, lines(f"""
        --{boundary}
        Content-Type: text/plain; charset=utf-8

        Это касается и нас?
        --{boundary}
        Content-Type: message/rfc822
        Content-Transfer-Encoding: base64

        {b64(inner)}
        --{boundary}--
        """))


@message("45-russian-date-and-lf")
def russian_date_lf() -> bytes:
    # An old CGI form mailer: LF line endings, a Date in Russian, no Message-ID.
    head = lines("""
        From: form@site.example
        To: support@alpha.example
        Subject: =?utf-8?B?0JfQsNGP0LLQutCwINGBINGB0LDQudGC0LA=?=
        Date: Пн, 10 мар 2025 14:05:00 +0300
        Content-Type: text/plain; charset=utf-8

        """, "\n").encode("utf-8")
    return head + "Имя: Олег\nТелефон: +7 900 000-00-00\nСообщение: перезвоните\n".encode()


@message("46-empty-body")
def empty_body() -> bytes:
    return build("""
        From: Ivan <ivan.petrov@stroymarket.example>
        To: support@alpha.example
        Subject:
        """, "")


@message("47-not-mail-at-all")
def not_mail() -> bytes:
    return PNG + b"\x00\xff\xfe" + bytes(range(256))


@message("48-dsn-delayed")
def dsn_delayed() -> bytes:
    boundary = "delay48"
    return build(f"""
        From: postmaster@relay.example
        To: support@alpha.example
        Subject: Delayed Mail (still being retried)
        Date: Fri, 14 Mar 2025 09:00:00 +0300
        Message-ID: <delay-0048@relay.example>
        Auto-Submitted: auto-generated
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"
        """, lines(f"""
        --{boundary}
        Content-Type: text/plain; charset=us-ascii

        Your message has not been delivered yet; we will keep trying for 5 days.

        --{boundary}
        Content-Type: message/delivery-status

        Reporting-MTA: dns; relay.example

        Final-Recipient: rfc822; slow@far-away.example
        Action: delayed
        Status: 4.4.7
        Diagnostic-Code: smtp; 421 4.4.7 Connection timed out

        --{boundary}
        Content-Type: text/rfc822-headers

        Message-ID: <ticket-1052-1@alpha.example>
        Subject: Your request [#1052]

        --{boundary}--
        """))


@message("49-mbox-from-line-x-autorespond")
def mbox_from_line() -> bytes:
    return b"From robot@helpdesk.example Fri Mar 14 10:00:00 2025\n" + lines("""
        From: "Helpdesk robot" <robot@helpdesk.example>
        To: support@alpha.example
        Subject: Ticket received
        Date: Fri, 14 Mar 2025 10:00:00 +0300
        Message-ID: <auto-0049@helpdesk.example>
        X-Autorespond: Ticket received
        Precedence: junk
        Content-Type: text/plain; charset=utf-8

        Your ticket has been received.
        """, "\n").encode()


@message("50-reply-the-bat-you-wrote")
def the_bat_reply() -> bytes:
    body = lines("""
        Здравствуйте, Служба.

        Всё работает, заявку можно закрывать.

        Вы писали 14 марта 2025 г., 11:00:01:

        > Проверьте, пожалуйста, доступ к FTP.

        --
        С уважением,
         Василий                          mailto:vasya@narod.example
        """)
    return build(f"""
        From: {ew("Василий", "windows-1251")} <vasya@narod.example>
        To: support@alpha.example
        Subject: {ew("Re: Не работает FTP", "windows-1251")}
        Date: Fri, 14 Mar 2025 12:00:00 +0300
        Message-ID: <1853246577.20250314120000@narod.example>
        X-Mailer: The Bat! (v3.99.3) Professional
        MIME-Version: 1.0
        Content-Type: text/plain; charset=windows-1251
        Content-Transfer-Encoding: 8bit
        """, body, "windows-1251")


@message("51-bounce-exim-plain")
def bounce_exim() -> bytes:
    return build("""
        From: Mail Delivery System <Mailer-Daemon@mx1.hosting.example>
        To: support@alpha.example
        Subject: Mail delivery failed: returning message to sender
        Date: Sat, 15 Mar 2025 08:00:00 +0300
        Message-ID: <E1exim-0051@mx1.hosting.example>
        Auto-Submitted: auto-replied
        """, lines("""
        This message was created automatically by mail delivery software.

        A message that you sent could not be delivered to one or more of its
        recipients. This is a permanent error. The following address(es) failed:

          Director@Romashka.example
            host mx.romashka.example [203.0.113.5]
            SMTP error from remote mail server after RCPT TO:<director@romashka.example>:
            550 5.1.1 No such user here

        ------ This is a copy of the message, including all the headers. ------

        Return-path: <support@alpha.example>
        Message-ID: <ticket-1053-2@alpha.example>
        Subject: Re: [#1053]

        Hello.
        """))


@message("52-dsn-exchange-ru")
def dsn_exchange_ru() -> bytes:
    outer, alternative = "dsn52", "alt52"
    text = lines("""
        Не удалось доставить сообщение следующим получателям:

        Иван Иванов (ivanov@partner.example)
        Адрес электронной почты не найден.
        """)
    html = (
        "<html><body><p><b>Не удалось доставить сообщение следующим получателям:</b></p>"
        "<p>Иван Иванов (ivanov@partner.example)<br>Адрес электронной почты не найден.</p>"
        "</body></html>"
    )
    return build(f"""
        From: postmaster@partner.example
        To: support@alpha.example
        Subject: {ew("Недоставленное сообщение: Ваша заявка [#1054]")}
        Date: Sat, 15 Mar 2025 09:00:00 +0300
        Message-ID: <ndr-0052@exch.partner.example>
        Auto-Submitted: auto-replied
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="{outer}"
        """, lines(f"""
        --{outer}
        Content-Type: multipart/alternative; boundary="{alternative}"

        --{alternative}
        Content-Type: text/plain; charset="utf-8"
        Content-Transfer-Encoding: base64

        {b64(text)}
        --{alternative}
        Content-Type: text/html; charset="utf-8"
        Content-Transfer-Encoding: base64

        {b64(html)}
        --{alternative}--

        --{outer}
        Content-Type: message/delivery-status

        Reporting-MTA: dns;exch.partner.example
        Received-From-MTA: dns;mx.partner.example
        Arrival-Date: Sat, 15 Mar 2025 06:00:00 +0000

        Original-Recipient: rfc822;Ivanov@partner.example
        Final-Recipient: rfc822;Ivanov@partner.example
        Action: failed
        Status: 5.1.10
        Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found
        X-Display-Name: =?utf-8?B?0JjQstCw0L0g0JjQstCw0L3QvtCy?=

        --{outer}
        Content-Type: text/rfc822-headers

        From: Alpha Support <support@alpha.example>
        To: ivanov@partner.example
        Subject: [#1054]
        Message-ID: <ticket-1054-1@alpha.example>

        --{outer}--
        """))


@message("53-html-meta-charset-cp1251")
def html_meta_charset() -> bytes:
    # An old site's mail form: HTML in windows-1251, the charset only in the <meta> tag.
    html = lines("""
        <html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">
        </head><body><table><tr><td>Имя:</td><td>Олег</td></tr>
        <tr><td>Вопрос:</td><td>Как подключить SSL?</td></tr></table></body></html>
        """).encode("windows-1251")
    subject = base64.b64encode("Заявка с сайта".encode("windows-1251")).decode()
    return build(f"""
        From: noreply@site.example
        Reply-To: oleg@client.example
        To: support@alpha.example
        Subject: =?windows-1251?B?{subject}?=
        Date: Sat, 15 Mar 2025 10:00:00 +0300
        Message-ID: <form-0053@site.example>
        MIME-Version: 1.0
        Content-Type: text/html
        Content-Transfer-Encoding: 8bit
        """, html)


def main() -> None:
    for old in HERE.glob("*.eml"):
        old.unlink()
    for name, build_message in MESSAGES.items():
        (HERE / f"{name}.eml").write_bytes(build_message())
    print(f"wrote {len(MESSAGES)} messages to {HERE}")


if __name__ == "__main__":
    main()
