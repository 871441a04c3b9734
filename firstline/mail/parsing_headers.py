"""Header values read from their raw bytes: the header block's lost indentation, 8-bit
bytes, encoded words, parameters (RFC 2231), message ids, dates and addresses.

The email package's compat32 policy keeps header values as they arrived (8-bit bytes as
surrogate escapes); its own readers replace those bytes with U+FFFD, so everything that
needs the bytes is read here.
"""

import re
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from urllib.parse import unquote_to_bytes

from .parsed import Address
from .parsing_charsets import decode_bytes, decode_header, decode_words, from_surrogates, has_8bit

# --- Header block repair ---------------------------------------------------------------------

_HEADER_END = re.compile(rb"(?:\r\n|\n)(?:\r\n|\n)")
# What the email package's feed parser accepts as a header line (email.feedparser.headerRE).
_HEADER_LINE = re.compile(rb"(From |[\x21-\x39\x3b-\x7e]*:|[\t ])")
_LEADING_BLANKS = re.compile(rb"\A(?:[ \t]*\r?\n)+")
_MAX_LOST_CONTINUATIONS = 3


def repair_headers(raw: bytes) -> bytes:
    """Re-attach header continuation lines that lost their indentation.

    The email package ends the header block at the first line that is neither a header nor
    indented, pushing the remaining headers into the body. Such a line is taken as a
    continuation when another header follows it before the blank line, or when it starts
    with an encoded word. Leading blank lines before the headers are dropped.
    """
    leading = _LEADING_BLANKS.match(raw)
    if leading and _HEADER_LINE.match(raw, leading.end()):
        raw = raw[leading.end():]
    end = _HEADER_END.search(raw)
    head_end = end.start() if end else len(raw)
    head = raw[:head_end]
    lines = head.split(b"\n")
    is_header = [bool(_HEADER_LINE.match(line)) for line in lines]
    if all(is_header):
        return raw
    last_header = max(
        (index for index, line in enumerate(lines)
         if is_header[index] and line[:1] not in (b" ", b"\t")),
        default=-1,
    )
    # Lost indentation breaks a header over one or two lines, not hundreds: a long run of
    # non-header lines is a body that started without its blank line.
    run_lengths = [0] * len(lines)
    index = 0
    while index < len(lines):
        if is_header[index] or not lines[index].strip():
            index += 1
            continue
        end = index
        while end < len(lines) and not is_header[end] and lines[end].strip():
            end += 1
        for inside in range(index, end):
            run_lengths[inside] = end - index
        index = end
    fixed: list[bytes] = []
    for index, line in enumerate(lines):
        if index and run_lengths[index] and (
            (index < last_header and run_lengths[index] <= _MAX_LOST_CONTINUATIONS)
            or line.lstrip().startswith(b"=?")
        ):
            line = b" " + line
        fixed.append(line)
    return b"\n".join(fixed) + raw[head_end:]


# --- Small readers ---------------------------------------------------------------------------


def raw_header(message: Message, name: str) -> str | None:
    """The first raw value of a header (surrogate-escaped bytes kept), None when absent."""
    for key, value in message.raw_items():
        if key.lower() == name:
            return value if isinstance(value, str) else str(value)
    return None


def raw_headers(message: Message, name: str) -> list[str]:
    return [
        value if isinstance(value, str) else str(value)
        for key, value in message.raw_items()
        if key.lower() == name
    ]


_PARAMETER = re.compile(r"""([^\s=;"]+)\s*=\s*("(?:[^"\\]|\\.)*(?:"|$)|[^;]*)""")
_EXTENDED = re.compile(r"^(?P<base>[^*]+)(?:\*(?P<index>\d+))?(?P<encoded>\*)?$")
_QUOTED_PAIR = re.compile(r"\\(.)")

Param = str | tuple[str | None, bytes]  # plain (raw) value, or RFC 2231 (charset, bytes)


def parameters(value: str) -> tuple[str, dict[str, Param]]:
    """'attachment; filename*=utf-8''%D0%A1.pdf' -> ('attachment', {'filename': ...}).

    Parsed from the raw value, because the email package replaces 8-bit bytes in
    parameters with U+FFFD."""
    value = re.sub(r"\r?\n", "", value)
    main, _, rest = value.partition(";")
    plain: dict[str, str] = {}
    extended: dict[str, dict[int, tuple[bool, str]]] = {}
    for match in _PARAMETER.finditer(rest):
        name = match.group(1).lower()
        raw = match.group(2).strip()
        if raw.startswith('"'):
            raw = raw[1:-1] if raw.endswith('"') and len(raw) > 1 else raw[1:]
            raw = _QUOTED_PAIR.sub(r"\1", raw)
        parts = _EXTENDED.match(name)
        if parts and (parts.group("index") is not None or parts.group("encoded")):
            index = int(parts.group("index") or 0)
            extended.setdefault(parts.group("base"), {}).setdefault(
                index, (bool(parts.group("encoded")), raw)
            )
        else:
            plain.setdefault(name, raw)
    result: dict[str, Param] = dict(plain)
    for base, segments in extended.items():
        charset: str | None = None
        data = bytearray()
        pending = ""  # encoded segments joined before unquoting: a %XX may be split
        for position, index in enumerate(sorted(segments)):
            encoded, raw = segments[index]
            if encoded:
                if position == 0 and raw.count("'") >= 2:
                    charset, _language, raw = raw.split("'", 2)
                pending += raw
            else:
                data += unquote_to_bytes(from_surrogates(pending)) + from_surrogates(raw)
                pending = ""
        data += unquote_to_bytes(from_surrogates(pending))
        result[base] = (charset or None, bytes(data))
    return main.strip().lower(), result


def param_text(value: Param | None, hints: tuple[str, ...], problems: list[str]) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        charset, data = value
        decoded = decode_bytes(data, charset, hints=hints)
        if decoded.problem:
            problems.append(f"parameter: {decoded.problem}")
        return decoded.text
    text, notes = decode_header(value, hints=hints)
    problems.extend(f"parameter: {note}" for note in notes)
    return text


_ID = re.compile(r"<([^<>]*)>")
_NOT_IN_ID = re.compile(r"[<>\s]+")


def message_ids(value: str | None) -> tuple[str, ...]:
    """Message ids without angle brackets, in order, each once."""
    if not value:
        return ()
    value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    found = ["".join(part.split()) for part in _ID.findall(value)]
    if not found:
        found = [_NOT_IN_ID.sub("", token).strip(",;") for token in value.split() if "@" in token]
    ids: list[str] = []
    for item in found:
        if item and item not in ids:
            ids.append(item)
    return tuple(ids)


def single_id(value: str | None) -> str:
    ids = message_ids(value)
    if ids:
        return ids[0]
    return _NOT_IN_ID.sub("", clean(value or ""))


_RU_MONTHS = {
    "янв": "Jan", "фев": "Feb", "мар": "Mar", "апр": "Apr", "мая": "May", "май": "May",
    "июн": "Jun", "июл": "Jul", "авг": "Aug", "сен": "Sep", "окт": "Oct", "ноя": "Nov",
    "дек": "Dec",
}
_RU_MONTH = re.compile(r"\b(" + "|".join(_RU_MONTHS) + r")[а-я]*\.?", re.IGNORECASE)
# Zones the email package does not know (it knows UT, GMT and the US ones).
_ZONES = {"MSK": "+0300", "MSD": "+0400", "YEKT": "+0500", "NOVT": "+0700", "CET": "+0100",
          "CEST": "+0200", "EET": "+0200", "EEST": "+0300", "UTC": "+0000"}
_NAMED_ZONE = re.compile(r"\b(" + "|".join(_ZONES) + r")\b", re.IGNORECASE)
_NUMERIC_ZONE = re.compile(r"[+-]\d{4}\b")
_RU_WEEKDAY = re.compile(r"^\s*(пн|вт|ср|чт|пт|сб|вс)[а-я]*\.?,?\s*", re.IGNORECASE)


def parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    text = " ".join(decode_header(value)[0].split())
    if not _NUMERIC_ZONE.search(text):
        text = _NAMED_ZONE.sub(lambda m: _ZONES[m.group(1).upper()], text)
    candidates = [text]
    if _RU_MONTH.search(text):
        russian = _RU_WEEKDAY.sub("", text)
        candidates.append(_RU_MONTH.sub(lambda m: _RU_MONTHS[m.group(1).lower()], russian))
    for candidate in candidates:
        try:
            parsed = parsedate_to_datetime(candidate)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# A whole addr-spec: dot-atom (or quoted) local part, dotted domain (IDN letters allowed, a
# trailing dot tolerated and dropped) or a domain literal. Used to check what the email
# package extracted: it glues "exa mple" into "example" and keeps spaces in local parts.
_LOCAL = r"""(?:[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*|"[^"\\]*")"""
_DOMAIN = r"(?:[\w-]+(?:\.[\w-]+)*\.?|\[[0-9A-Fa-f:.]+\])"
_VALID_ADDR_SPEC = re.compile(rf"{_LOCAL}@{_DOMAIN}", re.UNICODE)
_PUNCTUATION_AROUND = "<>,;()[]\"'"
# A run of encoded words (adjacent words decode together): one atom while the list is split.
_ENCODED_RUN = re.compile(
    r"=\?[^?\s]{1,80}\?[bBqQ]\?[^?]*?\?=(?:[ \t]*=\?[^?\s]{1,80}\?[bBqQ]\?[^?]*?\?=)*"
)


_NAME_AND_ADDRESS = re.compile(r"([^<>]*)<([^<>]+)>?\s*")
_MAILTO = re.compile(r"<\s*mailto:", re.IGNORECASE)


def valid_addr_spec(address: str) -> bool:
    return bool(_VALID_ADDR_SPEC.fullmatch(address))


def normalise_addr_spec(address: str) -> str:
    """Lower-cased, without the trailing dot of a fully qualified domain ("ru.")."""
    return address.lower().rstrip(".")


def _protect_encoded_words(value: str) -> tuple[str, dict[str, str]]:
    """Replace each run of encoded words by a plain atom, so that a comma or angle bracket
    inside one ("=?iso-8859-1?Q?B=FCrling,=20Andreas?=") does not split the list."""
    words: dict[str, str] = {}

    def atom(match: re.Match[str]) -> str:
        key = f"EncodedWordX{len(words)}X"
        words[key] = match.group(0)
        return key

    return _ENCODED_RUN.sub(atom, value), words


def _restore(text: str, words: dict[str, str]) -> str:
    for key, word in words.items():
        if key in text:
            text = text.replace(key, word)
    return text


def _merge_split_names(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """'Bürling, Andreas <a@b.de>' (an unquoted "Lastname, Firstname") is split by the
    comma into a bare word and an address: join the word back into the name."""
    merged: list[tuple[str, str]] = []
    pending: list[str] = []
    for name, address in pairs:
        bare = not name and address and "@" not in address and "<" not in address
        if bare and not any(char in address for char in ":;"):
            pending.append(address.strip())
            continue
        if pending and "@" in address:
            name = ", ".join([*pending, name] if name else pending)
            pending = []
        elif pending:
            merged.extend(("", word) for word in pending)
            pending = []
        merged.append((name, address))
    merged.extend(("", word) for word in pending)
    return merged


def _whole_tokens(value: str) -> list[str]:
    """Whitespace- or comma-separated tokens that are addr-specs as a whole (never a piece of
    a longer token, nor of an angle-bracketed address with spaces in it)."""
    found: list[str] = []
    for token in re.split(r"[\s,;]+", value):
        token = token.strip(_PUNCTUATION_AROUND)
        if token and valid_addr_spec(token) and token not in found:
            found.append(token)
    return found


def _address_of(
    name: str, address: str, raw: str, problems: list[str]
) -> tuple[str, str]:
    """(name, email) for one extracted pair; email "" when the address is not valid as
    written. An invalid address is never trimmed to the valid-looking piece of it."""
    if not address:
        return name, ""
    if valid_addr_spec(address) and (address.lower() in raw.lower() or "=?" in raw):
        return name, normalise_addr_spec(address)
    if "@" not in address:
        # "From: MAILER-DAEMON", "From: undisclosed": a name, no address.
        return name or address, ""
    bracketed = _NAME_AND_ADDRESS.fullmatch(address)
    if bracketed and valid_addr_spec(bracketed.group(2).strip()):
        # '"Ivan Petrov <ivan@example.ru>"': a whole address quoted by a broken client.
        inner_name = bracketed.group(1).strip("\"' ")
        return name or inner_name, normalise_addr_spec(bracketed.group(2).strip())
    if "<" not in raw:
        # "Ivan Petrov ivan@example.ru": a name and a whole address token, no brackets.
        words = address.split()
        tokens = [word for word in words if "@" in word]
        if len(tokens) == 1 and valid_addr_spec(tokens[0].strip(_PUNCTUATION_AROUND)):
            rest = " ".join(word for word in words if word is not tokens[0]).strip("\"' ")
            return name or rest, normalise_addr_spec(tokens[0].strip(_PUNCTUATION_AROUND))
    shown = address if address.lower() in raw.lower() else raw
    problems.append(f"address {shown[:120]!r} is not a valid address; not used")
    return name, ""


def parse_addresses(
    value: str | None, hints: tuple[str, ...], problems: list[str]
) -> list[Address]:
    """An address list header: display names decoded, emails lower-cased; a bare word
    ("From: MAILER-DAEMON") becomes a name without an address, and an address that is not
    valid as written (spaces inside the brackets, two @) an Address with email "".

    The list is split on the raw value with encoded words kept as atoms (a comma inside an
    encoded display name does not split it)."""
    if not value:
        return []
    value = re.sub(r"\r?\n", "", value)
    if has_8bit(value):
        decoded = decode_bytes(from_surrogates(value), None, hints=hints)
        value = decoded.text
        if decoded.problem:
            problems.append(f"address: {decoded.problem}")
    value = _MAILTO.sub("<", value)  # "Ivan <mailto:ivan@example.ru>"
    protected, words = _protect_encoded_words(value)
    try:
        pairs = [pair for pair in getaddresses([protected]) if pair != ("", "")]
        if not pairs:
            pairs = [pair for pair in getaddresses([protected], strict=False) if pair != ("", "")]
    except RecursionError:  # thousands of nested comments: read the bare addresses below
        pairs = []
        problems.append("address list too deeply nested; bare addresses read")
    if not pairs:
        pairs = [("", token) for token in _whole_tokens(protected)]
        if not pairs and "@" in protected:
            problems.append(f"address {value[:120]!r} is not a valid address; not used")
    result: list[Address] = []
    for name, address in _merge_split_names(pairs):
        name, address = _restore(name, words), _restore(address, words)
        name, notes = decode_words(name, hints=hints)
        problems.extend(f"address: {note}" for note in notes)
        name = " ".join(name.split()).strip("\"' ")
        address = address.strip().strip("<>").strip()
        if "=?" in address:
            decoded_address, _ = decode_words(address, hints=hints)
            if "@" not in decoded_address:
                name, address = name or " ".join(decoded_address.split()), ""
            else:
                address = decoded_address.strip().strip("<>").strip()
        name, address = _address_of(name, address, value if "=?" not in address else "=?", problems)
        if name.lower() == address:
            name = ""
        if name or address:
            result.append(Address(name=clean(name), email=clean(address)))
    return result


_NUL_AND_SURROGATES = re.compile(r"[\x00\ud800-\udfff]")


def clean(value: str) -> str:
    """No NUL (PostgreSQL text refuses it) and no lone surrogates (not encodable)."""
    if _NUL_AND_SURROGATES.search(value):
        return _NUL_AND_SURROGATES.sub(lambda m: "" if m.group(0) == "\x00" else "\ufffd", value)
    return value
