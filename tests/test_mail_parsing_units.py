"""The parser's pieces on their own: charset guessing, encoded words, quote folding,
HTML to text, header repair and parameters. Pure functions: no database."""

import pytest

from firstline.mail.parsed import Address
from firstline.mail.parsing import parse
from firstline.mail.parsing_charsets import (
    b64decode_body,
    decode_bytes,
    decode_header,
    decode_words,
    plausibility,
)
from firstline.mail.parsing_headers import parameters, repair_headers
from firstline.mail.parsing_html import html_to_text, referenced_cids, sanitise
from firstline.mail.parsing_quotes import find_cut, fold, unflow

RUSSIAN = [
    "Не работает FTP, помогите пожалуйста",
    "Вопрос",
    "Добрый день! Сайт example.ru открывается с ошибкой 502.",
    "Счёт за услуги хостинга: оплачен?",
]
RUSSIAN_IDS = ["ftp", "question", "site", "invoice"]

# --- Charsets --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", RUSSIAN, ids=RUSSIAN_IDS)
@pytest.mark.parametrize("actual", ["utf-8", "windows-1251", "koi8-r"])
@pytest.mark.parametrize(
    "declared", [None, "utf-8", "windows-1251", "koi8-r", "iso-8859-1", "us-ascii", "x-unknown"]
)
def test_russian_text_survives_any_label(text: str, actual: str, declared: str | None):
    """Whatever the label says (or if there is none), Russian in utf-8, windows-1251 or
    koi8-r comes out right."""
    assert decode_bytes(text.encode(actual), declared).text == text


@pytest.mark.parametrize("text", RUSSIAN, ids=RUSSIAN_IDS)
def test_iso_8859_5_is_read_when_declared(text: str):
    assert decode_bytes(text.encode("iso-8859-5"), "iso-8859-5").text == text


def test_latin_text_in_latin1_is_not_mistaken_for_cyrillic():
    for text in ("café crème à la française", "Grüße aus München"):
        for label in ("iso-8859-1", "windows-1252"):
            decoded = decode_bytes(text.encode("latin-1"), label)
            assert decoded.text == text and decoded.problem == ""


def test_gbk_text_labelled_gb2312_is_read_as_gb18030():
    text = "我是朱镕堃"  # 镕 and 堃 are not in GB2312
    assert decode_bytes(text.encode("gbk"), "gb2312").text == text
    assert decode_bytes(text.encode("gbk"), None).text == text


def test_unknown_label_is_named_in_the_problem():
    decoded = decode_bytes("Привет".encode("windows-1251"), "x-mac-ukrainian-typo")
    assert decoded.text == "Привет"
    assert decoded.problem == "unknown charset 'x-mac-ukrainian-typo'; read as windows-1251"


def test_undecodable_bytes_are_replaced_not_raised():
    decoded = decode_bytes(b"\x81\x98\x81\x98", "utf-8")
    assert decoded.text  # something, with the losses noted
    assert isinstance(decoded.problem, str)


def test_mojibake_scores_below_real_text():
    real = "Добрый день! Сайт не открывается."
    wrong = real.encode("windows-1251").decode("koi8-r")
    assert plausibility(real) > plausibility(wrong) + 0.5


# --- Encoded words ---------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "text"), [
    ("=?utf-8?B?0J3QtSDRgNCw0LHQvtGC0LDQtdGCIEZUUA==?=", "Не работает FTP"),
    ("=?UTF-8?Q?=D0=92=D0=BE=D0=BF=D1=80=D0=BE=D1=81?=", "Вопрос"),
    ("=?koi8-r?B?98/Q0s/T?=", "Вопрос"),
    ("Re: =?windows-1251?Q?=C2=EE=EF=F0=EE=F1?= [#12]", "Re: Вопрос [#12]"),
    ("=?utf-8?Q?a_b?= =?utf-8?Q?c?=", "a bc"),  # whitespace between words is dropped
    ("=?utf-8?B?0J0=?=\r\n =?utf-8?B?0LU=?=", "Не"),  # folded adjacent words
    ("=?utf-8?B?0J3Q?= =?utf-8?B?tQ==?=", "Не"),  # a character split across two words
    ("=?utf-8?B?0J3QtQ?=", "Не"),  # padding lost
    ("=?utf-8*ru?B?0J3QtQ==?=", "Не"),  # RFC 2231 language tag
    ("Re:=?utf-8?B?0J3QtQ==?=", "Re:Не"),  # glued to text
    ("=?utf-8?B?0J3Q", "=?utf-8?B?0J3Q"),  # unterminated: left as it is
    ("plain text", "plain text"),
])
def test_encoded_words(raw: str, text: str):
    assert decode_header(raw)[0] == text


def test_raw_8bit_header_uses_the_hint_then_the_fallbacks():
    raw = "Акт сверки".encode("koi8-r").decode("ascii", "surrogateescape")
    assert decode_header(raw, hints=("koi8-r",))[0] == "Акт сверки"
    utf8 = "Привет".encode().decode("ascii", "surrogateescape")
    assert decode_header(utf8, hints=("koi8-r",))[0] == "Привет"


def test_encoded_word_in_unknown_charset_is_reported():
    text, problems = decode_words("=?x-nonsense?B?z/Do4uXy?=")
    assert text == "Привет"
    assert problems == ["encoded word: unknown charset 'x-nonsense'; read as windows-1251"]


def test_base64_body_with_junk_and_lost_padding():
    assert b64decode_body("0J3QtQ\r\n!!junk!!\r\n") == ("Не".encode(), True)
    assert b64decode_body("0J3QtQ==\r\n0J3QtQ==\r\n") == ("НеНе".encode(), True)
    assert b64decode_body("0J3Q\r\ntQ==\r\n") == ("Не".encode(), False)


# --- Quote folding ---------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [
    "-----Original Message-----",
    "----- Original Message -----",
    "-------- Исходное сообщение --------",
    "On Mon, Mar 3, 2025 at 10:00 AM Ivan Petrov <ivan@example.ru> wrote:",
    "On 03.03.2025 10:00, Ivan Petrov wrote:",
    "03.03.2025 10:00, Иван Петров пишет:",
    "Понедельник, 3 марта 2025, 10:00 +03:00 от Иван Петров <ivan@mail.example>:",
    "пн, 3 мар. 2025 г. в 10:00, Иван <ivan@example.ru>:",
    "3 марта 2025 г., в 10:00, Иван Петров <ivan@example.ru> написал(а):",
    "03.03.2025, 10:00, \"Иван Петров\" <ivan@yandex.example>:",
    "Вы писали 3 марта 2025 г., 10:00:01:",
    "-- ",
    "Отправлено с iPhone",
    "Sent from my Android",
])
def test_history_after_a_clear_delimiter_is_folded(delimiter: str):
    full = f"Спасибо, всё работает.\n\n{delimiter}\n> старый текст\nещё старый текст"
    assert fold(full) == "Спасибо, всё работает."


@pytest.mark.parametrize("block", [
    "От: Служба поддержки <support@alpha.example>\nОтправлено: 3 марта 2025 г. 14:20\n"
    "Кому: Иван\nТема: RE: Сброс пароля",
    "From: Support <support@alpha.example>\nSent: Monday, March 3, 2025 2:20 PM\n"
    "To: Ivan\nSubject: RE: Reset",
    "________________________________\nОт: Служба поддержки\nОтправлено: 3 марта 2025 г.\n"
    "Кому: Иван\nТема: Сброс",
    "*From:* Support\n*Sent:* Monday\n*To:* Ivan\n*Subject:* Reset",
])
def test_outlook_header_blocks_are_folded(block: str):
    assert fold(f"Ответ выше.\n\n{block}\n\nСтарое письмо.") == "Ответ выше."


def test_an_attribution_wrapped_over_two_lines_is_found():
    lines = [
        "New text.", "", "On Wed, Mar 5, 2025 at 4:12 PM Alpha Support", "<s@a.example> wrote:",
        "> old",
    ]
    assert find_cut(lines) == 2


@pytest.mark.parametrize("text", [
    "Добрый день!\n\nСайт не работает.\n\nС уважением,\nИван Петров\nООО «Ромашка»",
    "Клиент написал:\nне работает почта",  # no date, no address: not an attribution
    "Ошибка: 550 user unknown\nFrom: the logs",  # From: without Sent/To after it
    "Мой список:\n- первое\n- второе",
    "Итого --- 5 штук",
])
def test_ordinary_text_is_left_alone(text: str):
    assert fold(text) == text


def test_quotes_between_answers_are_dropped_answers_stay():
    text = "> Какой у вас IP?\n192.0.2.1\n\n> И логин?\nivan"
    assert fold(text) == "192.0.2.1\n\nivan"


def test_bottom_posted_answer_below_the_quote_is_kept():
    text = (
        "03.03.2025 10:00, Служба поддержки пишет:\n> Уточните логин.\n>\n> Служба\n\n"
        "Логин vasya2005.\n\n-- \nВасилий"
    )
    assert fold(text) == "Логин vasya2005."


def test_answers_between_quotes_under_an_attribution_are_kept():
    text = "On Mon, Mar 3, 2025 at 10:00 AM Support wrote:\n> IP?\n192.0.2.1\n> Login?\nivan"
    assert fold(text) == "192.0.2.1\nivan"


def test_a_message_that_is_only_history_keeps_its_full_text():
    text = "-------- Пересылаемое сообщение --------\nОт: noc@example.ru\n\nАвария"
    assert fold(text) == text


def test_unflow_joins_soft_breaks_and_keeps_signature():
    flowed = "Первая часть \nвторая часть.\n> цитата \n> продолжение\n-- \nподпись"
    assert unflow(flowed, delsp=False) == (
        "Первая часть вторая часть.\n> цитата продолжение\n-- \nподпись"
    )
    assert unflow("сло \nво", delsp=True) == "слово"


# --- HTML ------------------------------------------------------------------------------------


def test_html_to_text_keeps_structure():
    html = sanitise(
        "<p>Первая строка<br>вторая</p><p>&nbsp;</p><div>Третья &amp; последняя</div>"
        "<blockquote>цитата<blockquote>глубже</blockquote></blockquote>"
        "<ul><li>раз</li><li>два</li></ul><table><tr><td>a</td><td>b</td></tr></table>"
        "<pre>  x\n  y</pre>"
    )
    assert html_to_text(html) == (
        "Первая строка\nвторая\n\nТретья & последняя\n> цитата\n> > глубже\n- раз\n- два\n"
        "a\tb\n  x\n  y"
    )


def test_sanitise_drops_scripts_and_handlers_but_keeps_cid_images():
    html = sanitise(
        '<title>T</title><script>x()</script><img src="cid:a@b" onerror="x()">'
        '<a href="javascript:x()">l</a>'
    )
    assert html == '<img src="cid:a@b"><a rel="noopener noreferrer">l</a>'
    assert referenced_cids('<img src="cid:A%40B">') == {"a@b"}


# --- Headers and parameters ------------------------------------------------------------------


def test_repair_reattaches_unindented_continuations_only():
    raw = b"Subject: one\r\n=?utf-8?B?0J0=?=\r\ntwo\r\nTo: a@b.example\r\n\r\nbody\r\nnot: header"
    assert repair_headers(raw) == (
        b"Subject: one\r\n =?utf-8?B?0J0=?=\r\n two\r\nTo: a@b.example\r\n\r\nbody\r\nnot: header"
    )
    untouched = b"Subject: x\r\n\r\nbody"
    assert repair_headers(untouched) is untouched


def test_repair_leaves_a_missing_separator_to_the_parser():
    """A body line right after the headers, with no header after it, stays the body."""
    mail = parse(b"From: a@b.example\r\nSubject: x\r\nHello there\r\nsecond line")
    assert mail.subject == "x"
    assert mail.full_text == "Hello there\nsecond line"


def test_parameters_rfc2231_continuations_quotes_and_8bit():
    main, params = parameters(
        "attachment; filename*0*=utf-8''%D0%A1%D1%87; filename*1*=%D1%91%D1%82;"
        ' filename*2=".pdf"; size=10; name="a \\"b\\"; c"'
    )
    assert main == "attachment"
    assert params["filename"] == ("utf-8", "Счёт.pdf".encode())
    assert params["size"] == "10"
    assert params["name"] == 'a "b"; c'
    raw8 = "attachment; filename=\"Счёт.pdf\"".encode().decode("ascii", "surrogateescape")
    assert parameters(raw8)[1]["filename"] == raw8.split('"')[1]


def test_filenames_are_made_safe():
    """No directories, no control or bidi-override characters, never empty."""
    raw = (
        "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
        "Content-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="..\\\\..\\\\счёт\u202efdp.exe"\r\n'
        "\r\nA\r\n--x\r\nContent-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename=".."\r\n\r\nB\r\n--x--\r\n'
    ).encode()
    first, second = parse(raw).attachments
    assert first.filename == "счёт_fdp.exe"
    assert second.filename == "attachment-2.pdf"


def test_addresses_with_odd_shapes():
    raw = (
        "From: \"Петров, Иван\" <IVAN@Example.RU>\r\n"
        "To: =?utf-8?B?0JjQstCw0L0=?= <a@b.example>, undisclosed-recipients:;,"
        " c@d.example (Комментарий)\r\n"
        "Cc: Broken <e@f.example\r\n\r\n"
    ).encode()
    mail = parse(raw)
    assert mail.sender == Address("Петров, Иван", "ivan@example.ru")
    assert mail.to == (Address("Иван", "a@b.example"), Address("Комментарий", "c@d.example"))
    assert mail.cc == (Address("Broken", "e@f.example"),)


@pytest.mark.parametrize(("headers", "auto", "bulk"), [
    ("Auto-Submitted: auto-generated", True, False),
    ("Auto-Submitted: no", False, False),
    ("X-Autoreply: yes", True, False),
    ("X-Autorespond: on", True, False),
    ("X-Auto-Response-Suppress: DR, OOF", True, False),
    ("X-Auto-Response-Suppress: DR", False, False),
    ("Subject: Автоматический ответ: Вопрос", True, False),
    ("Subject: Automatic reply: Question", True, False),
    ("Subject: Re: ответ по вопросу", False, False),
    ("Precedence: bulk", False, True),
    ("Precedence: junk", False, True),
    ("Precedence: list", False, True),
    ("List-Unsubscribe: <mailto:u@example.ru>", False, True),
    ("List-Id: <x.example.ru>", False, True),
])
def test_flags(headers: str, auto: bool, bulk: bool):
    mail = parse(f"From: a@b.example\r\n{headers}\r\n\r\nbody".encode())
    assert (mail.auto_submitted, mail.bulk) == (auto, bulk)


@pytest.mark.parametrize(("headers", "daemon"), [
    ("From: MAILER-DAEMON@mx.example.ru", True),
    ("From: postmaster@example.ru", True),
    ("From: MAILER-DAEMON (Mail Delivery System)", True),
    # The null Return-Path alone is an RFC 3834 auto-reply's too: a bounce subject needed.
    ("From: ivan@example.ru\r\nReturn-Path: <>", False),
    ("From: ivan@example.ru\r\nReturn-Path: <>\r\nSubject: Undeliverable: Вопрос", True),
    ("From: ivan@example.ru\r\nReturn-Path: <>\r\nSubject: Автоответ: Вопрос", False),
    ("From: ivan@example.ru\r\nReturn-Path: <>\r\nAuto-Submitted: auto-replied\r\n"
     "Subject: Undeliverable: Вопрос", True),
    ("From: ivan@example.ru\r\nReturn-Path: <>\r\nAuto-Submitted: auto-replied\r\n"
     "Subject: Вопрос", False),
    ("From: ivan@example.ru\r\nReturn-Path: <>\r\nX-Autoreply: yes\r\n"
     "Subject: Undeliverable: Вопрос", False),
    ("From: postmaster@example.ru\r\nSubject: Нет на месте: Вопрос", False),
    ("From: ivan@example.ru\r\nReturn-Path: <ivan@example.ru>", False),
])
def test_mailer_daemon(headers: str, daemon: bool):
    assert parse(f"{headers}\r\n\r\nbody".encode()).from_mailer_daemon is daemon
