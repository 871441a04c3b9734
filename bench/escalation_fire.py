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
  timeline note and one audit row each, no dedupe key twice).
The written rows are deleted and the steps made due again between rounds. Prints per round
and the median, min-max over rounds: seconds, steps/s, ms a step, statements a step, and
the ratio of the two paths' per-step times.
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


def _clock(name: str, moment, results) -> None:
    from django.db import connection, connections

    from firstline.sla import clock

    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(count):
            fired = clock.sweep(moment=moment, worker=name)
        results.put((name, fired, statements[0]))
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

    def reset() -> None:
        OutboxMessage.objects.all().delete()
        Message.objects.filter(is_automatic=True).delete()
        AuditEvent.objects.filter(action="escalation.fired").delete()
        DBTaskResult.objects.all().delete()
        PendingEscalation.objects.filter(pk__in=chosen).update(
            fired_at=None, fired_by="", fired_late=False)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    rounds = []
    for number in range(1, args.rounds + 1):
        reset()
        # Baseline: only the baseline steps are due for it (the others are held back).
        PendingEscalation.objects.filter(pk__in=due_ids).update(fired_at=moment)
        statements[0] = 0
        with connection.execute_wrapper(count):
            start = time.perf_counter()
            fired = sum(escalation.fire(pk, moment, "bench:one") for pk in base_ids)
            one = time.perf_counter() - start
        assert fired == len(base_ids)
        one_statements = statements[0] / fired
        PendingEscalation.objects.filter(pk__in=due_ids).update(fired_at=None)
        before_outbox = OutboxMessage.objects.count()
        before_notes = Message.objects.filter(is_automatic=True).count()

        connections.close_all()
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        clocks = [context.Process(target=_clock, args=(f"clock-{n}", moment, results))
                  for n in range(args.clocks)]
        start = time.perf_counter()
        for process in clocks:
            process.start()
        outcome = [results.get() for _ in clocks]
        for process in clocks:
            process.join()
        both = time.perf_counter() - start
        fired = sum(item[1] for item in outcome)
        batch_statements = sum(item[2] for item in outcome) / max(fired, 1)

        # Exactly once: every due step claimed once, with its two mails, note and audit row.
        assert fired == args.due, (fired, args.due)
        assert not PendingEscalation.objects.filter(pk__in=due_ids, fired_at__isnull=True).exists()
        outbox = OutboxMessage.objects.count() - before_outbox
        notes = Message.objects.filter(is_automatic=True).count() - before_notes
        keys = OutboxMessage.objects.values("dedupe_key").distinct().count()
        assert outbox == 2 * args.due and notes == args.due, (outbox, notes)
        assert keys == OutboxMessage.objects.count()
        split = ", ".join(f"{name} {share}" for name, share, _ in sorted(outcome))
        ratio = one / len(base_ids) / (both / fired)
        rounds.append((one / len(base_ids), both, both / args.due))
        print(f"round {number}: one per transaction {one / len(base_ids) * 1000:.2f} ms a step "
              f"({one_statements:.1f} statements); {args.clocks} clocks fired {fired} in "
              f"{both:.2f} s = {fired / both:.0f} steps/s, {both / fired * 1000:.3f} ms a step "
              f"({batch_statements:.2f} statements; {split}); x{ratio:.1f} faster; "
              f"{outbox} mails, {notes} notes, no key twice", flush=True)

    def spread(values: list[float], scale: float, unit: str) -> str:
        return (f"median {statistics.median(values) * scale:.2f} {unit} "
                f"(min {min(values) * scale:.2f}, max {max(values) * scale:.2f})")

    print(f"\n{args.rounds} rounds, {args.due} due steps, {args.clocks} clocks:")
    print(f"  one per transaction: {spread([r[0] for r in rounds], 1000, 'ms a step')}")
    print(f"  in batches:          {spread([r[2] for r in rounds], 1000, 'ms a step')}; "
          f"all {args.due}: {spread([r[1] for r in rounds], 1, 's')}")
    print(f"  ratio: {spread([r[0] / r[2] for r in rounds], 1, 'x')}")


if __name__ == "__main__":
    main()
