"""Knowledge-base full-text search over 100k articles on PostgreSQL (issue 13).

Usage (a throwaway database is created and dropped; over the Unix socket, see DESIGN.md):
    .venv/bin/python bench/kb_search.py [--articles 100000] [--partners 100] [--queries 200]
                                        [--rounds 3] [--naive-queries 3]

Builds `--articles` published articles (80 % Russian, 20 % English; half public) of
`--partners` partners, 60–140 words each: a topic word and one word in twenty from a
support vocabulary (60 nouns, 20 verbs in all their forms, pymorphy3), the rest from a
Zipf-distributed vocabulary of 20,000 made-up words (as real text: a few words everywhere,
most rare), then
indexes them the way publishing does (the stored tsvector, one UPDATE per language) and
runs `--queries` questions in other word forms than the articles use («принтеры не
печатают»), through `firstline.kb.search.search` exactly as the pages call it (ranked,
top 10, the headline of the hits), three ways:
- portal: one partner's public articles (what a customer's suggestions search);
- ticket panel: every article of the ticket's partner (internal and public);
- desk, all partners: every article of all partners (a provider operator's search);
- portal and desk, the previous way: the same searches ranking every matching row (every
  word, then any word, ts_rank over all of them), for the ratio in the same run;
- baseline: an indexed primary-key lookup of one article, in the same run;
and, for scale, the naive alternative: a case-folded substring scan (`ucontains`) of the
same words over all articles. Each round prints p50/p95; the summary gives min–max over
the rounds and the ratio to the baseline.
"""

import argparse
import itertools
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB = "firstline_bench_kb"
PSQL = ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-qc"]



def _words(text: str) -> list[str]:
    return text.split()


NOUNS = _words("принтер сканер почта пароль сервер роутер сайт домен сертификат диск копия база "
         "таблица пользователь учётка договор счёт оплата тариф подключение сеть кабель "
         "телефон звонок приложение обновление ошибка доступ папка файл архив браузер "
         "страница письмо ящик вложение корзина лицензия ключ клавиатура монитор экран "
         "камера микрофон принтерный картридж бумага драйвер настройка установка вход "
         "выход адрес порт шлюз маршрут провайдер скорость интернет облако хранилище")
VERBS = _words("работать печатать открываться загружаться подключаться отправлять получать "
         "настраивать сбрасывать менять удалять восстанавливать проверять перезагружать "
         "устанавливать обновлять входить видеть находить зависать тормозить")
ENGLISH = _words("printer scanner mail password server router site domain certificate disk backup "
           "database table user account contract invoice payment plan connection network "
           "cable phone call application update error access folder file archive browser "
           "page letter mailbox attachment license key keyboard monitor screen camera "
           "driver setting install login logout address port gateway route speed cloud "
           "storage print open load connect send receive reset change delete restore check "
           "restart see find hang slow the a of to for with after before if when")
CASES = ["nomn", "gent", "datv", "accs", "ablt", "loct"]


def forms_of(morph, word: str, kind: str) -> list[str]:
    parsed = morph.parse(word)[0]
    found = set()
    for grammemes in ([{case, number} for case in CASES for number in ("sing", "plur")]
                      if kind == "noun" else
                      [{"pres", "3per", "sing"}, {"pres", "3per", "plur"}, {"past", "masc"},
                       {"past", "plur"}, {"INFN"}] if kind == "verb" else
                      [{case, "masc", "sing"} for case in CASES] + [{"nomn", "plur"}]):
        inflected = parsed.inflect(grammemes)
        if inflected:
            found.add(inflected.word)
    return sorted(found) or [word]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--partners", type=int, default=100)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--naive-queries", type=int, default=3,
                        help="substring scans per round (about a minute each; 0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=True)
    subprocess.run([*PSQL, f"CREATE DATABASE {DB}"], check=True)
    os.environ["DATABASE_URL"] = f"postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{DB}"
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("FIRSTLINE_INSECURE_DEV_KEY", "1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "firstline.settings"
    import django

    django.setup()
    from django.core.management import call_command

    try:
        call_command("migrate", verbosity=0)
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=False)


def build(args: argparse.Namespace, rng: random.Random) -> list[int]:
    import pymorphy3
    from django.db import connection

    from firstline.core.clock import now
    from firstline.core.models import Partner, Tariff
    from firstline.kb import services
    from firstline.kb.models import Article

    morph = pymorphy3.MorphAnalyzer(lang="ru")
    nouns = {word: forms_of(morph, word, "noun") for word in NOUNS}
    verbs = {word: forms_of(morph, word, "verb") for word in VERBS}

    # The rest of an article's words: a Zipf-distributed vocabulary of 20,000 made-up
    # Russian-looking words (as in real text, a few words are everywhere, most are rare).
    syllables = [c + v for c in "бвгдзклмнпрстфхцчш" for v in "аеиоуяы"]
    vocabulary = list(dict.fromkeys(
        "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) + rng.choice(
            ("", "а", "ой", "ами", "ение", "ость", "ный"))
        for _ in range(24_000)))[:20_000]
    weights = list(itertools.accumulate(1 / rank for rank in range(1, len(vocabulary) + 1)))
    support = [forms for table in (nouns, verbs) for forms in table.values()]

    def russian(words: int, topic: str) -> str:
        out = rng.choices(vocabulary, cum_weights=weights, k=words)
        # About one word in twenty is support vocabulary, the article's topic among them.
        for position in rng.sample(range(words), k=max(2, words // 20)):
            out[position] = rng.choice(rng.choice(support))
        out[rng.randrange(words)] = rng.choice(nouns[topic])
        for position in range(0, words, rng.randint(8, 14)):
            out[position] = out[position] + "."
        return " ".join(out)

    tariff = Tariff.objects.create(code="t", name="T", requests_included=1, minutes_included=1,
                                   monthly_fee=1, first_month_fee=1, overage_request_fee=1,
                                   overage_minute_fee=1)
    partners = Partner.objects.bulk_create(
        [Partner(name=f"Bench {i}", slug=f"bench-{i}", tariff=tariff,
                 support_email=f"s@b{i}.example") for i in range(args.partners)])
    moment = now()
    started = time.perf_counter()
    batch = []
    for number in range(args.articles):
        english = number % 5 == 4
        if english:  # English words among made-up ones: the english configuration's share
            title = " ".join(rng.choice(ENGLISH) for _ in range(rng.randint(3, 6))).capitalize()
            text = " ".join(rng.choice(ENGLISH) if rng.random() < 0.05 else rng.choices(
                vocabulary, cum_weights=weights)[0] for _ in range(rng.randint(60, 140)))
        else:
            noun = rng.choice(NOUNS)
            title = f"{rng.choice(('Настройка', 'Проверка', 'Восстановление', 'Замена'))} " \
                    f"{rng.choice(nouns[noun])} {rng.choice(vocabulary[:2000])}"
            text = russian(rng.randint(60, 140), noun)
        body = f"<p>{text}</p>"
        batch.append(Article(
            partner=partners[number % len(partners)], language="en" if english else "ru",
            visibility="public" if number % 2 else "internal", status="published",
            title=title, body=body, published_title=title, published_body=body,
            published_text=text, published_at=moment))
        if len(batch) == 5000:
            Article.objects.bulk_create(batch)
            batch = []
    Article.objects.bulk_create(batch)
    created = time.perf_counter() - started
    started = time.perf_counter()
    services.reindex()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE kb_article")
    indexed = time.perf_counter() - started
    print(f"{args.articles} articles of {args.partners} partners: created in {created:.1f} s, "
          f"tsvectors and ANALYZE in {indexed:.1f} s")
    return [partner.pk for partner in partners]


def queries(rng: random.Random, count: int) -> list[str]:
    """Questions as customers type them, in word forms the titles rarely use."""
    import pymorphy3

    morph = pymorphy3.MorphAnalyzer(lang="ru")
    asked = []
    for number in range(count):
        if number % 5 == 4:
            asked.append(" ".join(rng.choice(ENGLISH) for _ in range(rng.randint(2, 4))))
            continue
        noun = morph.parse(rng.choice(NOUNS))[0]
        plural = noun.inflect({"nomn", "plur"}) or noun
        verb = morph.parse(rng.choice(VERBS))[0].inflect({"pres", "3per", "plur"})
        words = [plural.word, "не", verb.word if verb else rng.choice(VERBS)]
        if rng.random() < 0.5:
            words += ["после", (morph.parse(rng.choice(NOUNS))[0].inflect({"gent", "sing"})
                                or noun).word]
        asked.append(" ".join(words))
    return asked


def previous_search(articles, text: str, limit: int = 10) -> list:
    """The search before the tiers and the candidate cap: ranks every matching row."""
    from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
    from django.db.models import F

    from firstline.kb import search
    from firstline.kb.models import SEARCH_CONFIG, Article

    parts = [SearchQuery(term, config=SEARCH_CONFIG["ru"] if search.CYRILLIC.search(term)
                         else SEARCH_CONFIG["en"], search_type="plain")
             for term in search.words(text)]
    every, some = parts[0], parts[0]
    for part in parts[1:]:
        every, some = every & part, some | part

    def ranked(found, query, count):
        return list(found.filter(search_vector=query)
                    .annotate(rank=SearchRank(F("search_vector"), query))
                    .order_by("-rank", "id")[:count])

    rows = ranked(articles, every, limit)
    if len(rows) < limit and len(parts) > 1:
        rows += ranked(articles.exclude(pk__in=[row.pk for row in rows]), some,
                       limit - len(rows))
    return list(Article.objects.filter(pk__in=[row.pk for row in rows]).annotate(
        head=SearchHeadline("published_text", some, max_words=30, min_words=12,
                            max_fragments=1)).values_list("pk", "head"))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def timed(function, items) -> list[float]:
    spent = []
    for item in items:
        started = time.perf_counter()
        function(item)
        spent.append((time.perf_counter() - started) * 1000)
    return spent


def run(args: argparse.Namespace) -> None:
    from django.db.models import Q

    from firstline.kb import search
    from firstline.kb.models import Article, Visibility

    rng = random.Random(13)
    partner_ids = build(args, rng)
    asked = queries(rng, args.queries)
    ids = list(Article.objects.values_list("pk", flat=True))

    def portal(item):
        text, partner_id = item
        public = Article.objects.filter(partner_id=partner_id, visibility=Visibility.PUBLIC)
        return search.search(public, text, limit=10)

    def ticket_panel(item):
        text, partner_id = item
        return search.search(Article.objects.filter(partner_id=partner_id), text, limit=10)

    def desk(item):
        return search.search(Article.objects.all(), item[0], limit=10)

    def portal_previous(item):
        text, partner_id = item
        public = Article.objects.filter(partner_id=partner_id, visibility=Visibility.PUBLIC,
                                        published_at__isnull=False)
        return previous_search(public, text)

    def desk_previous(item):
        return previous_search(Article.objects.filter(published_at__isnull=False), item[0])

    def baseline(item):
        return Article.objects.filter(pk=item).values_list("published_title", flat=True).first()

    def substring(item):
        match = Q()
        for word in search.words(item[0]):
            match |= Q(published_title__ucontains=word) | Q(published_text__ucontains=word)
        return list(Article.objects.filter(match).values_list("pk", flat=True)[:10])

    hits = [len(desk((text, None))) for text in asked[:50]]
    print(f"queries with at least one hit (desk, first 50): {sum(1 for h in hits if h)}/50; "
          f"example: «{asked[0]}» → {[h.article.published_title for h in desk((asked[0],))][:3]}")
    results: dict[str, list[tuple[float, float]]] = {}
    for round_number in range(1, args.rounds + 1):
        items = [(text, rng.choice(partner_ids)) for text in asked]
        lookups = [rng.choice(ids) for _ in asked]
        measured = {
            "baseline: pk lookup": timed(baseline, lookups),
            "portal: one partner's public": timed(portal, items),
            "portal, previous way": timed(portal_previous, items),
            "ticket panel: one partner's all": timed(ticket_panel, items),
            "desk: all 100k articles": timed(desk, items),
            "desk, previous way (every match ranked)": timed(desk_previous, items),
        }
        if args.naive_queries:
            measured["naive substring scan (all)"] = timed(substring,
                                                           items[:args.naive_queries])
        line = []
        for name, spent in measured.items():
            p50, p95 = statistics.median(spent), percentile(spent, 0.95)
            results.setdefault(name, []).append((p50, p95))
            line.append(f"{name} p50 {p50:.1f} / p95 {p95:.1f} ms")
        print(f"round {round_number}: " + "; ".join(line))
    base = statistics.median(p95 for _, p95 in results["baseline: pk lookup"])
    print("summary over rounds (min–max), ratio of the median p95 to the baseline's:")
    for name, rounds in results.items():
        p50s, p95s = [p50 for p50, _ in rounds], [p95 for _, p95 in rounds]
        print(f"  {name}: p50 {min(p50s):.1f}–{max(p50s):.1f} ms, "
              f"p95 {min(p95s):.1f}–{max(p95s):.1f} ms, "
              f"{statistics.median(p95s) / base:.0f}x baseline")


if __name__ == "__main__":
    main()
