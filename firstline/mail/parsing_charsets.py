"""Bytes to text for mail that lies about its charset, and RFC 2047 header words.

Real mail declares charsets it does not use (windows-1251 text labelled koi8-r or
iso-8859-1, GBK labelled GB2312), declares charsets Python does not know, or sends raw
8-bit bytes in headers with no label at all. The order:

1. the declared charset, as far as the bytes agree with it (a single-byte label decodes
   anything, so its reading must look like writing: Cyrillic read through the wrong code
   page loses to the right one; an ISO-2022-JP label also reads NEC/IBM extensions, CP50220);
2. UTF-8 (valid non-ASCII UTF-8 is almost never an accident, whatever the label said);
3. the charsets the letter declares elsewhere (a header's raw bytes follow the body's);
4. a byte-statistics choice among windows-1251, KOI8-R, windows-1252 (Latin-1) and
   ISO-8859-5;
5. only when none of those reads as writing, the CJK charsets (GB18030, Shift-JIS/CP932,
   EUC-JP, EUC-KR/CP949, Big5): a Norwegian name in raw Latin-1 is not Chinese.

Nothing here raises on bad input.
"""

import base64
import binascii
import codecs
import re
from dataclasses import dataclass

FALLBACKS = ("utf-8", "windows-1251", "koi8-r", "windows-1252", "gb18030")
# Ties go to the earlier one: Cyrillic first (the product's customers write Russian).
_SINGLE_BYTE_GUESSES = ("cp1251", "koi8_r", "cp1252", "iso8859_5")
_CJK_GUESSES = ("gb18030", "cp932", "euc_jp", "cp949", "big5")
_PLAUSIBLE = 0.5  # a single-byte reading at or above this is taken before any CJK one
_DISPLAY = {"utf_8": "utf-8", "cp1251": "windows-1251", "koi8_r": "koi8-r",
            "iso8859_5": "iso-8859-5", "iso8859_1": "iso-8859-1", "cp1252": "windows-1252",
            "cp932": "shift_jis", "cp949": "euc-kr", "iso2022_jp": "iso-2022-jp"}
_ISO2022_JP = frozenset({"iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_2004",
                         "iso2022_jp_3", "iso2022_jp_ext"})

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
    "shift-jis": "cp932",
    "shift_jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "ms_kanji": "cp932",
    "cp50220": "iso-2022-jp",
    "cp50221": "iso-2022-jp",
    "cp50222": "iso-2022-jp",
    "x-windows-949": "cp949",
    "euc-kr": "cp949",
    "big5-hkscs": "big5hkscs",
    "x-mac-roman": "mac-roman",
    "iso-8859-1": "windows-1252",
    "iso8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "us-ascii": "ascii",
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
# Lower-case Cyrillic followed by upper-case, capitals running into lower-case letters, or
# Cyrillic glued to Latin: what a wrong code page (or Latin-1 read as Cyrillic) looks like.
_ANOMALY = re.compile(r"[а-яё][А-ЯЁ]|[А-ЯЁ]{2}[а-яё]|[a-zA-Z][а-яёА-ЯЁ]|[а-яёА-ЯЁ][a-zA-Z]")
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


_LATIN_ACCENTED = frozenset(
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœšžÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝŒŠŽ"
)
_CJK_PUNCTUATION = frozenset("、。〃「」『』！（），：；？・ー")


def _ascii_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def plausibility(text: str) -> float:
    """How much `text` looks like real writing: about 1 for Russian, Western European,
    Chinese, Japanese or Korean, below 0 for mojibake. Only non-ASCII characters count;
    pure ASCII scores 1."""
    total = 0
    score = 0.0
    length = len(text)
    for index, char in enumerate(text):
        code = ord(char)
        if code < 128:
            continue
        total += 1
        before = text[index - 1] if index else ""
        after = text[index + 1] if index + 1 < length else ""
        if 0x400 <= code <= 0x4FF:
            lower = char.lower()
            score += _RU_WEIGHT.get(lower, -0.5 if lower in _RARE_CYRILLIC else 0.3)
        elif char in _LATIN_ACCENTED:
            # In a Latin word ("Bürling", "Ødegård") rather than a run of accented letters
            # (what Cyrillic read as windows-1252 looks like).
            score += 0.9 if _ascii_letter(before) or _ascii_letter(after) else 0.3
        elif 0x4E00 <= code <= 0x9FFF or 0x3040 <= code <= 0x30FF or 0xAC00 <= code <= 0xD7A3:
            # Han, kana, Hangul; glued to a Latin letter they are a Latin-1 byte misread.
            if _ascii_letter(before) or _ascii_letter(after):
                score -= 1.0
            else:
                score += 1.0 if 0x3040 <= code <= 0x309F or code >= 0xAC00 else 0.9
        elif char in _CJK_PUNCTUATION:
            score += 1.0
        elif 0x2460 <= code <= 0x24FF or 0x3200 <= code <= 0x33FF:
            score += 0.6  # ①, ㈱, ㎡: common in Japanese business mail
        elif 0x3000 <= code <= 0x303F or 0xFF00 <= code <= 0xFFEF:
            score += 0.2
        elif 0x3100 <= code <= 0x318F or 0xFE30 <= code <= 0xFE6F:
            score -= 1.0  # bopomofo, compatibility jamo, small forms: a CJK charset misread
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


def _best(data: bytes, candidates: list[str]) -> tuple[float, Decoded] | None:
    """The most plausible strict decode among candidates (earlier wins ties)."""
    best: tuple[float, str, str] | None = None
    for codec in candidates:
        text = _strict(data, codec)
        if text is None:
            continue
        score = plausibility(text)
        if best is None or score > best[0] + 1e-9:
            best = (score, codec, text)
    if best is None:
        return None
    return best[0], Decoded(best[2], best[1])


# --- ISO-2022-JP with the Microsoft (NEC and IBM) extensions, as CP50220 writes it ----------

_JIS_ESCAPES = re.compile(rb"\x1b(\$@|\$B|\$\(D|\(B|\(J|\(I|\$\(O|\$\(Q|\$\(P|\$A|\$\(C|\.A|\.F|N)")


def looks_like_iso2022_jp(data: bytes) -> bool:
    return b"\x1b$B" in data or b"\x1b$@" in data or b"\x1b(I" in data


def decode_iso2022_jp(data: bytes) -> tuple[str, bool]:
    """ISO-2022-JP through the CP932 table, which has the NEC row 13 (①, Ⅰ, ㈱…) and the
    IBM extensions that Python's iso2022_jp codecs refuse. Returns the text and whether
    every byte was understood."""
    out: list[str] = []
    clean = True
    mode = "ascii"
    index = 0
    length = len(data)
    while index < length:
        byte = data[index]
        if byte == 0x1B:
            match = _JIS_ESCAPES.match(data, index)
            if match is None:
                clean = False
                index += 1
                continue
            sequence = match.group(1)
            if sequence in (b"$@", b"$B", b"$(O", b"$(Q"):
                mode = "jis"
            elif sequence == b"(I":
                mode = "kana"
            elif sequence in (b"(B", b"(J"):
                mode = "ascii"
            else:
                mode = "other"  # JIS X 0212 and the like: not in CP932
            index = match.end()
            continue
        if byte == 0x0E:  # SO: half-width katakana (CP50221)
            mode, index = "kana", index + 1
            continue
        if byte == 0x0F:  # SI
            mode, index = "ascii", index + 1
            continue
        if byte in (0x0A, 0x0D):
            out.append(chr(byte))
            index += 1
            continue
        if mode == "jis" and index + 1 < length and 0x21 <= byte <= 0x7E:
            second = data[index + 1]
            sjis = _jis_to_sjis(byte, second)
            try:
                out.append(sjis.decode("cp932"))
            except UnicodeDecodeError:
                out.append("\ufffd")
                clean = False
            index += 2
            continue
        if mode == "kana" and 0x21 <= byte <= 0x5F:
            out.append(bytes([byte + 0x80]).decode("cp932"))
            index += 1
            continue
        if mode == "other" and index + 1 < length and 0x21 <= byte <= 0x7E:
            out.append("\ufffd")
            clean = False
            index += 2
            continue
        out.append(chr(byte) if byte < 0x80 else "\ufffd")
        clean = clean and byte < 0x80
        index += 1
    return "".join(out), clean


def _jis_to_sjis(first: int, second: int) -> bytes:
    lead = ((first + 1) >> 1) + (0x70 if first < 0x5F else 0xB0)
    trail = second + (0x1F if second < 0x60 else 0x20) if first & 1 else second + 0x7E
    return bytes([lead & 0xFF, trail & 0xFF])


def _japanese(data: bytes, codec: str | None) -> Decoded | None:
    if codec is not None:
        text = _strict(data, codec)
        if text is not None:
            return Decoded(text, codec)
    text, clean = decode_iso2022_jp(data)
    problem = "" if clean else "some ISO-2022-JP characters could not be read"
    return Decoded(text, "iso2022_jp", problem)


def decode_bytes(
    data: bytes, declared: str | None = None, *, hints: tuple[str, ...] = ()
) -> Decoded:
    """Decode `data`, trusting `declared` only as far as the bytes agree with it.

    `hints` are charsets seen elsewhere in the same message (e.g. the body's charset for a
    header with raw 8-bit bytes), tried after UTF-8 and before the statistics.
    """
    if not data:
        return Decoded("", "ascii")
    label = normalise_label(declared)
    codec = codec_name(label)
    problem = ""
    if label and not codec:
        problem = f"unknown charset {declared!r}"

    if codec in _ISO2022_JP or (data.isascii() and looks_like_iso2022_jp(data)):
        found = _japanese(data, codec if codec in _ISO2022_JP else None)
        if found is not None:
            return Decoded(found.text, found.charset, found.problem or problem)
    if codec:
        text = _strict(data, codec)
        if text is None and codec == "cp1252":
            # Latin-1 labels are read as windows-1252 (its quotes and euro sign are what
            # 0x80-0x9F mean in practice); its five unassigned bytes fall back to Latin-1.
            codec = "iso8859_1"
            text = _strict(data, codec)
        if text is not None:
            if data.isascii() or codec == "utf_8" or codec not in _SINGLE_BYTE:
                return Decoded(text, codec)
            # A single-byte label decodes anything: check the text looks right.
            if _strict(data, "utf-8") is not None:
                return Decoded(data.decode("utf-8"), "utf_8",
                               f"charset {declared!r} declared, text is utf-8")
            alternatives = [c for c in ("cp1251", "koi8_r", "cp1252", "iso8859_5") if c != codec]
            other = _best(data, alternatives)
            if other is not None and other[0] > plausibility(text) + 0.3:
                return Decoded(other[1].text, other[1].charset,
                               f"charset {declared!r} declared, text is "
                               f"{display(other[1].charset)}")
            return Decoded(text, codec)
        if not problem:
            problem = f"text is not valid {declared!r}"
    elif data.isascii():
        return Decoded(data.decode("ascii"), "ascii", problem)

    found = guess(data, hints)
    if found is not None:
        if problem:
            problem = f"{problem}; read as {display(found.charset)}"
        return Decoded(found.text, found.charset, problem)
    text = data.decode("utf-8", errors="replace")
    return Decoded(text, "utf_8", (problem or "undecodable bytes") + "; read as utf-8 with losses")


def guess(data: bytes, hints: tuple[str, ...] = ()) -> Decoded | None:
    """Undeclared bytes: UTF-8, then the letter's own charsets, then the single-byte
    statistics, CJK last; None when nothing decodes strictly."""
    text = _strict(data, "utf_8")
    if text is not None:
        return Decoded(text, "utf_8")
    single = _best(data, list(_SINGLE_BYTE_GUESSES))
    for hint in hints:
        hinted = codec_name(normalise_label(hint))
        if not hinted or hinted in ("ascii", "utf_8"):
            continue
        if hinted in _ISO2022_JP:
            continue  # 7-bit: says nothing about 8-bit bytes
        text = _strict(data, hinted)
        if text is None:
            continue
        score = plausibility(text)
        if hinted in _SINGLE_BYTE and single is not None and single[0] > score + 0.3:
            continue  # the letter's windows-1252 label does not make Russian bytes Latin
        if score >= _PLAUSIBLE or hinted in _SINGLE_BYTE:
            return Decoded(text, hinted)
    if single is not None and single[0] >= _PLAUSIBLE:
        return single[1]
    cjk = _best(data, list(_CJK_GUESSES))
    if cjk is not None and (single is None or cjk[0] > single[0]):
        return cjk[1]
    return single[1] if single is not None else None


def from_surrogates(value: str) -> bytes:
    """The original bytes behind a str the email package decoded with surrogateescape."""
    return value.encode("utf-8", errors="surrogateescape")


def has_8bit(value: str) -> bool:
    """Raw bytes to decode: 8-bit ones, or 7-bit ISO-2022-JP escapes written without an
    encoded word (old Japanese mailers)."""
    return not value.isascii() or "\x1b" in value


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
