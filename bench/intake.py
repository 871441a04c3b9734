"""Ticket intake over HTTP on PostgreSQL: `POST /api/tickets` beside a bare one-row insert.

Usage (a throwaway database is created and dropped; the server listens on the loopback):
    .venv/bin/python bench/intake.py [--requests 1500] [--connections 8] [--rounds 3]

Serves firstline with gunicorn, 2 sync workers (bench/intake_wsgi.py adds the baseline
view), over PostgreSQL's Unix socket. Each round sends, from `--connections` concurrent
clients (a new HTTP connection per request, as gunicorn's sync workers close them):
`--requests` bare inserts (`POST /bench/bare/`, one INSERT in a Django view: the baseline on
the same server and connection settings) and `--requests` intakes (`POST /api/tickets` with
a partner integration's bearer token, a known contact, subject and text), alternating in
chunks of `--chunk` requests (bare, intake, intake, bare, ...) so that both meet the same
background load; each figure is its requests over the time its chunks took. Prints
requests/s and latency p50/p95 per round, the intake as a share of the baseline, and
median, min-max over rounds.
"""

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = "firstline_bench_intake"
PSQL = ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-qc"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=250,
                        help="requests per alternating bare/intake chunk within a round")
    args = parser.parse_args()
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
    from django.db import connection, connections

    server = None
    try:
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE bench_bare (id bigserial PRIMARY KEY, subject text, "
                           "created_at timestamptz)")
        token, partner_id, contact_id = prepare()
        connections.close_all()
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers",
             str(args.workers), "--worker-class", "sync", "--backlog", "2048",
             "--error-logfile", "-", "--log-level", "warning", "--chdir", str(ROOT),
             "bench.intake_wsgi:application"],
            env=os.environ.copy(), start_new_session=True)
        wait_for(port)
        run(args, port, token, partner_id, contact_id)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        connections.close_all()
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=False)


def prepare() -> tuple[str, int, int]:
    from firstline.api.services import issue_token
    from firstline.contacts.models import Contact
    from firstline.core.models import Partner, Tariff, User

    tariff = Tariff.objects.create(code="t", name="T", requests_included=1, minutes_included=1,
                                   monthly_fee=1, first_month_fee=1, overage_request_fee=1,
                                   overage_minute_fee=1)
    partner = Partner.objects.create(name="Bench", slug="bench", tariff=tariff,
                                     support_email="support@bench.example")
    contact = Contact.objects.create(partner=partner, name="Ivan Petrov")
    integration = User.objects.create_user("bench-integration", role=User.Role.INTEGRATION,
                                           partner=partner)
    _token, plaintext = issue_token(integration, "bench")
    return plaintext, partner.pk, contact.pk


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not start")


def load(port: int, path: str, bodies, headers: dict[str, str], connections: int,
         expect: int = 201) -> tuple[float, list[float]]:
    """POST every body from `connections` clients at once; (requests/s, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    queue = list(bodies)
    queue.reverse()
    failures: list[str] = []

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            began = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                connection.request("POST", path, body=json.dumps(body),
                                   headers={"Content-Type": "application/json",
                                            "Connection": "close", **headers})
                response = connection.getresponse()
                answer = response.read()
                if response.status != expect:
                    failures.append(f"{response.status} {answer[:200]!r}")
            finally:
                connection.close()
            with lock:
                latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests, e.g. {failures[0]}")
    return len(latencies) / elapsed, latencies


def chunks(total: int, size: int) -> list[int]:
    """`total` split into pieces of `size` (the last one shorter)."""
    return [min(size, total - start) for start in range(0, total, max(size, 1))]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(share * len(ordered))) - 1)]


def run(args: argparse.Namespace, port: int, token: str, partner_id: int,
        contact_id: int) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    counter = iter(range(10**9))

    def tickets(count: int):
        return [{"partner_id": partner_id, "contact_id": contact_id,
                 "subject": f"Printer {n}", "text": "The printer on floor 2 does not print."}
                for n in (next(counter) for _ in range(count))]

    # Warm both paths (imports, connections, caches) before measuring.
    load(port, "/bench/bare/", tickets(50), {}, args.connections)
    load(port, "/api/tickets", tickets(50), auth, args.connections)
    rounds = []
    for number in range(1, args.rounds + 1):
        # Bare inserts and intakes alternate in chunks (ABBA), so a change in the machine's
        # background load falls on both alike: the ratio stays honest on a busy machine.
        spent = {"bare": 0.0, "intake": 0.0}
        latencies: dict[str, list[float]] = {"bare": [], "intake": []}
        for chunk, size in enumerate(chunks(args.requests, args.chunk)):
            order = [("bare", "/bench/bare/", {}), ("intake", "/api/tickets", auth)]
            for kind, path, headers in order if chunk % 2 == 0 else reversed(order):
                rate, times = load(port, path, tickets(size), headers, args.connections)
                spent[kind] += len(times) / rate
                latencies[kind] += times
        bare = (len(latencies["bare"]) / spent["bare"], latencies["bare"])
        intake = (len(latencies["intake"]) / spent["intake"], latencies["intake"])
        share = intake[0] / bare[0]
        rounds.append((bare, intake, share))
        print(f"round {number}: bare insert {bare[0]:.0f} req/s (p50 "
              f"{percentile(bare[1], .5) * 1000:.1f} ms, p95 {percentile(bare[1], .95) * 1000:.1f}"
              f" ms); POST /api/tickets {intake[0]:.0f} req/s (p50 "
              f"{percentile(intake[1], .5) * 1000:.1f} ms, p95 "
              f"{percentile(intake[1], .95) * 1000:.1f} ms); intake = {share:.0%} of bare",
              flush=True)

    def spread(values: list[float], fmt: str) -> str:
        return (f"median {fmt.format(statistics.median(values))} "
                f"(min {fmt.format(min(values))}, max {fmt.format(max(values))})")

    print(f"\n{args.rounds} rounds of {args.requests} requests, {args.connections} connections, "
          f"{args.workers} sync workers:")
    print(f"  bare insert:       {spread([r[0][0] for r in rounds], '{:.0f}')} req/s; p95 "
          f"{spread([percentile(r[0][1], .95) * 1000 for r in rounds], '{:.1f}')} ms")
    print(f"  POST /api/tickets: {spread([r[1][0] for r in rounds], '{:.0f}')} req/s; p50 "
          f"{spread([percentile(r[1][1], .5) * 1000 for r in rounds], '{:.1f}')} ms; p95 "
          f"{spread([percentile(r[1][1], .95) * 1000 for r in rounds], '{:.1f}')} ms")
    print(f"  intake / bare:     {spread([r[2] for r in rounds], '{:.0%}')}")


if __name__ == "__main__":
    main()
