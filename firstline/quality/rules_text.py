"""A reply as the rules read it: its words, its sentences, what is quoted and what is history.

- **History**: lines starting with ">" are the quoted conversation below a reply; they are
  not the operator's text, so no rule looks at them (they are blanked, offsets kept).
- **Quotes**: «…», „…“, “…” and "…" are the customer's (or a program's) words repeated in the
  reply. They count for restating the request and for addressing the customer, but a
  forbidden word or a statement inside them is not ours. A quote longer than
  `MAX_QUOTE` characters is taken for a stray quote mark, not a quotation.
- **Sentences** end at «.», «!», «?», «…» followed by a space or the end, and at line breaks;
  punctuation inside quotes does not end a sentence («Забыли пароль?» is one phrase).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from firstline.quality.morphology import Token, normalise, tokenize

HISTORY_LINE = re.compile(r"^[ \t]*>.*$", re.MULTILINE)
QUOTE_MARK = re.compile(r"[«»„“”\"]")
CLOSERS = {"«": "»", "„": "“”", "“": "”", '"': '"'}
MAX_QUOTE = 500
SENTENCE_END = re.compile(r"[.!?…]+(?=[\s)]|$)|\n")


@dataclass(frozen=True, slots=True)
class Document:
    text: str
    """The reply as written; every span points into it."""
    low: str
    """The reply lower-cased, «ё» as «е», history blanked: for the regular expressions."""
    language: str
    tokens: tuple[Token, ...]
    """The words outside the history."""
    quoted: tuple[bool, ...]
    """For each token: inside a quotation."""
    sentence_of: tuple[int, ...]
    """For each token: the index of its sentence."""
    sentences: tuple[tuple[int, int], ...]
    """(start, end) of each sentence in `text`, end exclusive, whitespace trimmed."""
    quotes: tuple[tuple[int, int], ...]
    """(start, end) of each quotation, quote marks included."""
    sentence_words: tuple[range, ...]
    """For each sentence: the indices of its tokens (tokens are in text order)."""

    def in_quote(self, position: int) -> bool:
        return any(start <= position < end for start, end in self.quotes)

    def sentence_tokens(self, index: int) -> range:
        return self.sentence_words[index]

    def sentence_text(self, index: int) -> str:
        start, end = self.sentences[index]
        return self.low[start:end]


def quotations(text: str) -> list[tuple[int, int]]:
    """Spans of the quotations in `text`, nested ones included; unclosed ones are dropped."""
    stack: list[tuple[str, int]] = []
    spans: list[tuple[int, int]] = []
    for match in QUOTE_MARK.finditer(text):
        mark, at = match.group(), match.start()
        if stack and mark in CLOSERS[stack[-1][0]]:
            _, start = stack.pop()
            if at + 1 - start <= MAX_QUOTE:
                spans.append((start, at + 1))
        elif mark in CLOSERS:
            stack.append((mark, at))
    spans.sort()
    return spans


def _blank_history(text: str) -> str:
    if ">" not in text:
        return text
    return HISTORY_LINE.sub(lambda m: " " * len(m.group()), text)


def _sentence_spans(visible: str, quotes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for match in SENTENCE_END.finditer(visible):
        if quotes and any(q0 < match.start() < q1 for q0, q1 in quotes):
            continue
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(visible)))
    trimmed = []
    for s, e in spans:
        chunk = visible[s:e]
        stripped = chunk.strip()
        if stripped:
            lead = len(chunk) - len(chunk.lstrip())
            trimmed.append((s + lead, s + lead + len(stripped)))
    return trimmed or [(0, 0)]


def read(text: str, language: str) -> Document:
    """The document the rules check: tokens, quotations and sentences of `text`."""
    visible = _blank_history(text)
    quotes = quotations(visible)
    sentences = _sentence_spans(visible, quotes)
    ends = [end for _, end in sentences]
    tokens = tuple(tokenize(visible, language))
    quoted = tuple(
        bool(quotes) and any(q0 < token.start < q1 for q0, q1 in quotes) for token in tokens
    )
    sentence_of = tuple(min(bisect_right(ends, token.start), len(ends) - 1) for token in tokens)
    bounds = [bisect_left(sentence_of, index) for index in range(len(sentences) + 1)]
    sentence_words = tuple(range(bounds[i], bounds[i + 1]) for i in range(len(sentences)))
    return Document(
        text=text,
        low=normalise(visible).replace("’", "'"),
        language=language,
        tokens=tokens,
        quoted=quoted,
        sentence_of=sentence_of,
        sentences=tuple(sentences),
        quotes=tuple(quotes),
        sentence_words=sentence_words,
    )
