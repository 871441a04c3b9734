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
median, min-max over rounds; also the server's CPU time a request (gunicorn workers plus their
PostgreSQL backends, from /proc), which a busy machine distorts far less than requests/s.
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
        run(args, port, token, partner_id, contact_id, server.pid)
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


def worker_pids(server_pid: int) -> list[int]:
    """The gunicorn workers: the processes whose parent is the gunicorn master."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server_pid:
            pids.append(int(stat.parent.name))
    return pids


def backend_pids() -> list[int]:
    """The PostgreSQL backends serving the workers (persistent: CONN_MAX_AGE)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s "
                       "AND pid <> pg_backend_pid()", [DB])
        return [pid for (pid,) in cursor.fetchall()]


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) these processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run(args: argparse.Namespace, port: int, token: str, partner_id: int,
        contact_id: int, server_pid: int) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    counter = iter(range(10**9))

    def tickets(count: int):
        return [{"partner_id": partner_id, "contact_id": contact_id,
                 "subject": f"Printer {n}", "text": "The printer on floor 2 does not print."}
                for n in (next(counter) for _ in range(count))]

    # Warm both paths (imports, connections, caches) before measuring.
    load(port, "/bench/bare/", tickets(50), {}, args.connections)
    load(port, "/api/tickets", tickets(50), auth, args.connections)
    # Server CPU per request (workers, their PostgreSQL backends): unlike requests/s it
    # hardly depends on what else the machine is doing, so it compares runs on busy machines.
    workers, backends = worker_pids(server_pid), backend_pids()
    rounds = []
    for number in range(1, args.rounds + 1):
        # Bare inserts and intakes alternate in chunks (ABBA), so a change in the machine's
        # background load falls on both alike: the ratio stays honest on a busy machine.
        spent = {"bare": 0.0, "intake": 0.0}
        cpu = {kind: [0.0, 0.0] for kind in spent}  # workers, PostgreSQL
        latencies: dict[str, list[float]] = {"bare": [], "intake": []}
        for chunk, size in enumerate(chunks(args.requests, args.chunk)):
            order = [("bare", "/bench/bare/", {}), ("intake", "/api/tickets", auth)]
            for kind, path, headers in order if chunk % 2 == 0 else reversed(order):
                before = cpu_seconds(workers), cpu_seconds(backends)
                rate, times = load(port, path, tickets(size), headers, args.connections)
                cpu[kind][0] += cpu_seconds(workers) - before[0]
                cpu[kind][1] += cpu_seconds(backends) - before[1]
                spent[kind] += len(times) / rate
                latencies[kind] += times
        bare = (len(latencies["bare"]) / spent["bare"], latencies["bare"])
        intake = (len(latencies["intake"]) / spent["intake"], latencies["intake"])
        share = intake[0] / bare[0]
        per_request = {kind: [seconds * 1000 / args.requests for seconds in cpu[kind]]
                       for kind in cpu}
        cpu_share = sum(per_request["bare"]) / sum(per_request["intake"])
        rounds.append((bare, intake, share, per_request, cpu_share))
        print(f"round {number}: bare insert {bare[0]:.0f} req/s (p50 "
              f"{percentile(bare[1], .5) * 1000:.1f} ms, p95 {percentile(bare[1], .95) * 1000:.1f}"
              f" ms); POST /api/tickets {intake[0]:.0f} req/s (p50 "
              f"{percentile(intake[1], .5) * 1000:.1f} ms, p95 "
              f"{percentile(intake[1], .95) * 1000:.1f} ms); intake = {share:.0%} of bare",
              flush=True)
        print(f"         server CPU a request: bare {sum(per_request['bare']):.2f} ms (workers "
              f"{per_request['bare'][0]:.2f} + PostgreSQL {per_request['bare'][1]:.2f}), intake "
              f"{sum(per_request['intake']):.2f} ms (workers {per_request['intake'][0]:.2f} + "
              f"PostgreSQL {per_request['intake'][1]:.2f}); bare / intake = {cpu_share:.0%}",
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
    print(f"  server CPU a request: bare {spread([sum(r[3]['bare']) for r in rounds], '{:.2f}')}"
          f" ms; intake {spread([sum(r[3]['intake']) for r in rounds], '{:.2f}')} ms; "
          f"bare / intake {spread([r[4] for r in rounds], '{:.0%}')}")


if __name__ == "__main__":
    main()
