"""Monthly invoices on PostgreSQL: 1,000 partners, one month, over 1M tickets and 1M calls.

Usage (a throwaway database is created and dropped):
    .venv/bin/python bench/billing.py [--partners 1000] [--tickets 1000000] [--calls 1000000]
                                      [--rounds 3] [--documents 5] [--single 50]

- data: partners with subscriptions (Start / Optimum / All inclusive in turn), tickets and
  calls bulk inserted with INSERT ... SELECT generate_series: 90% in the billed month, 10% in
  the month before (so the month filter has work to do); 1 ticket in 50 a monitoring alert,
  1 call in 50 abandoned, 1 ticket in 100 a follower of a mass incident.
- invoices: `services.issue_month` for the month, in batches of 200 partners: per time
  zone one ordered query for the counted tickets and one for the billable calls of all
  its partners (grouped in Python: the usage-detail snapshot), the talk minutes in one
  aggregate, the lines computed in Python, the batch's gap-free numbers taken under one
  lock of the year's counter row, invoices, lines and audit events bulk-inserted.
  Without the PDF/XLSX files (`documents=False`: with files they are rendered afterwards,
  one worker task per invoice); they are timed separately per invoice.
  Each round deletes the previous round's invoices and resets the counter.
- the single path in the same run (`issue_invoice` per partner, what `issue_month` did
  before the batch: ~15 queries an invoice) for `--single` partners (50), extrapolated to
  all of them; its invoices are deleted again.
- baseline in the same run: a plain COUNT(*) of the month's tickets and of its calls, and a
  plain fetch of the same rows (id, time, channel / time, number, seconds) for every
  partner — the rows the invoices have to read anyway.
p50/p95 and min-max over the rounds; the load average is printed: the machine is shared.
"""

import argparse
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.throwaway import throwaway_database  # noqa: E402

DB = "firstline_bench_billing"
MONTH = date(2026, 10, 1)
ISSUED_AT = datetime(2026, 11, 2, 9, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--documents", type=int, default=5)
    parser.add_argument("--single", type=int, default=50)
    args = parser.parse_args()
    with throwaway_database(DB):
        partners = setup(args.partners)
        fill(partners, args.tickets, args.calls)
        bench(partners, args.rounds, args.documents, args.single)


def setup(count: int):  # type: ignore[no-untyped-def]
    from firstline.billing.models import Plan, Subscription
    from firstline.core.models import Partner, Tariff

    tariff = Tariff.objects.create(
        code="start", name="Start", requests_included=10, minutes_included=50,
        monthly_fee="4900", first_month_fee="4900", overage_request_fee="350",
        overage_minute_fee="9")
    partners = Partner.objects.bulk_create(
        Partner(name=f"Bench {n}", slug=f"bench-{n}", support_email=f"s@b{n}.example",
                tariff=tariff, time_zone="Europe/Moscow" if n % 5 else "Asia/Yekaterinburg")
        for n in range(count))
    plans = list(Plan.objects.order_by("code"))
    Subscription.objects.bulk_create(
        Subscription(partner=p, plan=plans[n % len(plans)], starts_on=date(2026, 1, 1))
        for n, p in enumerate(partners))
    return list(Partner.objects.filter(pk__in=[p.pk for p in partners])
                .select_related("tariff").order_by("pk"))


def fill(partners, tickets: int, calls: int) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    ids = [p.pk for p in partners]
    start = datetime(MONTH.year, MONTH.month, 1, tzinfo=UTC)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # 90% of the rows spread over the billed month, 10% over the 30 days before it.
        cursor.execute(
            """
            INSERT INTO tickets_ticket (partner_id, channel, identified_by, subject,
                customer_words, status, priority, created_at, updated_at, paused_minutes,
                classification, diagnostics, partner_group, routing_corrections)
            SELECT (%s::bigint[])[1 + n %% %s],
                CASE WHEN (n / %s) %% 50 = 0 THEN 'monitoring'
                     WHEN (n / %s) %% 3 = 0 THEN 'phone' ELSE 'email' END,
                'none', 'Bench request ' || n, '', 'closed', 'normal',
                CASE WHEN (n / %s) %% 10 = 0
                     THEN %s - (n %% 2592000) * interval '1 second' - interval '1 second'
                     ELSE %s + (n %% 2678400) * interval '1 second' END,
                now(), 0, '[]', '[]', '', 0
            FROM generate_series(1, %s) AS n
            """,
            [ids, len(ids), len(ids), len(ids), len(ids), start, start, tickets],
        )
        t_tickets = time.perf_counter() - started
        cursor.execute(
            """
            INSERT INTO calls_call (partner_id, source, external_id, direction, caller,
                dialled, started_at, ended_at, wait_seconds, talk_seconds, outcome,
                recording_url, reported_outcome, updated_at)
            SELECT (%s::bigint[])[1 + n %% %s], 'demo', 'b' || n, 'inbound',
                '+7495' || lpad((n %% 10000000)::text, 7, '0'), '',
                CASE WHEN (n / %s) %% 10 = 0
                     THEN %s - (n %% 2592000) * interval '1 second' - interval '1 second'
                     ELSE %s + (n %% 2678400) * interval '1 second' END,
                now(), n %% 120, 1 + n %% 240,
                CASE WHEN (n / %s) %% 50 = 0 THEN 'abandoned' ELSE 'answered' END, '', '', now()
            FROM generate_series(1, %s) AS n
            """,
            [ids, len(ids), len(ids), start, start, len(ids), calls],
        )
        # A mass incident per partner with 1 ticket in 100 linked after the first.
        cursor.execute(
            """
            INSERT INTO incidents_incident (partner_id, title, impact, status, started_at,
                detected_at, time_zone, created_at)
            SELECT id, 'Bench outage', 'full', 'resolved', %s, %s, 'Europe/Moscow', now()
            FROM core_partner
            """,
            [start, start],
        )
        cursor.execute(
            """
            INSERT INTO incidents_incidentticket (partner_id, incident_id, ticket_id, linked_at)
            SELECT t.partner_id, i.id, t.id, now()
            FROM tickets_ticket t JOIN incidents_incident i ON i.partner_id = t.partner_id
            WHERE (t.id / %s) %% 100 = 0
            """,
            [len(ids)],
        )
        cursor.execute("ANALYZE")
    print(f"data: {tickets:,} tickets in {t_tickets:.1f} s, {calls:,} calls and the incident "
          f"links in {time.perf_counter() - started - t_tickets:.1f} s; "
          f"{len(partners):,} partners")


def _stats(name: str, runs: list[float]) -> float:
    ordered = sorted(runs)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"  {name}: p50 {statistics.median(runs):.2f} s, p95 {p95:.2f} s, "
          f"min-max {min(runs):.2f}-{max(runs):.2f} s over {len(runs)} rounds")
    return statistics.median(runs)


def bench(partners, rounds: int, documents: int, single: int) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    from firstline.billing import services
    from firstline.billing.models import Invoice
    from firstline.calls.queries import month_bounds

    start, end = month_bounds(MONTH, "Europe/Moscow")
    base_count, base_fetch, runs, single_runs = [], [], [], []
    issued: list = []
    for _round in range(rounds):
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM tickets_ticket WHERE created_at >= %s AND "
                           "created_at < %s", [start, end])
            cursor.fetchone()
            cursor.execute("SELECT count(*) FROM calls_call WHERE started_at >= %s AND "
                           "started_at < %s", [start, end])
            cursor.fetchone()
        base_count.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            for partner in partners:
                cursor.execute("SELECT id, created_at, channel FROM tickets_ticket WHERE "
                               "partner_id = %s AND created_at >= %s AND created_at < %s",
                               [partner.pk, start, end])
                cursor.fetchall()
                cursor.execute("SELECT started_at, caller, talk_seconds FROM calls_call "
                               "WHERE partner_id = %s AND started_at >= %s AND "
                               "started_at < %s", [partner.pk, start, end])
                cursor.fetchall()
        base_fetch.append(time.perf_counter() - t0)

        if single:
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE billing_invoiceline, billing_invoice, "
                               "billing_counter, core_auditevent")
            sample = partners[:single]
            t0 = time.perf_counter()
            for partner in sample:
                services.issue_invoice(partner, MONTH, at=ISSUED_AT, documents=False,
                                       mail=False)
            single_runs.append((time.perf_counter() - t0) * len(partners) / len(sample))
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE billing_invoiceline, billing_invoice, billing_counter, "
                           "core_auditevent")
        t0 = time.perf_counter()
        issued = services.issue_month(MONTH, at=ISSUED_AT, documents=False, mail=False)
        runs.append(time.perf_counter() - t0)
        assert len(issued) == len(partners), len(issued)

    numbers = sorted(invoice.sequence for invoice in issued)
    assert numbers == list(range(1, len(partners) + 1)), "numbers have gaps"
    total = sum((invoice.total for invoice in issued), start=type(issued[0].total)(0))
    sample = Invoice.objects.filter(pk=issued[0].pk).first()
    print(f"invoices for {len(partners):,} partners, {MONTH:%Y-%m} "
          f"(numbers 1..{numbers[-1]} without gaps; total {total:,.2f} RUB; e.g. "
          f"{sample.usage['requests']} requests, {sample.usage['minutes']} minutes, "
          f"{len(sample.usage['calls'])} calls listed):")
    best = _stats("issue_month (no files)", runs)
    if single_runs:
        before = _stats(f"single path, issue_invoice per partner ({single} partners, "
                        f"x {len(partners) / single:g})", single_runs)
        print(f"  batch speed-up over the single path: {before / best:.1f}x")
    count = _stats("baseline COUNT(*) tickets + calls of the month", base_count)
    fetch = _stats("baseline plain fetch of every partner's rows of the month", base_fetch)
    print(f"  ratio to the COUNT baseline {best / count:.0f}x, to the plain fetch "
          f"{best / fetch:.1f}x; per invoice {best / len(partners) * 1000:.1f} ms")

    if documents:
        doc_runs = []
        for invoice in issued[:documents]:
            lines = [{"description": line.description, "quantity": line.quantity,
                      "unit": line.unit, "unit_price": line.unit_price,
                      "amount": line.amount} for line in invoice.lines.all()]
            t0 = time.perf_counter()
            services.render_pdf(invoice, lines)
            services.render_xlsx(invoice, lines)
            doc_runs.append(time.perf_counter() - t0)
        print(f"documents (PDF + XLSX with ~{len(issued[0].usage['tickets'])} requests and "
              f"~{len(issued[0].usage['calls'])} calls listed), per invoice:")
        per = _stats("render", doc_runs[1:] or doc_runs)
        print(f"  x {len(partners):,} partners ≈ {per * len(partners) / 60:.0f} min of one core "
              "(one worker task per invoice, after the batch commits)")


if __name__ == "__main__":
    main()
