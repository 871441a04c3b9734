"""Quality metrics and the monthly report over 1M tickets of 100 partners, on PostgreSQL.

Usage (a throwaway database is created and dropped):
    .venv/bin/python bench/metrics.py [--tickets 1000000] [--partners 100]

Prints the median time of: the baseline (one ticket by primary key), every metric of one
partner and month together (the issue's budget: < 1 s), the monthly report's snapshot and
PDF (< 3 s), the XLSX, and the dashboard page p50/p95 over 20 requests (< 300 ms); each also
as a ratio to the baseline.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
DB = "firstline_bench_metrics"
PSQL = ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-qc"]
MONTH = date(2026, 3, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--partners", type=int, default=100)
    args = parser.parse_args()
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=True)
    subprocess.run([*PSQL, f"CREATE DATABASE {DB}"], check=True)
    # Over the Unix socket: on these machines TCP to 127.0.0.1 costs ~4x per round trip.
    os.environ["DATABASE_URL"] = f"postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{DB}"
    os.environ.setdefault("DEBUG", "1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "firstline.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    try:
        run(args.tickets, args.partners)
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=False)


def populate(count: int, partners: int) -> list[int]:
    from django.db import connection

    from firstline.core.models import Partner, Service, Tariff

    tariff = Tariff.objects.create(code="t", name="T", requests_included=1, minutes_included=1,
                                   monthly_fee=1, first_month_fee=1, overage_request_fee=1,
                                   overage_minute_fee=1)
    ids = []
    for index in range(partners):
        partner = Partner.objects.create(name=f"Партнёр {index}", slug=f"p{index}",
                                         tariff=tariff, support_email=f"s@p{index}.example")
        Service.objects.create(partner=partner, name="VPS")
        ids.append(partner.pk)
    low, high = min(ids), max(ids)
    started = time.perf_counter()
    # A year of tickets ending with March 2026, spread evenly; facts drawn per row.
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO tickets_ticket (partner_id, channel, identified_by, subject,
                customer_words, status, priority, created_at, updated_at, paused_minutes,
                classification, diagnostics, partner_group, routing_corrections,
                reaction_minutes, reaction_in_time, resolution_minutes, resolution_in_time,
                resolved_at, handed_over_at, classified_at, first_line_resolved,
                first_contact_resolved)
            SELECT {low} + (g % {high - low + 1}),
                   (ARRAY['email','phone','portal','api'])[1 + g % 4], 'none',
                   'Нет доступа к FTP ' || g, 'нет доступа', 'closed',
                   (ARRAY['critical','high','normal','low'])[1 + g % 4],
                   c, c, 0, '[]', '[]', '', (g % 11 = 0)::int,
                   r, r <= 60, s, s <= 1200, c + s * interval '1 minute',
                   CASE WHEN g % 3 = 0 THEN c + interval '30 minutes' END,
                   c + (g % 90) * interval '1 minute', g % 3 <> 0, g % 3 = 1
            FROM (
                SELECT g, timestamptz '2026-04-01 00:00+03'
                          - (g::float / {count}) * interval '365 days' AS c,
                       ((g::bigint * 7919) % 130)::int AS r,
                       ((g::bigint * 104729) % 2000 + 5)::int AS s
                FROM generate_series(1, {count}) AS g
            ) AS t
        """)
        cursor.execute("ANALYZE tickets_ticket")
    print(f"populated {count:,} tickets of {partners} partners "
          f"in {time.perf_counter() - started:.1f} s")
    return ids


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(count: int, partners: int) -> None:
    from django.test import Client

    from firstline.core.models import Partner, User
    from firstline.metrics import registry, report, services
    from firstline.metrics.facts import Scope, month_period
    from firstline.tickets.models import Ticket

    ids = populate(count, partners)
    partner = Partner.objects.get(pk=ids[len(ids) // 2])
    start, end = month_period(MONTH, partner.time_zone)
    scope = Scope((partner.pk,), start, end, month=MONTH)
    some = Ticket.objects.filter(partner=partner).values_list("pk", flat=True).first()
    baseline = median_seconds(lambda: Ticket.objects.get(pk=some), 30)
    rows = [("baseline: one ticket by pk", baseline)]
    rows.append(("every metric, one partner and month",
                 median_seconds(lambda: registry.compute_all(scope,
                                                             services.targets_for(partner)), 5)))
    data = report.snapshot(partner, MONTH, "ru")
    rows.append(("report snapshot (this month and the one before)",
                 median_seconds(lambda: report.snapshot(partner, MONTH, "ru"), 3)))
    rows.append(("report PDF (WeasyPrint, from the snapshot)",
                 median_seconds(lambda: report.render_pdf(data), 3)))
    rows.append(("report XLSX (from the snapshot)",
                 median_seconds(lambda: report.render_xlsx(data), 3)))
    supervisor = User.objects.create_user("supervisor", role=User.Role.SUPERVISOR)
    client = Client()
    client.force_login(supervisor)
    url = f"/metrics/?partner={partner.pk}&month={MONTH:%Y-%m}"
    assert client.get(url).status_code == 200
    page_times = []
    for _ in range(20):
        started = time.perf_counter()
        client.get(url)
        page_times.append(time.perf_counter() - started)
    page_times.sort()
    rows.append(("dashboard page p50", statistics.median(page_times)))
    rows.append(("dashboard page p95", page_times[int(0.95 * (len(page_times) - 1))]))
    all_scope = Scope(tuple(ids), start, end, month=MONTH)  # as the dashboard builds it
    rows.append(("every metric, all partners, one month",
                 median_seconds(lambda: registry.compute_all(all_scope), 3)))
    print(f"{'what':55} {'ms':>9} {'x baseline':>11}")
    for name, seconds in rows:
        print(f"{name:55} {seconds * 1000:9.1f} {seconds / baseline:11.0f}")


if __name__ == "__main__":
    main()
