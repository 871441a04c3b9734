"""What is read from the raw bytes themselves, before (or besides) parsing."""

import re

from firstline.mail.threading import clean_id

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID = re.compile(
    rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE
)
_BRACKETED = re.compile(rb"<([^<>\s]+)>")


def header_block(raw: bytes) -> bytes:
    """The top-level header lines (a bounce's quoted headers are below, in its body)."""
    match = _HEADER_END.search(raw)
    return raw[: match.start()] if match else raw


def header_message_id(raw: bytes) -> str:
    """The Message-ID as the parser will give it, read before parsing, for deduplication."""
    match = _MESSAGE_ID.search(header_block(raw))
    if match is None:
        return ""
    value = match.group(1)
    bracketed = _BRACKETED.search(value)
    found = bracketed.group(1) if bracketed else value.strip()
    return clean_id(found.decode("ascii", "replace"))
