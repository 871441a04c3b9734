"""Bounces: RFC 3464 delivery status notifications and plain-text non-delivery notices.

A DSN names each recipient with an Action and a Status; the recipients whose Action is
"failed" (or, without an Action, whose Status is 5.x.x) are the failed ones. A plain
notice (old Postfix, qmail, Exim, Exchange text) is read only when it is recognisable:
the sender is MAILER-DAEMON/postmaster and the subject says so.
"""

import re
from collections.abc import Iterable, Sequence

from .parsed import DeliveryReport

Fields = list[tuple[str, str]]

_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_SMTP_REPLY = re.compile(r"\b([45]\d\d)[ -]\s*\S.*")
_ADDRESS = re.compile(r"[\w.+=-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_MESSAGE_ID = re.compile(r"^message-id:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_ANGLE_ADDRESS_LINE = re.compile(r"^\s*<([^<>\s]+@[^<>\s]+)>\s*:?")
_EXIM_ADDRESS_LINE = re.compile(r"^\s{2,}([^\s<>]+@[^\s<>]+)\s*$")
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned to sender|returned mail|delivery status notification|"
    r"delivery (failure|has failed|failed|problem)|mail delivery failed|failure notice|"
    r"non[- ]?delivery|недостав|не доставлено|не удалось доставить|ошибка доставки|"
    r"could not be delivered",
    re.IGNORECASE,
)
# Where a plain notice stops talking about recipients and starts quoting the message.
_COPY_STARTS = re.compile(
    r"^(-{2,}.*(original message|copy of|returned message|undelivered message|headers).*|"
    r"\s*-+\s*this is a copy of.*|.*below this line is a copy of the message.*|"
    r"content-description: undelivered message|return-path:|received:)",
    re.IGNORECASE,
)
_DAEMON_LOCALS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")


def _value(fields: Fields, name: str) -> str:
    for key, value in fields:
        if key.lower() == name:
            return " ".join(value.split())
    return ""


def _typed(value: str) -> str:
    """'rfc822; Ivan@Example.ru' -> 'ivan@example.ru'."""
    if ";" in value:
        value = value.split(";", 1)[1]
    return value.strip().strip("<>").strip().lower()


def parse_fields(text: str) -> list[Fields]:
    """Blocks of "Name: value" fields separated by blank lines (continuations allowed)."""
    blocks: list[Fields] = []
    current: Fields = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
            continue
        if line[:1] in (" ", "\t") and current:
            name, value = current[-1]
            current[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if colon and name.strip() and " " not in name.strip():
            current.append((name.strip(), value.strip()))
    if current:
        blocks.append(current)
    return blocks


def from_dsn(blocks: Sequence[Fields], original_message_id: str) -> DeliveryReport:
    """A DeliveryReport from the fields of a message/delivery-status part."""
    recipients = blocks[1:] if len(blocks) > 1 else blocks
    failed: list[str] = []
    status = diagnostic = ""
    first_status = first_diagnostic = ""
    for block in recipients:
        recipient = _typed(_value(block, "final-recipient") or _value(block, "original-recipient"))
        action = _value(block, "action").lower()
        block_status = _value(block, "status").split(" ", 1)[0]
        block_diagnostic = _typed_diagnostic(_value(block, "diagnostic-code"))
        if not block_status:
            found = _STATUS.search(block_diagnostic)
            block_status = found.group(1) if found else ""
        first_status = first_status or block_status
        first_diagnostic = first_diagnostic or block_diagnostic
        is_failed = action.startswith("fail") or (not action and block_status.startswith("5"))
        if is_failed:
            if recipient and recipient not in failed:
                failed.append(recipient)
            status = status or block_status
            diagnostic = diagnostic or block_diagnostic
    return DeliveryReport(
        failed_recipients=tuple(failed),
        original_message_id=original_message_id,
        status=status or first_status,
        diagnostic=diagnostic or first_diagnostic,
    )


def _typed_diagnostic(value: str) -> str:
    kind, semicolon, rest = value.partition(";")
    if semicolon and kind.strip().lower() in ("smtp", "x-postfix", "x-unix", "x-local", "x-exim"):
        return rest.strip()
    return value.strip()


def looks_like_bounce(subject: str, from_mailer_daemon: bool) -> bool:
    return from_mailer_daemon and bool(_BOUNCE_SUBJECT.search(subject))


def first_message_id(text: str) -> str:
    for match in _MESSAGE_ID.finditer(text):
        found = re.search(r"<([^<>]+)>", match.group(1))
        value = found.group(1) if found else match.group(1)
        value = "".join(value.split()).strip("<>")
        if value:
            return value
    return ""


def _is_daemon(address: str) -> bool:
    return address.split("@", 1)[0] in _DAEMON_LOCALS


def _notice_diagnostic(head: list[str]) -> tuple[str, str]:
    """The remote server's reply (from its code on, wrapped lines joined) and the code;
    failing that, the line naming a status code (qmail's "(#5.1.1)")."""
    for index, line in enumerate(head):
        reply = _SMTP_REPLY.search(line)
        if reply:
            parts = [line[reply.start():].strip()]
            for following in head[index + 1:]:
                if not following[:1].isspace() or not following.strip():
                    break
                parts.append(following.strip())
            return " ".join(" ".join(parts).split()), reply.group(1)
    for line in head:
        if _STATUS.search(line) and not _ANGLE_ADDRESS_LINE.match(line):
            return " ".join(line.split()), ""
    return "", ""


def from_notice(text: str, exclude: Iterable[str] = ()) -> DeliveryReport | None:
    """A DeliveryReport from the text of a plain non-delivery notice, None when it names no
    failed recipient and no status."""
    lines = text.replace("\r\n", "\n").split("\n")
    head: list[str] = []
    for line in lines:
        if _COPY_STARTS.match(line) and head:
            break
        head.append(line)
    copy = "\n".join(lines[len(head):])
    excluded = {address.lower() for address in exclude}

    failed: list[str] = []

    def add(address: str) -> None:
        address = address.strip("<>.,;:()[]").lower()
        if address and address not in failed and address not in excluded and not _is_daemon(
            address
        ):
            failed.append(address)

    for line in head:
        match = _ANGLE_ADDRESS_LINE.match(line) or _EXIM_ADDRESS_LINE.match(line)
        if match:
            add(match.group(1))
    if not failed:
        for line in head:
            if _SMTP_REPLY.search(line) or _STATUS.search(line):
                for match in _ADDRESS.finditer(line):
                    add(match.group(0))
    head_text = "\n".join(head)
    status_match = _STATUS.search(head_text)
    diagnostic, code = _notice_diagnostic(head)
    if not failed and not status_match:
        return None
    status = status_match.group(1) if status_match else ""
    if not status and code:
        status = f"{code[0]}.0.0"
    return DeliveryReport(
        failed_recipients=tuple(failed),
        original_message_id=first_message_id(copy),
        status=status,
        diagnostic=diagnostic,
    )
