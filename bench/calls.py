"""The phone channel on PostgreSQL: webhook events/s and monthly minutes.

Usage (a throwaway database is created and dropped):
    .venv/bin/python bench/calls.py [--events 4000] [--rounds 3] [--workers 2]
        [--web gthread,sync]
        [--calls 1000000] [--skip webhook,minutes]

- webhook: `POST /api/calls/events` over real HTTP to gunicorn with 2 workers: gthread
  (4 threads each, as `firstline run` and the units start it), then sync; HMAC-signed, 8
  client threads, 4 events per call (start, offer, answer, end) across 100 partners, with
  `--workers` `calls_work` processes running alongside. Per round: events/s answered (202,
  stored in the inbox) and events/s through to applied (until the inbox is empty, every
  call checked whole); then the same with the workers paused (the answer alone) and the
  workers alone draining it; CPU per event of the web workers, calls_work and
  PostgreSQL's backends (from /proc: what the load does not change). Baselines in the
  same run: the same server answering Zadarma's zd_echo (the HTTP stack and Django
  without the database), and the previous revision (BASELINE_REV, served from a copy of
  its tree), which applied each event in its request. p50 and min-max over `--rounds`.
- minutes: `talk_minutes_for` of 100 partners for one month over `--calls` calls (bulk
  inserted, spread over a year), one query; baselines: the same without the billable-calls
  index, and COUNT(*) of the month's rows.
The load average is printed: figures from a busy machine are not comparable.
The queue_log import has its own bench: bench/calls_queue_log.py.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = "firstline_bench_callhook"
PSQL = ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-qc"]
SECRET = "bench-webhook-secret"  # noqa: S105 - a throwaway database
PARTNERS = 100
PORT = 8765


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="calls_work processes")
    parser.add_argument("--web", default="gthread,sync",
                        help="gunicorn worker classes to run the webhook with, in turn")
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--skip", default="", help="comma-separated: webhook,minutes")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=True)
    subprocess.run([*PSQL, f"CREATE DATABASE {DB}"], check=True)
    # Over the Unix socket: on these machines TCP to 127.0.0.1 costs ~4x per round trip.
    os.environ["DATABASE_URL"] = f"postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{DB}"
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ["FIRSTLINE_CALLS_WEBHOOK_SECRET"] = SECRET
    os.environ["DJANGO_SETTINGS_MODULE"] = "firstline.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"load average: {os.getloadavg()}")
    try:
        partners = setup()
        if "webhook" not in skip:
            for worker_class in args.web.split(","):
                bench_webhook(args.events, args.rounds, args.workers, worker_class)
        if "minutes" not in skip:
            bench_minutes(partners, args.calls)
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=False)


def setup():  # type: ignore[no-untyped-def]
    from firstline.calls.models import PartnerPhoneNumber
    from firstline.core.models import Partner, Tariff

    tariff = Tariff.objects.create(code="t", name="T", requests_included=1,
                                   minutes_included=300, monthly_fee=1, first_month_fee=1,
                                   overage_request_fee=1, overage_minute_fee=1)
    partners = Partner.objects.bulk_create(
        Partner(name=f"P{i}", slug=f"p{i}", support_email=f"s@p{i}.example", tariff=tariff)
        for i in range(PARTNERS))
    PartnerPhoneNumber.objects.bulk_create(
        PartnerPhoneNumber(partner=p, number=f"+7495{1000000 + i}", queue_name=f"q{i}")
        for i, p in enumerate(partners))
    return list(Partner.objects.select_related("tariff"))


def _events(count: int, prefix: str) -> list[dict]:
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(hours=1)
    events = []
    for n in range(count // 4):
        at = start + timedelta(seconds=n)
        base = {"call_id": f"{prefix}{n}", "caller": f"+79{rng.randint(10**8, 10**9 - 1)}",
                "dialled": f"+7495{1000000 + n % PARTNERS}"}
        for kind, offset in (("start", 0), ("offer", 5), ("answer", 20), ("end", 200)):
            events.append({**base, "event": kind,
                           "at": (at + timedelta(seconds=offset)).isoformat()})
    return events


def _serve(worker_class: str = "sync", tree: Path = ROOT) -> subprocess.Popen:
    """gunicorn with 2 workers: `sync` (one request at a time each), or `gthread` with the
    threads `firstline run` gives each worker (requests waiting on a commit overlap); the
    code of `tree` (this one, or the baseline revision's copy)."""
    from firstline.cli import THREADS_PER_WEB_WORKER

    threads = ["--threads", str(THREADS_PER_WEB_WORKER)] if worker_class == "gthread" else []
    env = {**os.environ, "PYTHONPATH": str(tree)}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "firstline.wsgi:application", "-w", "2",
         "--worker-class", worker_class, *threads, "--chdir", str(tree),
         "-b", f"127.0.0.1:{PORT}", "--backlog", "2048", "--log-level", "warning"],
        env=env, cwd=tree)
    for _ in range(100):
        try:
            http.client.HTTPConnection("127.0.0.1", PORT, timeout=1).request("GET", "/")
            return server
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def _blast(requests: list[tuple[str, str, bytes, dict]], threads: int = 8) -> float:
    chunks = [requests[i::threads] for i in range(threads)]
    failures: list[str] = []

    def worker(chunk) -> None:  # type: ignore[no-untyped-def]
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        for method, path, body, headers in chunk:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status >= 300:
                failures.append(f"{response.status} {path}")

    started = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        print(f"  {len(failures)} failures, e.g. {failures[:3]}")
    return len(requests) / elapsed


# --- CPU of the processes taking part, from /proc (this machine runs them all) -----------

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (ones gone meanwhile count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _backends() -> list[int]:
    """PostgreSQL's server processes for the bench database (the web and worker sessions)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [DB])
        return [row[0] for row in cursor.fetchall()]


def _start_workers(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen(
        [sys.executable, "-m", "firstline", "calls_work", "--interval", "0.2"],
        env={**os.environ}, cwd=ROOT) for _ in range(count)]


def _inbox_left() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM calls_calleventinbox")
        return cursor.fetchone()[0]


def _drained(since: float, timeout: float = 300.0) -> float:
    """Seconds from `since` until the inbox is empty (every claimed event is applied then:
    an event leaves the inbox in the transaction that applies it)."""
    while _inbox_left():
        if time.perf_counter() - since > timeout:
            raise RuntimeError("the workers did not drain the inbox")
        time.sleep(0.02)
    return time.perf_counter() - since


def _signed(events: list[dict]) -> list[tuple[str, str, bytes, dict]]:
    requests = []
    for event in events:
        body = json.dumps(event).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        requests.append(("POST", "/api/calls/events", body,
                         {"Content-Type": "application/json", "X-Firstline-Signature": signature}))
    return requests


def _check_applied(prefix: str, events: int, strict: bool = True) -> None:
    """Every call of the round whole (answered, 180 s of talk), no event refused; with
    `strict` off, says what is not, instead of failing."""
    from firstline.calls.models import Call, Outcome, RawCallEvent

    calls = Call.objects.filter(external_id__startswith=prefix)
    answered = calls.filter(outcome=Outcome.ANSWERED, talk_seconds=180).count()
    refused = RawCallEvent.objects.filter(
        external_id__startswith=prefix).exclude(state=RawCallEvent.State.PROCESSED).count()
    if (calls.count(), answered, refused) != (events // 4, events // 4, 0):
        message = (f"{prefix}: {calls.count()} calls, {answered} answered, {refused} events "
                   f"not processed; expected {events // 4} answered")
        if strict:
            raise RuntimeError(message)
        print(f"  NOTE {message}")


def _spread(values: list[float], unit: str) -> str:
    return (f"p50 {statistics.median(values):,.0f} {unit} "
            f"(min {min(values):,.0f}, max {max(values):,.0f})")


# The last revision that applied a webhook event in its request (record_event): the
# baseline the inbox is measured against, served from a copy of its tree.
BASELINE_REV = "716e568"


def _baseline_tree() -> Path:
    target = Path(tempfile.mkdtemp(prefix="bench-callhook-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE_REV, "firstline"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


class _Round:
    """Per round figures, each a list over the rounds."""

    def __init__(self) -> None:
        self.figures: dict[str, list[float]] = {}

    def add(self, name: str, value: float) -> None:
        self.figures.setdefault(name, []).append(value)

    def __getitem__(self, name: str) -> list[float]:
        return self.figures[name]


def _echo_round(figures: _Round, web: list[int], count: int) -> None:
    echo = [("GET", "/calls/zadarma/?zd_echo=x", b"", {})] * count
    before = _cpu(web)
    figures.add("echo", _blast(echo))
    figures.add("echo cpu", (_cpu(web) - before) / count * 1e6)


def bench_webhook(count: int, rounds: int = 3, workers: int = 2,
                  worker_class: str = "sync") -> None:
    """Per round: the zd_echo baseline; the previous revision (each event applied in its
    request); the inbox with `workers` calls_work processes running alongside (events/s
    answered, and through to applied: until the inbox is empty); the inbox with the workers
    paused (the answer alone), then the workers alone draining what it stored."""
    figures = _Round()
    old_tree = _baseline_tree()
    try:
        for round_ in range(rounds):
            figures.add("load", os.getloadavg()[0])
            _baseline_round(figures, old_tree, worker_class, count, round_)
            _inbox_round(figures, worker_class, count, workers, round_)
            print(f"  round {round_ + 1} ({worker_class}): load {figures['load'][-1]:.2f}; "
                  f"zd_echo {figures['echo'][-1]:,.0f} req/s; previous revision "
                  f"{figures['old'][-1]:,.0f} events/s; inbox {figures['answered'][-1]:,.0f}"
                  f" events/s answered, {figures['through'][-1]:,.0f} applied; workers "
                  f"paused {figures['alone'][-1]:,.0f} answered; workers alone "
                  f"{figures['applied'][-1]:,.0f} applied", flush=True)
    finally:
        subprocess.run(["rm", "-rf", str(old_tree)], check=False)
    median = statistics.median
    loads = figures["load"]
    print(f"webhook: gunicorn 2 {worker_class} workers, 8 clients, {count} events a round, "
          f"{rounds} rounds, load {min(loads):.2f}-{max(loads):.2f}")
    print(f"  inbox, answered (202 accepted), {workers} calls_work alongside: "
          f"{_spread(figures['answered'], 'events/s')}")
    print(f"  inbox, through to applied: {_spread(figures['through'], 'events/s')}")
    print(f"  baseline zd_echo (no database): {_spread(figures['echo'], 'req/s')}; ratio "
          f"answered/zd_echo {median(figures['answered']) / median(figures['echo']):.2f}")
    print(f"  baseline previous revision ({BASELINE_REV}, applied in the request): "
          f"{_spread(figures['old'], 'events/s')}; ratio through/previous "
          f"{median(figures['through']) / median(figures['old']):.2f}")
    print(f"  workers paused, answered: {_spread(figures['alone'], 'events/s')}; "
          f"then the workers alone, applied: {_spread(figures['applied'], 'events/s')}")
    print(f"  CPU per event, inbox with workers alongside: web {_spread(figures['web cpu'], 'us')};"
          f" calls_work {_spread(figures['worker cpu'], 'us')}; PostgreSQL "
          f"{_spread(figures['db cpu'], 'us')}")
    print(f"  CPU per event, previous revision: web {_spread(figures['old web cpu'], 'us')}; "
          f"PostgreSQL {_spread(figures['old db cpu'], 'us')}; web per zd_echo request "
          f"{_spread(figures['echo cpu'], 'us')}")


def _baseline_round(figures: _Round, tree: Path, worker_class: str, count: int,
                    round_: int) -> None:
    """The previous revision's webhook, which applies each event before answering."""
    server = _serve(worker_class, tree)
    try:
        # The copy's code answers, not this tree's: it applies the event (200 processed).
        method, path, body, headers = _signed(_events(4, f"{worker_class}-old-probe{round_}-"))[0]
        probe = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        probe.request(method, path, body=body, headers=headers)
        answer = probe.getresponse()
        if answer.status != 200:
            raise RuntimeError(f"the baseline server answered {answer.status}: {answer.read()}")
        probe.close()
        _blast(_signed(_events(400, f"{worker_class}-old-warm{round_}-")))
        web = _children(server.pid)
        prefix = f"{worker_class}-old{round_}-"
        requests = _signed(_events(count, prefix))
        backends = _backends()
        before = (_cpu(web), _cpu(backends))
        figures.add("old", _blast(requests))
        figures.add("old web cpu", (_cpu(web) - before[0]) / count * 1e6)
        figures.add("old db cpu", (_cpu(backends) - before[1]) / count * 1e6)
        # Events of one call applied by concurrent requests could leave one waiting.
        _check_applied(prefix, count, strict=False)
    finally:
        server.terminate()
        server.wait(10)


def _inbox_round(figures: _Round, worker_class: str, count: int, workers: int,
                 round_: int) -> None:
    server = _serve(worker_class)
    pool = _start_workers(workers)
    try:
        _blast(_signed(_events(400, f"{worker_class}-warm{round_}-")))
        _drained(time.perf_counter())
        web = _children(server.pid)
        _echo_round(figures, web, count)

        # Workers alongside: the answer rate, and the time until everything is applied.
        prefix = f"{worker_class}-r{round_}-"
        requests = _signed(_events(count, prefix))
        backends = _backends()
        before = (_cpu(web), _cpu([w.pid for w in pool]), _cpu(backends))
        started = time.perf_counter()
        figures.add("answered", _blast(requests))
        figures.add("through", count / _drained(started))
        after = (_cpu(web), _cpu([w.pid for w in pool]), _cpu(backends))
        figures.add("web cpu", (after[0] - before[0]) / count * 1e6)
        figures.add("worker cpu", (after[1] - before[1]) / count * 1e6)
        figures.add("db cpu", (after[2] - before[2]) / count * 1e6)
        _check_applied(prefix, count)

        # The workers paused: the answer alone; then the workers alone drain it.
        prefix = f"{worker_class}-s{round_}-"
        requests = _signed(_events(count, prefix))
        for worker in pool:
            worker.send_signal(signal.SIGSTOP)
        try:
            figures.add("alone", _blast(requests))
        finally:
            for worker in pool:
                worker.send_signal(signal.SIGCONT)
        figures.add("applied", count / _drained(time.perf_counter()))
        _check_applied(prefix, count)
    finally:
        for worker in pool:
            worker.terminate()
        for worker in pool:
            worker.wait(30)
        server.terminate()
        server.wait(10)


def bench_minutes(partners, calls: int) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    from firstline.calls.queries import month_bounds, talk_minutes_for

    # Rows straight in with one INSERT ... SELECT: spread evenly over the last 365 days
    # (about 1/12 of them in the month asked), 100 partners.
    ids = [p.pk for p in partners]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO calls_call (partner_id, source, external_id, direction, caller,
                dialled, started_at, ended_at, wait_seconds, talk_seconds, outcome,
                recording_url, reported_outcome, updated_at)
            SELECT (%s::bigint[])[1 + n %% %s], 'demo', 'm' || n, 'inbound', '', '',
                now() - (n::bigint * 31536000 / %s) * interval '1 second', now(), n %% 120,
                n %% 900, CASE WHEN n %% 50 = 0 THEN 'abandoned' ELSE 'answered' END,
                '', '', now()
            FROM generate_series(1, %s) AS n
            """,
            [ids, len(ids), calls, calls],
        )
    # As autovacuum leaves a table: statistics and the visibility map (index-only scans).
    connection.ensure_connection()
    autocommit = connection.connection.autocommit
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE calls_call")
    connection.connection.autocommit = autocommit
    print(f"minutes: {calls:,} calls inserted in {time.perf_counter() - started:.1f} s")
    month = datetime.now(UTC).date().replace(day=1)

    def timed() -> tuple[list[float], dict[int, int]]:
        runs = []
        for _ in range(7):
            started = time.perf_counter()
            minutes = talk_minutes_for(partners, month)
            runs.append(time.perf_counter() - started)
        return sorted(runs), minutes

    runs, minutes = timed()
    with connection.cursor() as cursor:
        start, end = month_bounds(month, partners[0].time_zone)
        cursor.execute("EXPLAIN SELECT partner_id, sum((talk_seconds + 59) / 60) FROM calls_call"
                       " WHERE outcome = 'answered' AND talk_seconds > 0 AND partner_id = ANY(%s)"
                       " AND started_at >= %s AND started_at < %s GROUP BY partner_id",
                       [[p.pk for p in partners], start, end])
        plan = [row[0] for row in cursor.fetchall()]
        print("  plan: " + " / ".join(line.strip() for line in plan[:4]))
        # Baseline in the same run: without the billable-calls index (the plain one serves).
        cursor.execute("DROP INDEX calls_billable_talk")
    plain_runs, plain_minutes = timed()
    assert plain_minutes == minutes
    print(f"  without calls_billable_talk: p50 {plain_runs[3] * 1000:.0f} ms, "
          f"best {plain_runs[0] * 1000:.0f} ms; with it: p50 {runs[3] * 1000:.0f} ms, "
          f"max {runs[-1] * 1000:.0f} ms")
    start, end = month_bounds(month, partners[0].time_zone)
    base_runs = []
    for _ in range(5):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM calls_call WHERE started_at >= %s AND "
                           "started_at < %s", [start, end])
            in_month = cursor.fetchone()[0]
        base_runs.append(time.perf_counter() - started)
    best, base = runs[0], min(base_runs)
    print(f"  talk_minutes_for 100 partners, one month: {best * 1000:.0f} ms (best of 5; "
          f"sum {sum(minutes.values()):,} minutes)")
    print(f"  baseline COUNT(*) of the month ({in_month:,} calls): {base * 1000:.0f} ms; "
          f"ratio {best / base:.1f}")


if __name__ == "__main__":
    main()
