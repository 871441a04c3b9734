"""Mass incidents on PostgreSQL: answering 1,000 linked tickets, the cached status page,
and the alert webhook.

Usage (a throwaway database is created and dropped; over the Unix socket, see DESIGN.md):
    .venv/bin/python bench/incidents.py [--tickets 1000] [--alerts 500] [--pages 2000]
        [--rounds 3] [--profile] [--webhook-payloads 400] [--per-payload 10]
        [--connections 8] [--workers 2] [--only-webhook]

Prints, each beside a baseline measured in the same run:
- the time to answer an incident with `--tickets` linked tickets (one public reply in each
  ticket, each letter in the outbox, one delivery row each, one transaction), against
  enqueueing the same number of bare outbox letters in one transaction;
- status page requests per second through the WSGI handler in-process (cached, then with
  the cache dropped before every request), one process;
- alerts per second through `alerts.receive` (Alertmanager v4 payloads, each a new
  fingerprint, half of them opening or joining an incident);
- the alert webhook over real HTTP (the issue's aim, >= 500 alerts/s): firstline served by
  gunicorn with `--workers` sync workers (bench/intake_wsgi.py, as bench/intake.py serves
  it), `--connections` concurrent clients POSTing Alertmanager v4 payloads of
  `--per-payload` alerts each (Alertmanager groups alerts), to /incidents/alerts/<token>/:
  first every alert new (half parked, half joining the open incident), then the same
  payloads again (Alertmanager repeats a group's firing alerts every group_interval: the
  repeats), counted in alerts/s; beside the same server's bare one-row insert view in
  requests/s (the baseline, the better of a run before and after).
"""

import argparse
import os
import statistics
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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true",
                        help="print the answer's top functions by cumulative time")
    parser.add_argument("--webhook-payloads", type=int, default=400)
    parser.add_argument("--per-payload", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only-webhook", action="store_true",
                        help="measure the alert webhook over HTTP only")
    args = parser.parse_args()
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=True)
    subprocess.run([*PSQL, f"CREATE DATABASE {DB}"], check=True)
    os.environ["DATABASE_URL"] = f"postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{DB}"
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("FIRSTLINE_INSECURE_DEV_KEY", "1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "firstline.settings"
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    import django

    django.setup()
    from django.core.management import call_command

    try:
        call_command("migrate", verbosity=0)
        if not args.only_webhook:
            run(args)
        webhook_over_http(args)
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=False)


def spread(values: list[float], unit: str, digits: int = 2) -> str:
    """Median, p95 and min–max of the values."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return (f"p50 {statistics.median(ordered):.{digits}f} {unit}, p95 {p95:.{digits}f} {unit}, "
            f"min–max {ordered[0]:.{digits}f}–{ordered[-1]:.{digits}f} {unit}")


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

    def linked_incident(round_number: int):
        contacts = Contact.objects.bulk_create(
            [Contact(partner=partner, name=f"Customer {round_number}.{i}")
             for i in range(args.tickets)])
        ContactEmail.objects.bulk_create(
            [ContactEmail(partner=partner, contact=c, address=f"c{c.pk}@bench.example",
                          is_confirmed=True) for c in contacts])
        tickets = Ticket.objects.bulk_create(
            [Ticket(partner=partner, contact=c, channel=TicketChannel.EMAIL,
                    subject="VPS down", customer_words="VPS down", service=service,
                    created_at=moment, updated_at=moment) for c in contacts])
        Message.objects.bulk_create(
            [Message(partner=partner, ticket=t, kind=Message.Kind.INBOUND,
                     body_text="VPS down", created_at=moment) for t in tickets])
        incident = services.open_incident(
            partner=partner, actor=operator, title="VPS down", services=[service],
            impact="full", started_at=moment - timedelta(minutes=5),
            time_zone="Europe/Moscow")
        services.link_tickets(incident=incident, actor=operator, tickets=tickets)
        return incident, contacts

    import cProfile
    import pstats

    answers, baselines, letters = [], [], 0
    for round_number in range(args.rounds):
        incident, contacts = linked_incident(round_number)
        started = time.perf_counter()
        with transaction.atomic():
            for contact in contacts:
                outbox.enqueue(partner=partner, channel=Channel.EMAIL,
                               recipient=f"base{contact.pk}@bench.example", subject="s",
                               body="b")
        baselines.append(time.perf_counter() - started)
        profiler = cProfile.Profile() if args.profile and round_number == 0 else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        announcement = services.create_announcement(
            partner=partner, actor=operator, kind="incident", incident=incident,
            audience="linked",
            values={"began_at": incident.started_at, "time_zone": "Europe/Moscow",
                    "services": [service], "impact": "full",
                    "expected_fix_at": moment + timedelta(hours=2)})
        answers.append(time.perf_counter() - started)
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        letters = announcement.deliveries.count()
    ratio = statistics.median(answers) / statistics.median(baselines)
    print(f"answer an incident with {args.tickets} linked tickets ({letters} letters), "
          f"{args.rounds} rounds: {spread(answers, 's')}")
    print(f"  baseline, {args.tickets} bare outbox.enqueue in one transaction: "
          f"{spread(baselines, 's')}; ratio of medians {ratio:.2f}x")

    from django.core.cache import cache
    from django.test import Client

    client = Client()
    client.get("/status/bench/")
    cached_rates, uncached_rates = [], []
    for _round in range(args.rounds):
        started = time.perf_counter()
        for _ in range(args.pages):
            client.get("/status/bench/")
        cached_rates.append(args.pages / (time.perf_counter() - started))
        started = time.perf_counter()
        for _ in range(args.pages // 10):
            cache.clear()
            client.get("/status/bench/")
        uncached_rates.append((args.pages // 10) / (time.perf_counter() - started))
    print(f"status page, one process in-process: cached {spread(cached_rates, 'req/s', 0)}; "
          f"uncached {spread(uncached_rates, 'req/s', 0)}")

    from firstline.incidents import alerts
    from firstline.incidents.models import Alert, AlertRule, AlertSource

    source = AlertSource.objects.create(name="Prometheus", kind="alertmanager")
    AlertRule.objects.create(source=source, match={"team": "vps"}, partner=partner,
                             service=service)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    rates, latencies, floor_rates = [], [], []
    for round_number in range(args.rounds):
        started = time.perf_counter()
        for number in range(args.alerts):
            with transaction.atomic():
                Alert.objects.create(source=source, fingerprint=f"base{round_number}.{number}",
                                     state="parked", starts_at=moment)
        floor_rates.append(args.alerts / (time.perf_counter() - started))
        started = time.perf_counter()
        for number in range(args.alerts):
            one = time.perf_counter()
            alerts.receive(source, {"version": "4", "status": "firing", "receiver": "fl",
                                    "groupKey": "{}", "alerts": [{
                                        "status": "firing", "startsAt": stamp,
                                        "endsAt": "0001-01-01T00:00:00Z",
                                        "labels": {"team": "vps" if number % 2 else "other",
                                                   "instance": f"i{number}"},
                                        "annotations": {},
                                        "fingerprint": f"f{round_number}.{number}"}]})
            latencies.append((time.perf_counter() - one) * 1000)
        rates.append(args.alerts / (time.perf_counter() - started))
    print(f"alert webhook payloads applied (in-process, one connection, half parked, half "
          f"joining the open incident): {spread(rates, '/s', 0)}; per payload "
          f"{spread(latencies, 'ms', 1)}")
    print(f"  baseline, one parked Alert row inserted per transaction: "
          f"{spread(floor_rates, '/s', 0)}; ratio of medians "
          f"{statistics.median(rates) / statistics.median(floor_rates):.2f}x")


def webhook_over_http(args: argparse.Namespace) -> None:
    """The alert webhook through gunicorn (see the module docstring)."""
    import signal

    from django.db import connection, connections

    from bench.intake import free_port, load, wait_for
    from firstline.core.clock import now
    from firstline.core.models import Partner, Service, Tariff
    from firstline.incidents.models import Alert, AlertRule, AlertSource, Incident

    tariff = Tariff.objects.get_or_create(
        code="w", defaults={"name": "W", "requests_included": 1, "minutes_included": 1,
                            "monthly_fee": 1, "first_month_fee": 1, "overage_request_fee": 1,
                            "overage_minute_fee": 1})[0]
    partner = Partner.objects.create(name="Hooked", slug="hooked", tariff=tariff,
                                     support_email="support@hooked.example")
    service = Service.objects.create(partner=partner, name="Mail")
    source = AlertSource.objects.create(name="Alertmanager over HTTP", kind="alertmanager")
    AlertRule.objects.create(source=source, match={"team": "mail"}, partner=partner,
                             service=service)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_bare (id bigserial PRIMARY KEY, "
                       "subject text, created_at timestamptz)")
    connections.close_all()
    stamp = now().strftime("%Y-%m-%dT%H:%M:%SZ")
    counter = iter(range(10**9))

    def payloads(count: int) -> list[dict]:
        found = []
        for _ in range(count):
            number = next(counter)
            found.append({
                "version": "4", "groupKey": f'{{}}:{{group="{number}"}}', "status": "firing",
                "receiver": "firstline", "groupLabels": {"group": str(number)},
                "commonLabels": {}, "commonAnnotations": {},
                "externalURL": "http://alertmanager.example:9093", "truncatedAlerts": 0,
                "alerts": [{
                    "status": "firing", "startsAt": stamp, "endsAt": "0001-01-01T00:00:00Z",
                    "labels": {"alertname": "Down", "instance": f"h{number}.{k}",
                               "team": "mail" if (number + k) % 2 else "unknown"},
                    "annotations": {"summary": "Host down"},
                    "generatorURL": "http://prometheus.example:9090/graph",
                    "fingerprint": f"{number:08x}{k:08x}"} for k in range(args.per_payload)]})
        return found

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers",
         str(args.workers), "--worker-class", "sync", "--backlog", "2048",
         "--error-logfile", "-", "--log-level", "warning", "--chdir", str(ROOT),
         "bench.intake_wsgi:application"],
        env=os.environ.copy(), start_new_session=True)
    path = f"/incidents/alerts/{source.token}/"
    bare_body = [{"subject": "x"}]
    try:
        wait_for(port)
        # Warm both paths; the first alert opens the incident the others join.
        load(port, "/bench/bare/", bare_body * 50, {}, args.connections)
        load(port, path, payloads(1), {}, 1, expect=200)
        load(port, path, payloads(20), {}, args.connections, expect=200)
        new_rates, repeat_rates, bare_rates, latencies = [], [], [], []
        for number in range(1, args.rounds + 1):
            bare_1 = load(port, "/bench/bare/", bare_body * args.webhook_payloads, {},
                          args.connections)[0]
            batch = payloads(args.webhook_payloads)
            fresh, spent = load(port, path, batch, {}, args.connections, expect=200)
            again = load(port, path, batch, {}, args.connections, expect=200)[0]
            bare_2 = load(port, "/bench/bare/", bare_body * args.webhook_payloads, {},
                          args.connections)[0]
            new_rates.append(fresh * args.per_payload)
            repeat_rates.append(again * args.per_payload)
            bare_rates.append(max(bare_1, bare_2))
            latencies += [value * 1000 for value in spent]
            print(f"round {number}: new alerts {fresh * args.per_payload:.0f}/s "
                  f"({fresh:.0f} payloads/s), repeats {again * args.per_payload:.0f}/s; "
                  f"bare insert {max(bare_1, bare_2):.0f} req/s", flush=True)
        incidents = Incident.objects.filter(partner=partner).count()
        stored = Alert.objects.filter(source=source).count()
        print(f"alert webhook over HTTP, {args.workers} sync workers, {args.connections} "
              f"connections, {args.per_payload} alerts per payload: new "
              f"{spread(new_rates, 'alerts/s', 0)}; repeats {spread(repeat_rates, 'alerts/s', 0)}"
              f"; per new payload {spread(latencies, 'ms', 1)}")
        print(f"  baseline, bare one-row insert view on the same server: "
              f"{spread(bare_rates, 'req/s', 0)}; new alerts per bare request "
              f"{statistics.median(new_rates) / statistics.median(bare_rates):.2f}x; "
              f"{stored} alerts stored, {incidents} incident(s) open for the service")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
