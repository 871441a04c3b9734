"""Reply rules (F3, F16, F17, F18): one pure function from a reply to its findings.

    findings = check_reply(text, ReplyContext(kind=..., customer_name=...), rules)

`rules` is the partner's `RuleSet`: the provider's forbidden phrases
(`default_ruleset(language)`, from ``data/forbidden_<language>.toml``) with the partner's
additions and removals, and the finding codes that block sending. Nothing here reads the
database, settings or the clock; the only state is caches (the pymorphy3 analyser, word
analyses, compiled phrase lists), so a reply editor, a template check (F18) and an API can
call it alike. Messages are translated with the active language (the operator's); the
suggestions are in the reply's language.

What is checked:

- every reply: **forbidden phrases** (F17) in all word forms — see ``data/forbidden_ru.toml``
  for how a phrase matches (lemmas, order, small gaps, quotes ignored, longest match wins);
- an **acknowledgement** (F3): addressed by name, the customer's own words restated, the
  maximum resolution time stated (or "we are clarifying and will contact you soon");
- a **clarifying question** (F16): addressed by name, a request rather than a statement
  of absence, what the customer gains.

The heuristics behind the last two are described in `rules_criteria`. A criterion that
needs context the desk does not have (no customer name, say) is not checked.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from importlib import resources

from django.utils.translation import gettext as _

from firstline.quality import rules_criteria as criteria
from firstline.quality.morphology import WORD, Parse, Token, inflect_ru, tokenize
from firstline.quality.rules_text import Document, read

LANGUAGES = ("ru", "en")
DEFAULT_GAP = 2
MAX_GAP = 5


class ReplyKind(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    """The automatic or first reply confirming the request was taken (отбойник), F3."""
    CLARIFYING_QUESTION = "clarifying_question"
    """A reply asking the customer for something (уточняющий вопрос), F16."""
    REGULAR = "regular"
    """Any other reply: only the forbidden phrases apply."""


class FindingCode(StrEnum):
    FORBIDDEN_PHRASE = "forbidden_phrase"
    MISSING_NAME = "missing_name"
    MISSING_CUSTOMER_WORDS = "missing_customer_words"
    MISSING_DEADLINE = "missing_deadline"
    STATEMENT_OF_ABSENCE = "statement_of_absence"
    MISSING_REQUEST = "missing_request"
    MISSING_BENEFIT = "missing_benefit"


CODES_BY_KIND: dict[ReplyKind, tuple[FindingCode, ...]] = {
    ReplyKind.ACKNOWLEDGEMENT: (
        FindingCode.FORBIDDEN_PHRASE, FindingCode.MISSING_NAME,
        FindingCode.MISSING_CUSTOMER_WORDS, FindingCode.MISSING_DEADLINE,
    ),
    ReplyKind.CLARIFYING_QUESTION: (
        FindingCode.FORBIDDEN_PHRASE, FindingCode.MISSING_NAME,
        FindingCode.STATEMENT_OF_ABSENCE, FindingCode.MISSING_REQUEST,
        FindingCode.MISSING_BENEFIT,
    ),
    ReplyKind.REGULAR: (FindingCode.FORBIDDEN_PHRASE,),
}
"""The codes each kind of reply can get, in the order findings are reported."""

DEFAULT_BLOCKING = frozenset({FindingCode.FORBIDDEN_PHRASE})
"""A forbidden phrase stops a reply by default; the rest are advice until a partner says so."""


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What the desk knows about the reply being checked."""

    kind: ReplyKind = ReplyKind.REGULAR
    language: str = "ru"
    """The reply's language, "ru" or "en"."""
    customer_name: str = ""
    """As the desk knows it: «Иван Петров», «Сидоров Иван Петрович»; empty when unknown."""
    customer_words: str = ""
    """The request in the customer's own words (the subject or first line); may be empty."""
    resolution_text: str = ""
    """The maximum resolution time as the desk would write it («до 18:00 14.03»), if known:
    a reply containing it states the deadline even in a form the patterns do not know."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ReplyKind(self.kind))
        if self.language not in LANGUAGES:
            raise ValueError(f"unsupported reply language {self.language!r}")


@dataclass(frozen=True, slots=True)
class ForbiddenPhrase:
    """A phrase not to be used in replies, and what to write instead."""

    text: str
    """The phrase, words in any form: «не смогу помочь»; «знать{1per}» restricts a word to
    forms with those grammemes."""
    suggestions: tuple[str, ...] = ()
    """Replacements, the preferred one first."""
    why: str = ""
    gap: int = DEFAULT_GAP
    """How many other words may stand between two words of the phrase (none after «не»)."""
    unless: tuple[str, ...] = ()
    """Longer phrases in which this one is fine: "can't help" unless "can't help but"."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "suggestions", tuple(self.suggestions))
        object.__setattr__(self, "unless", tuple(self.unless))
        if not WORD.search(self.text):
            raise ValueError(f"a forbidden phrase needs a word: {self.text!r}")
        if not 0 <= self.gap <= MAX_GAP:
            raise ValueError(f"gap must be between 0 and {MAX_GAP}: {self.gap}")


@dataclass(frozen=True)
class RuleSet:
    """The rules one partner's replies are checked by."""

    language: str
    phrases: tuple[ForbiddenPhrase, ...]
    blocking: frozenset[FindingCode] = field(default=DEFAULT_BLOCKING)

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"unsupported rules language {self.language!r}")
        object.__setattr__(self, "phrases", tuple(self.phrases))
        object.__setattr__(self, "blocking", frozenset(FindingCode(c) for c in self.blocking))

    def customised(
        self,
        *,
        add: Iterable[ForbiddenPhrase] = (),
        remove: Iterable[str] = (),
        blocking: Iterable[FindingCode | str] | None = None,
    ) -> RuleSet:
        """These rules with a partner's changes.

        `remove` names phrases in any form («проблемы» removes «проблема»; «никаких
        проблем» stays until named too). A phrase in `add` replaces a phrase with the same
        words, so a partner can change the suggestions of a default. `blocking` replaces
        the set of blocking codes.
        """
        added = list(add)
        gone = [*remove, *(phrase.text for phrase in added)]
        kept = [
            phrase for phrase in self.phrases
            if not any(same_phrase(phrase.text, other, self.language) for other in gone)
        ]
        return replace(
            self,
            phrases=(*kept, *added),
            blocking=self.blocking if blocking is None else frozenset(blocking),
        )


@dataclass(frozen=True, slots=True)
class Finding:
    code: FindingCode
    message: str
    """For the operator, in the active language."""
    span: tuple[int, int] | None
    """(start, end) in the checked text, end exclusive; None for something missing."""
    suggestion: str | None
    """Text to put in (replacing the span, if any), in the reply's language."""
    blocking: bool
    alternatives: tuple[str, ...] = ()
    """Other replacements, after `suggestion`."""


# --- Default rules -------------------------------------------------------------------------


@lru_cache(maxsize=len(LANGUAGES))
def default_ruleset(language: str) -> RuleSet:
    """The provider's rules for `language`: the forbidden phrases of ``data/``."""
    if language not in LANGUAGES:
        raise ValueError(f"unsupported rules language {language!r}")
    source = resources.files("firstline.quality") / "data" / f"forbidden_{language}.toml"
    entries = tomllib.loads(source.read_text(encoding="utf-8"))["phrase"]
    phrases = tuple(
        ForbiddenPhrase(
            text=entry["text"],
            suggestions=tuple(entry.get("suggestions", ())),
            why=entry.get("why", ""),
            gap=entry.get("gap", DEFAULT_GAP),
            unless=tuple(entry.get("unless", ())),
        )
        for entry in entries
    )
    return RuleSet(language=language, phrases=phrases)


# --- Forbidden phrases: compiling and matching ---------------------------------------------

NEGATIONS = frozenset({"не", "ни", "not", "no", "never"})
GAP_BLOCKERS_RU = frozenset({"VERB", "INFN", "CONJ"})
GAP_BLOCKERS_EN = frozenset({
    "that", "whether", "if", "but", "and", "or", "because", "when", "where", "why", "how",
    "which", "who", "so", "then", "than", "while", "unless", "until",
})


@dataclass(frozen=True, slots=True)
class PatternWord:
    lemmas: frozenset[str]
    grammemes: frozenset[str]
    tight: bool
    """A negation: the next word of the phrase must follow at once."""

    def matches(self, token: Token) -> bool:
        if not self.grammemes:
            return bool(self.lemmas & token.lemmas) or token.norm in self.lemmas
        return token.analysis.has_lemma(self.lemmas, self.grammemes)


@dataclass(frozen=True, slots=True)
class CompiledPhrase:
    phrase: ForbiddenPhrase
    words: tuple[PatternWord, ...]
    unless: tuple[tuple[PatternWord, ...], ...]


@lru_cache(maxsize=4096)
def _pattern(text: str, language: str) -> tuple[PatternWord, ...]:
    words: list[PatternWord] = []
    for chunk in text.split():
        body, _brace, rest = chunk.partition("{")
        grammemes = frozenset(g.strip() for g in rest.rstrip("}").split(",") if g.strip())
        tokens = tokenize(body, language)
        for position, token in enumerate(tokens):
            last = position == len(tokens) - 1
            words.append(PatternWord(
                lemmas=token.lemmas | {token.norm},
                grammemes=grammemes if last else frozenset(),
                tight=token.norm in NEGATIONS,
            ))
    return tuple(words)


def same_phrase(one: str, other: str, language: str) -> bool:
    """Whether two phrases are the same words in other forms («проблемы» is «проблема»)."""
    first, second = _pattern(one, language), _pattern(other, language)
    return len(first) == len(second) and all(
        a.lemmas & b.lemmas and a.grammemes == b.grammemes
        for a, b in zip(first, second, strict=True)
    )


@dataclass(frozen=True, slots=True)
class Matcher:
    phrases: tuple[CompiledPhrase, ...]
    by_first_lemma: dict[str, tuple[int, ...]]


@lru_cache(maxsize=256)
def _matcher(language: str, phrases: tuple[ForbiddenPhrase, ...]) -> Matcher:
    compiled = []
    for phrase in phrases:
        words = _pattern(phrase.text, language)
        if words:
            unless = tuple(p for p in (_pattern(u, language) for u in phrase.unless) if p)
            compiled.append(CompiledPhrase(phrase, words, unless))
    index: dict[str, list[int]] = {}
    for number, item in enumerate(compiled):
        for lemma in item.words[0].lemmas:
            index.setdefault(lemma, []).append(number)
    return Matcher(tuple(compiled), {k: tuple(v) for k, v in index.items()})


def _blocks_gap(token: Token, language: str) -> bool:
    if language == "en":
        return token.norm in GAP_BLOCKERS_EN
    return bool(token.analysis.top.grammemes & GAP_BLOCKERS_RU)


def _match_rest(doc: Document, words: tuple[PatternWord, ...], k: int, at: int,
                gap: int) -> int | None:
    """Index of the last token when words[k+1:] follow the token `at` (words[k]), else None."""
    if k == len(words) - 1:
        return at
    allowed = 0 if words[k].tight else gap
    tokens = doc.tokens
    for j in range(at + 1, min(len(tokens), at + 2 + allowed)):
        if doc.quoted[j] or doc.sentence_of[j] != doc.sentence_of[at]:
            return None
        # Contractions give two tokens with one span ("can't"): they always follow at once.
        if words[k + 1].matches(tokens[j]):
            end = _match_rest(doc, words, k + 1, j, gap)
            if end is not None:
                return end
        if _blocks_gap(tokens[j], doc.language):
            return None
    return None


def _excepted(doc: Document, compiled: CompiledPhrase, first: int, last: int) -> bool:
    """Whether one of the phrase's `unless` phrases matches over the tokens first..last."""
    for words in compiled.unless:
        for j in range(max(0, first - len(words) - compiled.phrase.gap), last + 1):
            if doc.quoted[j] or not words[0].matches(doc.tokens[j]):
                continue
            end = _match_rest(doc, words, 0, j, compiled.phrase.gap)
            if end is not None and end >= first:
                return True
    return False


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    start: int
    end: int
    phrase: CompiledPhrase
    first: int
    """Index of the first token."""


def find_phrases(doc: Document, rules: RuleSet) -> list[PhraseMatch]:
    """Non-overlapping matches of the forbidden phrases, by position; longer ones win."""
    matcher = _matcher(rules.language, rules.phrases)
    candidates: list[PhraseMatch] = []
    for i, token in enumerate(doc.tokens):
        if doc.quoted[i]:
            continue
        numbers: set[int] = set()
        for lemma in token.lemmas | {token.norm}:
            numbers.update(matcher.by_first_lemma.get(lemma, ()))
        for number in sorted(numbers):
            compiled = matcher.phrases[number]
            if not compiled.words[0].matches(token):
                continue
            last = _match_rest(doc, compiled.words, 0, i, compiled.phrase.gap)
            if last is not None and not _excepted(doc, compiled, i, last):
                candidates.append(
                    PhraseMatch(token.start, doc.tokens[last].end, compiled, i)
                )
    candidates.sort(key=lambda m: (m.start - m.end, m.start))
    chosen: list[PhraseMatch] = []
    for match in candidates:
        if all(match.end <= c.start or match.start >= c.end for c in chosen):
            chosen.append(match)
    chosen.sort(key=lambda m: m.start)
    return chosen


def _adapt(suggestion: str, match: PhraseMatch, doc: Document) -> str:
    """The suggestion in the matched word's form and capitalisation where that is clear."""
    words = match.phrase.words
    token = doc.tokens[match.first]
    adapted = suggestion
    if len(words) == 1 and len(suggestion.split()) == 1:
        if doc.language == "ru":
            parse = next(
                (p for p in token.analysis.parses if p.lemma in words[0].lemmas),
                Parse(token.norm, frozenset(), 0.0),
            )
            adapted = inflect_ru(suggestion, parse)
        elif token.norm not in words[0].lemmas or token.norm.endswith("s"):
            plural = token.norm.endswith("s") and not any(
                lemma.endswith("s") for lemma in words[0].lemmas & token.lemmas
            )
            if plural:
                adapted = suggestion[:-1] + "ies" if suggestion.endswith("y") else suggestion + "s"
    if token.text[:1].isupper() and match.start == token.start:
        adapted = adapted[:1].upper() + adapted[1:]
    return adapted


# --- The check -----------------------------------------------------------------------------

SUGGESTIONS = {
    "ru": {
        FindingCode.MISSING_CUSTOMER_WORDS: "Мы приняли в работу Ваш вопрос «{words}».",
        FindingCode.MISSING_DEADLINE: "Максимальное время решения — {deadline}.",
        "clarifying": "Мы уточняем информацию по Вашему вопросу и вскоре свяжемся с Вами.",
        FindingCode.STATEMENT_OF_ABSENCE: "Пожалуйста, пришлите …",
        FindingCode.MISSING_REQUEST: "Пожалуйста, пришлите …",
        FindingCode.MISSING_BENEFIT: "Чтобы быстрее найти причину и исправить ее, пожалуйста, …",
    },
    "en": {
        FindingCode.MISSING_CUSTOMER_WORDS: "We have taken your request “{words}” into work.",
        FindingCode.MISSING_DEADLINE: "Maximum resolution time: {deadline}.",
        "clarifying": "We are clarifying the details of your request and will contact you "
                      "shortly.",
        FindingCode.STATEMENT_OF_ABSENCE: "Please send …",
        FindingCode.MISSING_REQUEST: "Please send …",
        FindingCode.MISSING_BENEFIT: "So that we can find the cause faster, please …",
    },
}


def _one_line(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def check_reply(text: str, context: ReplyContext, rules: RuleSet) -> list[Finding]:
    """The findings on a reply: forbidden phrases by position, then what is missing."""
    doc = read(text, context.language)
    phrase_doc = doc if rules.language == context.language else read(text, rules.language)

    def finding(code: FindingCode, message: str, span: tuple[int, int] | None = None,
                suggestion: str | None = None, alternatives: tuple[str, ...] = ()) -> Finding:
        return Finding(code, message, span, suggestion, code in rules.blocking, alternatives)

    findings: list[Finding] = []
    for match in find_phrases(phrase_doc, rules):
        found = text[match.start:match.end]
        options = [_adapt(s, match, phrase_doc) for s in match.phrase.phrase.suggestions]
        if options:
            message = _("“%(found)s” is a forbidden phrase in replies: write “%(suggestion)s” "
                        "instead.") % {"found": found, "suggestion": options[0]}
        else:
            message = _("“%(found)s” is a forbidden phrase in replies.") % {"found": found}
        findings.append(finding(FindingCode.FORBIDDEN_PHRASE, message, (match.start, match.end),
                                options[0] if options else None, tuple(options[1:])))

    if context.kind is ReplyKind.REGULAR:
        return findings
    words = SUGGESTIONS[context.language]

    if context.customer_name.strip():
        keys, address = criteria.name_keys(context.customer_name, context.language)
        if keys and not criteria.addresses_by_name(doc, keys):
            findings.append(finding(
                FindingCode.MISSING_NAME,
                _("Address the customer by name (%(name)s).") % {"name": address},
                suggestion=f"{address}, ",
            ))

    if context.kind is ReplyKind.ACKNOWLEDGEMENT:
        if not criteria.restates_request(doc, context.customer_words):
            if context.customer_words.strip():
                request = _one_line(context.customer_words)
                message = _("Confirm the request in the customer's own words, for example "
                            "“%(words)s”.") % {"words": request}
                suggestion = words[FindingCode.MISSING_CUSTOMER_WORDS].format(words=request)
            else:
                message = _("Confirm the request in the customer's own words: quote it.")
                suggestion = None
            findings.append(finding(FindingCode.MISSING_CUSTOMER_WORDS, message,
                                    suggestion=suggestion))
        if not criteria.states_deadline(doc, context.resolution_text):
            deadline = context.resolution_text.strip()
            findings.append(finding(
                FindingCode.MISSING_DEADLINE,
                _("State the maximum resolution time, or say that you are clarifying the "
                  "details and will contact the customer soon."),
                suggestion=words[FindingCode.MISSING_DEADLINE].format(deadline=deadline)
                if deadline else words["clarifying"],
            ))
        return findings

    for start, end in criteria.statements_of_absence(doc):
        findings.append(finding(
            FindingCode.STATEMENT_OF_ABSENCE,
            _("Do not state what is missing: ask for it (“please send …”)."),
            span=(start, end),
            suggestion=words[FindingCode.STATEMENT_OF_ABSENCE],
        ))
    if not criteria.has_request(doc):
        findings.append(finding(
            FindingCode.MISSING_REQUEST,
            _("Ask for what you need as a polite request (“please send …”)."),
            suggestion=words[FindingCode.MISSING_REQUEST],
        ))
    if not criteria.says_benefit(doc):
        findings.append(finding(
            FindingCode.MISSING_BENEFIT,
            _("Say what the customer gains from it (“so that we can find the cause "
              "faster …”)."),
            suggestion=words[FindingCode.MISSING_BENEFIT],
        ))
    findings.sort(key=lambda f: (f.span is None, f.span[0] if f.span else 0))
    return findings


__all__ = [
    "CODES_BY_KIND", "DEFAULT_BLOCKING", "Finding", "FindingCode", "ForbiddenPhrase",
    "ReplyContext", "ReplyKind", "RuleSet", "check_reply", "default_ruleset",
]
