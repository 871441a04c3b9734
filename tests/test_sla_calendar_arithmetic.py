"""Business-time arithmetic on real Russian dates, DST zones and 24x7 (no database).

The production calendar is the shipped data file, read the way the migration reads it.
"""

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from firstline.sla.calendar import (
    TWENTY_FOUR_SEVEN,
    Schedule,
    WeeklyInterval,
    parse_days,
    read_days,
)

DATA = Path(__file__).resolve().parent.parent / "firstline" / "sla" / "data"
PRODUCTION = read_days((DATA / "ru_production_calendar.csv").read_text(encoding="utf-8"))
MSK = ZoneInfo("Europe/Moscow")
YEKT = ZoneInfo("Asia/Yekaterinburg")
BERLIN = ZoneInfo("Europe/Berlin")


def hours(weekdays, *spans):
    """Intervals on each weekday: hours(range(5), (9, 18)) or with minutes ((9, 30), (18, 0))."""
    found = []
    for weekday in weekdays:
        for start, end in spans:
            start = start if isinstance(start, tuple) else (start, 0)
            end = end if isinstance(end, tuple) else (end, 0)
            end_time = time(0) if end == (24, 0) else time(*end)
            found.append(WeeklyInterval(weekday, time(*start), end_time))
    return found


OFFICE = Schedule(time_zone="Europe/Moscow", weekly=hours(range(5), (9, 18)), days=PRODUCTION)


def msk(*args):
    return datetime(*args, tzinfo=MSK)


def test_saturday_2025_11_01_is_a_working_day_one_hour_shorter():
    assert OFFICE.working_periods(date(2025, 11, 1)) == [
        (msk(2025, 11, 1, 9), msk(2025, 11, 1, 17))
    ]
    assert OFFICE.add(msk(2025, 10, 31, 17, 30), 60) == msk(2025, 11, 1, 9, 30)


def test_november_3_and_4_2025_are_days_off():
    assert OFFICE.working_periods(date(2025, 11, 3)) == []
    assert OFFICE.working_periods(date(2025, 11, 4)) == []
    # Saturday's last hour, then straight to Wednesday.
    assert OFFICE.add(msk(2025, 11, 1, 16), 120) == msk(2025, 11, 5, 10)
    assert OFFICE.between(msk(2025, 11, 1, 0), msk(2025, 11, 5, 0)) == 8 * 60


def test_a_deadline_crosses_from_2025_into_2026_over_december_31_and_the_new_year_holidays():
    # Dec 31 2025 is a day off (moved from Jan 5), Jan 1-8 are holidays, Jan 9 2026 is a day
    # off moved from Jan 3, then the weekend: work resumes on Monday Jan 12.
    assert OFFICE.working_periods(date(2025, 12, 31)) == []
    assert OFFICE.add(msk(2025, 12, 30, 17), 120) == msk(2026, 1, 12, 10)
    assert OFFICE.between(msk(2025, 12, 30, 17), msk(2026, 1, 12, 10)) == 120


def test_may_holidays_2026_with_the_shortened_day_before_victory_day():
    assert OFFICE.add(msk(2026, 4, 30, 16), 9 * 60) == msk(2026, 5, 4, 17)  # Apr 30 ends 17:00
    assert OFFICE.working_periods(date(2026, 5, 8)) == [(msk(2026, 5, 8, 9), msk(2026, 5, 8, 17))]
    assert OFFICE.working_periods(date(2026, 5, 11)) == []  # May 9 fell on a Saturday
    assert OFFICE.between(msk(2026, 5, 8, 0), msk(2026, 5, 12, 0)) == 8 * 60


def test_a_pre_holiday_day_is_one_hour_shorter_and_the_holiday_has_no_hours():
    assert OFFICE.between(msk(2026, 11, 3, 0), msk(2026, 11, 5, 0)) == 8 * 60
    assert OFFICE.add(msk(2026, 11, 3, 16, 30), 60) == msk(2026, 11, 5, 9, 30)


def test_a_deadline_that_uses_up_the_day_lands_on_the_closing_time():
    assert OFFICE.add(msk(2026, 3, 2, 17), 60) == msk(2026, 3, 2, 18)
    assert OFFICE.add(msk(2026, 3, 2, 17), 61) == msk(2026, 3, 3, 9, 1)


def test_lunch_split_into_two_intervals_is_skipped_and_a_short_day_loses_its_last_hour():
    lunch = Schedule(time_zone="Asia/Yekaterinburg",
                     weekly=hours(range(5), (9, 13), (14, 18)), days=PRODUCTION)
    yekt = lambda *args: datetime(*args, tzinfo=YEKT)  # noqa: E731
    assert lunch.add(yekt(2026, 3, 2, 12, 30), 60) == yekt(2026, 3, 2, 14, 30)
    assert lunch.between(yekt(2026, 3, 2, 0), yekt(2026, 3, 3, 0)) == 8 * 60
    assert lunch.working_periods(date(2026, 11, 3)) == [
        (yekt(2026, 11, 3, 9), yekt(2026, 11, 3, 13)),
        (yekt(2026, 11, 3, 14), yekt(2026, 11, 3, 17)),
    ]


def test_the_same_hours_in_yekaterinburg_end_two_hours_earlier_than_in_moscow():
    yekaterinburg = Schedule(time_zone="Asia/Yekaterinburg", weekly=hours(range(5), (9, 18)),
                             days=PRODUCTION)
    start = datetime(2026, 3, 2, 7, tzinfo=UTC)  # Monday 10:00 in Moscow, 12:00 in Yekaterinburg
    assert OFFICE.add(start, 8 * 60) == datetime(2026, 3, 2, 15, tzinfo=UTC)  # 18:00 MSK
    assert yekaterinburg.add(start, 8 * 60) == datetime(2026, 3, 3, 6, tzinfo=UTC)  # Tue 11:00
    assert yekaterinburg.between(start, datetime(2026, 3, 2, 15, tzinfo=UTC)) == 6 * 60


def test_a_24_hour_day_in_berlin_has_23_hours_in_march_and_25_in_october():
    berlin = Schedule(time_zone="Europe/Berlin", is_24x7=True, days={date(2026, 12, 25): "holiday"})
    day = lambda *args: datetime(*args, tzinfo=BERLIN)  # noqa: E731
    assert berlin.between(day(2026, 3, 29), day(2026, 3, 30)) == 23 * 60
    assert berlin.between(day(2026, 10, 25), day(2026, 10, 26)) == 25 * 60
    # 01:00 plus two hours: the clocks jump from 02:00 to 03:00 on the way.
    assert berlin.add(day(2026, 3, 29, 1), 2 * 60) == day(2026, 3, 29, 4)
    assert berlin.add(day(2026, 10, 25, 1), 3 * 60) == day(2026, 10, 25, 3)


def test_office_hours_over_the_berlin_clock_change_count_real_minutes():
    berlin = Schedule(time_zone="Europe/Berlin", weekly=hours(range(7), (9, 18)))
    day = lambda *args: datetime(*args, tzinfo=BERLIN)  # noqa: E731
    assert berlin.add(day(2026, 3, 28, 17), 120) == day(2026, 3, 29, 10)
    assert berlin.add(day(2026, 3, 29, 10), 60).astimezone(UTC) == datetime(2026, 3, 29, 9,
                                                                             tzinfo=UTC)
    # The night-time clock change leaves office hours whole: 6 + 9 + 3 hours.
    assert berlin.between(day(2026, 10, 24, 12), day(2026, 10, 26, 12)) == 18 * 60


def test_a_night_shift_across_the_skipped_hour_is_one_hour_shorter():
    night = Schedule(time_zone="Europe/Berlin", weekly=hours(range(7), (1, 4)))
    assert night.working_periods(date(2026, 3, 29)) == [
        (datetime(2026, 3, 29, 0, tzinfo=UTC), datetime(2026, 3, 29, 2, tzinfo=UTC))
    ]
    # In October the repeated hour 02:00-03:00 is worked twice.
    assert night.working_periods(date(2026, 10, 25)) == [
        (datetime(2026, 10, 24, 23, tzinfo=UTC), datetime(2026, 10, 25, 3, tzinfo=UTC))
    ]


def test_seconds_are_floored_to_the_minute():
    start = msk(2026, 3, 2, 9, 0, 30)
    assert OFFICE.add(start, 60) == msk(2026, 3, 2, 10)
    assert OFFICE.between(start, msk(2026, 3, 2, 10)) == 60
    assert OFFICE.between(msk(2026, 3, 2, 9, 0, 10), msk(2026, 3, 2, 9, 0, 50)) == 0
    assert OFFICE.between(msk(2026, 3, 2, 9, 0, 59), msk(2026, 3, 2, 9, 1)) == 1


def test_adding_zero_minutes_returns_the_start_itself_even_outside_working_hours():
    sunday_night = msk(2026, 3, 1, 3, 17, 45)
    assert OFFICE.add(sunday_night, 0) is sunday_night
    assert OFFICE.add(sunday_night, 1) == msk(2026, 3, 2, 9, 1)


def test_between_is_negative_when_the_end_is_before_the_start():
    assert OFFICE.between(msk(2026, 3, 2, 12), msk(2026, 3, 2, 10)) == -120
    assert OFFICE.between(msk(2026, 3, 2, 12), msk(2026, 3, 2, 12)) == 0


def test_three_years_of_working_minutes_end_on_the_last_working_day_of_2027():
    per_year = 247 * 9 * 60 - 4 * 60  # 247 working days, four of them an hour shorter
    assert OFFICE.between(msk(2025, 1, 1), msk(2028, 1, 1)) == 3 * per_year
    assert OFFICE.add(msk(2025, 1, 1), 3 * per_year) == msk(2027, 12, 30, 18)


def test_a_weekend_made_working_gets_the_standard_day_and_keeps_its_own_hours_if_it_has_them():
    schedule = Schedule(
        time_zone="Europe/Moscow",
        weekly=[*hours([0], (8, 17)), *hours(range(1, 5), (9, 18)), *hours([5], (10, 14))],
        days={date(2026, 3, 8): "working", date(2026, 3, 7): "working",
              date(2026, 3, 14): "short"},
    )
    assert schedule.working_periods(date(2026, 3, 8)) == [(msk(2026, 3, 8, 8), msk(2026, 3, 8, 17))]
    assert schedule.working_periods(date(2026, 3, 7)) == [
        (msk(2026, 3, 7, 10), msk(2026, 3, 7, 14))
    ]
    assert schedule.working_periods(date(2026, 3, 14)) == [
        (msk(2026, 3, 14, 10), msk(2026, 3, 14, 13))
    ]


def test_twenty_four_seven_counts_every_minute():
    start = datetime(2026, 12, 31, 23, 30, 15, tzinfo=UTC)
    assert TWENTY_FOUR_SEVEN.add(start, 90) == datetime(2027, 1, 1, 1, 0, tzinfo=UTC)
    assert TWENTY_FOUR_SEVEN.between(datetime(2025, 1, 1, tzinfo=UTC),
                                     datetime(2026, 1, 1, tzinfo=UTC)) == 365 * 24 * 60
    assert TWENTY_FOUR_SEVEN.is_working(start)


def test_a_24x7_calendar_with_the_production_calendar_stops_on_holidays():
    schedule = Schedule(time_zone="Europe/Moscow", is_24x7=True, days=PRODUCTION)
    # Jan 1-8 holidays and Jan 9 moved from Jan 3; the weekend after is worked by a 7-day week.
    assert schedule.between(msk(2026, 1, 1), msk(2026, 1, 10)) == 0
    assert schedule.between(msk(2026, 1, 1), msk(2026, 1, 11)) == 24 * 60
    assert schedule.add(msk(2025, 12, 30, 23), 120) == msk(2026, 1, 10, 1)
    assert schedule.between(msk(2026, 11, 3), msk(2026, 11, 4)) == 23 * 60


def test_an_end_of_24_00_is_written_as_midnight():
    schedule = Schedule(time_zone="Europe/Moscow", weekly=hours(range(7), (20, 24)))
    assert schedule.add(msk(2026, 3, 2, 23, 30), 60) == msk(2026, 3, 3, 20, 30)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: OFFICE.add(datetime(2026, 3, 2, 9), 10), "naive"),
        (lambda: OFFICE.between(datetime(2026, 3, 2, 9), msk(2026, 3, 2, 10)), "naive"),
        (lambda: OFFICE.add(msk(2026, 3, 2, 9), -1), "negative"),
        (lambda: Schedule(time_zone="Europe/Atlantis"), "unknown time zone"),
        (lambda: Schedule(weekly=hours([0], (9, 13), (12, 18))), "bad weekly intervals"),
        (lambda: Schedule(weekly=hours([0], (18, 9))), "bad weekly intervals"),
        (lambda: Schedule(days={date(2026, 1, 1): "vacation"}), "unknown kind"),
    ],
)
def test_bad_input_is_refused_with_a_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_fraction_of_a_minute_is_refused():
    with pytest.raises(TypeError):
        OFFICE.add(msk(2026, 3, 2, 9), 1.5)


def test_a_schedule_without_any_working_time_refuses_to_add_instead_of_looping():
    empty = Schedule(time_zone="Europe/Moscow", days={date(2026, 1, 10): "holiday"})
    assert empty.between(msk(2026, 1, 1), msk(2030, 1, 1)) == 0
    with pytest.raises(ValueError, match="no working time"):
        empty.add(msk(2026, 1, 1), 1)


def test_a_schedule_cannot_be_changed_after_it_is_made():
    with pytest.raises(AttributeError):
        OFFICE.time_zone = "UTC"


def test_the_days_file_reader_reports_every_bad_line_with_its_number():
    text = "\n".join([
        "date,kind,note",
        "2026-01-09,holiday,moved from Jan 3",
        "# a comment",
        "2026-13-01,holiday",
        "2026-02-20,vacation",
        "2026-01-09,short",
        "2026-03-01",
        '2026-03-02,short,"quoted, with a comma"',
        "20260303,holiday",
    ])
    rows, problems = parse_days(text)
    assert [(row.line, row.date, row.kind, row.note) for row in rows] == [
        (2, date(2026, 1, 9), "holiday", "moved from Jan 3"),
        (8, date(2026, 3, 2), "short", "quoted, with a comma"),
    ]
    assert [(problem.line, problem.code) for problem in problems] == [
        (4, "date"), (5, "kind"), (6, "duplicate"), (7, "fields"), (9, "date"),
    ]
    assert problems[2].details == (2,)
