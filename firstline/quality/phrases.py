"""Forbidden-phrase lists per provider and per partner (F17), and which findings block.

The lists are layers of differences over the defaults in ``data/forbidden_<language>.toml``:

    defaults → provider-wide changes (partner is null) → the partner's changes

A change either forbids a phrase (with suggestions; a phrase with the same words as one
below replaces it, so a partner can change the suggestions of a default) or allows one that
a layer below forbids. `rules_for` folds the layers into the `RuleSet` that
`rules.check_reply` takes; `phrase_list` shows them to the supervisor who edits them.

Every change is one function here: validated, one transaction, one audit row.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import Partner, User
from firstline.quality.morphology import WORD
from firstline.quality.phrase_models import (
    PHRASE_MAX,
    SUGGESTION_MAX,
    BlockingCodesSetting,
    ForbiddenPhraseSetting,
)
from firstline.quality.rules import (
    DEFAULT_BLOCKING,
    LANGUAGES,
    FindingCode,
    ForbiddenPhrase,
    RuleSet,
    default_ruleset,
    same_phrase,
)

Action = ForbiddenPhraseSetting.Action
MAX_SUGGESTIONS = 10


def ensure_can_edit(actor: User) -> None:
    if actor.role not in (User.Role.SUPERVISOR, User.Role.ADMIN):
        raise PermissionDenied(_("Only supervisors and administrators change the reply rules."))


# --- Reading -------------------------------------------------------------------------------


def settings_for(partner: Partner | None, language: str) -> list[ForbiddenPhraseSetting]:
    """The provider-wide changes and, with a partner, that partner's: in one query."""
    scope = Q(partner__isnull=True)
    if partner is not None:
        scope |= Q(partner=partner)
    return list(ForbiddenPhraseSetting.objects.filter(scope, language=language))


def _apply(rules: RuleSet, rows: Iterable[ForbiddenPhraseSetting]) -> RuleSet:
    """`rules` with one layer's changes."""
    added: list[ForbiddenPhrase] = []
    removed: list[str] = []
    for row in rows:
        if row.action == Action.REMOVE:
            removed.append(row.phrase)
            continue
        known = (*rules.phrases, *default_ruleset(rules.language).phrases)
        below = next((p for p in known if same_phrase(p.text, row.phrase, rules.language)), None)
        if below is None:
            added.append(ForbiddenPhrase(text=row.phrase, suggestions=tuple(row.suggestions)))
        else:
            # New suggestions for a known phrase keep how it matches (gap, exceptions).
            added.append(replace(below, text=row.phrase, suggestions=tuple(row.suggestions)))
    if not added and not removed:
        return rules
    return rules.customised(add=added, remove=removed)


def blocking_codes(partner: Partner | None) -> frozenset[FindingCode]:
    if partner is None:
        return DEFAULT_BLOCKING
    row = BlockingCodesSetting.objects.filter(partner=partner).first()
    return DEFAULT_BLOCKING if row is None else frozenset(FindingCode(c) for c in row.codes)


def rules_for(partner: Partner | None, language: str) -> RuleSet:
    """The rules a reply of `partner` in `language` is checked by (two queries)."""
    rows = settings_for(partner, language)
    rules = _apply(default_ruleset(language), [r for r in rows if r.partner_id is None])
    if partner is not None:
        rules = _apply(rules, [r for r in rows if r.partner_id == partner.pk])
    return rules.customised(blocking=blocking_codes(partner))


@lru_cache(maxsize=4)
def _russian_notes(language: str) -> dict[str, str]:
    """The default phrases' notes in Russian (`why_ru` in data/forbidden_<language>.toml)."""
    source = resources.files("firstline.quality") / "data" / f"forbidden_{language}.toml"
    entries = tomllib.loads(source.read_text(encoding="utf-8"))["phrase"]
    return {entry["text"]: entry["why_ru"] for entry in entries if entry.get("why_ru")}


def _note(text: str, why: str, language: str) -> str:
    """A default phrase's note in the supervisor's language (Russian first)."""
    if (get_language() or "ru").startswith("ru"):
        return _russian_notes(language).get(text, why)
    return why


@dataclass(frozen=True)
class ListedPhrase:
    """A line of the list a supervisor sees."""

    text: str
    suggestions: tuple[str, ...]
    source: str
    """Where it is forbidden: "default", "provider" or "partner"."""
    why: str = ""
    allowed_by: str = ""
    """"provider" or "partner" when a layer above allows it again; empty while forbidden."""
    setting: ForbiddenPhraseSetting | None = None
    """The change of the scope being edited that made this line, which can be undone."""


def phrase_list(partner: Partner | None, language: str) -> list[ListedPhrase]:
    """Every phrase of the scope's list with where it comes from, allowed ones included."""
    rows = settings_for(partner, language)
    layers: list[tuple[str, list[ForbiddenPhraseSetting]]] = [
        ("provider", [r for r in rows if r.partner_id is None]),
    ]
    if partner is not None:
        layers.append(("partner", [r for r in rows if r.partner_id == partner.pk]))
    editing = layers[-1][0]
    lines = [
        ListedPhrase(p.text, p.suggestions, "default", why=_note(p.text, p.why, language))
        for p in default_ruleset(language).phrases
    ]
    for source, layer in layers:
        for row in layer:
            mine = row if source == editing else None
            index = next(
                (i for i, line in enumerate(lines) if same_phrase(line.text, row.phrase, language)),
                None,
            )
            if row.action == Action.REMOVE:
                if index is not None:
                    lines[index] = replace(lines[index], allowed_by=source, setting=mine)
                continue
            line = ListedPhrase(row.phrase, tuple(row.suggestions), source, setting=mine)
            if index is None:
                lines.append(line)
            else:
                lines[index] = replace(line, why=lines[index].why)
    return lines


# --- Changing ------------------------------------------------------------------------------


def _clean_phrase(text: str) -> str:
    phrase = " ".join((text or "").split())
    if not phrase:
        raise ValidationError({"phrase": _("Enter the phrase.")})
    if len(phrase) > PHRASE_MAX:
        raise ValidationError({"phrase": _("The phrase is longer than %(max)d characters.")
                               % {"max": PHRASE_MAX}})
    if not WORD.search(phrase):
        raise ValidationError({"phrase": _("The phrase needs at least one word.")})
    return phrase


def _clean_suggestions(suggestions: Sequence[str]) -> list[str]:
    cleaned = list(dict.fromkeys(" ".join(s.split()) for s in suggestions if s and s.strip()))
    if len(cleaned) > MAX_SUGGESTIONS:
        raise ValidationError({"suggestions": _("At most %(max)d suggestions.")
                               % {"max": MAX_SUGGESTIONS}})
    for suggestion in cleaned:
        if len(suggestion) > SUGGESTION_MAX:
            raise ValidationError({"suggestions": _(
                "A suggestion is longer than %(max)d characters: “%(text)s”."
            ) % {"max": SUGGESTION_MAX, "text": suggestion[:40] + "…"}})
    return cleaned


def _snapshot(row: ForbiddenPhraseSetting) -> dict[str, object]:
    return {
        "partner": row.partner.name if row.partner else None,
        "language": row.language,
        "phrase": row.phrase,
        "action": row.action,
        "suggestions": list(row.suggestions),
    }


@transaction.atomic
def save_phrase(
    *,
    actor: User,
    partner: Partner | None,
    language: str,
    phrase: str,
    action: str,
    suggestions: Sequence[str] = (),
) -> ForbiddenPhraseSetting:
    """Forbid a phrase (with suggestions) or allow a forbidden one, for a partner or all.

    A change of the same scope to the same words («проблемы» is «проблема») is replaced.
    """
    ensure_can_edit(actor)
    if language not in LANGUAGES:
        raise ValidationError(
            {"language": _("Unknown language “%(value)s”.") % {"value": language}}
        )
    if action not in Action.values:
        raise ValidationError({"action": _("Unknown action “%(value)s”.") % {"value": action}})
    text = _clean_phrase(phrase)
    kept = _clean_suggestions(suggestions)
    if action == Action.ADD and not kept:
        raise ValidationError({"suggestions": _(
            "Give at least one suggestion: the operator needs to know what to write instead."
        )})
    if action == Action.REMOVE:
        kept = []
        below = default_ruleset(language)
        if partner is not None:
            below = _apply(below, settings_for(None, language))
        if not any(same_phrase(p.text, text, language) for p in below.phrases):
            raise ValidationError({"phrase": _(
                "“%(phrase)s” is not forbidden here, so there is nothing to allow."
            ) % {"phrase": text}})

    scope = ForbiddenPhraseSetting.objects.select_for_update().filter(language=language)
    scope = scope.filter(partner=partner) if partner else scope.filter(partner__isnull=True)
    row = next((r for r in scope if same_phrase(r.phrase, text, language)), None)
    before = _snapshot(row) if row else {}
    if row is None:
        row = ForbiddenPhraseSetting(partner=partner, language=language)
    row.phrase, row.action, row.suggestions, row.updated_at = text, action, kept, now()
    row.full_clean()
    row.save()
    audit.record(actor=actor, partner=partner, action="quality.phrase_saved", target=row,
                 before=before, after=_snapshot(row))
    return row


@transaction.atomic
def delete_phrase(*, actor: User, setting: ForbiddenPhraseSetting) -> None:
    """Undo one change: the phrase is back as the layer below has it."""
    ensure_can_edit(actor)
    audit.record(actor=actor, partner=setting.partner, action="quality.phrase_deleted",
                 target=setting, before=_snapshot(setting), after={})
    setting.delete()


@transaction.atomic
def set_blocking(*, actor: User, partner: Partner, codes: Iterable[str]) -> BlockingCodesSetting:
    """Choose which finding codes stop a public reply of `partner`."""
    ensure_can_edit(actor)
    chosen = list(dict.fromkeys(codes))
    known = {code.value for code in FindingCode}
    unknown = [code for code in chosen if code not in known]
    if unknown:
        raise ValidationError({"codes": _("Unknown finding code “%(value)s”.")
                               % {"value": unknown[0]}})
    ordered = [code.value for code in FindingCode if code.value in chosen]
    row = BlockingCodesSetting.objects.select_for_update().filter(partner=partner).first()
    before = {"codes": row.codes if row else sorted(c.value for c in DEFAULT_BLOCKING)}
    if row is None:
        row = BlockingCodesSetting(partner=partner)
    row.codes, row.updated_at = ordered, now()
    row.save()
    audit.record(actor=actor, partner=partner, action="quality.blocking_changed", target=row,
                 before=before, after={"codes": ordered})
    return row
