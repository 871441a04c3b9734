"""A business-calendar edit over a large backlog, on PostgreSQL: how long the supervisor's
request takes now that the open tickets' deadlines are recomputed by a task, against the
same edit recomputing in the request (as before), in the same run.

Usage (a throwaway database is created and dropped):
    .venv/bin/python bench/calendar_recompute.py [--tickets 5000] [--rounds 3]

- data: one partner, a 9-18 weekday calendar following the production calendar, its
  policy, `--tickets` open tickets opened over the last hours (bulk inserted), their
  deadlines computed once; tomorrow (a working day) is the day the rounds toggle.
- each round, both ways, on the same tickets:
  baseline: the day added as a holiday then removed again, each followed in the same
  call by `recompute_open_tickets_on` (what the request did before);
  now: `add_calendar_day` / `remove_calendar_day` (the request: the change and a task row
  enqueued after the commit), then `db_worker --batch` running that task (the work moved
  out of the request, timed apart).
- figures: wall time p50/p95 and min-max over the rounds (two edits a round), the process
  CPU time (the database server's CPU not included) per edit and per ticket recomputed,
  the ratio of the request's time now to before; the load average with every figure (the
  machine is shared).
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.throwaway import throwaway_database  # noqa: E402

DB = "fl_bench_remainders_calendar"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with throwaway_database(DB, {"TASKS_BACKEND": "django_tasks_db.DatabaseBackend"}):
        calendar, supervisor, day = setup(args.tickets)
        bench(calendar, supervisor, day, args.rounds, args.tickets)


def setup(count: int):  # type: ignore[no-untyped-def]
    from datetime import time as clock

    from firstline.core.clock import now
    from firstline.core.models import Partner, Tariff, User
    from firstline.sla.calendar_services import recompute_open_tickets_on
    from firstline.sla.models import BusinessCalendar, SlaPolicy, SlaTarget, WorkingInterval
    from firstline.tickets.models import Channel, Priority, Status, Ticket

    tariff = Tariff.objects.create(
        code="bench", name="Bench", requests_included=10, minutes_included=50,
        monthly_fee="4900", first_month_fee="4900", overage_request_fee="350",
        overage_minute_fee="9")
    partner = Partner.objects.create(name="Bench", slug="bench", tariff=tariff,
                                     support_email="s@bench.example")
    calendar = BusinessCalendar.objects.create(partner=partner, name="Office",
                                               time_zone="Europe/Moscow",
                                               uses_production_calendar=True)
    WorkingInterval.objects.bulk_create(
        WorkingInterval(partner=partner, calendar=calendar, weekday=weekday,
                        start=clock(9), end=clock(18)) for weekday in range(5))
    policy = SlaPolicy.objects.create(partner=partner, name="Office", is_default=True,
                                      calendar=calendar)
    for priority in Priority.values:
        SlaTarget.objects.create(partner=partner, policy=policy, priority=priority,
                                 reaction_minutes=240, resolution_minutes=2400)
    moment = now()
    Ticket.objects.bulk_create(
        (Ticket(partner=partner, channel=Channel.EMAIL, subject=f"Bench {n}",
                status=Status.OPEN, priority=Priority.NORMAL, sla_policy=policy,
                created_at=moment - timedelta(seconds=n * 7), updated_at=moment)
         for n in range(count)), batch_size=2000)
    supervisor = User.objects.create_user("bench-supervisor", password=None,
                                          role=User.Role.SUPERVISOR)
    started = time.perf_counter()
    first = recompute_open_tickets_on(calendar, actor=None)
    print(f"{count:,} open tickets; deadlines first computed for {first:,} in "
          f"{time.perf_counter() - started:.1f} s")
    day = (moment + timedelta(days=1)).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return calendar, supervisor, day


def _timed(action):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def bench(calendar, supervisor, day, rounds: int, count: int) -> None:  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    from firstline.sla import calendar_services as services
    from firstline.sla.models import CalendarDay

    def in_request_before(add: bool) -> int:
        if add:
            services._add_calendar_day(calendar=calendar, actor=supervisor, day=day,
                                       kind="holiday", note="")
        else:
            services._remove_calendar_day(day=CalendarDay.objects.get(calendar=calendar,
                                                                      date=day),
                                          actor=supervisor)
        return services.recompute_open_tickets_on(calendar, actor=supervisor)

    def in_request_now(add: bool) -> bool:
        if add:
            return services.add_calendar_day(calendar=calendar, actor=supervisor, day=day,
                                             kind="holiday", note="").recompute_queued
        return services.remove_calendar_day(
            day=CalendarDay.objects.get(calendar=calendar, date=day), actor=supervisor)

    def worker() -> None:
        call_command("db_worker", batch=True, interval=0, startup_delay=False, verbosity=0)

    before: list[tuple[float, float, int]] = []
    request: list[tuple[float, float]] = []
    task: list[tuple[float, float]] = []
    loads = []
    for _round in range(rounds):
        for add in (True, False):
            changed, wall, cpu = _timed(lambda add=add: in_request_before(add))
            before.append((wall, cpu, changed))
        for add in (True, False):
            queued, wall, cpu = _timed(lambda add=add: in_request_now(add))
            assert queued
            request.append((wall, cpu))
            _none, wall, cpu = _timed(worker)
            task.append((wall, cpu))
        loads.append(os.getloadavg()[0])
    print(f"{rounds} rounds, two edits each (holiday {day} added, removed); tickets whose "
          f"deadlines moved per edit: {sorted({c for _w, _c, c in before})}; "
          f"1-min load during the rounds: {min(loads):.1f}-{max(loads):.1f}")
    for name, rows in (("before: edit + recompute in the request", before),
                       ("now: the request (edit + task enqueued)", request),
                       ("now: the task in db_worker", task)):
        walls = sorted(row[0] for row in rows)
        cpus = [row[1] for row in rows]
        p95 = walls[min(len(walls) - 1, round(0.95 * (len(walls) - 1)))]
        print(f"  {name:44} wall p50 {statistics.median(walls) * 1000:8.1f} ms  "
              f"p95 {p95 * 1000:8.1f} ms  ({min(walls) * 1000:.1f}-{max(walls) * 1000:.1f})  "
              f"CPU {statistics.median(cpus) * 1000:8.1f} ms/edit, "
              f"{statistics.median(cpus) / count * 1e6:7.1f} µs/ticket")
    ratio = (statistics.median(row[0] for row in before)
             / statistics.median(row[0] for row in request))
    print(f"  the request is {ratio:,.0f}x shorter (median wall, before / now)")


if __name__ == "__main__":
    main()
