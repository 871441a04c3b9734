"""Business-time arithmetic over the real production calendar: additions and spans per second.

Usage (no database: the arithmetic is a pure module):
    .venv/bin/python bench/calendar_arithmetic.py [--count 200000] [--repeat 5]

The schedule is Monday to Friday 09:00-18:00 in Europe/Moscow following the shipped Russian
production calendar (2025-2027). Starts are seeded random instants with seconds over those
three years. For each target (30 minutes to 5 working days, and a random mix) it prints the
best of `repeat` runs of `Schedule.add` and of the baseline `start + timedelta(minutes=n)`
in the same run, and their ratio; then the same for `Schedule.between` against
`(end - start) // timedelta(minutes=1)`, and what laying out one year costs the first time.
"""

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from firstline.sla.calendar import Schedule, WeeklyInterval, read_days  # noqa: E402

DATA = ROOT / "firstline" / "sla" / "data" / "ru_production_calendar.csv"
WORKING_DAY = 9 * 60
TARGETS = [("30 min", 30), ("4 h", 4 * 60), ("1 working day", WORKING_DAY),
           ("5 working days", 5 * WORKING_DAY), ("mixed 30 min..5 days", None)]


def office() -> Schedule:
    return Schedule(
        time_zone="Europe/Moscow",
        weekly=[WeeklyInterval(day, clock(9), clock(18)) for day in range(5)],
        days=read_days(DATA.read_text(encoding="utf-8")),
    )


def best_rate(run: Callable[[], None], count: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    count, repeat = args.count, args.repeat

    rng = random.Random(7)
    first = datetime(2025, 1, 1, tzinfo=UTC)
    span = int((datetime(2027, 11, 30, tzinfo=UTC) - first).total_seconds())
    starts = [first + timedelta(seconds=rng.randrange(span)) for _ in range(count)]

    started = time.perf_counter()
    schedule = office()
    for year in (2025, 2026, 2027, 2028):
        schedule.add(datetime(year, 1, 1, tzinfo=UTC), 1)
    cold = (time.perf_counter() - started) / 4
    print(f"schedule: {schedule!r}")
    print(f"compile + lay out one year (cold): {cold * 1000:.2f} ms\n")

    print(f"{'target':<22}{'add/s':>12}{'baseline/s':>14}{'ratio':>8}")
    for label, minutes in TARGETS:
        amounts = ([minutes] * count if minutes is not None
                   else [rng.randrange(30, 5 * WORKING_DAY + 1) for _ in range(count)])
        pairs = list(zip(starts, amounts, strict=True))
        add = schedule.add

        def business(pairs: list = pairs, add: Callable = add) -> None:
            for start, n in pairs:
                add(start, n)

        def baseline(pairs: list = pairs) -> None:
            for start, n in pairs:
                start + timedelta(minutes=n)  # noqa: B018

        ours = best_rate(business, count, repeat)
        base = best_rate(baseline, count, repeat)
        print(f"{label:<22}{ours:>12,.0f}{base:>14,.0f}{base / ours:>7.1f}x")

    ends = [start + timedelta(minutes=rng.randrange(0, 14 * 24 * 60)) for start in starts]
    spans = list(zip(starts, ends, strict=True))
    between = schedule.between
    minute = timedelta(minutes=1)

    def business_spans() -> None:
        for start, end in spans:
            between(start, end)

    def baseline_spans() -> None:
        for start, end in spans:
            (end - start) // minute  # noqa: B018

    ours = best_rate(business_spans, count, repeat)
    base = best_rate(baseline_spans, count, repeat)
    print(f"\n{'between (0-14 days)':<22}{ours:>12,.0f}{base:>14,.0f}{base / ours:>7.1f}x")


if __name__ == "__main__":
    main()
