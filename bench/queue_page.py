"""Queue page and ticket list over 100k tickets on PostgreSQL.

Usage (a throwaway database is created and dropped):
    .venv/bin/python bench/queue_page.py [--tickets 100000]

Prints the median time of: the baseline (fetch one ticket by primary key), the operator's
first queue page (all partners, active, due first), a partner's queue page, a search by
number, the count query Django's paginator runs and the desk's bounded count, and the whole
queue view rendered (Django's test client: middleware, query, template; no HTTP), with p95;
each as a ratio to the baseline, and the query plan of the queue page.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
DB = "firstline_bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    subprocess.run(["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres",
                    "-qc", f"DROP DATABASE IF EXISTS {DB}"], check=True)
    subprocess.run(["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres",
                    "-qc", f"CREATE DATABASE {DB}"], check=True)
    # Over the Unix socket: on these machines TCP to 127.0.0.1 costs ~4x per round trip.
    os.environ["DATABASE_URL"] = f"postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{DB}"
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("FIRSTLINE_INSECURE_DEV_KEY", "1")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ["DJANGO_SETTINGS_MODULE"] = "firstline.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    try:
        run(args.tickets, args.repeat)
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run(["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d",
                        "postgres", "-qc", f"DROP DATABASE IF EXISTS {DB}"], check=False)


def populate(count: int) -> None:
    from firstline.contacts.models import Contact
    from firstline.core.clock import now
    from firstline.core.models import Partner, Tariff, User
    from firstline.sla.deadlines import FALLBACK_TARGETS
    from firstline.tickets.models import Channel, Priority, Status, Ticket

    rng = random.Random(7)
    tariff = Tariff.objects.create(code="t", name="T", requests_included=1, minutes_included=1,
                                   monthly_fee=1, first_month_fee=1, overage_request_fee=1,
                                   overage_minute_fee=1)
    partners = [Partner.objects.create(name=f"P{i}", slug=f"p{i}", tariff=tariff,
                                       support_email=f"s@p{i}.example") for i in range(20)]
    contacts = {p.pk: Contact.objects.bulk_create(
        [Contact(partner=p, name=f"Contact {p.pk}-{i}") for i in range(200)]) for p in partners}
    staff = [User.objects.create_user(f"op{i}", role="operator") for i in range(10)]
    moment = now()
    statuses = [Status.CLOSED] * 6 + [Status.RESOLVED] * 2 + [
        Status.NEW, Status.OPEN, Status.WAITING_CUSTOMER, Status.WAITING_PARTNER]
    batch = []
    for index in range(count):
        partner = rng.choice(partners)
        created = moment - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
        status = rng.choice(statuses)
        priority = rng.choice(Priority.values)
        active = status not in (Status.RESOLVED, Status.CLOSED)
        batch.append(Ticket(
            partner=partner, contact=rng.choice(contacts[partner.pk]), channel=Channel.EMAIL,
            subject=f"Request {index}", customer_words="text", status=status,
            priority=priority, created_at=created, updated_at=created,
            assignee=rng.choice(staff) if rng.random() < 0.7 else None,
            due_at=(created + timedelta(minutes=FALLBACK_TARGETS[priority][1])
                    if active else None),
        ))
        if len(batch) == 5000:
            Ticket.objects.bulk_create(batch)
            batch = []
    Ticket.objects.bulk_create(batch)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def timed(function, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def sampled(function, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return samples


def run(count: int, repeat: int) -> None:
    from django.core.paginator import Paginator
    from django.db import connection
    from django.test import Client

    from firstline.core.models import Partner, User
    from firstline.tenancy import tickets_for
    from firstline.tickets.models import Ticket
    from firstline.tickets.queries import QueueFilter, queue
    from firstline.web.paging import BoundedPaginator

    start = time.perf_counter()
    populate(count)
    print(f"populated {count} tickets in {time.perf_counter() - start:.1f} s")
    operator = User.objects.filter(role="operator").first()
    partner = Partner.objects.first()
    some_id = Ticket.objects.order_by("?").values_list("pk", flat=True).first()

    def first_page(filters):
        def go():
            page = Paginator(queue(tickets_for(operator), filters, operator), 50).get_page(1)
            return [(t.number, t.partner.name, t.contact.name if t.contact else "")
                    for t in page]
        return go

    cases = {
        "baseline: one ticket by pk": lambda: Ticket.objects.get(pk=some_id),
        "queue page, all partners": first_page(QueueFilter()),
        "queue page, one partner": first_page(QueueFilter(partner_id=partner.pk)),
        "queue page, search by number": first_page(QueueFilter(search=f"FL-{some_id:06d}")),
        "paginator count, all active": lambda: queue(
            tickets_for(operator), QueueFilter(), operator).count(),
        "bounded count (the desk's, <= 1000)": lambda: BoundedPaginator(
            queue(tickets_for(operator), QueueFilter(status="active"), operator), 50).count,
        "queue view rendered, all active": lambda: desk.get("/tickets/?status=active"),
        "queue view rendered, first line": lambda: desk.get("/tickets/?status=first_line"),
    }
    desk = Client()
    desk.force_login(operator)
    active = queue(tickets_for(operator), QueueFilter(status="active"), operator).count()
    print(f"{count} tickets, {active} active; median and p95 of {repeat} runs")
    baseline = None
    for name, function in cases.items():
        function()
        samples = sampled(function, repeat)
        median = statistics.median(samples)
        baseline = baseline or median
        p95 = sorted(samples)[max(0, round(0.95 * len(samples)) - 1)]
        print(f"{name:36s} {median * 1000:8.2f} ms  p95 {p95 * 1000:8.2f} ms   "
              f"x{median / baseline:6.1f}")
    sql, params = queue(tickets_for(operator), QueueFilter(), operator)[:50].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN ANALYZE " + sql, params)
        print("\n".join(row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
