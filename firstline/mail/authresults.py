"""Did the receiving mail server verify the From domain? Read from Authentication-Results.

A letter's From is whatever its sender typed. The mail server that received it may have
checked the domain (SPF, DKIM, DMARC) and written what it found in an
`Authentication-Results` header (RFC 8601) at the top of the letter. Only such a header
written by a server the mailbox trusts counts (`Mailbox.trusted_authserv_ids`, matched
case-insensitively against the header's authserv-id): anybody can put a header in their
letter, and RFC 8601 section 5 has the border server remove those that claim its own
authserv-id, so what is left under that id is the server's. With no trusted id nothing is
read: a mailbox behaves as if the headers were not there. `ARC-Authentication-Results` is
not read (it tells what earlier hops said).

The rule, kept simple on purpose (`verdict`):

1. DMARC decides when the server gives a result for the letter's From domain: `dmarc=fail`
   means the sender is not verified, `dmarc=pass` that it is. Results for another From
   domain (`header.from`) are skipped; other results (none, temperror…) decide nothing.
2. Without a deciding DMARC result: `spf=fail` (a hard fail, not softfail) for the From
   domain (its `smtp.mailfrom`, or `smtp.helo`, aligned with it; a result that names no
   domain counts) and no `dkim=pass` aligned with the From domain — not verified.
   An aligned `dkim=pass` or `spf=pass` — verified.
3. Anything else: the server said nothing that decides (`NONE`).

"Aligned" is relaxed, without a public-suffix list: the same domain, or one a subdomain of
the other (mail.example.com and example.com), a bare top-level domain never. A failure
anywhere among the trusted headers wins over a pass, so a header slipped past a border
server that does not remove them can make a letter look worse, never better — except for
rule 2, where a forged aligned `dkim=pass` would outweigh the server's `spf=fail`: such a
server should check DMARC (rule 1), which cannot be outweighed that way.

Parsing never raises: a header that does not follow the grammar is skipped.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from firstline.mail.models import InboundMail
from firstline.mail.rawheaders import header_block

# A letter with thousands of these headers must not cost thousands of parses.
MAX_HEADERS = 50
MAX_HEADER_CHARS = 8192

_FIELD = re.compile(r"^authentication-results[ \t]*:", re.IGNORECASE)
# RFC 2045 token: what an authserv-id, method, result and ptype are made of.
_TOKEN = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$")
_SPECIALS = ";=/"
_WORD_STOPS = frozenset(" \t\r\n;=/()\"")
_VALUE_STOPS = frozenset(" \t\r\n;(")


# The verdict's values are those InboundMail.sender_check stores; UNDECIDED: trusted
# headers were there, but nothing in them decides.
State = InboundMail.SenderCheck


@dataclass(frozen=True)
class Result:
    """One `method=result` statement (both lower-cased) with its reason and properties
    ("header.d": "example.com", as written)."""

    method: str
    result: str
    reason: str = ""
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Header:
    authserv_id: str  # lower-cased
    results: tuple[Result, ...]


@dataclass(frozen=True)
class Verdict:
    state: str  # State
    reason: str  # what decided, for people: "DMARC: fail"

    @property
    def failed(self) -> bool:
        return self.state == State.UNVERIFIED


def header_values(raw: bytes) -> list[str]:
    """The unfolded values of the letter's own Authentication-Results headers, top first."""
    text = header_block(raw).decode("utf-8", "replace")
    fields: list[str] = []
    for line in re.split(r"\r?\n", text):
        if line[:1] in (" ", "\t") and fields:
            fields[-1] += " " + line.strip()
        else:
            fields.append(line)
    values = [
        line[match.end():].strip()[:MAX_HEADER_CHARS]
        for line in fields
        if (match := _FIELD.match(line))
    ]
    return values[:MAX_HEADERS]


def _tokens(value: str) -> list[tuple[str, str]] | None:
    """('word' | 'quoted' | 'special', text), comments dropped; None when a comment or a
    quoted string is not closed. What follows "=" is read up to a space, ";" or "(": DKIM's
    header.b is often written unquoted and base64 has "/" and "=" in it."""
    tokens: list[tuple[str, str]] = []
    i, size = 0, len(value)
    while i < size:
        char = value[i]
        if char.isspace():
            i += 1
        elif char == "(":
            i = _comment_end(value, i)
            if i < 0:
                return None
        elif char == '"':
            i, text = _quoted(value, i)
            if i < 0:
                return None
            tokens.append(("quoted", text))
        elif char in _SPECIALS:
            tokens.append(("special", char))
            i += 1
        elif char == ")":
            return None
        else:
            stops = _VALUE_STOPS if tokens[-1:] == [("special", "=")] else _WORD_STOPS
            start = i
            while i < size and value[i] not in stops:
                i += 1
            tokens.append(("word", value[start:i]))
    return tokens


def _comment_end(value: str, i: int) -> int:
    """Where the comment opening at `i` ends (comments nest); -1 when it does not."""
    depth = 0
    while i < len(value):
        char = value[i]
        if char == "\\":
            i += 2
            continue
        depth += 1 if char == "(" else -1 if char == ")" else 0
        i += 1
        if depth == 0:
            return i
    return -1


def _quoted(value: str, i: int) -> tuple[int, str]:
    """The quoted string opening at `i`: (where it ends, its text); (-1, "") unclosed."""
    text: list[str] = []
    i += 1
    while i < len(value):
        char = value[i]
        if char == '"':
            return i + 1, "".join(text)
        if char == "\\" and i + 1 < len(value):
            i += 1
            char = value[i]
        text.append(char)
        i += 1
    return -1, ""


def parse_header(value: str) -> Header | None:
    """One header's value as RFC 8601 section 2.2 has it; None when it does not follow it."""
    tokens = _tokens(value)
    if not tokens:
        return None
    kind, authserv_id = tokens[0]
    if kind == "special" or (kind == "word" and not _TOKEN.match(authserv_id)):
        return None
    rest = tokens[1:]
    if rest and rest[0][0] == "word" and rest[0][1].isdigit():
        rest = rest[1:]  # authres-version
    if [(kind, text.lower()) for kind, text in rest] == [("special", ";"), ("word", "none")]:
        return Header(authserv_id.lower(), ())
    statements = _split(rest)
    if not statements:
        return None
    results = [_statement(statement) for statement in statements]
    if any(result is None for result in results):
        return None
    return Header(authserv_id.lower(), tuple(result for result in results if result))


def _split(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]] | None:
    """The resinfos, each after a ";". Empty ones (";;", a trailing ";") are skipped: servers
    write them."""
    if not tokens or tokens[0] != ("special", ";"):
        return None
    statements: list[list[tuple[str, str]]] = []
    for token in tokens:
        if token == ("special", ";"):
            statements.append([])
        else:
            statements[-1].append(token)
    return [statement for statement in statements if statement]


def _statement(tokens: list[tuple[str, str]]) -> Result | None:
    """method[/version]=result [reason=value] [ptype.property=value]…; None when it is not."""
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        kind, name = tokens[i]
        if kind != "word":
            return None
        if not pairs and tokens[i + 1:i + 2] == [("special", "/")]:
            version = tokens[i + 2:i + 3]
            if not version or not version[0][1].isdigit():
                return None
            i += 2  # method-version: dkim/1=pass
        value = tokens[i + 2:i + 3]
        if tokens[i + 1:i + 2] != [("special", "=")] or not value or value[0][0] == "special":
            return None
        pairs.append((name.lower(), value[0][1]))
        i += 3
    (method, result), *rest = pairs
    if not _TOKEN.match(method) or not _TOKEN.match(result):
        return None
    reason = ""
    properties: dict[str, str] = {}
    for name, value in rest:
        if name == "reason":
            reason = value
        elif "." in name.strip("."):
            properties.setdefault(name, value)
        # Anything else (Microsoft's "action=none", "compauth=…") tells us nothing we read.
    return Result(method, result.lower(), reason, properties)


def trusted_ids(setting: str) -> frozenset[str]:
    """The authserv-ids a mailbox's setting names (spaces or commas between them)."""
    return frozenset(part.lower() for part in re.split(r"[\s,]+", setting or "") if part)


def invalid_ids(setting: str) -> list[str]:
    """The parts of a setting that cannot be an authserv-id (which is a single token, e.g. a
    host name: no ";", "=", "/", quotes, brackets or non-ASCII letters)."""
    parts = [part for part in re.split(r"[\s,]+", setting or "") if part]
    return [part for part in parts if not _TOKEN.match(part) or len(part) > 255]


def trusted_headers(raw: bytes, trusted: Iterable[str]) -> list[Header]:
    ids = {value.lower() for value in trusted}
    if not ids:
        return []
    parsed = (parse_header(value) for value in header_values(raw))
    return [header for header in parsed if header is not None and header.authserv_id in ids]


def _domain(value: str) -> str:
    return value.rpartition("@")[2].strip().strip(".").lower()


def aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment without a public-suffix list (see the module's docstring)."""
    domain, from_domain = _domain(domain), _domain(from_domain)
    if not domain or not from_domain or "." not in domain or "." not in from_domain:
        return False
    return (
        domain == from_domain
        or from_domain.endswith("." + domain)
        or domain.endswith("." + from_domain)
    )


def decide(headers: Iterable[Header], from_address: str) -> Verdict | None:
    """The verdict on the From domain from the trusted headers; None when there are none."""
    headers = list(headers)
    if not headers:
        return None
    results = [result for header in headers for result in header.results]
    from_domain = _domain(from_address)
    dmarc = [
        result.result for result in results
        if result.method == "dmarc"
        and _domain(result.properties.get("header.from", from_domain)) == from_domain
    ]
    if "fail" in dmarc:
        return Verdict(State.UNVERIFIED, "DMARC: fail")
    if "pass" in dmarc:
        return Verdict(State.VERIFIED, "DMARC: pass")
    dkim_pass = any(
        result.method == "dkim" and result.result == "pass"
        and aligned(_signer(result), from_domain)
        for result in results
    )
    spf = [
        result.result for result in results
        if result.method == "spf" and _spf_aligned(result, from_domain)
    ]
    if "fail" in spf and not dkim_pass:
        return Verdict(State.UNVERIFIED, "SPF: fail")
    if dkim_pass:
        return Verdict(State.VERIFIED, "DKIM: pass")
    if "pass" in spf:
        return Verdict(State.VERIFIED, "SPF: pass")
    return Verdict(State.UNDECIDED, "")


def _signer(result: Result) -> str:
    # header.d is the signing domain; some servers write only header.i (@example.com).
    return result.properties.get("header.d") or result.properties.get("header.i", "")


def _spf_aligned(result: Result, from_domain: str) -> bool:
    domain = result.properties.get("smtp.mailfrom") or result.properties.get("smtp.helo")
    return domain is None or aligned(domain, from_domain)


def verdict(raw: bytes, from_address: str, trusted: Iterable[str]) -> Verdict | None:
    """What the trusted receiving server says about the letter's From; None when no trusted
    header is there (or no id is trusted): nothing known, the letter is treated as before."""
    try:
        headers = trusted_headers(raw, trusted)
    except Exception:  # noqa: BLE001 — a verdict is a hint; mail must still be processed
        return None
    if not headers:
        return None
    return decide(headers, from_address)
