"""The SLA clock over 1M open tickets on PostgreSQL: finding what is due, and firing it.

Usage (a throwaway database is created and dropped; over the Unix socket, see DESIGN.md):
    .venv/bin/python bench/sla_sweep.py [--tickets 1000000] [--repeat 30] [--fire 1000]

Populates `--tickets` active tickets over 20 partners (skewed sizes, mixed priorities and
statuses, resolution deadlines from 2 days ago to 30 days ahead), each with 1-3 pending
escalation steps of its partner's ladder; steps that fell due before the measurement moment
are fired, except ~0.1% of all rows, which are due and unfired. Rows are written with COPY
(binary) with the tables' secondary indexes dropped and re-created from their own
definitions, then VACUUM ANALYZE. Prints the volumes, then the median and p95 of: the
baseline (one ticket by primary key), the clock's "what is due" query
(`escalation.due_ids(moment, 200)`) and the operator's queue (first 50 active tickets, due
first), each as a ratio to the baseline, with their EXPLAIN ANALYZE plans; then one
`clock.sweep()` firing `--fire` due steps (claims, outbox rows for two supervisors, timeline
notes, audit rows, delivery tasks) in steps per second; then the due query again right after
the sweep, when the fired rows' index entries are still in the partial index, and after 10%
of all rows were fired with no vacuum since (as between two autovacuums), first while
another session holds an older snapshot, then after it closed.
"""

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import time
from array import array
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
DB = "firstline_bench_sla"
PSQL = ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-qc"]

PARTNERS = 20
DUE_UNFIRED_SHARE = 0.001  # of all pending rows: due at the moment and not fired yet
MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR
# Priority: share of tickets, reaction and resolution targets (minutes, 24x7).
PRIORITIES = {
    "critical": (0.03, 15, 4 * 60),
    "high": (0.17, 30, 8 * 60),
    "normal": (0.60, 2 * 60, 5 * 24 * 60),
    "low": (0.20, 8 * 60, 20 * 24 * 60),
}
STATUSES = {"new": 0.15, "open": 0.45, "waiting_customer": 0.20, "waiting_partner": 0.20}
# The ladder of every partner and priority: (target, percent).
LADDER = [("reaction", 100), ("resolution", 50), ("resolution", 80), ("resolution", 100)]
MAX_PAUSED_MINUTES = 10 * 24 * 60
EARLIEST_DUE = -2 * DAY
LATEST_DUE = 30 * DAY


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--fire", type=int, default=1000, help="due steps one sweep fires")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=True)
    subprocess.run([*PSQL, f"CREATE DATABASE {DB}"], check=True)
    # Over the Unix socket: on these machines TCP to 127.0.0.1 costs ~4x per round trip.
    os.environ["DATABASE_URL"] = f"postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{DB}"
    # As in production: DEBUG off, so Django does not record every query it runs.
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


# --- population --------------------------------------------------------------------------


def populate(count: int, seed: int, moment: datetime) -> dict[str, int]:
    """Reference rows through the ORM, tickets and pending steps through COPY."""
    from django.db import connection, transaction

    from firstline.contacts.models import Contact
    from firstline.core.models import Partner, Tariff, User
    from firstline.sla.models import EscalationStep, PendingEscalation, SlaPolicy, SlaTarget
    from firstline.tickets.models import Ticket

    rng = random.Random(seed)
    tariff = Tariff.objects.create(code="t", name="T", requests_included=1, minutes_included=1,
                                   monthly_fee=1, first_month_fee=1, overage_request_fee=1,
                                   overage_minute_fee=1)
    partners = Partner.objects.bulk_create(
        [Partner(name=f"P{i}", slug=f"p{i}", tariff=tariff, support_email=f"s@p{i}.example")
         for i in range(PARTNERS)])
    contacts = {p.pk: [c.pk for c in Contact.objects.bulk_create(
        [Contact(partner=p, name=f"Contact {p.pk}-{i}") for i in range(200)])]
        for p in partners}
    operators = [User.objects.create_user(f"op{i}", role="operator").pk for i in range(10)]
    for i in range(2):  # the "lead" role: whom every step notifies, by e-mail
        User.objects.create_user(f"lead{i}", email=f"lead{i}@firstline.example",
                                 role=User.Role.SUPERVISOR)
    policies = {p.pk: SlaPolicy.objects.create(partner=p, name="Standard", is_default=True)
                for p in partners}
    SlaTarget.objects.bulk_create([
        SlaTarget(partner_id=partner_id, policy=policy, priority=priority,
                  reaction_minutes=reaction, resolution_minutes=resolution)
        for partner_id, policy in policies.items()
        for priority, (_, reaction, resolution) in PRIORITIES.items()])
    steps = EscalationStep.objects.bulk_create([
        EscalationStep(partner_id=partner_id, policy=policy, priority=priority, target=target,
                       percent=percent, roles=[EscalationStep.Role.LEAD],
                       channels=[EscalationStep.Channel.EMAIL])
        for partner_id, policy in policies.items()
        for priority in PRIORITIES
        for target, percent in LADDER])
    ladders: dict[tuple[int, str], list[tuple[int, str, int]]] = {}
    for step in steps:
        ladders.setdefault((step.partner_id, step.priority), []).append(
            (step.pk, step.target, step.percent))

    # Partners of very different sizes, as in life: the biggest ~7x the smallest.
    partner_ids = [p.pk for p in partners]
    weights = [1 / (rank + 1) ** 0.7 for rank in range(PARTNERS)]
    ticket_partners = rng.choices(partner_ids, weights=weights, k=count)
    priorities = rng.choices(list(PRIORITIES), [v[0] for v in PRIORITIES.values()], k=count)
    statuses = rng.choices(list(STATUSES), list(STATUSES.values()), k=count)
    channels = rng.choices(["email", "phone", "portal", "api", "monitoring"],
                           [50, 25, 15, 5, 5], k=count)

    ticket_columns = [
        "id", "partner_id", "contact_id", "channel", "subject", "customer_words", "status",
        "priority", "assignee_id", "created_at", "updated_at", "first_response_at", "due_at",
        "sla_policy_id", "reaction_due_at", "resolution_due_at", "paused_since",
        "paused_minutes",
    ]
    # Pending steps are kept compactly until the share left unfired is known.
    pending_ticket, pending_step, pending_due = array("q"), array("q"), array("d")

    def at(offset: float) -> datetime:
        return moment + timedelta(seconds=offset)

    def ticket_rows():
        for index in range(count):
            ticket_id = index + 1
            partner_id, priority = ticket_partners[index], priorities[index]
            status = statuses[index]
            _, reaction, resolution = PRIORITIES[priority]
            paused = (rng.randint(0, MAX_PAUSED_MINUTES) if status == "waiting_customer"
                      else 0)
            # Resolution due from 2 days ago up to as far as the target and pauses reach
            # (30 days for the low priority), so that every ticket was created in the past.
            latest = min(LATEST_DUE, (resolution + paused) * MINUTE)
            resolution_due = rng.uniform(EARLIEST_DUE, latest)
            created = resolution_due - (resolution + paused) * MINUTE
            reaction_due = created + reaction * MINUTE
            responded = None
            if status != "new":
                responded = min(created + rng.uniform(0.1, 1.3) * reaction * MINUTE, -60.0)
            due = resolution_due if responded is not None else reaction_due
            for step_id, target, percent in rng.sample(
                    ladders[partner_id, priority], rng.choice((1, 1, 2, 2, 3))):
                minutes = (reaction if target == "reaction" else resolution) * percent / 100
                pending_ticket.append(ticket_id)
                pending_step.append(step_id)
                pending_due.append(created + (minutes + (target != "reaction") * paused)
                                   * MINUTE + rng.random())
            yield (
                ticket_id, partner_id, rng.choice(contacts[partner_id]), channels[index],
                f"Request {ticket_id}", "text", status, priority,
                rng.choice(operators) if rng.random() < 0.7 else None,
                at(created), at(responded if responded is not None else created),
                at(responded) if responded is not None else None, at(due),
                policies[partner_id].pk, at(reaction_due), at(resolution_due),
                at(-rng.uniform(0, min(-created, 3 * DAY))) if paused else None, paused,
            )

    def pending_rows(unfired_share: float):
        for index in range(len(pending_due)):
            offset = pending_due[index]
            fired = offset <= 0 and rng.random() >= unfired_share
            yield (
                index + 1, ticket_partners[pending_ticket[index] - 1], pending_ticket[index],
                pending_step[index], at(offset), at(offset + rng.uniform(1, 30)) if fired
                else None, False, "bench-clock:1" if fired else "",
            )

    pending_columns = [
        "id", "partner_id", "ticket_id", "step_id", "due_at", "fired_at", "fired_late",
        "fired_by",
    ]
    tickets, pending = Ticket._meta.db_table, PendingEscalation._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        # A bulk load: no foreign-key triggers (the rows are consistent by construction), and
        # secondary indexes built once at the end rather than maintained row by row.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        indexes = drop_secondary_indexes(cursor, tickets) + drop_secondary_indexes(
            cursor, pending)
        start = time.perf_counter()
        copy_rows(cursor, Ticket, ticket_columns, ticket_rows())
        print(f"  COPY {count} tickets: {time.perf_counter() - start:.1f} s")
        past = sum(1 for offset in pending_due if offset <= 0)
        unfired_share = min(1.0, DUE_UNFIRED_SHARE * len(pending_due) / max(past, 1))
        start = time.perf_counter()
        copy_rows(cursor, PendingEscalation, pending_columns, pending_rows(unfired_share))
        print(f"  COPY {len(pending_due)} pending steps: {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        for definition in indexes:
            cursor.execute(definition)
        print(f"  {len(indexes)} secondary indexes re-created: "
              f"{time.perf_counter() - start:.1f} s")
        for table in (tickets, pending):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT max(id) FROM {table}))")
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"  VACUUM ANALYZE: {time.perf_counter() - start:.1f} s")
    return {"pending": len(pending_due), "past": past}


def drop_secondary_indexes(cursor, table: str) -> list[str]:
    """Drop the table's indexes that back no constraint; return their definitions."""
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
        [table],
    )
    found = cursor.fetchall()
    for name, _ in found:
        cursor.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in found]


def copy_rows(cursor, model, columns: list[str], rows) -> None:
    """COPY (binary) `rows` into the model's table; columns not given get the field default.

    So that a NOT NULL column added to the model later does not break the benchmark.
    """
    from django.db import connection

    extra = {field.column: field.get_db_prep_save(field.get_default(), connection)
             for field in model._meta.concrete_fields
             if field.column not in columns and not field.null}
    names = [*columns, *extra]
    table = model._meta.db_table
    cursor.execute("SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass "
                   "AND attnum > 0 AND NOT attisdropped", [table])
    types = dict(cursor.fetchall())
    tail = tuple(extra.values())
    with cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([types[name] for name in names])
        for row in rows:
            copy.write_row(row + tail)


# --- measurement -------------------------------------------------------------------------


def sample(function: Callable[[], object], repeat: int) -> list[float]:
    function()  # warm: connection, statement, pages
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return samples


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]  # nearest rank


def sql_of(function: Callable[[], object]) -> str:
    """The last statement `function` sent, exactly as it reached PostgreSQL."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        function()
    return captured.captured_queries[-1]["sql"]


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join("    " + row[0] for row in cursor.fetchall())


def run(args: argparse.Namespace) -> None:
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    from firstline.core.clock import now
    from firstline.core.models import AuditEvent, User
    from firstline.outbox.models import OutboxMessage
    from firstline.sla import clock, escalation
    from firstline.sla.models import PendingEscalation
    from firstline.tenancy import tickets_for
    from firstline.tickets.models import Message, Ticket
    from firstline.tickets.queries import QueueFilter, queue

    moment = now()
    print(f"populating {args.tickets} tickets (seed {args.seed}) ...")
    start = time.perf_counter()
    volumes = populate(args.tickets, args.seed, moment)
    print(f"populated in {time.perf_counter() - start:.1f} s")

    unfired = PendingEscalation.objects.filter(fired_at__isnull=True)
    due_unfired = unfired.filter(due_at__lte=moment).count()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('tickets_ticket')), "
            "pg_size_pretty(pg_total_relation_size('sla_pendingescalation')), "
            "pg_size_pretty(pg_relation_size('escalation_due'))")
        ticket_size, pending_size, index_size = cursor.fetchone()
    print(f"\nvolumes: {args.tickets} active tickets ({ticket_size}), {PARTNERS} partners, "
          f"{len(LADDER) * len(PRIORITIES) * PARTNERS} escalation steps")
    print(f"  pending escalations {volumes['pending']} ({pending_size}): "
          f"{volumes['pending'] - unfired.count()} fired, {unfired.count()} unfired "
          f"(partial index escalation_due {index_size}); due at the moment "
          f"{volumes['past']}, of which due and unfired {due_unfired} "
          f"({due_unfired / volumes['pending']:.2%} of all rows)")

    operator = User.objects.filter(role="operator").first()
    some_id = random.Random(args.seed).randint(1, args.tickets)

    def first_queue_page():
        return [(t.number, t.partner.name, t.contact.name if t.contact else "")
                for t in queue(tickets_for(operator), QueueFilter(), operator)[:50]]

    cases = {
        "baseline: one ticket by pk": lambda: Ticket.objects.get(pk=some_id),
        "find what is due: due_ids(moment, 200)": lambda: escalation.due_ids(moment, 200),
        "what is due next: queue, first 50": first_queue_page,
    }
    print(f"\n{'':42s} {'median':>9s} {'p95':>9s}   ratio to baseline (median)"
          f"   [{args.repeat} runs]")
    baseline = None
    for name, function in cases.items():
        samples = sample(function, args.repeat)
        median = statistics.median(samples)
        baseline = baseline or median
        print(f"{name:42s} {median * 1000:6.2f} ms {p95(samples) * 1000:6.2f} ms   "
              f"x{median / baseline:6.1f}")
    assert len(escalation.due_ids(moment, 200)) == min(200, due_unfired)

    due_sql = sql_of(lambda: escalation.due_ids(moment, 200))
    plan = explain(due_sql)
    print(f"\nfind what is due, the clock's query:\n    {due_sql}\n{plan}")
    uses_index = "escalation_due" in plan and "Seq Scan" not in plan
    print(f"  -> uses the partial index escalation_due: {'yes' if uses_index else 'NO'}")
    print(f"\nwhat is due next, the queue's first 50:\n{explain(sql_of(first_queue_page))}")

    # One sweep that fires exactly the `--fire` earliest due steps: its moment is the due
    # time of the last of them.
    due_times = list(unfired.filter(due_at__lte=moment).order_by("due_at", "id")
                     .values_list("due_at", flat=True)[:args.fire])
    cutoff = due_times[-1] if due_times else moment
    before = (OutboxMessage.objects.count(), Message.objects.count(),
              AuditEvent.objects.count())
    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        start = time.perf_counter()
        fired = clock.sweep(moment=cutoff, worker="bench:sweep")
        elapsed = time.perf_counter() - start
    outbox_rows = OutboxMessage.objects.count() - before[0]
    notes = Message.objects.count() - before[1]
    audits = AuditEvent.objects.count() - before[2]
    tasks = DBTaskResult.objects.count()
    print(f"\nclock.sweep() over {len(due_times)} due steps (asked {args.fire}): fired {fired} "
          f"in {elapsed:.2f} s = {fired / elapsed:.0f} steps/s, "
          f"{elapsed / max(fired, 1) * 1000:.2f} ms a step "
          f"(x{elapsed / max(fired, 1) / baseline:.1f} the baseline)")
    print(f"  written: {outbox_rows} outbox messages, {notes} timeline notes, "
          f"{audits} audit events, {tasks} delivery tasks; "
          f"{statements[0] / max(fired, 1):.1f} SQL statements a step (without BEGIN/COMMIT)")

    def due_again(label: str, at: datetime, plan: bool = False) -> None:
        start = time.perf_counter()
        escalation.due_ids(at, 200)
        first = time.perf_counter() - start
        samples = sample(lambda: escalation.due_ids(at, 200), args.repeat)
        median = statistics.median(samples)
        print(f"\n{label}:\n  first run {first * 1000:.2f} ms, then median {median * 1000:.2f} "
              f"ms, p95 {p95(samples) * 1000:.2f} ms (x{median / baseline:.1f} the baseline)")
        if plan:
            print(explain(sql_of(lambda: escalation.due_ids(at, 200))))

    # The fired rows' entries stay in the partial index until VACUUM: the first scan after
    # the sweep visits their heap rows and marks the entries dead, later scans skip them.
    due_again("find what is due right after the sweep", moment)

    # Between two autovacuums (by default after 20% of a table's rows changed) the clock keeps
    # firing, and every fired row leaves an entry at the head of the partial index. Fire 10%
    # of all rows the way the clock would (leaving ~0.1% of them due), with no vacuum, and ask
    # at that later moment: first while another session holds an older snapshot (a long
    # report, pg_dump, a replica query under hot_standby_feedback), when those entries can
    # be neither marked dead nor vacuumed, then after it ended.
    import psycopg

    table = PendingEscalation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        cursor.execute(f"SELECT due_at FROM {table} WHERE fired_at IS NULL ORDER BY due_at "
                       "OFFSET %s LIMIT 1", [volumes["pending"] // 10])
        later = cursor.fetchone()[0]
    with psycopg.connect(host="/var/run/postgresql", user="postgres", dbname=DB) as holder:
        holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        holder.execute("SELECT count(*) FROM core_partner")  # takes the snapshot
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET fired_at = due_at, fired_by = 'bench-clock:2' "
                           "WHERE fired_at IS NULL AND due_at <= %s AND id %% 1000 <> 0",
                           [later])
            dead = cursor.rowcount
        due = unfired.filter(due_at__lte=later).count()
        due_again(f"find what is due with {dead} rows fired since the last vacuum ({due} due), "
                  "an older snapshot open", later, plan=True)
        holder.rollback()
    with connection.cursor() as cursor:
        # Any write moves the horizon a backend caches (the clock's next firing would).
        cursor.execute("SELECT txid_current()")
    due_again("the same, the older snapshot closed", later, plan=True)

if __name__ == "__main__":
    main()
