"""The invoice PDF's usage detail on PostgreSQL data: the cost of repeating the column
headings on every page (each listed request or call a one-cell table row under a repeated
table head), against the previous layout (each list one preformatted block, headings
only on its first page), in the same run.

Usage (a throwaway database is created and dropped):
    .venv/bin/python bench/invoice_pdf_pages.py [--tickets 2000] [--calls 2000] [--rounds 3]

- data: one partner on the Start plan with `--tickets` counted requests and `--calls`
  answered calls in October 2026 (bulk inserted), its invoice issued once.
- each round renders the same invoice both ways with WeasyPrint: `services.render_pdf`
  (billing/invoice_pdf.html now), and the same template with its two lists put back as
  they were (PREVIOUS_DETAIL), the same data and stylesheet.
- figures: wall p50/p95 and min-max over the rounds, process CPU per invoice and per
  listed line (WeasyPrint runs in this process: the CPU figure does not depend on the
  machine's load), pages, the ratio now / before; the load average (the machine is shared).
"""

import argparse
import io
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.throwaway import throwaway_database  # noqa: E402

DB = "fl_bench_remainders_invoice"
MONTH = date(2026, 10, 1)

# The previous layout of the usage detail (before commit 9ab1aaf): each list one <pre>
# under one heading line. The baseline is today's template with its lists put back so.
PREVIOUS_DETAIL = """<h3>{% translate "Requests" %}</h3>
<div class="detail-head">{{ ticket_head }}</div>
<pre class="detail">{{ ticket_text }}</pre>
<h3>{% translate "Calls" %}</h3>
<div class="detail-head">{{ call_head }}</div>
<pre class="detail">{{ call_text }}</pre>
"""
LISTS_NOW = ("{% translate \"Requests\" as title %}{% include "
             "\"billing/_invoice_usage_list.html\" with kind=\"tickets\" rows=usage.tickets %}\n"
             "{% translate \"Calls\" as title %}{% include "
             "\"billing/_invoice_usage_list.html\" with kind=\"calls\" rows=usage.calls %}\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with throwaway_database(DB):
        invoice = setup(args.tickets, args.calls)
        bench(invoice, args.rounds)


def setup(tickets: int, calls: int):  # type: ignore[no-untyped-def]
    from firstline.billing import services
    from firstline.billing.models import Plan
    from firstline.calls.models import Call, Direction, Outcome, Source
    from firstline.core.models import Partner, Tariff
    from firstline.tickets.models import Channel, Ticket

    tariff = Tariff.objects.create(
        code="start", name="Start", requests_included=10, minutes_included=50,
        monthly_fee="4900", first_month_fee="4900", overage_request_fee="350",
        overage_minute_fee="9")
    partner = Partner.objects.create(name="Облакотека", slug="bench", tariff=tariff,
                                     support_email="s@bench.example")
    services.subscribe(partner=partner, plan=Plan.objects.get(code="start"),
                       starts_on=date(2026, 1, 1), actor=None)
    start = datetime(2026, 10, 1, 6, tzinfo=UTC)
    Ticket.objects.bulk_create(
        (Ticket(partner=partner, channel=Channel.EMAIL if n % 3 else Channel.PHONE,
                subject=f"Bench {n}", created_at=start + timedelta(minutes=20 * n),
                updated_at=start) for n in range(tickets)), batch_size=2000)
    Call.objects.bulk_create(
        (Call(partner=partner, source=Source.WEBHOOK, external_id=f"bench-{n}",
              direction=Direction.INBOUND, caller=f"+7495{n:07d}",
              started_at=start + timedelta(minutes=20 * n), answered_at=start,
              ended_at=start + timedelta(seconds=30 + n % 600), talk_seconds=30 + n % 600,
              outcome=Outcome.ANSWERED) for n in range(calls)), batch_size=2000)
    invoice = services.issue_invoice(partner, MONTH, at=datetime(2026, 11, 2, 6, tzinfo=UTC),
                                     documents=False, mail=False)
    print(f"invoice {invoice.number}: {len(invoice.usage['tickets']):,} requests and "
          f"{len(invoice.usage['calls']):,} calls listed")
    return invoice


def bench(invoice, rounds: int) -> None:  # type: ignore[no-untyped-def]
    from django.template import engines
    from django.utils import translation
    from pypdf import PdfReader
    from weasyprint import CSS, HTML

    from firstline.billing import services

    lines = [{"description": line.description, "quantity": line.quantity, "unit": line.unit,
              "unit_price": line.unit_price, "amount": line.amount}
             for line in invoice.lines.all()]
    template = (Path(services.__file__).parent / "templates" / "billing"
                / "invoice_pdf.html").read_text()
    assert LISTS_NOW in template, "the template's lists changed: update the baseline"
    previous = engines["django"].from_string(template.replace(LISTS_NOW, PREVIOUS_DETAIL))
    stylesheet = CSS(filename=str(services.STYLESHEET))

    def before() -> bytes:
        with translation.override("ru"):
            html = previous.render(services._document_data(invoice, lines))
        return HTML(string=html).write_pdf(stylesheets=[stylesheet])

    def now() -> bytes:
        return services.render_pdf(invoice, lines)

    listed = len(invoice.usage["tickets"]) + len(invoice.usage["calls"])
    results: dict[str, list[tuple[float, float]]] = {"before": [], "now": []}
    pages = {}
    loads = []
    for _round in range(rounds):
        for name, render in (("before", before), ("now", now)):
            wall, cpu = time.perf_counter(), time.process_time()
            pdf = render()
            results[name].append((time.perf_counter() - wall, time.process_time() - cpu))
            pages[name] = len(PdfReader(io.BytesIO(pdf)).pages)
        loads.append(os.getloadavg()[0])
    print(f"{rounds} rounds; 1-min load during them: {min(loads):.1f}-{max(loads):.1f}")
    for name, label in (("before", "previous layout (headings on page 1 only)"),
                        ("now", "headings repeated on every page")):
        walls = sorted(row[0] for row in results[name])
        cpu = statistics.median(row[1] for row in results[name])
        p95 = walls[min(len(walls) - 1, round(0.95 * (len(walls) - 1)))]
        print(f"  {label:42} {pages[name]:3} pages  wall p50 {statistics.median(walls):6.2f} s"
              f"  p95 {p95:6.2f} s  ({min(walls):.2f}-{max(walls):.2f})  CPU {cpu:6.2f} s, "
              f"{cpu / listed * 1000:5.2f} ms a listed line")
    ratio = (statistics.median(row[1] for row in results["now"])
             / statistics.median(row[1] for row in results["before"]))
    print(f"  CPU now / before: {ratio:.2f}x")


if __name__ == "__main__":
    main()
