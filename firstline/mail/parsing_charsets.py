"""Bytes to text for mail that lies about its charset, and RFC 2047 header words.

Real mail declares charsets it does not use (windows-1251 text labelled koi8-r or
iso-8859-1, GBK labelled GB2312), declares charsets Python does not know, or sends raw
8-bit bytes in headers with no label at all. The declared charset is tried first; when it
is unknown, fails, or yields implausible text (Cyrillic read through the wrong code page),
utf-8, windows-1251, koi8-r and gb18030 are tried and the most plausible reading wins.
Nothing here raises on bad input.
"""

import base64
import binascii
import codecs
import re
from dataclasses import dataclass

FALLBACKS = ("utf-8", "windows-1251", "koi8-r", "gb18030")
# iso-8859-5 is rare but cheap to consider; it goes before gb18030 so that ties stay Cyrillic.
_FALLBACK_CODECS = ("utf_8", "cp1251", "koi8_r", "iso8859_5", "gb18030")
_DISPLAY = {"utf_8": "utf-8", "cp1251": "windows-1251", "koi8_r": "koi8-r",
            "iso8859_5": "iso-8859-5", "iso8859_1": "iso-8859-1"}

# Labels seen in mail that Python does not know, or knows as a narrower charset than the
# one actually used (GB2312 labels carry GBK text; GB18030 is a superset of both).
_ALIASES = {
    "win-1251": "windows-1251",
    "win1251": "windows-1251",
    "cp-1251": "windows-1251",
    "x-cp1251": "windows-1251",
    "windows1251": "windows-1251",
    "x-win-1251": "windows-1251",
    "koi8r": "koi8-r",
    "koi8": "koi8-r",
    "x-koi8-r": "koi8-r",
    "koi-8-r": "koi8-r",
    "koi8-ru": "koi8-u",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "cp936": "gb18030",
    "x-euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "x-mac-cyrillic": "mac-cyrillic",
    "ansi_x3.4-1968": "ascii",
}
# Labels that promise no charset at all: treat as missing, without a problem note.
_NO_CHARSET = frozenset({"", "unknown-8bit", "x-unknown", "unknown", "x-user-defined", "default"})
# Codecs whose strict decode succeeding says little: every byte maps to some character.
_SINGLE_BYTE = frozenset({
    "ascii", "iso8859_1", "iso8859_2", "iso8859_5", "iso8859_15", "cp1250", "cp1251", "cp1252",
    "koi8_r", "koi8_u", "cp866", "mac_cyrillic", "iso8859_9", "cp1254", "mac_roman",
})

_RU_BY_FREQUENCY = "оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё"
_RU_WEIGHT = {
    letter: (1.0 if rank < 12 else 0.8 if rank < 24 else 0.5)
    for rank, letter in enumerate(_RU_BY_FREQUENCY)
}
# Serbian and Macedonian letters: what windows-1251 bytes look like read as iso-8859-5.
_RARE_CYRILLIC = frozenset("ђѓѕјљњћќџ")
_TYPOGRAPHY = frozenset("«»—–…“”„‘’№•·°±×\u00a0\u2009\u202f€£¥©®™§")
# A lower-case Cyrillic letter followed by an upper-case one, or Cyrillic glued to Latin:
# what Cyrillic read through the wrong code page (or Latin-1 read as Cyrillic) looks like.
_ANOMALY = re.compile(r"[а-яё][А-ЯЁ]|[a-zA-Z][а-яёА-ЯЁ]|[а-яёА-ЯЁ][a-zA-Z]")
_CYRILLIC = re.compile(r"[а-яёА-ЯЁ]")
_UPPER_CYRILLIC = re.compile(r"[А-ЯЁ]")


@dataclass(frozen=True)
class Decoded:
    text: str
    charset: str  # the codec actually used
    problem: str = ""  # why the declared charset was not used, "" when it was (or none)


def normalise_label(label: str | None) -> str | None:
    """A charset label as Python knows it, None for no label; unknown labels pass through."""
    if label is None:
        return None
    label = label.strip().strip("\"'").strip().lower()
    label = label.split("*", 1)[0]  # RFC 2231 language suffix in encoded words: utf-8*ru
    if label in _NO_CHARSET:
        return None
    return _ALIASES.get(label, label)


def display(codec: str) -> str:
    return _DISPLAY.get(codec, codec)


def codec_name(label: str | None) -> str | None:
    """Python's canonical codec name for a label, None when unknown."""
    if not label:
        return None
    try:
        return codecs.lookup(label).name.replace("-", "_")
    except (LookupError, ValueError, TypeError):
        return None


def plausibility(text: str) -> float:
    """How much `text` looks like real writing: about 1 for Russian or Chinese, below 0
    for mojibake. Only non-ASCII characters count; pure ASCII scores 1."""
    total = 0
    score = 0.0
    for char in text:
        code = ord(char)
        if code < 128:
            continue
        total += 1
        if 0x400 <= code <= 0x4FF:
            lower = char.lower()
            score += _RU_WEIGHT.get(lower, -0.5 if lower in _RARE_CYRILLIC else 0.3)
        elif 0x4E00 <= code <= 0x9FFF:
            score += 0.9
        elif 0x3000 <= code <= 0x303F or 0xFF00 <= code <= 0xFFEF:
            score += 0.6
        elif char in _TYPOGRAPHY:
            score += 0.8
        elif char.isalpha():
            score += 0.4
        else:
            score -= 1.0
    if not total:
        return 1.0
    score -= 2.0 * len(_ANOMALY.findall(text))
    cyrillic = len(_CYRILLIC.findall(text))
    if cyrillic >= 20:
        upper = len(_UPPER_CYRILLIC.findall(text)) / cyrillic
        if upper > 0.6:  # a body in capitals is rare; lower-case read as upper is not
            score -= (upper - 0.6) * cyrillic
    return score / total


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError, ValueError, TypeError):
        return None


def _best(data: bytes, candidates: list[str]) -> Decoded | None:
    """The most plausible strict decode among candidates (earlier wins ties)."""
    best: tuple[float, str, str] | None = None
    for codec in candidates:
        text = _strict(data, codec)
        if text is None:
            continue
        if codec == "utf_8" and not data.isascii():
            return Decoded(text, codec)  # valid non-ASCII UTF-8 is almost never an accident
        score = plausibility(text)
        if best is None or score > best[0] + 1e-9:
            best = (score, codec, text)
    if best is None:
        return None
    return Decoded(best[2], best[1])


def decode_bytes(
    data: bytes, declared: str | None = None, *, hints: tuple[str, ...] = ()
) -> Decoded:
    """Decode `data`, trusting `declared` only as far as the bytes agree with it.

    `hints` are charsets seen elsewhere in the same message (e.g. the body's charset for a
    header with raw 8-bit bytes), tried before the generic fallbacks.
    """
    if not data:
        return Decoded("", "ascii")
    label = normalise_label(declared)
    codec = codec_name(label)
    problem = ""
    if label and not codec:
        problem = f"unknown charset {declared!r}"

    if codec:
        text = _strict(data, codec)
        if text is not None:
            if data.isascii() or codec == "utf_8" or codec not in _SINGLE_BYTE:
                return Decoded(text, codec)
            # A single-byte label decodes anything: check the text looks right.
            if _strict(data, "utf-8") is not None:
                return Decoded(data.decode("utf-8"), "utf_8",
                               f"charset {declared!r} declared, text is utf-8")
            alternatives = [c for c in ("cp1251", "koi8_r", "iso8859_5") if c != codec]
            other = _best(data, alternatives)
            if other is not None and plausibility(other.text) > plausibility(text) + 0.3:
                return Decoded(other.text, other.charset,
                               f"charset {declared!r} declared, text is {display(other.charset)}")
            return Decoded(text, codec)
        if not problem:
            problem = f"text is not valid {declared!r}"
    elif data.isascii():
        return Decoded(data.decode("ascii"), "ascii", problem)

    candidates: list[str] = ["utf_8"]
    for hint in hints:
        hinted = codec_name(normalise_label(hint))
        if hinted and hinted != "ascii" and hinted not in candidates:
            candidates.append(hinted)
    candidates += [c for c in _FALLBACK_CODECS if c not in candidates]
    found = _best(data, candidates)
    if found is not None:
        if problem:
            problem = f"{problem}; read as {display(found.charset)}"
        return Decoded(found.text, found.charset, problem)
    text = data.decode("utf-8", errors="replace")
    return Decoded(text, "utf_8", (problem or "undecodable bytes") + "; read as utf-8 with losses")


def from_surrogates(value: str) -> bytes:
    """The original bytes behind a str the email package decoded with surrogateescape."""
    return value.encode("utf-8", errors="surrogateescape")


def has_8bit(value: str) -> bool:
    return not value.isascii()


# --- RFC 2047 encoded words -----------------------------------------------------------------

# Lenient on purpose: spaces inside Q words, words glued to text, missing language tags.
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,80})\?([bBqQ])\?(.*?)\?=", re.DOTALL)
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")


def b64decode_lenient(text: str) -> bytes:
    """Base64 with missing or extra padding and stray characters."""
    clean = _NOT_BASE64.sub("", text.replace("-", "+").replace("_", "/"))
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    clean += "=" * (-len(clean) % 4)
    try:
        return base64.b64decode(clean)
    except (binascii.Error, ValueError):
        return b""


_BASE64_LINE_JUNK = re.compile(r"[^A-Za-z0-9+/=\s]")
_WHITESPACE = re.compile(r"\s+")


def b64decode_body(text: str) -> tuple[bytes, bool]:
    """A base64 body as mail clients break it: lost padding, junk lines, several blobs
    glued together. Returns the bytes and whether anything had to be repaired."""
    compact = _WHITESPACE.sub("", text)
    try:
        return base64.b64decode(compact, validate=True), False
    except (binascii.Error, ValueError):
        pass
    data = bytearray()
    segment: list[str] = []
    for line in text.splitlines():
        line = _WHITESPACE.sub("", line)
        if not line or _BASE64_LINE_JUNK.search(line):
            continue  # a line that is not base64 at all (a footer, noise): skip it
        segment.append(line)
        if "=" in line:  # padding ends one blob; another may follow
            data += b64decode_lenient("".join(segment))
            segment = []
    if segment:
        data += b64decode_lenient("".join(segment))
    return bytes(data), True


def q_decode(text: str) -> bytes:
    data = text.replace("_", " ").encode("utf-8", errors="surrogateescape")
    return _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def decode_words(value: str, *, hints: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """Replace encoded words in an unfolded header value; adjacent words separated only by
    whitespace are joined, and their bytes decoded together when the charset is the same
    (encoders split multi-byte characters across words)."""
    if "=?" not in value:
        return value, []
    problems: list[str] = []
    out: list[str] = []
    run: list[tuple[str | None, bytearray]] = []

    def flush() -> None:
        for charset, data in run:
            decoded = decode_bytes(bytes(data), charset, hints=hints)
            if decoded.problem:
                problems.append(f"encoded word: {decoded.problem}")
            out.append(decoded.text)
        run.clear()

    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position:match.start()]
        if not (run and not between.strip()):
            flush()
            out.append(between)
        charset, encoding, payload = match.groups()
        data = b64decode_lenient(payload) if encoding in "bB" else q_decode(payload)
        label = normalise_label(charset)
        if run and run[-1][0] == label:
            run[-1][1].extend(data)
        else:
            run.append((label, bytearray(data)))
        position = match.end()
    flush()
    out.append(value[position:])
    return "".join(out), problems


_FOLD = re.compile(r"\r?\n|\r")


def decode_header(value: str, *, hints: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """A raw header value (surrogate-escaped 8-bit bytes allowed) as readable text."""
    value = _FOLD.sub("", value)
    problems: list[str] = []
    if has_8bit(value):
        decoded = decode_bytes(from_surrogates(value), None, hints=hints)
        value = decoded.text
        if decoded.problem:
            problems.append(decoded.problem)
    text, word_problems = decode_words(value, hints=hints)
    return text, problems + word_problems
