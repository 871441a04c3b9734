"""The new text of a reply: quoted history and signature folded away.

Cut only at a clear delimiter: an attribution line ("On ... wrote:", "... пишет:",
"пн, 3 мар. 2025 г. в 10:00, Иван <ivan@example.ru>:"), an "Original Message" or
forwarded-message banner, Outlook's header block ("From: ... Sent: ...", "От: ...
Отправлено: ..."), the signature delimiter "-- ", or a "Sent from my phone" line. Lines
starting with ">" are dropped wherever they are (answers written between quotes stay).
Closing lines such as "С уважением, Иван" are part of the new text.

A forward is not a quote: from a forward banner («-------- Пересылаемое сообщение
--------», "---------- Forwarded message ---------", "Begin forwarded message:") on, the
forwarded letter stays in the text, and so it does from an "Original Message" banner or an
Outlook header block when the subject says the letter is a forward ("Fwd:", "FW:",
"ПЕРЕСЛ:"). Only reply history is folded away.
"""

import re

_BANNER = re.compile(
    r"^[\s\-=_*>]*("
    r"original message|forwarded message|message d'origine|ursprüngliche nachricht|"
    r"исходное сообщение|исходное письмо|оригинальное сообщение|"
    r"пересылаемое сообщение|пересланное сообщение|переадресованное сообщение|"
    r"перенаправленное сообщение|"
    r"begin forwarded message:?|начало переадресованного сообщения:?|"
    r"начало пересылаемого сообщения:?|forwarded by .{1,100}"
    r")[\s\-=_*]*$",
    re.IGNORECASE,
)
# Banners that only ever start a forwarded letter (the ones above that also start replies,
# "Original Message", are forwards only under a forward subject).
_FORWARD_BANNER = re.compile(
    r"^[\s\-=_*>]*("
    r"forwarded message|forwarded e-?mail|пересылаемое сообщение|пересланное сообщение|"
    r"переадресованное сообщение|перенаправленное сообщение|пересланное письмо|"
    r"пересылаемое письмо|begin forwarded message:?|начало переадресованного сообщения:?|"
    r"начало пересылаемого сообщения:?|forwarded by .{1,100}|weitergeleitete nachricht|"
    r"message transféré|mensaje reenviado|messaggio inoltrato|doorgestuurd bericht|"
    r"przekazana wiadomość|přeposlaná zpráva"
    r")[\s\-=_*]*$",
    re.IGNORECASE,
)
_FORWARD_SUBJECT = re.compile(
    r"^\s*\[?(fwd?|fw|пересл|переслано|пересылка|wg|tr|rv|enc|doorst)\s*(\[\d+\])?\s*:",
    re.IGNORECASE,
)
_ATTRIBUTION_VERB = re.compile(
    r"(wrote|writes|schrieb|a écrit|пишет|написал|написала|написал\(а\)|написали)\s*:\s*$",
    re.IGNORECASE,
)
# The Bat! and old Outlook Express: "Вы писали 3 марта 2025 г., 10:00:01:".
_YOU_WROTE = re.compile(r"^(вы писали|ты писал|you wrote)\b.{0,200}:\s*$", re.IGNORECASE)
_ATTRIBUTION_START = re.compile(r"^(on|am|le)\b", re.IGNORECASE)
_EMAIL_COLON = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+>?\]?\)?\s*:\s*$")
_TIME_OR_YEAR = re.compile(r"\b\d{1,2}:\d{2}\b|\b(19|20)\d\d\b")
_DIGIT_OR_AT = re.compile(r"\d|@")
_OUTLOOK_FROM = re.compile(r"^\*?(from|от|von|de|отправитель)\s*:\*?\s*\S", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(
    r"^\*?(sent|date|отправлено|дата|gesendet|envoyé|datum)\s*:", re.IGNORECASE
)
_OUTLOOK_TO = re.compile(
    r"^\*?(to|кому|subject|тема|an|betreff|à|objet|cc|копия)\s*:", re.IGNORECASE
)
_SEPARATOR = re.compile(r"^\s*([_\-=*]\s*){5,}$")
_MOBILE = re.compile(
    r"^(sent|отправлено)\s+(from|с|со|из)\s+(my\s+|моего\s+|мобильн\w*\s+)?"
    r"(iphone|ipad|android|samsung|huawei|xiaomi|смартфона|телефона|устройства|mobile|"
    r"mail\.ru|почты|яндекс|yandex|outlook|mail for windows)\b.{0,60}$",
    re.IGNORECASE,
)
_GET_OUTLOOK = re.compile(r"^get outlook for \w+.{0,20}$", re.IGNORECASE)
_QUOTED = re.compile(r"^\s*>")
_MAX_ATTRIBUTION = 400
_TAIL = 160


def _attribution(lines: list[str], index: int) -> int:
    """How many lines (one to three, when wrapped) the attribution at `index` takes; 0 when
    the line is not one."""
    joined = ""
    for offset in range(3):
        if index + offset >= len(lines):
            break
        part = lines[index + offset].strip()
        if not part or _QUOTED.match(part):
            break
        joined = f"{joined} {part}".strip()
        if len(joined) > _MAX_ATTRIBUTION:
            return 0
        if joined.endswith(":"):  # every attribution does; cheap before the regexes
            if _YOU_WROTE.match(joined):
                return offset + 1
            tail = joined[-_TAIL:]  # the verb or the address is at the end
            if _ATTRIBUTION_VERB.search(tail):
                found = _ATTRIBUTION_START.match(joined) or _DIGIT_OR_AT.search(joined)
                return offset + 1 if found else 0
            if _EMAIL_COLON.search(tail):
                return offset + 1 if _TIME_OR_YEAR.search(joined) else 0
        if offset == 0 and not (_ATTRIBUTION_START.match(joined) or _TIME_OR_YEAR.search(joined)):
            return 0
    return 0


def _outlook_block(lines: list[str], index: int) -> bool:
    if not _OUTLOOK_FROM.match(lines[index].strip()):
        return False
    sent = to = False
    for line in lines[index + 1:index + 8]:
        stripped = line.strip()
        if _OUTLOOK_SENT.match(stripped):
            sent = True
        elif _OUTLOOK_TO.match(stripped):
            to = True
        if sent and to:
            return True
    return False


def find_cut(lines: list[str], start: int = 0) -> int | None:
    """Index of the first line of quoted history or signature (from `start` on), None when
    there is none."""
    for index in range(start, len(lines)):
        raw = lines[index].rstrip("\r")
        if raw in ("-- ", "--"):
            return index
        stripped = raw.strip()
        if not stripped or _QUOTED.match(stripped):
            continue
        if _BANNER.match(stripped) or _MOBILE.match(stripped) or _GET_OUTLOOK.match(stripped):
            return index
        if _outlook_block(lines, index):
            previous = index - 1
            while previous >= 0 and not lines[previous].strip():
                previous -= 1
            if previous >= 0 and _SEPARATOR.match(lines[previous]):
                return previous
            return index
        if _SEPARATOR.match(stripped) and index + 1 < len(lines):
            following = index + 1
            while following < len(lines) and not lines[following].strip():
                following += 1
            if following < len(lines) and _outlook_block(lines, following):
                return index
        if _attribution(lines, index):
            return index
    return None


def _answer_below_quote(lines: list[str], index: int) -> bool:
    """Below `index`: a quote, then unquoted text (bottom-posting or answers in between)."""
    position = index
    while position < len(lines) and not lines[position].strip():
        position += 1
    if position >= len(lines) or not _QUOTED.match(lines[position]):
        return False
    while position < len(lines) and (_QUOTED.match(lines[position]) or not lines[position].strip()):
        position += 1
    return position < len(lines)


def is_forward_subject(subject: str) -> bool:
    """"Fwd: …", "FW: …", "ПЕРЕСЛ: …": the letter forwards another (a reply to a forward,
    "Re: Fwd: …", is a reply)."""
    return bool(_FORWARD_SUBJECT.match(subject or ""))


def forward_start(lines: list[str], *, forward_subject: bool = False) -> int | None:
    """Index of the line where a forwarded letter starts, before any reply history; None
    when there is none. A signature or a "Sent from my phone" line above the forward does
    not end the search (the forwarded letter usually comes after them)."""
    for index in range(len(lines)):
        raw = lines[index].rstrip("\r")
        stripped = raw.strip()
        if not stripped or _QUOTED.match(stripped) or raw in ("-- ", "--"):
            continue
        if _FORWARD_BANNER.match(stripped):
            return index
        if _MOBILE.match(stripped) or _GET_OUTLOOK.match(stripped):
            continue
        if find_cut(lines[index:index + 12]) == 0:
            # A reply delimiter ("Original Message", an Outlook block, an attribution) here:
            # the start of a forward only when the subject says the letter is one.
            if not forward_subject or _attribution(lines, index):
                return None
            return index
    return None


def fold(full_text: str, subject: str = "") -> str:
    """The new text of a message: everything before the first delimiter, quotes dropped;
    a forwarded letter (and what the sender wrote above it) is kept whole.

    An attribution with nothing new above it and an answer below its quote (bottom-posting,
    answers between quotes) is dropped instead of cutting there. When nothing new is left
    (a quote alone), the full text is returned: an operator must see something.
    """
    lines = full_text.split("\n")
    start_of_forward = forward_start(lines, forward_subject=is_forward_subject(subject))
    if start_of_forward is not None:
        above = "\n".join(lines[:start_of_forward])
        note = _fold_reply(above) if above.strip() else ""
        forwarded = "\n".join(line.rstrip() for line in lines[start_of_forward:]).strip()
        return f"{note}\n\n{forwarded}".strip()
    return _fold_reply(full_text)


def _fold_reply(full_text: str) -> str:
    lines = full_text.split("\n")
    dropped: set[int] = set()
    start = 0
    while True:
        cut = find_cut(lines, start)
        if cut is None:
            break
        span = _attribution(lines, cut)
        nothing_above = all(  # lines above `start` were checked in earlier rounds
            not lines[number].strip() or _QUOTED.match(lines[number])
            for number in range(start, cut)
        )
        if not (span and nothing_above and _answer_below_quote(lines, cut + span)):
            break
        dropped.update(range(cut, cut + span))
        start = cut + span
    kept = lines if cut is None else lines[:cut]
    result: list[str] = []
    for number, line in enumerate(kept):
        if number in dropped or _QUOTED.match(line):
            continue
        if not line.strip() and (not result or not result[-1].strip()):
            continue  # collapse the blank lines left where quotes were
        result.append(line.rstrip())
    text = "\n".join(result).strip()
    return text or full_text.strip()


def unflow(text: str, *, delsp: bool) -> str:
    """Join the soft line breaks of format=flowed text (RFC 3676)."""
    out: list[str] = []
    buffer: str | None = None
    depth_of_buffer = 0

    def flush() -> None:
        nonlocal buffer
        if buffer is not None:
            prefix = ">" * depth_of_buffer + (" " if depth_of_buffer else "")
            out.append(prefix + buffer)
            buffer = None

    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        if content == "-- ":
            flush()
            out.append(">" * depth + (" " if depth else "") + content)
            continue
        flowed = content.endswith(" ")
        if flowed and delsp:
            content = content[:-1]
        if buffer is not None and depth == depth_of_buffer:
            buffer += content
        else:
            flush()
            buffer = content
            depth_of_buffer = depth
        if not flowed:
            flush()
    flush()
    return "\n".join(out)
