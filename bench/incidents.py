"""Mass incidents on PostgreSQL: answering 1,000 linked tickets, the cached status page,
and the alert webhook.

Usage (a throwaway database is created and dropped; over the Unix socket, see DESIGN.md):
    .venv/bin/python bench/incidents.py [--tickets 1000] [--alerts 500] [--pages 2000]

Prints, each beside a baseline measured in the same run:
- the time to answer an incident with `--tickets` linked tickets (one public reply in each
  ticket, each letter in the outbox, one delivery row each, one transaction), against
  enqueueing the same number of bare outbox letters in one transaction;
- status page requests per second through the WSGI handler in-process (cached, then with
  the cache dropped before every request), one process;
- alerts per second through `alerts.receive` (Alertmanager v4 payloads, each a new
  fingerprint, half of them opening or joining an incident).
"""

import argparse
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB = "firstline_bench_incidents"
PSQL = ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-qc"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--pages", type=int, default=2000)
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
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=False)


def run(args: argparse.Namespace) -> None:
    from django.db import transaction

    from firstline.contacts.models import Contact, ContactEmail
    from firstline.core.clock import now
    from firstline.core.models import Partner, Service, Tariff, User
    from firstline.incidents import services
    from firstline.outbox import services as outbox
    from firstline.outbox.models import Channel
    from firstline.tickets.models import Channel as TicketChannel
    from firstline.tickets.models import Message, Ticket

    tariff = Tariff.objects.create(code="t", name="T", requests_included=1, minutes_included=1,
                                   monthly_fee=1, first_month_fee=1, overage_request_fee=1,
                                   overage_minute_fee=1)
    partner = Partner.objects.create(name="Bench", slug="bench", tariff=tariff,
                                     support_email="support@bench.example")
    service = Service.objects.create(partner=partner, name="VPS")
    operator = User.objects.create_user("op", role=User.Role.OPERATOR)
    moment = now()
    contacts = Contact.objects.bulk_create(
        [Contact(partner=partner, name=f"Customer {i}") for i in range(args.tickets)])
    ContactEmail.objects.bulk_create(
        [ContactEmail(partner=partner, contact=c, address=f"c{c.pk}@bench.example",
                      is_confirmed=True) for c in contacts])
    tickets = Ticket.objects.bulk_create(
        [Ticket(partner=partner, contact=c, channel=TicketChannel.EMAIL, subject="VPS down",
                customer_words="VPS down", service=service, created_at=moment,
                updated_at=moment) for c in contacts])
    Message.objects.bulk_create(
        [Message(partner=partner, ticket=t, kind=Message.Kind.INBOUND, body_text="VPS down",
                 created_at=moment) for t in tickets])
    incident = services.open_incident(
        partner=partner, actor=operator, title="VPS down", services=[service], impact="full",
        started_at=moment - timedelta(minutes=5), time_zone="Europe/Moscow")
    services.link_tickets(incident=incident, actor=operator, tickets=tickets)

    started = time.perf_counter()
    with transaction.atomic():
        for contact in contacts:
            outbox.enqueue(partner=partner, channel=Channel.EMAIL,
                           recipient=f"base{contact.pk}@bench.example", subject="s", body="b")
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    announcement = services.create_announcement(
        partner=partner, actor=operator, kind="incident", incident=incident, audience="linked",
        values={"began_at": incident.started_at, "time_zone": "Europe/Moscow",
                "services": [service], "impact": "full",
                "expected_fix_at": moment + timedelta(hours=2)})
    answered = time.perf_counter() - started
    print(f"answer an incident with {args.tickets} linked tickets: {answered:.2f} s "
          f"({announcement.deliveries.count()} letters); baseline {args.tickets} bare "
          f"outbox rows: {baseline:.2f} s; ratio {answered / baseline:.1f}x")

    from django.core.cache import cache
    from django.test import Client

    client = Client()
    client.get("/status/bench/")
    started = time.perf_counter()
    for _ in range(args.pages):
        client.get("/status/bench/")
    cached = args.pages / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(args.pages // 10):
        cache.clear()
        client.get("/status/bench/")
    uncached = (args.pages // 10) / (time.perf_counter() - started)
    print(f"status page, one process in-process: cached {cached:.0f} req/s, "
          f"uncached {uncached:.0f} req/s ({cached / uncached:.1f}x)")

    from firstline.incidents import alerts
    from firstline.incidents.models import AlertRule, AlertSource

    source = AlertSource.objects.create(name="Prometheus", kind="alertmanager")
    AlertRule.objects.create(source=source, match={"team": "vps"}, partner=partner,
                             service=service)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    started = time.perf_counter()
    for number in range(args.alerts):
        alerts.receive(source, {"version": "4", "status": "firing", "receiver": "fl",
                                "groupKey": "{}", "alerts": [{
                                    "status": "firing", "startsAt": stamp,
                                    "endsAt": "0001-01-01T00:00:00Z",
                                    "labels": {"team": "vps" if number % 2 else "other",
                                               "instance": f"i{number}"},
                                    "annotations": {}, "fingerprint": f"f{number}"}]})
    rate = args.alerts / (time.perf_counter() - started)
    print(f"alert webhook payloads applied: {rate:.0f} /s (in-process, one connection)")


if __name__ == "__main__":
    main()
