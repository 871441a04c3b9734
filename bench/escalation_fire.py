"""Firing due escalation steps in bulk on PostgreSQL, two SLA clocks at once.

Usage (a throwaway database is created and dropped; over the Unix socket, see DESIGN.md):
    .venv/bin/python bench/escalation_fire.py [--tickets 100000] [--due 11000] [--rounds 3]

Populates `--tickets` active tickets with their pending escalation steps as
bench/sla_sweep.py does (each step mails the two leads), then leaves `--due` past-due steps
unfired. Each round measures:
- the baseline: one step per transaction (`escalation.fire`, the clock's path for a step
  that failed in a batch, and the only path before batching) over `--baseline` steps;
- two clocks, two processes running `clock.sweep()` at the same moment over all `--due`
  steps; then checks every step fired exactly once (one claim, two outbox messages, one
  timeline note and one audit row each, no dedupe key twice). By default twice
  (`--subscribers both`): with the events' receivers connected as in production (webhooks
  subscribes to escalation.fired and sla.breached; the bench has no webhook subscription,
  so this is what the receiver costs when nobody subscribes), then with none, which is what
  firing costs by itself.
The written rows are deleted and the steps made due again before each measurement. Prints
per round and the median, min-max over rounds: seconds, steps/s, ms a step, CPU a step
(the clock processes plus their PostgreSQL backends, read from /proc: the figure that a
loaded machine distorts least), statements a step (COPY is not counted), the ratio to the
baseline's per-step time and the receivers' share of the time. `--profile DIR` writes each
clock's cProfile stats.
"""

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
DB = "firstline_bench_escalation"
PSQL = ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-qc"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=11_000)
    parser.add_argument("--baseline", type=int, default=500,
                        help="steps fired one per transaction in each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clocks", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--subscribers", choices=("both", "on", "off"), default="both",
                        help="fire with the events' receivers (webhooks) connected, "
                             "disconnected, or both in turn (the receivers' cost)")
    parser.add_argument("--profile", metavar="DIR",
                        help="write each clock's cProfile stats to DIR/clock-N.prof")
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

    started = time.perf_counter()
    try:
        call_command("migrate", verbosity=0)
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=False)
    print(f"\ntotal run time {time.perf_counter() - started:.0f} s")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process on this machine (the PostgreSQL backend of a clock)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _clock(name: str, moment, results, subscribers: bool, profile_dir: str | None) -> None:
    import cProfile
    import resource

    from django.db import connection, connections

    from firstline.core import events
    from firstline.sla import clock

    if not subscribers:
        # What firing costs by itself: no receiver of the events it publishes (webhooks
        # subscribes to both in production, with a query per event whether or not any
        # subscription exists).
        for event in ("escalation.fired", "sla.breached"):
            signal = events._signal(event)
            with signal.lock:
                signal.receivers.clear()
                signal.sender_receivers_cache.clear()
    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    profiler = cProfile.Profile() if profile_dir else None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        server_before = _cpu_seconds(backend)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        client_before = usage.ru_utime + usage.ru_stime
        with connection.execute_wrapper(count):
            if profiler:
                profiler.enable()
            fired = clock.sweep(moment=moment, worker=name)
            if profiler:
                profiler.disable()
                suffix = "" if subscribers else "-without-subscribers"
                profiler.dump_stats(os.path.join(profile_dir, f"{name}{suffix}.prof"))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        client = usage.ru_utime + usage.ru_stime - client_before
        results.put((name, fired, statements[0], client, _cpu_seconds(backend) - server_before))
    finally:
        connections.close_all()


def run(args: argparse.Namespace) -> None:
    from django.db import connection, connections
    from django_tasks_db.models import DBTaskResult

    from bench.sla_sweep import populate
    from firstline.core.clock import now
    from firstline.core.models import AuditEvent
    from firstline.outbox.models import OutboxMessage
    from firstline.sla import escalation
    from firstline.sla.models import PendingEscalation
    from firstline.tickets.models import Message

    moment = now()
    print(f"populating {args.tickets} tickets ...", flush=True)
    populate(args.tickets, args.seed, moment)
    table = PendingEscalation._meta.db_table
    with connection.cursor() as cursor:
        # Exactly `--due` steps due and unfired, the rest of the past fired long ago.
        cursor.execute(f"UPDATE {table} SET fired_at = due_at, fired_by = 'bench' "
                       "WHERE fired_at IS NULL AND due_at <= %s", [moment])
        cursor.execute(f"SELECT id FROM {table} WHERE due_at <= %s ORDER BY md5(id::text) "
                       "LIMIT %s", [moment, args.due + args.baseline])
        chosen = [row[0] for row in cursor.fetchall()]
    base_ids, due_ids = chosen[:args.baseline], chosen[args.baseline:]
    assert len(due_ids) == args.due, f"only {len(due_ids)} past-due steps; raise --tickets"

    def reset(held: list[int]) -> None:
        """Nothing written yet, the chosen steps unfired except `held` (fired long ago)."""
        OutboxMessage.objects.all().delete()
        Message.objects.filter(is_automatic=True).delete()
        AuditEvent.objects.filter(action="escalation.fired").delete()
        DBTaskResult.objects.all().delete()
        PendingEscalation.objects.filter(pk__in=chosen).update(
            fired_at=None, fired_by="", fired_late=False)
        PendingEscalation.objects.filter(pk__in=held).update(fired_at=moment)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    def clocks(subscribers: bool) -> dict[str, float]:
        """All due steps fired by `--clocks` processes at once, then checked exactly once."""
        reset(held=base_ids)
        connections.close_all()
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        processes = [context.Process(target=_clock, args=(
            f"clock-{n}", moment, results, subscribers, args.profile))
            for n in range(args.clocks)]
        start = time.perf_counter()
        for process in processes:
            process.start()
        outcome = [results.get() for _ in processes]
        for process in processes:
            process.join()
        seconds = time.perf_counter() - start
        fired = sum(item[1] for item in outcome)
        # Exactly once: every due step claimed once, with its two mails, note and audit row.
        assert fired == args.due, (fired, args.due)
        assert not PendingEscalation.objects.filter(pk__in=due_ids, fired_at__isnull=True).exists()
        assert PendingEscalation.objects.filter(
            pk__in=due_ids, fired_by__startswith="clock-").count() == args.due
        mails = OutboxMessage.objects.filter(dedupe_key__startswith="escalation:").count()
        notes = Message.objects.filter(is_automatic=True).count()
        trail = AuditEvent.objects.filter(action="escalation.fired").count()
        assert (mails, notes, trail) == (2 * args.due, args.due, args.due), (mails, notes, trail)
        keys = OutboxMessage.objects.values("dedupe_key").distinct().count()
        assert keys == OutboxMessage.objects.count()
        return {
            "seconds": seconds, "step": seconds / fired,
            "statements": sum(item[2] for item in outcome) / fired,
            "cpu": sum(item[3] + item[4] for item in outcome) / fired,
            "server": sum(item[4] for item in outcome) / fired,
            "split": ", ".join(f"{item[0]} {item[1]}" for item in sorted(outcome)),
        }

    def line(label: str, result: dict[str, float]) -> str:
        return (f"  {label}: {args.due} in {result['seconds']:.2f} s = "
                f"{args.due / result['seconds']:.0f} steps/s, {result['step'] * 1000:.3f} ms "
                f"a step, CPU {result['cpu'] * 1000:.2f} ms a step (server "
                f"{result['server'] * 1000:.2f}); {result['statements']:.2f} statements a step "
                f"(COPY not counted); {result['split']}")

    modes = {"both": (True, False), "on": (True,), "off": (False,)}[args.subscribers]
    rounds: list[dict[str, float]] = []
    for number in range(1, args.rounds + 1):
        # Baseline: only the baseline steps are due for it (the others are held back).
        reset(held=due_ids)
        statements[0] = 0
        with connection.execute_wrapper(count):
            start = time.perf_counter()
            fired = sum(escalation.fire(pk, moment, "bench:one") for pk in base_ids)
            one = time.perf_counter() - start
        assert fired == len(base_ids)
        figures = {"one": one / fired}
        print(f"round {number}: one per transaction {one / fired * 1000:.2f} ms a step "
              f"({statements[0] / fired:.1f} statements)", flush=True)
        for subscribers in modes:
            result = clocks(subscribers)
            label = "with subscribers" if subscribers else "without subscribers"
            figures[label] = result["seconds"]
            figures[f"{label} cpu"] = result["cpu"]
            print(line(f"{args.clocks} clocks {label}", result) +
                  f"; x{figures['one'] / result['step']:.1f} the baseline", flush=True)
        rounds.append(figures)

    def spread(values: list[float], scale: float, unit: str) -> str:
        return (f"median {statistics.median(values) * scale:.2f} {unit} "
                f"(min {min(values) * scale:.2f}, max {max(values) * scale:.2f})")

    print(f"\n{args.rounds} rounds, {args.due} due steps, {args.clocks} clocks:")
    print(f"  one per transaction: {spread([r['one'] for r in rounds], 1000, 'ms a step')}")
    for subscribers in modes:
        label = "with subscribers" if subscribers else "without subscribers"
        print(f"  {label}: all {args.due}: {spread([r[label] for r in rounds], 1, 's')}; "
              f"CPU {spread([r[label + ' cpu'] for r in rounds], 1000, 'ms a step')}; ratio "
              f"to the baseline {spread([r['one'] * args.due / r[label] for r in rounds], 1, 'x')}")
    if len(modes) == 2:
        print("  the events' receivers' share of the time: " + spread(
            [1 - r["without subscribers"] / r["with subscribers"] for r in rounds], 100, "%"))


if __name__ == "__main__":
    main()
