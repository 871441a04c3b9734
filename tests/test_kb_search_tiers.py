"""Knowledge-base search on PostgreSQL (issue 13, p95 < 50 ms over 100k articles): articles
with more of the query's words come before those with fewer, whatever their weights, and
each tier ranks at most `search.CANDIDATES` rows (a common word matches a large share of
all partners' articles); the Russian word-form match still holds."""

import pytest
from django.db import connection

from firstline.kb import search
from firstline.kb.models import Article
from tests.test_kb import published

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql",
                                reason="the tiers and ts_rank are PostgreSQL's")


def article(cast, title, text, **extra):
    return published(cast.a.partner, cast.a.engineer, cast.a.manager, title,
                     body=f"<p>{text}</p>", **extra)


@pytest.mark.parametrize("few", [300, 1], ids=["at-once", "tier-by-tier"])
def test_more_of_the_words_rank_first_and_each_tier_is_ranked(cast, monkeypatch, few):
    monkeypatch.setattr(search, "FEW", few)
    every = article(cast, "Сканер и принтер", "Бумага застряла, сканер не видит принтер.")
    two = article(cast, "Сканер", "Сканер подключают к принтеру кабелем.")
    # One word only, in the title: ts_rank would put it above "two" (title weighs more).
    one_in_title = article(cast, "Принтеры", "Как выбрать модель для офиса.")
    one_in_text = article(cast, "Офис", "В офисе стоит принтер.")
    article(cast, "Почта", "Пароль почтового ящика меняют в личном кабинете.")
    hits = search.search(Article.objects.all(), "принтеры сканеры бумаги")
    assert [hit.article for hit in hits] == [every, two, one_in_title, one_in_text]
    assert hits[2].rank > hits[3].rank  # within a tier, by ts_rank: the title weighs more
    # The headlines mark the words in the text (the title-only match has none there).
    assert "<mark>" in hits[0].snippet and "<mark>принтер</mark>" in hits[3].snippet
    # The check: a Russian article by another word form of its title.
    assert one_in_title in [hit.article for hit in search.search(Article.objects.all(),
                                                                 "принтерами")]


def test_each_tier_ranks_at_most_the_candidates(cast, monkeypatch):
    both = article(cast, "Принтер и сканер", "Сканер и принтер в одной коробке.")
    singles = [article(cast, f"Принтер {number}", "Модель для офиса.") for number in range(5)]
    # Few matches (up to FEW): all ranked at once, those with both words first.
    hits = search.search(Article.objects.all(), "принтер сканер", limit=10)
    assert hits[0].article == both and {hit.article for hit in hits[1:]} == set(singles)
    # More than FEW: tier by tier; the "any word" tier found five, but ranked only two.
    monkeypatch.setattr(search, "FEW", 2)
    monkeypatch.setattr(search, "CANDIDATES", 2)
    hits = search.search(Article.objects.all(), "принтер сканер", limit=10)
    assert hits[0].article == both
    assert len(hits) == 3 and {hit.article for hit in hits[1:]} <= set(singles)
