"""The reply rules applied to a ticket: what the reply editor, the API and sending use.

    findings = check_for_ticket(text, ticket, ReplyKind.ACKNOWLEDGEMENT)
    ensure_reply_allowed(text, ticket, kind)   # raises ValidationError({"text": [...]})

`rules.check_reply` is pure; this module supplies what it needs from the ticket: the
customer's name (the contact's), their words (`ticket.customer_words`), the resolution
deadline as the desk writes it (in the partner's time zone), the reply's language, and the
partner's `RuleSet` (defaults with the provider's and the partner's changes, `phrases`).

`tickets.services.add_message` calls `ensure_reply_allowed` for every public reply, so the
web form and the API refuse the same replies; internal notes are never checked.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from asgiref.local import Local
from django.core.exceptions import ValidationError
from django.core.signals import request_finished, request_started
from django.db.models.signals import post_delete, post_save

from firstline.core import config_cache
from firstline.core.models import Partner
from firstline.quality import phrases
from firstline.quality.phrase_models import BlockingCodesSetting, ForbiddenPhraseSetting
from firstline.quality.rules import (
    LANGUAGES,
    Finding,
    ReplyContext,
    ReplyKind,
    RuleSet,
    check_reply,
)
from firstline.tickets.models import Ticket

CYRILLIC = re.compile(r"[\u0400-\u04ff]")
LATIN = re.compile(r"[A-Za-z]")
DEFAULT_LANGUAGE = "ru"

# --- The partner's rules, cached for one request -------------------------------------------

# The live check and sending each build the rules once per request (two small queries).
# Outside a request (the mail worker acknowledging letter after letter) they are kept in the
# per-process config cache for a few seconds (firstline.core.config_cache): another
# process's change is seen within that time, this process's own change at once.
_request = Local()


def _begin(**kwargs: Any) -> None:
    _request.rulesets = {}


def _end(**kwargs: Any) -> None:
    _request.rulesets = None


def forget(**kwargs: Any) -> None:
    """Drop this request's rules: the settings changed."""
    if getattr(_request, "rulesets", None) is not None:
        _request.rulesets = {}
    config_cache.clear()


request_started.connect(_begin, dispatch_uid="firstline.quality.checking.begin")
request_finished.connect(_end, dispatch_uid="firstline.quality.checking.end")
for _model in (ForbiddenPhraseSetting, BlockingCodesSetting):
    post_save.connect(forget, sender=_model, dispatch_uid=f"forget-rules-save-{_model.__name__}")
    post_delete.connect(forget, sender=_model,
                        dispatch_uid=f"forget-rules-delete-{_model.__name__}")
config_cache.watch(Partner)


def ruleset_for(partner: Partner | None, language: str) -> RuleSet:
    """The rules a reply of `partner` in `language` is checked by."""
    cache: dict[tuple[int | None, str], RuleSet] | None = getattr(_request, "rulesets", None)
    key = (partner.pk if partner else None, language)
    if cache is not None and key in cache:
        return cache[key]
    if cache is None:
        return config_cache.get(
            ("quality.ruleset", *key), lambda: phrases.rules_for(partner, language)
        )
    rules = phrases.rules_for(partner, language)
    cache[key] = rules
    return rules


# --- What the ticket tells the check -------------------------------------------------------


def _declared_language(ticket: Ticket) -> str:
    # Neither a contact nor a partner has a language of its own yet; once one does, it is
    # the fallback for a reply that has no letters to tell its language by.
    for owner in (ticket.contact, ticket.partner):
        language = getattr(owner, "language", "") if owner is not None else ""
        if language in LANGUAGES:
            return str(language)
    return ""


def detect_language(text: str) -> str:
    """"ru" for text with Cyrillic letters, "en" for Latin ones only, "" for neither."""
    if CYRILLIC.search(text):
        return "ru"
    if LATIN.search(text):
        return "en"
    return ""


def reply_language(text: str, ticket: Ticket) -> str:
    """The reply's own letters decide (a Russian reply quotes Latin logs, not the other way
    round); an empty reply takes the contact's or partner's language, then the request's."""
    return (
        detect_language(text)
        or _declared_language(ticket)
        or detect_language(f"{ticket.subject} {ticket.customer_words}")
        or DEFAULT_LANGUAGE
    )


def resolution_text(ticket: Ticket, language: str) -> str:
    """The resolution deadline as the reply would state it: «до 18:00 14.03»."""
    due = ticket.resolution_due_at
    if due is None:
        return ""
    local = due.astimezone(ZoneInfo(ticket.partner.time_zone))
    if language == "ru":
        return f"до {local:%H:%M %d.%m}"
    return f"by {local:%H:%M %d.%m}"


def context_for(ticket: Ticket, kind: ReplyKind | str, language: str) -> ReplyContext:
    return ReplyContext(
        kind=ReplyKind(kind),
        language=language,
        customer_name=ticket.contact.name if ticket.contact else "",
        # Quoted back in a suggestion («…timeout»), so without the sentence's final stop.
        customer_words=ticket.customer_words.strip().rstrip(".!…"),
        resolution_text=resolution_text(ticket, language),
    )


def check_for_ticket(text: str, ticket: Ticket, kind: ReplyKind | str) -> list[Finding]:
    """The findings on a reply to `ticket` of the given kind, by the partner's rules."""
    language = reply_language(text, ticket)
    rules = ruleset_for(ticket.partner, language)
    return check_reply(text, context_for(ticket, kind, language), rules)


def ensure_reply_allowed(text: str, ticket: Ticket, kind: ReplyKind | str) -> list[Finding]:
    """The findings on a public reply; ValidationError on `text` if any of them blocks."""
    findings = check_for_ticket(text, ticket, kind)
    blocking = [finding.message for finding in findings if finding.blocking]
    if blocking:
        raise ValidationError({"text": blocking})
    return findings
