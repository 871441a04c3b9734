"""The automatic acknowledgement (отбойник, F2/F3) and its templates.

Sent at once, in the transaction that created the ticket, from the partner's address: the
customer by name, the request in their own words, the ticket number, and the maximum
resolution time from the SLA, or, when there is no agreed deadline, that we are clarifying
and will contact them soon. The text is checked by the reply rules (F3 criteria); a
template that cannot meet them is refused when saved.

The letter's language is the contact's preferred one, else the partner's (ru/en,
firstline.contacts.models.letter_language); its fixed sentences are content in that
language, not UI strings, so they live here with the provider's default templates rather
than in the .po files.
"""

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.translation import gettext as _

from firstline.contacts.models import letter_language
from firstline.core import config_cache
from firstline.core.bulk import insert_all
from firstline.core.clock import now
from firstline.core.models import Partner
from firstline.mail import outbound, threading
from firstline.mail.models import AckTemplate, AutoReplyLog, autoreply_limit
from firstline.mail.text import DEFAULT_SIGNATURE, strip_subject
from firstline.outbox.models import OutboxMessage
from firstline.quality.checking import ruleset_for
from firstline.quality.rules import Finding, ReplyContext, ReplyKind, check_reply
from firstline.tickets import services as ticket_services
from firstline.tickets.html import text_to_html
from firstline.tickets.models import Message, Ticket

PLACEHOLDERS = ("name", "request", "number", "deadline", "partner", "signature")
REQUIRED = ("name", "request", "deadline")
REQUEST_MAX = 150

DEFAULTS: dict[str, dict[str, str]] = {
    "ru": {
        "subject": "[{number}] Ваш вопрос принят: {request}",
        "body": (
            "Здравствуйте, {name}!\n\n"
            "Мы приняли в работу Ваш вопрос «{request}» и присвоили ему номер {number}. "
            "{deadline}\n\n"
            "Чтобы дополнить заявку, просто ответьте на это письмо, сохранив номер {number} "
            "в теме.\n\n"
            "{signature}"
        ),
        "signature": DEFAULT_SIGNATURE["ru"],
    },
    "en": {
        "subject": "[{number}] We have received your request: {request}",
        "body": (
            "Hello {name},\n\n"
            "We have taken your request “{request}” into work under number {number}. "
            "{deadline}\n\n"
            "To add anything, simply reply to this letter keeping {number} in the subject.\n\n"
            "{signature}"
        ),
        "signature": DEFAULT_SIGNATURE["en"],
    },
}
DEADLINE_SENTENCE = {
    "ru": "Мы решим его не позднее {when}.",
    "en": "We will resolve it no later than {when}.",
}
CLARIFYING_SENTENCE = {
    "ru": "Мы уточняем информацию по Вашему вопросу и свяжемся с Вами в ближайшее время.",
    "en": "We are clarifying the details of your request and will contact you shortly.",
}
MONTHS_EN = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)
# Subjects that say nothing about the request: the first sentence of the text says more.
GENERIC_SUBJECTS = frozenset({
    "", "вопрос", "помогите", "проблема", "помощь", "срочно", "заявка", "обращение",
    "запрос", "без темы", "здравствуйте", "добрый день", "help", "question", "problem",
    "issue", "request", "support", "urgent", "hello", "hi", "no subject", "(no subject)",
    "important", "важно", "поддержка", "техподдержка", "support request",
})
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n")

config_cache.watch(Partner, AckTemplate)


@dataclass(frozen=True)
class Acknowledgement:
    subject: str
    body: str
    language: str
    findings: tuple[Finding, ...]


def _clip(text: str) -> str:
    text = " ".join(text.split()).strip(" «»\"“”")
    if len(text) <= REQUEST_MAX:
        return text
    return text[:REQUEST_MAX].rsplit(" ", 1)[0].rstrip(",;:—-") + "…"


def first_sentence(text: str) -> str:
    for line in _SENTENCE_END.split(text or ""):
        sentence = line.strip().rstrip(".!…").strip()
        if sentence and sentence.casefold().strip(" ,!.") not in GENERIC_SUBJECTS:
            return sentence
    return ""


def request_words(subject: str, text: str) -> str:
    """The request in the customer's words: the subject, or the text's first sentence when
    the subject is empty or generic («Вопрос», "Help", "Re:")."""
    cleaned = strip_subject(subject)
    if cleaned.casefold().strip(" .!?") not in GENERIC_SUBJECTS:
        return _clip(cleaned)
    return _clip(first_sentence(text) or cleaned)


def _when(moment: datetime, partner: Partner, language: str) -> str:
    zone = ZoneInfo(partner.time_zone)
    local = moment.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    hours, rest = divmod(int(offset.total_seconds()) // 60, 60)
    utc = f"UTC{'+' if offset >= timedelta(0) else '-'}{abs(hours):02d}:{rest:02d}"
    if language == "ru":
        return f"{local:%d.%m.%Y %H:%M} ({partner.time_zone}, {utc})"
    return f"{local.day} {MONTHS_EN[local.month - 1]} {local.year}, {local:%H:%M} " \
           f"({partner.time_zone}, {utc})"


def deadline_text(ticket: Ticket, language: str) -> tuple[str, str]:
    """(the sentence for {deadline}, the deadline as written) — ("…clarifying…", "")
    when the ticket has no agreed SLA to promise a time from."""
    if ticket.sla_policy_id is None or ticket.resolution_due_at is None:
        return CLARIFYING_SENTENCE[language], ""
    when = _when(ticket.resolution_due_at, ticket.partner, language)
    return DEADLINE_SENTENCE[language].format(when=when), when


def template_for(partner: Partner, language: str) -> tuple[str, str, str]:
    """(subject, body, signature) of the partner's template, else the provider's.

    Read for every acknowledgement: cached per process for a few seconds (see
    firstline.core.config_cache), dropped at once when this process saves a template."""
    own = config_cache.get(
        ("mail.ack_template", partner.pk, language),
        lambda: AckTemplate.objects.filter(partner=partner, language=language).first(),
    )
    default = DEFAULTS[language]
    if own is None:
        return default["subject"], default["body"], default["signature"]
    return own.subject, own.body, own.signature or default["signature"]


def _fill(template: str, values: dict[str, str]) -> str:
    return template.format_map(values)


def render(
    *, subject: str, body: str, signature: str, values: dict[str, str]
) -> tuple[str, str]:
    filled = {**values, "signature": _fill(signature, {**values, "signature": ""})}
    text = _fill(body, filled).strip()
    title = " ".join(_fill(subject, filled).split())
    if values["number"] not in title:
        title = f"[{values['number']}] {title}"
    return title, text


def check(
    text: str, *, partner: Partner | None, language: str, name: str, request: str,
    deadline: str,
) -> list[Finding]:
    """The reply rules on an acknowledgement, by the partner's rules (F3, F17)."""
    context = ReplyContext(
        kind=ReplyKind.ACKNOWLEDGEMENT, language=language, customer_name=name,
        customer_words=request, resolution_text=deadline,
    )
    return check_reply(text, context, ruleset_for(partner, language))


def compose(ticket: Ticket, *, name: str, subject: str, text: str) -> Acknowledgement:
    language = letter_language(ticket.contact, ticket.partner)
    request = request_words(subject, text) or ticket.subject
    sentence, deadline = deadline_text(ticket, language)
    values = {
        "name": name, "request": request, "number": ticket.number, "deadline": sentence,
        "partner": ticket.partner.name,
    }
    tpl_subject, tpl_body, signature = template_for(ticket.partner, language)
    title, body = render(subject=tpl_subject, body=tpl_body, signature=signature, values=values)
    # "[FL-000123]" gets its check, so that an answer without headers still proves itself.
    title = threading.tagged(title, ticket)
    findings = check(body, partner=ticket.partner, language=language, name=name,
                     request=request, deadline=deadline)
    return Acknowledgement(title, body, language, tuple(findings))


# Rate limit ------------------------------------------------------------------------------


def allowed(address: str, recent: "RecentReplies | None" = None) -> bool:
    """Whether another automatic reply may go to this address now (a loop stops here).

    `recent`: the counts of a batch's addresses, read already (see RecentReplies)."""
    count, minutes = autoreply_limit()
    if recent is not None and address in recent.counts:
        return recent.counts[address] < count
    since = now() - timedelta(minutes=minutes)
    return AutoReplyLog.objects.filter(address=address, sent_at__gte=since).count() < count


class RecentReplies:
    """How many automatic replies each address of a batch of letters got within the limit's
    window: one grouped query instead of a COUNT a letter (firstline.mail.ingest's batches).
    The batch's own replies are counted as they are made (`log`), so the limit holds inside
    the batch as it did letter by letter; their rows are written together at the end of the
    batch (`write`), in its transaction."""

    def __init__(self, addresses: Iterable[str]) -> None:
        wanted = {address for address in addresses if address}
        self.counts: dict[str, int] = dict.fromkeys(wanted, 0)
        self._new: list[AutoReplyLog] = []
        if not wanted:
            return
        _count, minutes = autoreply_limit()
        since = now() - timedelta(minutes=minutes)
        rows = (
            AutoReplyLog.objects.filter(address__in=wanted, sent_at__gte=since)
            .values_list("address").annotate(sent=Count("id")).order_by()
        )
        for address, sent in rows:
            self.counts[address] = sent

    def log(self, row: AutoReplyLog) -> None:
        self._new.append(row)
        self.counts[row.address] = self.counts.get(row.address, 0) + 1

    def write(self) -> None:
        insert_all(AutoReplyLog, self._new)
        self._new = []


def acknowledge(
    ticket: Ticket,
    *,
    recipient: str,
    name: str,
    subject: str,
    text: str,
    reply_to: str | None = None,
    thread: dict[str, str] | None = None,
    just_created: bool = False,
    replies: RecentReplies | None = None,
) -> tuple[OutboxMessage, Acknowledgement]:
    """Record the acknowledgement on the ticket and put it in the outbox (caller's transaction).

    `reply_to` is the mailbox the letter came to; `thread` answers the customer's letter
    (by default, the ticket's thread as recorded). `just_created`: the ticket is the one
    create_ticket just returned in this transaction (see tickets.services.add_message).
    `replies`: a batch's counts (see RecentReplies), which then keep the log row for the
    batch to write.
    """
    ack = compose(ticket, name=name, subject=subject, text=text)
    message: Message = ticket_services.add_message(
        ticket=ticket, actor=None, kind=Message.Kind.REPLY, text=ack.body, automatic=True,
        just_created=just_created,
    )
    # No deduplication key: a ticket is created, and acknowledged, once.
    row = outbound.send(
        ticket=ticket, message=message, recipient=recipient, subject=ack.subject,
        body=ack.body, html=text_to_html(ack.body), automatic=True, reply_to=reply_to,
        thread=thread, files=[],
    )
    log = AutoReplyLog(partner_id=ticket.partner_id, address=recipient)
    if replies is not None:
        replies.log(log)
    else:
        log.save(force_insert=True)
    return row, ack


# Template validation ---------------------------------------------------------------------


def _fields(field: str, template: str) -> set[str]:
    try:
        names = {name for _text, name, _spec, _conv in string.Formatter().parse(template)
                 if name is not None}
    except ValueError as exc:
        raise ValidationError(
            {field: _("The template is malformed: %(error)s. Write a literal brace as {{ or }}.")
             % {"error": exc}}
        ) from exc
    unknown = sorted(name for name in names if name not in PLACEHOLDERS)
    if unknown:
        raise ValidationError({field: _("Unknown placeholder %(names)s; use %(known)s.") % {
            "names": ", ".join(f"{{{name}}}" for name in unknown),
            "known": ", ".join(f"{{{name}}}" for name in PLACEHOLDERS),
        }})
    return names


SAMPLE = {
    "ru": {"name": "Иван Петров", "request": "нет доступа на FTP",
           "when": "15.03.2026 14:30 (Europe/Moscow, UTC+03:00)"},
    "en": {"name": "John Smith", "request": "no access to FTP",
           "when": "15 March 2026, 14:30 (Europe/London, UTC+00:00)"},
}


def validate_template(template: AckTemplate) -> None:
    """Refuse a template that cannot make a good acknowledgement, naming the field."""
    language = template.language if template.language in DEFAULTS else "ru"
    _fields("subject", template.subject)
    _fields("signature", template.signature)
    names = _fields("body", template.body)
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise ValidationError({"body": _(
            "The acknowledgement must contain %(names)s: the customer's name, their request "
            "in their own words and the maximum resolution time."
        ) % {"names": ", ".join(f"{{{name}}}" for name in missing)}})
    sample = SAMPLE[language]
    partner = template.partner if template.partner_id is not None else None
    errors: list[str] = []
    for deadline, when in (
        (DEADLINE_SENTENCE[language].format(when=sample["when"]), sample["when"]),
        (CLARIFYING_SENTENCE[language], ""),
    ):
        _title, text = render(
            subject=template.subject, body=template.body,
            signature=template.signature or DEFAULTS[language]["signature"],
            values={"name": sample["name"], "request": sample["request"],
                    "number": "FL-000123", "deadline": deadline, "partner": "Partner"},
        )
        findings = check(text, partner=partner, language=language, name=sample["name"],
                         request=sample["request"], deadline=when)
        errors += [finding.message for finding in findings if finding.message not in errors]
    if errors:
        raise ValidationError({"body": errors})
