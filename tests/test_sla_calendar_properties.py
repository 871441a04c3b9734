"""Laws of business-time arithmetic, checked by hypothesis over several kinds of schedule.

Instants carry seconds on purpose (they are floored to the minute), the span covers the
shipped production calendar and the years around it, and two schedules cross DST changes.
A minute-by-minute count by wall-clock time is the reference for `between`.
"""

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from firstline.sla.calendar import TWENTY_FOUR_SEVEN, Schedule, WeeklyInterval, read_days

DATA = Path(__file__).resolve().parent.parent / "firstline" / "sla" / "data"
PRODUCTION = read_days((DATA / "ru_production_calendar.csv").read_text(encoding="utf-8"))


def week(weekdays, *spans):
    return [WeeklyInterval(day, time(start), time(end % 24)) for day in weekdays
            for start, end in spans]


SCHEDULES = {
    "moscow office": Schedule(time_zone="Europe/Moscow", weekly=week(range(5), (9, 18)),
                              days=PRODUCTION),
    "yekaterinburg with lunch": Schedule(time_zone="Asia/Yekaterinburg",
                                         weekly=week(range(5), (9, 13), (14, 18)),
                                         days=PRODUCTION),
    "moscow seven days": Schedule(time_zone="Europe/Moscow", weekly=week(range(7), (8, 20)),
                                  days=PRODUCTION),
    "berlin day and night": Schedule(
        time_zone="Europe/Berlin", weekly=week(range(7), (1, 4)) + week(range(5), (9, 18)),
        days={date(2026, 12, 24): "short", date(2026, 12, 25): "holiday",
              date(2026, 3, 28): "working"},
    ),
    "berlin 24x7": Schedule(time_zone="Europe/Berlin", is_24x7=True,
                            days={date(2026, 10, 25): "short"}),
    "24x7": TWENTY_FOUR_SEVEN,
}
CHANGES = [datetime(2026, 3, 28, 22, tzinfo=UTC), datetime(2026, 10, 24, 22, tzinfo=UTC),
           datetime(2025, 12, 30, 12, tzinfo=UTC), datetime(2025, 10, 31, 12, tzinfo=UTC)]

schedules = st.sampled_from(sorted(SCHEDULES)).map(SCHEDULES.__getitem__)
anywhere = st.datetimes(min_value=datetime(2024, 6, 1), max_value=datetime(2028, 6, 1)).map(
    lambda moment: moment.replace(tzinfo=UTC)
)
# Near the clock changes and the New Year holidays, where mistakes hide.
near_changes = st.builds(
    lambda base, seconds: base + timedelta(seconds=seconds),
    st.sampled_from(CHANGES), st.integers(min_value=-2 * 86400, max_value=3 * 86400),
)
instants = st.one_of(anywhere, near_changes)
amounts = st.integers(min_value=0, max_value=5 * 9 * 60 * 2)

LAWS = settings(max_examples=300, deadline=None, database=None)


@LAWS
@given(schedules, instants, amounts, amounts)
def test_adding_in_two_steps_is_adding_the_sum(schedule, start, first, second):
    assert schedule.add(start, first + second) == schedule.add(schedule.add(start, first), second)


@LAWS
@given(schedules, instants, amounts)
def test_between_a_start_and_its_deadline_is_the_target(schedule, start, minutes):
    deadline = schedule.add(start, minutes)
    assert schedule.between(start, deadline) == minutes
    assert schedule.between(deadline, start) == -minutes
    if minutes:
        # ...and the deadline is the earliest such instant.
        assert schedule.between(start, deadline - timedelta(minutes=1)) == minutes - 1


@LAWS
@given(schedules, instants, amounts, amounts)
def test_a_larger_target_never_gives_an_earlier_deadline(schedule, start, first, second):
    small, large = sorted((first, second))
    assert schedule.add(start, small) <= schedule.add(start, large)


@LAWS
@given(schedules, instants, instants, amounts)
def test_a_later_start_never_gives_an_earlier_deadline(schedule, one, other, minutes):
    early, late = sorted((one, other))
    assert schedule.add(early, minutes) <= schedule.add(late, minutes)


@LAWS
@given(schedules, instants, instants, instants)
def test_between_adds_up_over_consecutive_spans_in_any_order(schedule, a, b, c):
    assert schedule.between(a, b) + schedule.between(b, c) == schedule.between(a, c)


def wall_clock_count(schedule: Schedule, start: datetime, end: datetime) -> int:
    """The reference: look at every minute's local wall-clock time."""
    zone = ZoneInfo(schedule.time_zone)
    count = 0
    minute = int(start.timestamp() // 60)
    last = int(end.timestamp() // 60)
    while minute < last:
        local = datetime.fromtimestamp(minute * 60, zone)
        of_day = local.hour * 60 + local.minute
        count += any(a <= of_day < b for a, b in schedule.local_hours(local.date()))
        minute += 1
    return count


@settings(max_examples=150, deadline=None, database=None)
@given(schedules, instants, st.integers(min_value=0, max_value=3 * 1440))
def test_between_matches_a_minute_by_minute_count_of_wall_clock_time(schedule, start, span):
    end = start + timedelta(minutes=span, seconds=17)
    assert schedule.between(start, end) == wall_clock_count(schedule, start, end)
