"""What the mail parser makes of a raw message: the contract between parsing and ingest.

`firstline.mail.parsing.parse(raw: bytes) -> ParsedMail` never raises; what it could not
read is listed in `problems` and the raw bytes stay stored by the caller.
"""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Address:
    name: str  # display name, decoded ("" when none)
    email: str  # lower-cased addr-spec ("" when unparseable)


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str  # decoded (RFC 2047 / RFC 2231), the real name made safe; never empty
    content_type: str
    content: bytes | None  # None when over the size limit (then `size` still says how big)
    size: int
    inline: bool = False  # an inline image referenced from the HTML (cid:)
    content_id: str = ""


@dataclass(frozen=True)
class DeliveryReport:
    """A bounce (DSN, RFC 3464) or an obvious non-delivery notice."""

    failed_recipients: tuple[str, ...]
    original_message_id: str  # of the message that bounced, "" when not found
    status: str  # e.g. "5.1.1"
    diagnostic: str


@dataclass(frozen=True)
class ParsedMail:
    message_id: str  # without angle brackets; "" when missing
    in_reply_to: tuple[str, ...]  # message ids, without angle brackets
    references: tuple[str, ...]
    # The first From with a valid address (name and address from the same one); Sender /
    # Return-Path only when no From names an address; email "" when a From's address is
    # not valid as written (never trimmed to the valid-looking piece of it).
    sender: Address
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str  # decoded, whitespace-normalised
    date: datetime | None  # aware
    # The new text: reply history and signature folded away, a forwarded letter kept, and
    # below it the From/Date/Subject and text of each letter attached inline.
    text: str
    full_text: str  # the whole plain-text body (derived from HTML when there is no text part)
    html: str  # sanitised with nh3 ("" when the message had no HTML)
    attachments: tuple[ParsedAttachment, ...]  # attached letters included, as .eml files
    forwarded: tuple["ParsedMail", ...]  # attached message/rfc822 parts, parsed the same way
    auto_submitted: bool  # Auto-Submitted other than "no", X-Autoreply, X-Autorespond...
    bulk: bool  # Precedence bulk/junk/list, List-Id / List-Unsubscribe
    # MAILER-DAEMON / postmaster sender, or the null Return-Path with a delivery-status report
    # or a bounce subject and no out-of-office marker (RFC 3834 replies use it too)
    from_mailer_daemon: bool
    delivery_report: DeliveryReport | None
    problems: tuple[str, ...] = field(default=())  # what could not be read, for the operator
