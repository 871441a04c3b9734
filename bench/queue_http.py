"""The operator queue over HTTP at 1M tickets on PostgreSQL, as the backlog of active ones grows.

Usage (a throwaway database is created and dropped; the server listens on the loopback):
    .venv/bin/python bench/queue_http.py [--tickets 1000000] [--active 30000,130000,500000]
        [--requests 200] [--connections 4] [--rounds 3] [--compare REV]

Fills the database with `--tickets` tickets in one `INSERT … SELECT generate_series` (100
partners, 50 contacts each, 30 operators, 70% of the tickets assigned; active ones spread over
the four active statuses with deadlines from their priority, a few hours either side of now;
the rest resolved or closed), the first level of `--active` of them active. Serves firstline
with gunicorn, 2 sync workers (bench/queue_wsgi.py adds the baseline page), over
PostgreSQL's Unix socket with the production database settings (persistent connections).
An operator's session cookie is used by `--connections` concurrent clients, a new HTTP
connection per request (gunicorn's sync workers close them).

For each level of active tickets (the next level reopens resolved/closed tickets at random
and ANALYZEs), each round sends `--requests` requests of each: the baseline (an
authenticated bare page: middleware, session, user; nothing else), the queue's first page
with all partners and all active tickets, the queue's default page (the first line), and one
ticket's page. Prints p50/p95 per round, each page's p95 as a multiple of the baseline's,
and median with min-max over the rounds per level.

Besides latency (which the other work on a shared machine inflates), it prints the server's
CPU per request: the gunicorn workers' and the database backends' CPU time (from /proc)
over each batch, divided by its requests; that figure does not depend on how loaded the
machine is. `--compare REV` also serves the code of git revision REV (e.g. the commit before
a change) from a second gunicorn on the same database, measured interleaved with the
working tree's: its queue pages appear as "REV: ..." lines.
"""

import argparse
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake import free_port, wait_for  # noqa: E402  (after the path is set)

DB = "firstline_bench_queue_http"
PSQL = ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-qc"]
PARTNERS = 100
CONTACTS_PER_PARTNER = 50
OPERATORS = 30


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--active", default="30000,130000,500000",
                        help="levels of active tickets, growing, comma-separated")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--compare", default="",
                        help="git revision whose code is served beside the working tree's")
    args = parser.parse_args()
    levels = [int(level) for level in args.active.split(",")]
    if levels != sorted(levels) or levels[-1] > args.tickets:
        parser.error("--active: growing levels, none above --tickets")
    began = time.perf_counter()
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=True)
    subprocess.run([*PSQL, f"CREATE DATABASE {DB}"], check=True)
    os.environ["DATABASE_URL"] = f"postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{DB}"
    os.environ["DEBUG"] = "0"
    os.environ["FIRSTLINE_INSECURE_DEV_KEY"] = "1"
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    os.environ["DJANGO_SETTINGS_MODULE"] = "firstline.settings"
    os.environ["LOG_LEVEL"] = "ERROR"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    servers: list[subprocess.Popen] = []
    try:
        call_command("migrate", verbosity=0)
        start = time.perf_counter()
        cookie, ticket_id = populate(args.tickets, levels[0])
        print(f"populated {args.tickets} tickets ({levels[0]} active) in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        connections.close_all()
        port = free_port()
        servers.append(serve(ROOT, port, args.workers))
        pages = {
            "baseline (bare desk page)": (port, "/bench/desk-bare/"),
            "queue, all partners, active": (port, "/tickets/?status=active"),
            "queue, first line (default)": (port, "/tickets/?status=first_line"),
            "ticket page": (port, f"/tickets/{ticket_id}/"),
        }
        if args.compare:
            old_tree = Path(tempfile.mkdtemp(prefix="queue-http-"))
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.compare,
                                      "firstline", "bench"], check=True, capture_output=True)
            subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive.stdout, check=True)
            old_port = free_port()
            servers.append(serve(old_tree, old_port, args.workers))
            pages = {
                **pages,
                f"{args.compare}: queue, all active": (old_port, "/tickets/?status=active"),
                f"{args.compare}: queue, first line": (old_port, "/tickets/?status=first_line"),
            }
        for server in servers:
            server.port_ready()
        summary = []
        for level in levels:
            start = time.perf_counter()
            active = reopen_up_to(level)
            connections.close_all()
            print(f"\n{active} active of {args.tickets} (prepared in "
                  f"{time.perf_counter() - start:.0f} s)", flush=True)
            summary.append((active, measure(args, cookie, pages, servers)))
        print(f"\nSummary: ms, median (min-max) over {args.rounds} rounds of "
              f"{args.requests} requests, {args.connections} connections, {args.workers} "
              f"sync workers; CPU = server CPU per request (gunicorn worker + PostgreSQL)")
        for active, figures in summary:
            for name, (p50s, p95s, ratios, cpus) in figures.items():
                print(f"  {active:>7} active  {name:30s} p50 {spread(p50s)}  p95 "
                      f"{spread(p95s)}  p95 x{statistics.median(ratios):4.1f} of baseline  "
                      f"CPU {spread(cpus)}")
        print(f"\nwhole run: {time.perf_counter() - began:.0f} s")
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        connections.close_all()
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=False)


class Server(subprocess.Popen):
    port = 0

    def port_ready(self) -> None:
        wait_for(self.port)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [int(pid) for pid in children]


def serve(tree: Path, port: int, workers: int) -> Server:
    """gunicorn serving the code in `tree` (its directory comes first on the import path)."""
    server = Server(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers",
         str(workers), "--worker-class", "sync", "--backlog", "2048", "--error-logfile", "-",
         "--log-level", "warning", "--chdir", str(tree), "bench.queue_wsgi:application"],
        env=os.environ.copy(), start_new_session=True)
    server.port = port
    return server


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU time of each of these processes so far (those that ended: none)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two readings: by the processes seen both times, and all of a new
    one's (a process gone by the second reading is left out: its last share is unknown)."""
    return sum(spent - before.get(pid, 0.0) for pid, spent in after.items())


def database_backends() -> list[int]:
    """The PostgreSQL backends serving the bench database (the servers' connections)."""
    found = subprocess.run(
        ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-Atc",
         f"SELECT pid FROM pg_stat_activity WHERE datname = '{DB}' "
         "AND pid <> pg_backend_pid()"], check=True, capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def populate(count: int, active: int) -> tuple[str, int]:
    """`count` tickets, `active` of them active; the operator's session cookie, a ticket id."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from firstline.core.models import Partner, Tariff, User

    tariff = Tariff.objects.create(code="t", name="T", requests_included=1, minutes_included=1,
                                   monthly_fee=1, first_month_fee=1, overage_request_fee=1,
                                   overage_minute_fee=1)
    Partner.objects.bulk_create(
        Partner(name=f"Partner {i:03d}", slug=f"p{i}", tariff=tariff,
                support_email=f"support@p{i}.example") for i in range(PARTNERS))
    operators = [User.objects.create_user(f"op{i}", role="operator", first_name="Operator",
                                          last_name=f"{i:02d}") for i in range(OPERATORS)]
    for partner in Partner.objects.all():  # a partner's own people: the filter must skip them
        User.objects.create_user(f"eng-{partner.slug}", role="engineer", partner=partner)
    share = active / count
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_contact (name, created_at, partner_id, language) "
            "SELECT 'Contact ' || p.id || '-' || k, now(), p.id, 'ru' "
            "FROM core_partner p, generate_series(0, %s - 1) k", [CONTACTS_PER_PARTNER])
        cursor.execute(
            "CREATE TEMP TABLE bench_partner AS "
            "SELECT row_number() OVER (ORDER BY id) - 1 AS idx, id FROM core_partner")
        cursor.execute(
            "CREATE TEMP TABLE bench_contact AS SELECT partner_id, "
            "row_number() OVER (PARTITION BY partner_id ORDER BY id) - 1 AS idx, id "
            "FROM contacts_contact")
        cursor.execute(
            "CREATE TEMP TABLE bench_staff AS SELECT row_number() OVER (ORDER BY id) - 1 "
            "AS idx, id FROM core_user WHERE role = 'operator'")
        cursor.execute("SELECT setseed(0.7)")
        cursor.execute(POPULATE_SQL, [share, count])
        cursor.execute("VACUUM ANALYZE tickets_ticket")
        cursor.execute("SELECT min(id) FROM tickets_ticket WHERE status = 'open'")
        (ticket_id,) = cursor.fetchone()
    desk = Client()
    desk.force_login(operators[0])
    return desk.cookies[settings.SESSION_COOKIE_NAME].value, ticket_id


# The status of a ticket drawn active (new, open, waiting for the customer or the partner) or
# not (resolved, closed); its deadline from the priority's resolution target.
POPULATE_SQL = f"""
    INSERT INTO tickets_ticket (
        channel, subject, customer_words, status, priority, created_at, updated_at,
        first_response_at, resolved_at, closed_at, due_at, reaction_due_at, resolution_due_at,
        assignee_id, contact_id, partner_id, paused_minutes, identified_by, classification,
        diagnostics, partner_group, routing_corrections)
    SELECT 'email', 'Request ' || s.g || ': the printer on floor ' || (s.g % 9)
               || ' does not print',
           'text',
           CASE WHEN s.active
                THEN (ARRAY['new', 'open', 'waiting_customer', 'waiting_partner'])
                     [1 + floor(s.status_draw * 4)::int]
                ELSE (ARRAY['resolved', 'closed'])[1 + floor(s.status_draw * 2)::int] END,
           s.priority, s.created, s.created,
           CASE WHEN s.active AND s.status_draw < 0.25 THEN NULL
                ELSE s.created + interval '20 minutes' END,
           CASE WHEN s.active THEN NULL ELSE s.created + interval '5 hours' END,
           CASE WHEN NOT s.active AND s.status_draw >= 0.5
                THEN s.created + interval '3 days' END,
           CASE WHEN s.active THEN s.created + s.target END,
           NULL,
           CASE WHEN s.active THEN s.created + s.target END,
           CASE WHEN s.assign_draw < 0.7 THEN u.id END, c.id, p.id, 0, '', '[]', '[]', '', 0
    FROM (
        SELECT g, random() < %s AS active, random() AS status_draw, random() AS assign_draw,
               priority,
               CASE priority WHEN 'critical' THEN interval '4 hours'
                             WHEN 'high' THEN interval '8 hours'
                             WHEN 'normal' THEN interval '24 hours'
                             ELSE interval '72 hours' END AS target,
               now() - random() * interval '4 days' AS created
        FROM (SELECT g, (ARRAY['critical', 'high', 'normal', 'normal', 'low', 'low'])
                        [1 + floor(random() * 6)::int] AS priority
              FROM generate_series(1, %s) g) drawn
    ) s
    JOIN bench_partner p ON p.idx = s.g % {PARTNERS}
    JOIN bench_contact c ON c.partner_id = p.id
        AND c.idx = (s.g / {PARTNERS}) % {CONTACTS_PER_PARTNER}
    JOIN bench_staff u ON u.idx = (s.g * 7) % {OPERATORS}
""".replace("%", "%%").replace("%%s", "%s")


def reopen_up_to(level: int) -> int:
    """Reopen resolved/closed tickets at random until `level` are active; how many are."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tickets_ticket WHERE status IN "
                       "('new', 'open', 'waiting_customer', 'waiting_partner')")
        (active,) = cursor.fetchone()
        if active < level:
            cursor.execute(
                """UPDATE tickets_ticket SET
                       status = (ARRAY['new', 'open', 'waiting_customer', 'waiting_partner'])
                                [1 + floor(random() * 4)::int],
                       resolved_at = NULL, closed_at = NULL,
                       due_at = now() - interval '2 days' + random() * interval '3 days',
                       resolution_due_at = now() - interval '2 days'
                                           + random() * interval '3 days'
                   WHERE id IN (SELECT id FROM tickets_ticket
                                WHERE status IN ('resolved', 'closed')
                                ORDER BY random() LIMIT %s)""", [level - active])
            cursor.execute("VACUUM ANALYZE tickets_ticket")
            active = level
    return active


def load(port: int, path: str, cookie: str, requests: int, connections: int) -> list[float]:
    """GET `path` `requests` times from `connections` clients at once; the latencies."""
    from django.conf import settings

    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    left = [requests]
    headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}", "Connection": "close",
               "Accept-Language": "ru"}

    def client() -> None:
        while True:
            with lock:
                if not left[0]:
                    return
                left[0] -= 1
            began = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    failures.append(f"{response.status} {body[:200]!r}")
            finally:
                connection.close()
            with lock:
                latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{path}: {len(failures)} failed requests, e.g. {failures[0]}")
    return latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(share * len(ordered))) - 1)]


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} ({min(values):.1f}-{max(values):.1f})"


def measure(args: argparse.Namespace, cookie: str, pages: dict[str, tuple[int, str]],
            servers: list[Server]) -> dict[str, tuple[list[float], ...]]:
    for port, path in pages.values():  # warm every worker: imports, connections, caches
        load(port, path, cookie, 4 * args.workers, args.connections)
    figures: dict[str, tuple[list[float], ...]] = {name: ([], [], [], []) for name in pages}
    for number in range(1, args.rounds + 1):
        line = []
        baseline_p95 = None
        for name, (port, path) in pages.items():
            # Only this batch runs: every server's workers and every backend of the bench
            # database together are what this page costs (the idle ones add nothing).
            processes = [pid for server in servers for pid in server.worker_pids()]
            before_backends = database_backends()
            cpu_before = cpu_seconds(processes + before_backends)
            latencies = load(port, path, cookie, args.requests, args.connections)
            processes += [pid for pid in database_backends() if pid not in before_backends]
            cpu_after = cpu_seconds(processes + before_backends)
            cpu = cpu_spent(cpu_before, cpu_after) / args.requests
            p50, p95 = percentile(latencies, .5) * 1000, percentile(latencies, .95) * 1000
            baseline_p95 = baseline_p95 or p95
            for index, value in enumerate((p50, p95, p95 / baseline_p95, cpu * 1000)):
                figures[name][index].append(value)
            line.append(f"{name}: p50 {p50:.1f} p95 {p95:.1f} CPU {cpu * 1000:.1f}")
        print(f"round {number}: " + "; ".join(line), flush=True)
    return figures


if __name__ == "__main__":
    main()
