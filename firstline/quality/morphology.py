"""Word forms for the reply rules: tokens of a text with their lemmas and grammemes.

Russian goes through pymorphy3 (OpenCorpora dictionaries): every token gets the lemmas
and grammemes of *all* its parses, so «смогу» is both «смочь» and «смог» and a rule for
either matches. English has no dictionary here: a token's "lemmas" are the word itself
plus what a few suffix rules and a table of irregular forms give («problems» → «problem»,
«didn't» → «did» «not» → «do»), which is enough to match a short list of phrases.

Both analysers are cached per distinct lower-cased word (``lru_cache``), and the pymorphy3
analyser is built once per process on first use (about 60 ms and 15 MB), so after warm-up a
reply costs a dictionary lookup per word. Spans always point into the original text:
tokens are cut from it by a regular expression and only their copies are normalised
(lower case, «ё» → «е»).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymorphy3 import MorphAnalyzer

# Words, with inner hyphens and apostrophes: «IP-адрес», «из-за», "don't", "Let's".
WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")

NO_GRAMMEMES: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Parse:
    lemma: str
    grammemes: frozenset[str]
    score: float


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the analyser says about one word form, whatever its position in a text."""

    parses: tuple[Parse, ...]
    lemmas: frozenset[str]

    @property
    def top(self) -> Parse:
        return self.parses[0]

    def has(self, *grammemes: str, min_score: float = 0.0) -> bool:
        """True when some parse (scoring at least min_score) carries all the grammemes."""
        wanted = frozenset(grammemes)
        return any(p.score >= min_score and wanted <= p.grammemes for p in self.parses)

    def has_lemma(self, lemmas: frozenset[str], grammemes: frozenset[str] = NO_GRAMMEMES) -> bool:
        return any(p.lemma in lemmas and grammemes <= p.grammemes for p in self.parses)


@dataclass(frozen=True, slots=True)
class Token:
    """A word of the text: where it is (start, end), what it is (analysis)."""

    text: str
    start: int
    end: int
    norm: str
    analysis: Analysis

    @property
    def lemmas(self) -> frozenset[str]:
        return self.analysis.lemmas


def normalise(text: str) -> str:
    """Lower case with «ё» as «е», the same length as the input (offsets stay valid)."""
    lowered = text.lower()
    if len(lowered) != len(text):
        # A handful of characters lower-case to two ("İ"); keep those as they are.
        lowered = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)
    return lowered.replace("ё", "е")


# --- Russian -------------------------------------------------------------------------------

_morph: MorphAnalyzer | None = None


def morph() -> MorphAnalyzer:
    """The process-wide pymorphy3 analyser, built on first use."""
    global _morph
    if _morph is None:
        import pymorphy3

        _morph = pymorphy3.MorphAnalyzer(lang="ru")
    return _morph


UNKNOWN = frozenset({"UNKN"})


@lru_cache(maxsize=200_000)
def analyse_ru(norm: str) -> Analysis:
    try:
        found = morph().parse(norm)
    except ValueError:
        # pymorphy3 asks unicodedata.name() about every letter, and letters without a name
        # (some CJK and Tangut ideographs, unassigned code points) raise.
        found = []
    parses = tuple(
        Parse(
            lemma=p.normal_form.replace("ё", "е"),
            grammemes=frozenset(p.tag.grammemes),
            score=float(p.score),
        )
        for p in found
    ) or (Parse(norm, UNKNOWN, 1.0),)
    return Analysis(parses=parses, lemmas=frozenset(p.lemma for p in parses))


@lru_cache(maxsize=4096)
def inflect_ru(word: str, like: Parse) -> str:
    """`word` (a dictionary form) put into the case and number of `like`, when it can be.

    «ситуация» like «проблемой» → «ситуацией». Anything that cannot be inflected that way
    (another part of speech, an unknown word) comes back unchanged.
    """
    wanted = like.grammemes & {
        "nomn", "gent", "datv", "accs", "ablt", "loct", "voct", "gen2", "acc2", "loc2",
        "sing", "plur",
    }
    if not wanted or "NOUN" not in like.grammemes:
        return word
    for parse in morph().parse(word):
        if parse.tag.POS == "NOUN" and parse.normal_form == word.lower():
            inflected = parse.inflect(set(wanted))
            if inflected is not None:
                return inflected.word
    return word


# --- English -------------------------------------------------------------------------------

IRREGULAR_EN: dict[str, tuple[str, ...]] = {
    "am": ("be",), "is": ("be",), "are": ("be",), "was": ("be",), "were": ("be",),
    "been": ("be",), "being": ("be",), "'s": ("be",), "'re": ("be",), "'m": ("be",),
    "did": ("do",), "does": ("do",), "done": ("do",), "doing": ("do",),
    "has": ("have",), "had": ("have",), "having": ("have",), "'ve": ("have",),
    "could": ("can",), "'ll": ("will",), "'d": ("would",), "would": ("will",),
    "knew": ("know",), "known": ("know",), "said": ("say",), "told": ("tell",),
    "sent": ("send",), "found": ("find",), "saw": ("see",), "seen": ("see",),
    "got": ("get",), "gotten": ("get",), "gave": ("give",), "given": ("give",),
    "took": ("take",), "taken": ("take",), "wrote": ("write",), "written": ("write",),
    "made": ("make",), "went": ("go",), "gone": ("go",), "me": ("i",), "us": ("we",),
}

# Contractions split into two tokens, both spanning the whole contraction in the text.
CONTRACTIONS_EN: dict[str, tuple[str, str]] = {
    "can't": ("can", "not"), "cannot": ("can", "not"), "won't": ("will", "not"),
    "shan't": ("shall", "not"), "ain't": ("be", "not"),
}
SUFFIX_CONTRACTIONS_EN = ("n't", "'s", "'re", "'m", "'ve", "'ll", "'d")


@lru_cache(maxsize=100_000)
def analyse_en(norm: str) -> Analysis:
    forms = {norm, *IRREGULAR_EN.get(norm, ())}
    if len(norm) > 3:
        if norm.endswith("ies"):
            forms.add(norm[:-3] + "y")
        elif norm.endswith(("ches", "shes", "sses", "xes")):
            forms.add(norm[:-2])
        elif norm.endswith("s") and not norm.endswith(("ss", "us", "is")):
            forms.add(norm[:-1])
        if norm.endswith("ed"):
            forms.update((norm[:-2], norm[:-1]))
            if len(norm) > 4 and norm[-3] == norm[-4]:
                forms.add(norm[:-3])  # "stopped" → "stop"
        if norm.endswith("ing") and len(norm) > 5:
            forms.update((norm[:-3], norm[:-3] + "e"))
    parses = tuple(Parse(form, NO_GRAMMEMES, 1.0) for form in sorted(forms))
    return Analysis(parses=parses, lemmas=frozenset(forms))


def _english_words(match: re.Match[str], low: str) -> list[tuple[str, int, int]]:
    """The word (or the two words of a contraction) behind one match, with its span."""
    start, end = match.span()
    norm = low[start:end].replace("’", "'")
    if norm in CONTRACTIONS_EN:
        first, second = CONTRACTIONS_EN[norm]
        return [(first, start, end), (second, start, end)]
    for suffix in SUFFIX_CONTRACTIONS_EN:
        if norm.endswith(suffix) and len(norm) > len(suffix):
            base = norm[: -len(suffix)]
            return [(base, start, end), ("not" if suffix == "n't" else suffix, start, end)]
    return [(norm, start, end)]


def tokenize(text: str, language: str) -> list[Token]:
    """The words of `text` with their analyses; `language` is "ru" or "en".

    Russian text gets Latin words too («FTP», «tracert»); pymorphy3 tags them LATN.
    """
    tokens: list[Token] = []
    low = normalise(text)  # as long as `text`, so its slices are the words' normal forms
    if language == "ru":
        for match in WORD.finditer(text):
            start, end = match.span()
            norm = low[start:end]
            tokens.append(Token(match.group(), start, end, norm, analyse_ru(norm)))
        return tokens
    for match in WORD.finditer(text):
        for norm, start, end in _english_words(match, low):
            tokens.append(Token(text[start:end], start, end, norm, analyse_en(norm)))
    return tokens


def analyse(norm: str, language: str) -> Analysis:
    return analyse_ru(norm) if language == "ru" else analyse_en(norm)
