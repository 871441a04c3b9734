"""Article search: PostgreSQL full-text search, a word-stem fallback elsewhere.

PostgreSQL: every published article keeps a stored tsvector of its published copy in its
language's configuration (`russian` or `english`; title weight A, text weight B) with a GIN
index. A query is cut into words; each word becomes a `SearchQuery` (a Cyrillic word in the
`russian` configuration, a Latin one in `english`). Articles with every word come first;
when there are fewer than asked for, articles with all but one of the words follow, and so
on down to any one word, so «принтеры не настраиваются» finds «Настройка принтера» by
«принтер» (the stop word «не» drops out). Within each group `SearchRank` (ts_rank over the
weights) orders at most CANDIDATES articles (a common word matches a large share of all
partners' articles, and ranking reads each row). The snippet is `SearchHeadline` over the
text of the articles shown.

SQLite (development, most of the tests): each word is reduced to a stem, the common
beginning of the word and its pymorphy3 dictionary form («принтеры» → «принтер»,
«настраиваются» → «настраива»; English loses a plural or -ing/-ed ending), and an article
matches when its title or text contains a stem, case-folded (`ucontains`). Ranking counts
the stems found, title first. It finds fewer word forms than PostgreSQL (a stem must be a
prefix of the form in the article) and is not meant for large bases.
"""

import operator
import os
import re
from dataclasses import dataclass
from functools import reduce
from itertools import combinations
from typing import Any

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from firstline.core.textsearch import fold
from firstline.kb.models import SEARCH_CONFIG, Article

WORD = re.compile(r"[^\W_]+")
CYRILLIC = re.compile("[а-яё]")
MAX_WORDS = 12
MAX_WORD = 40
MAX_QUERY = 500
# Marks ts_headline puts around matches; private-use characters nobody types.
START, STOP = "\ue000", "\ue001"
SNIPPET_CHARS = 200
# Up to FEW matching articles are all ranked at once; beyond, each tier of the query ranks
# at most CANDIDATES. TIERED_WORDS: the most words whose combinations make tiers.
FEW = 300
CANDIDATES = 1000
TIERED_WORDS = 5


@dataclass
class Hit:
    article: Article
    rank: float
    snippet: SafeString


def words(text: str) -> list[str]:
    """The words of a query, lower case, at most MAX_WORDS of at most MAX_WORD letters.

    Raises ValidationError({"q": ...}) when nothing is left to search for (empty,
    punctuation only)."""
    found = [fold(word)[:MAX_WORD] for word in WORD.findall((text or "")[:MAX_QUERY])]
    unique = list(dict.fromkeys(found))[:MAX_WORDS]
    if not unique:
        raise ValidationError({"q": _("Nothing to search for: type at least one word.")})
    return unique


def search(articles: QuerySet[Article], text: str, *, limit: int = 10) -> list[Hit]:
    """The published articles among `articles` that match `text`, best first."""
    terms = words(text)
    articles = articles.filter(published_at__isnull=False)
    if connection.vendor == "postgresql":
        return _postgres(articles, terms, limit)
    return _fallback(articles, terms, limit)


# PostgreSQL -----------------------------------------------------------------------------


def _postgres(articles: QuerySet[Article], terms: list[str], limit: int) -> list[Hit]:
    # A Cyrillic word is parsed by the russian configuration, any other by the english one
    # (russian's own rule for Latin words is english_stem too, so one query serves both).
    parts = [SearchQuery(term, config=SEARCH_CONFIG["ru"] if CYRILLIC.search(term)
                         else SEARCH_CONFIG["en"], search_type="plain") for term in terms]
    some = parts[0]
    for part in parts[1:]:
        some = some | part
    # Articles with every word first. When they are not enough, the others with some of
    # the words: at once when they are few (one partner's base), ordered by how many of the
    # words they have, then by rank; when they are more than FEW (all partners' articles,
    # a common word), tier by tier, each ranking at most CANDIDATES: all but one of the
    # words, and so on down to any word («принтеры не настраиваются» → «принтер»).
    tiers = _tiers(parts)
    ranks, _capped = _ranked(articles, tiers[0], limit)
    if len(ranks) < limit and len(parts) > 1:
        rest = articles.exclude(pk__in=list(ranks))
        found, capped = _ranked(rest, some, limit - len(ranks), parts=parts, cap=FEW)
        if capped:
            for query in tiers[1:]:
                found, _capped = _ranked(rest.exclude(pk__in=list(ranks)), query,
                                         limit - len(ranks))
                ranks.update(found)
                if len(ranks) >= limit:
                    break
        else:
            ranks.update(found)
    # The articles shown, with their headlines (ts_headline re-parses the whole text, so
    # it runs on these rows only), in one query.
    found = {article.pk: article for article in Article.objects.filter(pk__in=list(ranks))
             .annotate(head=SearchHeadline(
                 "published_text", some, start_sel=START, stop_sel=STOP, max_words=30,
                 min_words=12, max_fragments=1))}
    return [Hit(found[pk], rank, _marked(found[pk].head or ""))
            for pk, rank in ranks.items() if pk in found]


def _tiers(parts: list[SearchQuery]) -> list[Any]:
    """The queries from the strictest to the loosest: every word; any `n - 1` of the
    words, … any 2 (up to TIERED_WORDS words: the combinations grow fast); any word."""
    every, some = parts[0], parts[0]
    for part in parts[1:]:
        every, some = every & part, some | part
    tiers = [every]
    if len(parts) <= TIERED_WORDS:
        for size in range(len(parts) - 1, 1, -1):
            tier = None
            for chosen in combinations(parts, size):
                both = reduce(operator.and_, chosen)
                tier = both if tier is None else tier | both
            tiers.append(tier)
    if len(parts) > 1:
        tiers.append(some)
    return tiers


def _ranked(articles: QuerySet[Article], query: Any, limit: int, *,
            parts: list[SearchQuery] | None = None,
            cap: int | None = None) -> tuple[dict[int, float], bool]:
    """id -> rank of the best `limit` of at most `cap` (CANDIDATES) articles matching the
    query, with `parts` those with more of them first; and whether the cap cut them short.

    ts_rank reads every row it ranks: a common word matches tens of thousands of articles
    of all partners (the desk's search took 0.5 s), so only the first rows the GIN index
    finds are ranked, in the scan itself (a LIMIT'd subquery, unordered, so the scan stops
    there), and only the ids and ranks leave it."""
    matched: Any = Value(0)
    if parts and len(parts) > 1:
        matched = reduce(operator.add, [
            Case(When(search_vector=part, then=Value(1)), default=Value(0))
            for part in parts])
    cap = cap or CANDIDATES
    candidates = (articles.filter(search_vector=query).order_by()
                  .annotate(rank=SearchRank(F("search_vector"), query), matched=matched)
                  .values_list("pk", "rank", "matched")[:cap])
    sql, params = candidates.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT *, count(*) OVER () FROM ({sql}) AS candidate "  # noqa: S608
                       "ORDER BY 3 DESC, 2 DESC, 1 LIMIT %s", [*params, limit])
        rows = cursor.fetchall()
    return ({pk: float(rank) for pk, rank, _matched, _count in rows},
            bool(rows) and rows[0][3] >= cap)


def _marked(head: str) -> SafeString:
    text = escape(_lines(head)).replace(START, "<mark>").replace(STOP, "</mark>")
    return mark_safe(text)  # noqa: S308 - escaped above, only our own <mark> added


# SQLite and others ----------------------------------------------------------------------


def stem(word: str) -> str:
    """A prefix shared by the word's forms (see the module docstring)."""
    if re.search("[а-я]", word):
        from firstline.quality.morphology import analyse_ru

        lemma = analyse_ru(word).top.lemma
        common = os.path.commonprefix([word, lemma])
        return common if len(common) >= 4 else lemma
    for ending in ("ing", "es", "ed", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word


def _fallback(articles: QuerySet[Article], terms: list[str], limit: int) -> list[Hit]:
    stems = list(dict.fromkeys(stem(term) for term in terms if len(term) >= 3)) or terms
    match = Q()
    for part in stems:
        match |= Q(published_title__ucontains=part) | Q(published_text__ucontains=part)
    found = list(articles.filter(match).order_by("id")[:500])
    hits = []
    for article in found:
        title, text = fold(article.published_title), fold(article.published_text)
        rank = sum(2.0 if part in title else 1.0 if part in text else 0.0 for part in stems)
        hits.append(Hit(article, rank / (2 * len(stems)), _window(article.published_text,
                                                                   stems)))
    hits.sort(key=lambda hit: (-hit.rank, hit.article.pk))
    return hits[:limit]


def _lines(text: str) -> str:
    """A snippet is one line: the text's line breaks (headings, list items) as " · "."""
    return re.sub(r"\s*\n\s*", " · ", text)


def _window(text: str, stems: list[str]) -> SafeString:
    text = _lines(text)
    folded = fold(text)
    positions = [folded.find(part) for part in stems if folded.find(part) >= 0]
    start = max(0, min(positions) - SNIPPET_CHARS // 3) if positions else 0
    piece = text[start:start + SNIPPET_CHARS]
    folded_piece = fold(piece)
    out, cursor = [], 0
    pattern = "|".join(re.escape(part) for part in sorted(stems, key=len, reverse=True))
    for found in re.finditer(pattern, folded_piece) if pattern else []:
        out.append(escape(piece[cursor:found.start()]))
        out.append(f"<mark>{escape(piece[found.start():found.end()])}</mark>")
        cursor = found.end()
    out.append(escape(piece[cursor:]))
    prefix = "… " if start else ""
    suffix = " …" if start + SNIPPET_CHARS < len(text) else ""
    return mark_safe(prefix + "".join(out) + suffix)  # noqa: S308 - every piece escaped
