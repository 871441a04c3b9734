"""Raw RFC 5322 bytes to `ParsedMail`, for mail as it really arrives.

`parse()` never raises: whatever could not be read is named in `problems`, and the caller
keeps the raw bytes. Python's `email` package (compat32 policy, which never raises on
access) splits the MIME tree; everything it is known to mis-read is done here instead:
header values are decoded from their raw bytes (8-bit bytes, broken and adjacent encoded
words, unknown or lying charset labels), parameters are parsed from the raw header
(RFC 2231 file names), the body is chosen by walking the tree (an empty text/plain does
not hide the HTML), and header lines that lost their indentation are re-attached.
"""

import quopri
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from email import errors as email_errors
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from html import escape as html_escape

from firstline.tickets.filenames import display_name

from .parsed import Address, DeliveryReport, ParsedAttachment, ParsedMail
from .parsing_charsets import (
    b64decode_body,
    decode_bytes,
    decode_header,
    from_surrogates,
    normalise_label,
)
from .parsing_dsn import first_message_id, from_dsn, from_notice, looks_like_bounce, parse_fields
from .parsing_headers import (
    clean,
    message_ids,
    param_text,
    parameters,
    parse_addresses,
    parse_date,
    raw_header,
    raw_headers,
    repair_headers,
    single_id,
)
from .parsing_html import html_to_text, meta_charset, referenced_cids, sanitise
from .parsing_quotes import fold, unflow

DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_MIME_DEPTH = 30
MAX_FORWARD_DEPTH = 5
MAX_PROBLEMS = 50

__all__ = ["parse"]


def parse(raw: bytes, *, max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES) -> ParsedMail:
    """Read a raw message; never raises (problems are listed in `ParsedMail.problems`)."""
    try:
        data = _as_bytes(raw)
    except Exception as exc:  # an argument of the wrong type: still no exception out
        return _empty([f"input is not bytes ({type(exc).__name__})"])
    try:
        message = BytesParser(policy=compat32).parsebytes(repair_headers(data))
        return _Reader(max_attachment_bytes).read(message, depth=0)
    except Exception as exc:  # RecursionError, MemoryError on absurd nesting, a bug of ours
        return _fallback(data, exc, max_attachment_bytes)


def _as_bytes(raw: object) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, str):
        return raw.encode("utf-8", errors="surrogateescape")
    return bytes(raw)  # type: ignore[call-overload]


# --- Attachments -----------------------------------------------------------------------------

_EXTENSIONS = {
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/pgp-signature": ".asc",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/ms-tnef": ".dat",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "text/x-vcard": ".vcf",
    "text/vcard": ".vcf",
    "message/rfc822": ".eml",
}
def _safe_filename(name: str) -> str:
    """The real name (NFC, no directories, no control or disguising characters, bounded);
    "" when nothing is left, for a generated name."""
    return display_name(clean(name), fallback="")


def _generated_filename(content_type: str, number: int) -> str:
    stem = "image" if content_type.startswith("image/") else "attachment"
    return f"{stem}-{number}{_EXTENSIONS.get(content_type, '.bin')}"


_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")


def _base64_size(text: str) -> int:
    count = len(_NOT_BASE64.sub("", text))
    return count // 4 * 3 + (0, 0, 1, 2)[count % 4]


def _payload(part: Message) -> object:
    """The payload as parsed: a list of parts, or a str whose 8-bit bytes are surrogate
    escapes. `get_payload()` would replace those bytes with U+FFFD using the declared
    charset, losing exactly the text we need to re-decode."""
    payload = getattr(part, "_payload", None)
    return part.get_payload() if payload is None else payload


def _cte(part: Message) -> str:
    value = raw_header(part, "content-transfer-encoding") or ""
    return re.sub(r"[^a-z0-9-]", "", value.lower())


def _payload_bytes(part: Message, problems: list[str]) -> bytes:
    """The decoded body of a leaf part; broken transfer encodings are read as far as they go."""
    payload = _payload(part)
    if not isinstance(payload, str):
        return b""
    cte = _cte(part)
    if cte in ("base64", "base-64", "b64"):
        data, repaired = b64decode_body(payload)
        if repaired:
            problems.append("base64 body was broken; decoded what could be read")
        return data
    if cte in ("quoted-printable", "quoted_printable", "quotedprintable", "qp"):
        return quopri.decodestring(from_surrogates(payload))
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # a decoder of the email package gave up
        problems.append(f"body could not be decoded ({cte}): {type(exc).__name__}")
        return from_surrogates(payload)
    return data if isinstance(data, bytes) else b""


@dataclass
class _Found:
    """What one walk over a MIME tree collects."""

    segments: list[tuple[str, str]] = field(default_factory=list)  # ("plain"|"html", text)
    htmls: list[str] = field(default_factory=list)


@dataclass
class _PendingAttachment:
    filename: str
    content_type: str
    content: bytes | None
    size: int
    content_id: str


_DEFECTS: dict[type, str] = {
    email_errors.NoBoundaryInMultipartDefect: "multipart part without a boundary",
    email_errors.StartBoundaryNotFoundDefect: "multipart boundary never appears in the body",
    email_errors.CloseBoundaryNotFoundDefect:
        "closing MIME boundary missing (message truncated?)",
    email_errors.MissingHeaderBodySeparatorDefect: "no blank line between headers and body",
    email_errors.FirstHeaderLineIsContinuationDefect: "first header line is a continuation",
    email_errors.MisplacedEnvelopeHeaderDefect: "misplaced envelope header",
    email_errors.InvalidMultipartContentTransferEncodingDefect:
        "multipart with an invalid transfer encoding",
}

_BOUNDARY_LINE = re.compile(r"^--([^\s]{1,200}?)(--)?[ \t]*\r?$", re.MULTILINE)


# --- Flags -----------------------------------------------------------------------------------

# At the start only: "Out of office hours support" in a customer's subject is not one.
_AUTO_SUBJECT = re.compile(
    r"^\s*\[?(автоматический ответ|автоответ|automatic reply|auto[- ]?reply|autoreply|"
    r"auto[- ]?response|auto:|out of (the )?office|отсутствие на рабочем месте|"
    r"нет на месте|вне офиса|отсутствую|в отпуске|я в отпуске|automatische antwort|"
    r"abwesenheitsnotiz|réponse automatique|respuesta automática|risposta automatica|"
    r"automatisch antwoord|odpowiedź automatyczna|vacation reply|on vacation|"
    r"away from (the )?office)",
    re.IGNORECASE,
)
_DAEMON_LOCALS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_DAEMON_NAMES = re.compile(
    r"^(mail delivery (system|subsystem)|mailer-daemon|postmaster)$", re.IGNORECASE
)


class _Reader:
    def __init__(self, max_attachment_bytes: int) -> None:
        self.limit = max(0, int(max_attachment_bytes))

    def read(self, message: Message, depth: int) -> ParsedMail:
        return _MessageReader(self, message, depth).read()


class _MessageReader:
    """Reads one message (the top level or a forwarded one)."""

    def __init__(self, reader: _Reader, message: Message, depth: int) -> None:
        self.reader = reader
        self.message = message
        self.depth = depth
        self.problems: list[str] = []
        self.found = _Found()
        self.attachments: list[_PendingAttachment] = []
        self.forwarded: list[ParsedMail] = []
        self.shown_forwards: list[ParsedMail] = []  # attached letters shown under the text
        self.forward_as_file: list[ParsedMail] = []  # disposition "attachment": a file only
        self.dsn_blocks: list[list[tuple[str, str]]] = []
        self.returned_ids: list[str] = []
        self.is_report = False
        self.hints: tuple[str, ...] = ()

    def _safely[T](self, what: str, function: Callable[[], T], default: T) -> T:
        try:
            return function()
        except Exception as exc:
            self.problems.append(f"{what} could not be read: {type(exc).__name__}: {exc}"[:300])
            return default

    # .. headers ..

    def header_text(self, name: str) -> str:
        value = raw_header(self.message, name)
        if value is None:
            return ""
        text, notes = decode_header(value, hints=self.hints)
        self.problems.extend(f"{name}: {note}" for note in notes)
        return " ".join(text.split())

    def addresses(self, name: str) -> tuple[Address, ...]:
        found: list[Address] = []
        for value in raw_headers(self.message, name):
            found.extend(parse_addresses(value, self.hints, self.problems))
        return tuple(found)

    def _charset_hints(self) -> tuple[str, ...]:
        hints: list[str] = []
        for part in self.message.walk():
            raw = raw_header(part, "content-type")
            if raw is None:
                continue
            charset = parameters(raw)[1].get("charset")
            if isinstance(charset, str):
                label = normalise_label(from_surrogates(charset).decode("ascii", "ignore"))
                if label and label not in hints and label not in ("us-ascii", "ascii"):
                    hints.append(label)
            if len(hints) >= 3:
                break
        return tuple(hints)

    def sender(self) -> Address:
        """The first From address that is valid, name and address from the same one. When
        no From has an address at all, Sender, then Return-Path; when a From names an
        address that is not valid (spaces in it, two @), nobody: the letter goes to an
        operator rather than to a fragment of that address."""
        from_ = self.addresses("from")
        usable = next((address for address in from_ if address.email), None)
        if usable is not None:
            return usable
        first = from_[0] if from_ else Address(name="", email="")
        if any("@" in value for value in raw_headers(self.message, "from")):
            self.problems.append("From has an address that is not valid; the sender is unusable")
            return Address(name=first.name, email="")
        for name in ("sender", "return-path"):
            fallback = self.addresses(name)
            if fallback and fallback[0].email:
                return Address(name=fallback[0].name or first.name, email=fallback[0].email)
        if raw_header(self.message, "from") is not None:
            self.problems.append("From has no usable address")
        return first

    # .. body ..

    def walk(self, part: Message, depth: int, *, attachment: bool = False) -> None:
        self._note_defects(part)
        if depth > MAX_MIME_DEPTH:
            self.problems.append("MIME nesting too deep; the rest is kept only in the raw message")
            return
        content_type = clean(part.get_content_type())
        payload = _payload(part)
        if content_type in ("message/delivery-status", "message/global-delivery-status"):
            self._delivery_status(part, payload)
            return
        if content_type in ("text/rfc822-headers", "message/global-headers"):
            if isinstance(payload, str):
                found = first_message_id(from_surrogates(payload).decode("utf-8", "replace"))
                if found:
                    self.returned_ids.append(found)
            return
        if content_type.startswith("message/") and isinstance(payload, list):
            self._forwarded(part, payload)
            return
        if content_type.startswith("multipart/"):
            if not isinstance(payload, list):
                recovered = self._recover_multipart(part, content_type)
                if recovered is not None:
                    self.walk(recovered, depth + 1, attachment=attachment)
                    return
                # No structure to find: show what is there as text.
                self._leaf(part, "text/plain", attachment=attachment)
                return
            children = [child for child in payload if isinstance(child, Message)]
            if not children:
                return
            if content_type == "multipart/alternative":
                self._alternative(children, depth)
            elif content_type == "multipart/related":
                root = self._related_root(part, children)
                for child in children:
                    self.walk(child, depth + 1, attachment=attachment or child is not root)
            elif content_type in ("multipart/signed", "multipart/encrypted"):
                for index, child in enumerate(children):
                    self.walk(child, depth + 1, attachment=attachment or index > 0)
            else:
                if content_type == "multipart/report":
                    self.is_report = self.is_report or "delivery-status" in (
                        (raw_header(part, "content-type") or "").lower()
                    )
                for child in children:
                    self.walk(child, depth + 1, attachment=attachment)
            return
        self._leaf(part, content_type, attachment=attachment)

    def _note_defects(self, part: Message) -> None:
        for defect in getattr(part, "defects", ()):
            for kind, text in _DEFECTS.items():
                if isinstance(defect, kind):
                    self.problems.append(text)
                    break

    def _related_root(self, part: Message, children: list[Message]) -> Message:
        start = parameters(raw_header(part, "content-type") or "")[1].get("start")
        if isinstance(start, str) and start.strip():
            wanted = start.strip().strip("<>").lower()
            for child in children:
                if (raw_header(child, "content-id") or "").strip().strip("<>").lower() == wanted:
                    return child
        return children[0]

    def _alternative(self, children: list[Message], depth: int) -> None:
        outer = self.found
        choices: list[_Found] = []
        for child in children:
            self.found = _Found()
            try:
                self.walk(child, depth + 1)
            finally:
                choices.append(self.found)
                self.found = outer
        plain = next(
            (
                choice for choice in choices
                if any(kind == "plain" and text.strip() for kind, text in choice.segments)
            ),
            None,
        )
        rich = next((choice for choice in reversed(choices) if choice.htmls), None)
        if plain is not None:
            outer.segments.extend(plain.segments)
        elif rich is not None:
            outer.segments.extend(rich.segments)
        elif choices:
            outer.segments.extend(choices[0].segments)
        if rich is not None:
            outer.htmls.extend(rich.htmls)

    def _recover_multipart(self, part: Message, content_type: str) -> Message | None:
        """A multipart whose boundary is missing or wrong: find the delimiter lines it uses."""
        payload = _payload(part)
        if not isinstance(payload, str):
            return None
        counts: dict[str, int] = {}
        for match in _BOUNDARY_LINE.finditer(payload):
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
        if not counts:
            return None
        boundary = max(counts, key=lambda key: counts[key])
        if '"' in boundary or "\\" in boundary:
            return None
        header = f'Content-Type: {content_type}; boundary="{boundary}"\r\n\r\n'
        rebuilt = header.encode("ascii", "replace") + from_surrogates(payload)
        recovered = BytesParser(policy=compat32).parsebytes(rebuilt)
        if not isinstance(_payload(recovered), list):
            return None
        self.problems.append(f"MIME boundary recovered from the body ({boundary!r})")
        return recovered

    def _leaf(self, part: Message, content_type: str, *, attachment: bool) -> None:
        disposition, disposition_params = parameters(
            raw_header(part, "content-disposition") or ""
        )
        _, type_params = parameters(raw_header(part, "content-type") or "")
        filename = param_text(
            disposition_params.get("filename") or type_params.get("name"), self.hints, self.problems
        )
        body_kind = content_type in ("text/plain", "text/html")
        if attachment or disposition == "attachment" or filename.strip() or not body_kind:
            self._attachment(part, content_type, filename)
            return
        data = _payload_bytes(part, self.problems)
        charset = type_params.get("charset")
        declared = param_text(charset, (), []) if charset is not None else None
        if content_type == "text/html":
            declared = declared or meta_charset(data)
        decoded = decode_bytes(data, declared, hints=self.hints)
        if decoded.problem:
            self.problems.append(f"{content_type}: {decoded.problem}")
        text = decoded.text.replace("\r\n", "\n").replace("\r", "\n")
        if content_type == "text/html":
            self.found.segments.append(("html", text))
            self.found.htmls.append(text)
            return
        format_ = type_params.get("format")
        if isinstance(format_, str) and format_.strip().lower() == "flowed":
            delsp = type_params.get("delsp")
            text = unflow(text, delsp=isinstance(delsp, str) and delsp.strip().lower() == "yes")
        self.found.segments.append(("plain", text))

    def _attachment(self, part: Message, content_type: str, filename: str) -> None:
        payload = _payload(part)
        size: int | None = None
        content: bytes | None = None
        if (
            isinstance(payload, str)
            and _cte(part) == "base64"
            and len(payload) * 3 // 4 > self.reader.limit
        ):
            size = _base64_size(payload)  # large: measure without decoding
        if size is None or size <= self.reader.limit:
            content = _payload_bytes(part, self.problems)
            size = len(content)
            if size > self.reader.limit:
                content = None
        content_id = single_id(raw_header(part, "content-id"))
        self.attachments.append(
            _PendingAttachment(
                filename=_safe_filename(filename),
                content_type=content_type,
                content=content,
                size=size,
                content_id=content_id,
            )
        )

    def _forwarded(self, part: Message, payload: list[object]) -> None:
        """An attached letter (forward as attachment, an .eml, a spam-filter report, a
        digest): kept as an .eml file, parsed the same way, and its text shown under the
        message unless it was attached as a file (a spam filter's wrapped original is
        always shown: the report around it says nothing of the customer's)."""
        inner = next((item for item in payload if isinstance(item, Message)), None)
        if inner is None:
            return
        if self.depth + 1 > MAX_FORWARD_DEPTH:
            self.problems.append("forwarded messages nested too deep; kept only in the raw message")
            return
        cte = _cte(part)
        data: bytes | None = None
        if cte in ("base64", "quoted-printable") and not list(inner.raw_items()):
            # An attached message sent encoded (not allowed, but common): decode, then parse.
            text = _payload(inner)
            if isinstance(text, str):
                data = (
                    b64decode_body(text)[0]
                    if cte == "base64"
                    else quopri.decodestring(from_surrogates(text))
                )
                inner = BytesParser(policy=compat32).parsebytes(repair_headers(data))
        parsed = self.reader.read(inner, self.depth + 1)
        self.forwarded.append(parsed)
        if parsed.message_id:
            self.returned_ids.append(parsed.message_id)
        disposition, disposition_params = parameters(
            raw_header(part, "content-disposition") or ""
        )
        _, type_params = parameters(raw_header(part, "content-type") or "")
        filename = param_text(
            disposition_params.get("filename") or type_params.get("name"), self.hints, self.problems
        )
        if not _safe_filename(filename) and parsed.subject:
            filename = f"{parsed.subject[:120]}.eml"
        content = data if data is not None else _message_bytes(inner)
        size = len(content)
        self.attachments.append(
            _PendingAttachment(
                filename=_safe_filename(filename),
                content_type="message/rfc822",
                content=content if size <= self.reader.limit else None,
                size=size,
                content_id=single_id(raw_header(part, "content-id")),
            )
        )
        description = (raw_header(part, "content-description") or "").lower()
        spam_report = "x-spam-type" in type_params or "original message" in description
        if disposition == "attachment" and not spam_report:
            self.forward_as_file.append(parsed)
        else:  # inline, or the letter a spam filter wrapped in its report
            self.shown_forwards.append(parsed)

    def _delivery_status(self, part: Message, payload: object) -> None:
        blocks: list[list[tuple[str, str]]] = []
        if isinstance(payload, list):
            for block in payload:
                if isinstance(block, Message):
                    fields = [
                        (key, decode_header(str(value))[0]) for key, value in block.raw_items()
                    ]
                    if fields:
                        blocks.append(fields)
                    inner = _payload(block)
                    if isinstance(inner, str) and inner.strip():
                        blocks.extend(parse_fields(inner))
        elif isinstance(payload, str):
            blocks = parse_fields(from_surrogates(payload).decode("utf-8", "replace"))
        self.dsn_blocks.extend(blocks)
        self.is_report = True

    # .. assembly ..

    def read(self) -> ParsedMail:
        """Each field on its own: one that fails is named in `problems`, the rest stand."""
        safely = self._safely
        message = self.message
        self.hints = safely("charsets", self._charset_hints, ())
        subject = safely("Subject", lambda: self.header_text("subject"), "")
        sender = safely("From", self.sender, Address(name="", email=""))
        reply_to = safely("Reply-To", lambda: self.addresses("reply-to"), ())
        to = safely("To", lambda: self.addresses("to"), ())
        cc = safely("Cc", lambda: self.addresses("cc"), ())
        message_id = safely(
            "Message-ID", lambda: single_id(raw_header(message, "message-id")), ""
        )
        in_reply_to = self._ids("in-reply-to")
        references = self._ids("references")
        date = safely("Date", lambda: parse_date(raw_header(message, "date")), None)

        safely("body", lambda: self.walk(message, 0), None)
        full_text, html = safely("text", self._texts, ("", ""))
        text = safely("quotes", lambda: fold(full_text, subject), full_text)
        attachments = safely("attachments", self._finish_attachments, ())

        auto_submitted = safely("auto-reply flags", lambda: self._auto(subject), False)
        bulk = safely("bulk flags", self._bulk, False)
        daemon = safely(
            "sender flags", lambda: self._from_mailer_daemon(sender, subject), False
        )
        report = safely(
            "delivery report", lambda: self._delivery_report(subject, daemon, full_text, sender),
            None,
        )
        if report is not None:
            report = DeliveryReport(
                failed_recipients=tuple(clean(item) for item in report.failed_recipients),
                original_message_id=clean(report.original_message_id),
                status=clean(report.status),
                diagnostic=clean(report.diagnostic),
            )

        if report is None and not self.is_report:
            text, full_text, html = safely(
                "attached messages", lambda: self._with_attached(text, full_text, html),
                (text, full_text, html),
            )

        problems: list[str] = []
        for problem in self.problems:
            problem = clean(problem)
            if problem not in problems:
                problems.append(problem)
        return ParsedMail(
            message_id=clean(message_id),
            in_reply_to=in_reply_to,
            references=references,
            sender=sender,
            reply_to=reply_to,
            to=to,
            cc=cc,
            subject=clean(subject),
            date=date,
            text=clean(text),
            full_text=clean(full_text),
            html=clean(html),
            attachments=attachments,
            forwarded=tuple(self.forwarded),
            auto_submitted=auto_submitted,
            bulk=bulk,
            from_mailer_daemon=daemon,
            delivery_report=report,
            problems=tuple(problems[:MAX_PROBLEMS]),
        )

    def _with_attached(self, text: str, full_text: str, html: str) -> tuple[str, str, str]:
        """The text of each attached letter shown inline (and of those attached as files
        when the letter says nothing itself), below the message, clearly marked."""
        shown = list(self.shown_forwards)
        if not full_text.strip():
            shown += self.forward_as_file
        blocks = [_attached_block(item) for item in shown[:MAX_SHOWN_FORWARDS]]
        if not blocks:
            return text, full_text, html
        joined = "\n\n".join(blocks)
        text = f"{text.rstrip()}\n\n{joined}".strip()
        full_text = f"{full_text.rstrip()}\n\n{joined}".strip()
        if html.strip():
            html = html + "".join(
                f'<div class="attached-message">{text_to_html(block)}</div>' for block in blocks
            )
        return text, full_text, html

    def _ids(self, name: str) -> tuple[str, ...]:
        def read() -> tuple[str, ...]:
            ids: list[str] = []
            for value in raw_headers(self.message, name):
                ids.extend(clean(item) for item in message_ids(value) if item not in ids)
            return tuple(ids)

        return self._safely(name, read, ())

    def _texts(self) -> tuple[str, str]:
        pieces: list[str] = []
        for kind, content in self.found.segments:
            piece = html_to_text(sanitise(content)) if kind == "html" else content
            piece = piece.strip("\n")
            if piece.strip():
                pieces.append(piece.rstrip())
        full_text = "\n\n".join(pieces)
        html = "\n".join(sanitise(item).strip() for item in self.found.htmls if item.strip())
        return full_text, html

    def _finish_attachments(self) -> tuple[ParsedAttachment, ...]:
        cids: set[str] = set()
        for item in self.found.htmls:
            cids |= referenced_cids(item)
        result: list[ParsedAttachment] = []
        for number, pending in enumerate(self.attachments, start=1):
            content_id = clean(pending.content_id)
            inline = bool(content_id) and content_id.lower() in cids
            result.append(ParsedAttachment(
                filename=pending.filename or _generated_filename(pending.content_type, number),
                content_type=pending.content_type,
                content=pending.content,
                size=pending.size,
                inline=inline,
                content_id=content_id,
            ))
        return tuple(result)

    def _header_lower(self, name: str) -> str:
        value = raw_header(self.message, name)
        return " ".join(clean(value).lower().split()) if value is not None else ""

    def _auto(self, subject: str) -> bool:
        auto_submitted = self._header_lower("auto-submitted")
        if auto_submitted and auto_submitted.split(";")[0].strip() not in ("", "no"):
            return True
        for name in ("x-autoreply", "x-autorespond", "x-autogenerated"):
            value = raw_header(self.message, name)
            if value is not None and value.strip().lower() not in ("no", "false", "0"):
                return True
        suppress = self._header_lower("x-auto-response-suppress")
        if {token.strip() for token in suppress.split(",")} & {"all", "oof"}:
            return True
        if self._header_lower("precedence") in ("auto_reply", "auto-reply"):
            return True
        return bool(_AUTO_SUBJECT.match(subject))

    def _bulk(self) -> bool:
        if self._header_lower("precedence") in ("bulk", "junk", "list"):
            return True
        return raw_header(self.message, "list-id") is not None or (
            raw_header(self.message, "list-unsubscribe") is not None
        )

    def _out_of_office(self, subject: str) -> bool:
        """Out-of-office markers (X-Autoreply, X-Autorespond, Precedence: auto_reply, an
        "Автоответ"/"Out of Office" subject): an auto-reply is not a bounce, even from the
        null Return-Path. `Auto-Submitted: auto-replied` alone does not say it: Exim and
        others put it on their bounces too."""
        for name in ("x-autoreply", "x-autorespond"):
            value = raw_header(self.message, name)
            if value is not None and value.strip().lower() not in ("no", "false", "0"):
                return True
        if self._header_lower("precedence") in ("auto_reply", "auto-reply"):
            return True
        return bool(_AUTO_SUBJECT.match(subject))

    def _from_mailer_daemon(self, sender: Address, subject: str) -> bool:
        """A mailer-daemon/postmaster sender; or the null Return-Path with a bounce subject
        or a delivery-status report, and no out-of-office marker (RFC 3834 replies come
        from the null Return-Path too)."""
        local = sender.email.split("@", 1)[0]
        if local in _DAEMON_LOCALS or _DAEMON_NAMES.match(sender.name):
            return not _AUTO_SUBJECT.match(subject) or bool(self.dsn_blocks or self.is_report)
        return_path = raw_header(self.message, "return-path")
        if return_path is None or return_path.strip().strip("<>").strip() != "":
            return False
        if self.dsn_blocks or self.is_report:
            return True
        return looks_like_bounce(subject, True) and not self._out_of_office(subject)

    def _delivery_report(
        self, subject: str, daemon: bool, full_text: str, sender: Address
    ) -> DeliveryReport | None:
        original = self.returned_ids[0] if self.returned_ids else ""
        if self.dsn_blocks:
            report = from_dsn(self.dsn_blocks, original)
            if not report.original_message_id and full_text:
                report = DeliveryReport(
                    failed_recipients=report.failed_recipients,
                    original_message_id=first_message_id(full_text),
                    status=report.status,
                    diagnostic=report.diagnostic,
                )
            return report
        if self.is_report or looks_like_bounce(subject, daemon):
            report = from_notice(full_text, exclude=(sender.email,))
            if report is not None and not report.original_message_id and original:
                report = DeliveryReport(
                    failed_recipients=report.failed_recipients,
                    original_message_id=original,
                    status=report.status,
                    diagnostic=report.diagnostic,
                )
            return report
        return None


# --- Attached letters ------------------------------------------------------------------------

MAX_SHOWN_FORWARDS = 20


def _message_bytes(message: Message) -> bytes:
    """An attached letter as bytes again (8-bit bytes kept, headers not re-folded)."""
    try:
        return message.as_bytes(policy=compat32.clone(max_line_length=None, linesep="\r\n"))
    except Exception:  # a part the generator cannot write: keep what can be written
        try:
            return str(message).encode("utf-8", errors="surrogateescape")
        except Exception:
            return b""


def _attached_block(mail: ParsedMail) -> str:
    """«---------- Вложенное письмо ----------», From, Date, Subject, then its text."""
    banner, from_, date, subject = _block_labels()
    lines = [f"---------- {banner} ----------"]
    sender = mail.sender
    who = f"{sender.name} <{sender.email}>" if sender.name and sender.email else (
        sender.name or sender.email
    )
    if who:
        lines.append(f"{from_}: {who}")
    if mail.date is not None:
        lines.append(f"{date}: {mail.date:%d.%m.%Y %H:%M %z}")
    if mail.subject:
        lines.append(f"{subject}: {mail.subject}")
    body = mail.full_text.strip()
    return "\n".join(lines) + (f"\n\n{body}" if body else "")


def _block_labels() -> tuple[str, str, str, str]:
    """The block's labels in the installation's language (stored text, not a page: the
    same whoever processes the letter); English when Django is not configured."""
    try:
        from django.conf import settings
        from django.utils import translation
        from django.utils.translation import gettext, pgettext

        with translation.override(settings.LANGUAGE_CODE):
            return (
                gettext("Attached message"), pgettext("sender of a letter", "From"),
                gettext("Date"), gettext("Subject"),
            )
    except Exception:  # the parser used on its own, outside a configured project
        return "Attached message", "From", "Date", "Subject"


def text_to_html(text: str) -> str:
    paragraphs = [
        "<br>".join(html_escape(line) for line in block.split("\n"))
        for block in re.split(r"\n{2,}", text.strip())
    ]
    return "".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)


# --- When everything else failed -------------------------------------------------------------


def _empty(problems: list[str], text: str = "") -> ParsedMail:
    return ParsedMail(
        message_id="",
        in_reply_to=(),
        references=(),
        sender=Address(name="", email=""),
        reply_to=(),
        to=(),
        cc=(),
        subject="",
        date=None,
        text=text,
        full_text=text,
        html="",
        attachments=(),
        forwarded=(),
        auto_submitted=False,
        bulk=False,
        from_mailer_daemon=False,
        delivery_report=None,
        problems=tuple(problems),
    )


def _fallback(raw: bytes, error: Exception, max_attachment_bytes: int) -> ParsedMail:
    """The headers, and the body as one block of text: shown to an operator, not dropped."""
    problem = f"message structure could not be read ({type(error).__name__}); body shown as text"
    try:
        message = BytesParser(policy=compat32).parsebytes(repair_headers(raw), headersonly=True)
        del message["Content-Type"]
        message["Content-Type"] = "text/plain"
        parsed = _Reader(max_attachment_bytes).read(message, depth=0)
        return replace(parsed, problems=(problem, *parsed.problems))
    except Exception:
        try:
            text = clean(decode_bytes(raw).text.replace("\r\n", "\n"))
        except Exception:
            text = ""
        return _empty([problem], text)
