"""Business time: how many working minutes lie between two instants, and where N of them end.

A pure module: no ORM, no settings. `firstline.sla.calendars.schedule_for` compiles a
`BusinessCalendar` (its weekly hours, its exception days and, when it follows it, the shared
production calendar) into a `Schedule`; the SLA code asks the schedule, never the database.

Definitions (the tests hold the code to them):

- Time is counted in whole minutes of UTC. An instant belongs to the minute it falls in:
  seconds are dropped (floored), so 09:00:30 counts as 09:00 and the minute it starts in
  counts in full. `add` always answers on a whole minute (except `add(t, 0)`, which is `t`).
- A minute is *working* when its local wall-clock time, in the schedule's time zone, lies in
  one of the working intervals of its local date. Elapsed minutes are what count: on the
  day clocks go forward a 00:00-24:00 day in Berlin has 23 hours, on the day they go back
  25; a wall-clock time that does not exist is simply absent, a repeated one counts twice
  if it is inside an interval.
- `between(a, b)` is the number of working minutes m with floor(a) <= m < floor(b); it is
  `-between(b, a)` when b < a and 0 when both fall in the same minute. So
  `between(a, b) + between(b, c) == between(a, c)` for any a, b, c.
- `add(t, 0) == t`, also outside working time. For n > 0, `add(t, n)` is the end of the
  n-th working minute at or after floor(t): the earliest whole minute x with
  `between(t, x) == n`. A deadline that uses up a day exactly lands on the closing time
  (17:00 + 60 minutes is 18:00, not 09:00 next morning). n < 0 is an error.

Days of a schedule: a date without an exception has the hours of its weekday (or the whole
day when the schedule is 24x7). Exceptions:

- `holiday`: no working time.
- `working`: a working day. It keeps its weekday's hours if that weekday has any; a day
  off made working (a Saturday) gets the schedule's *standard day*: the hours of the first
  weekday, Monday on, that has hours.
- `short`: a working day as above, one hour shorter: the last 60 minutes of its hours are
  cut (from the last interval, then the one before if the last is shorter).

Cost: a schedule lays out the working intervals of a whole local year in UTC minutes once,
with running totals, and keeps it. After that `add` and `between` are two binary searches
inside a year plus one step per year crossed, however many minutes or days they span.
"""

from __future__ import annotations

import csv
import io
import operator
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from firstline.sla.models import BusinessCalendar

HOLIDAY = "holiday"
WORKING = "working"
SHORT = "short"
DAY_KINDS = (HOLIDAY, WORKING, SHORT)
SHORT_DAY_MINUTES = 60
MINUTES_IN_DAY = 1440
# A search for working time gives up after this many years without any (a calendar whose
# week has no hours and whose exception days have run out).
MAX_EMPTY_YEARS = 5

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_FULL_DAY: tuple[tuple[int, int], ...] = ((0, MINUTES_IN_DAY),)


def time_to_minutes(value: time, *, is_end: bool = False) -> int:
    """Minutes since midnight; an end of 00:00 means 24:00, the end of the day."""
    if value.second or value.microsecond:
        raise ValueError(f"{value} is not on a whole minute")
    minutes = value.hour * 60 + value.minute
    if is_end and minutes == 0:
        return MINUTES_IN_DAY
    return minutes


def minutes_to_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class WeeklyInterval(NamedTuple):
    """Working hours on one weekday (0 = Monday); `end` time(0, 0) stands for 24:00."""

    weekday: int
    start: time
    end: time

    @property
    def start_minutes(self) -> int:
        return time_to_minutes(self.start)

    @property
    def end_minutes(self) -> int:
        return time_to_minutes(self.end, is_end=True)

    def __str__(self) -> str:
        end = "24:00" if self.end == time(0, 0) else _clock_text(self.end)
        return f"{_clock_text(self.start)}-{end}"


def _clock_text(value: time) -> str:
    return value.isoformat(timespec="seconds" if value.second or value.microsecond else "minutes")


Problem = tuple[int, str, tuple[Any, ...]]


def interval_problems(intervals: Iterable[WeeklyInterval]) -> list[Problem]:
    """What is wrong with a week's intervals, as (weekday, code, details); empty when fine.

    Codes: "weekday" (not 0..6), "seconds" (not on a whole minute), "order" (start not
    before end), "overlap" (with another interval of the same weekday; touching is fine).
    """
    problems: list[Problem] = []
    by_day: dict[int, list[WeeklyInterval]] = {}
    for interval in intervals:
        if not 0 <= interval.weekday <= 6:
            problems.append((interval.weekday, "weekday", (interval,)))
            continue
        if any(value.second or value.microsecond for value in (interval.start, interval.end)):
            problems.append((interval.weekday, "seconds", (interval,)))
            continue
        if interval.start_minutes >= interval.end_minutes:
            problems.append((interval.weekday, "order", (interval,)))
            continue
        by_day.setdefault(interval.weekday, []).append(interval)
    for weekday, items in sorted(by_day.items()):
        items.sort(key=lambda item: (item.start_minutes, item.end_minutes))
        widest = items[0]  # of those seen so far, the one that ends last
        for after in items[1:]:
            if after.start_minutes < widest.end_minutes:
                problems.append((weekday, "overlap", (widest, after)))
            if after.end_minutes > widest.end_minutes:
                widest = after
    return problems


class DayRow(NamedTuple):
    line: int
    date: date
    kind: str
    note: str


class LineProblem(NamedTuple):
    """A bad line of a days file: its number (1-based), a code and details for the message.

    Codes: "fields" (not 2 or 3 fields), "date" (not an ISO date), "kind" (not one of
    DAY_KINDS), "note" (longer than the limit), "duplicate" (the date is already on line
    details[0]).
    """

    line: int
    code: str
    details: tuple[Any, ...]


def parse_days(text: str, *, note_limit: int = 200) -> tuple[list[DayRow], list[LineProblem]]:
    """Read `date,kind[,note]` lines; every line is checked and every problem reported.

    Blank lines and lines starting with # are skipped; a first line starting with "date" is
    a header. Fields may be quoted as in CSV.
    """
    rows: list[DayRow] = []
    problems: list[LineProblem] = []
    seen: dict[date, int] = {}
    header_allowed = True
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip().lstrip("\ufeff")
        if not stripped or stripped.startswith("#"):
            continue
        try:
            fields = [field.strip() for field in next(csv.reader(io.StringIO(stripped)))]
        except csv.Error:
            problems.append(LineProblem(number, "fields", (0,)))
            header_allowed = False
            continue
        if header_allowed and fields and fields[0].lower() == "date":
            header_allowed = False
            continue
        header_allowed = False
        if len(fields) not in (2, 3):
            problems.append(LineProblem(number, "fields", (len(fields),)))
            continue
        raw_date, kind = fields[0], fields[1].lower()
        note = fields[2] if len(fields) == 3 else ""
        bad = False
        try:
            if not _ISO_DATE.fullmatch(raw_date):
                raise ValueError(raw_date)
            day = date.fromisoformat(raw_date)
        except ValueError:
            problems.append(LineProblem(number, "date", (raw_date,)))
            bad = True
        if kind not in DAY_KINDS:
            problems.append(LineProblem(number, "kind", (fields[1],)))
            bad = True
        if len(note) > note_limit:
            problems.append(LineProblem(number, "note", (note_limit,)))
            bad = True
        if bad:
            continue
        if day in seen:
            problems.append(LineProblem(number, "duplicate", (seen[day],)))
            continue
        seen[day] = number
        rows.append(DayRow(number, day, kind, note))
    return rows, problems


def read_days(text: str) -> dict[date, str]:
    """date -> kind from a days file that must be valid (shipped data, tests, benchmarks)."""
    rows, problems = parse_days(text)
    if problems:
        raise ValueError(f"bad days file: {problems}")
    return {row.date: row.kind for row in rows}


@dataclass(frozen=True, slots=True)
class _Year:
    """The working intervals of one local year in UTC minutes, with running totals."""

    year: int
    start: int  # first minute of the local year
    end: int  # first minute of the next local year
    starts: list[int]
    ends: list[int]
    before: list[int]  # working minutes of the year before interval i
    through: list[int]  # working minutes of the year up to the end of interval i
    total: int

    def count_before(self, minute: int) -> int:
        """Working minutes of this year strictly before `minute`."""
        index = bisect_right(self.starts, minute) - 1
        if index < 0:
            return 0
        start, end = self.starts[index], self.ends[index]
        return self.before[index] + (minute - start if minute < end else end - start)

    def minute_after(self, count: int) -> int:
        """The end of the count-th working minute of this year (1 <= count <= total)."""
        index = bisect_left(self.through, count)
        return self.starts[index] + count - self.before[index]


def _offset_seconds(zone: tzinfo, moment: int) -> int:
    offset = datetime.fromtimestamp(moment, zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def _wall_offset_seconds(zone: tzinfo, wall: datetime) -> int:
    offset = zone.utcoffset(wall)
    assert offset is not None
    return int(offset.total_seconds())


def _transition(zone: tzinfo, low: int, high: int, low_offset: int) -> int:
    """The first second in (low, high] whose UTC offset differs from `low_offset`."""
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_seconds(zone, middle) == low_offset:
            low = middle
        else:
            high = middle
    return high


class Schedule:
    """Working time of one calendar: immutable; `add` and `between` are the arithmetic.

    time_zone: an IANA name. weekly: the intervals of the week (ignored when is_24x7).
    days: exception days, date -> "holiday" | "working" | "short".
    """

    __slots__ = (
        "_continuous",
        "_days",
        "_last",
        "_last_exception_year",
        "_standard_day",
        "_weekly",
        "_weekly_minutes",
        "_years",
        "_zone",
        "is_24x7",
        "time_zone",
    )

    def __init__(
        self,
        *,
        time_zone: str = "UTC",
        weekly: Iterable[WeeklyInterval] = (),
        is_24x7: bool = False,
        days: Mapping[date, str] | None = None,
    ) -> None:
        try:
            zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {time_zone!r}") from error
        intervals = list(weekly)
        problems = interval_problems(intervals)
        if problems:
            raise ValueError(f"bad weekly intervals: {problems}")
        days = dict(days or {})
        for day, kind in days.items():
            if kind not in DAY_KINDS:
                raise ValueError(f"unknown kind of day {kind!r} on {day}")
        week: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for interval in intervals:
            week[interval.weekday].append((interval.start_minutes, interval.end_minutes))
        weekly_days = tuple(_merge(sorted(hours)) for hours in week)
        if is_24x7:
            weekly_days = (_FULL_DAY,) * 7
        standard = next((hours for hours in weekly_days if hours), ())
        setattr_ = object.__setattr__
        setattr_(self, "time_zone", time_zone)
        setattr_(self, "is_24x7", is_24x7)
        setattr_(self, "_zone", zone)
        setattr_(self, "_weekly", weekly_days)
        setattr_(self, "_weekly_minutes", sum(e - s for hours in weekly_days for s, e in hours))
        setattr_(self, "_standard_day", standard)
        setattr_(self, "_days", MappingProxyType(days))
        setattr_(self, "_last_exception_year", max((day.year for day in days), default=0))
        # Every minute works: 24x7 with nothing that takes time away.
        setattr_(self, "_continuous", is_24x7 and all(kind == WORKING for kind in days.values()))
        setattr_(self, "_years", {})
        setattr_(self, "_last", [None])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Schedule is immutable")

    def __repr__(self) -> str:
        kind = "24x7" if self.is_24x7 else f"{self._weekly_minutes} min/week"
        return f"<Schedule {self.time_zone} {kind}, {len(self._days)} exception days>"

    # -- what the schedule says about days -------------------------------------------------

    @property
    def weekly_minutes(self) -> int:
        """Working minutes of an ordinary week (no exception days, no DST change)."""
        return self._weekly_minutes

    @property
    def days(self) -> Mapping[date, str]:
        return self._days

    def local_hours(self, day: date) -> tuple[tuple[int, int], ...]:
        """The working intervals of a local date, in minutes since local midnight."""
        kind = self._days.get(day)
        hours = self._weekly[day.weekday()]
        if kind is None:
            return hours
        if kind == HOLIDAY:
            return ()
        hours = hours or self._standard_day
        if kind == WORKING:
            return hours
        return _shorten(hours, SHORT_DAY_MINUTES)

    def working_periods(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working periods of a local date as aware UTC datetimes."""
        start = _first_instant(self._zone, day) // 60
        end = _first_instant(self._zone, day + timedelta(days=1)) // 60
        year = self._year(day.year)
        low = bisect_left(year.ends, start + 1)
        periods = []
        for index in range(low, len(year.starts)):
            if year.starts[index] >= end:
                break
            periods.append((_instant(max(year.starts[index], start)),
                            _instant(min(year.ends[index], end))))
        return periods

    def is_working(self, moment: datetime) -> bool:
        minute = _minute(moment)
        if self._continuous:
            return True
        year = self._year_at(minute)
        return year.count_before(minute + 1) > year.count_before(minute)

    # -- the arithmetic ---------------------------------------------------------------------

    def add(self, start: datetime, minutes: int) -> datetime:
        """The instant `minutes` working minutes after `start` (see the module docstring)."""
        minutes = operator.index(minutes)  # whole minutes only: 1.5 is a TypeError, not a rounding
        if minutes == 0:
            _minute(start)  # still refuse a naive datetime
            return start
        if minutes < 0:
            raise ValueError("minutes must not be negative")
        minute = _minute(start)
        if self._continuous:
            return _instant(minute + minutes)
        year = self._year_at(minute)
        target = year.count_before(minute) + minutes
        empty_years = 0
        while target > year.total:
            target -= year.total
            year = self._year(year.year + 1)
            empty_years = empty_years + 1 if year.total == 0 else 0
            if (empty_years >= MAX_EMPTY_YEARS and self._weekly_minutes == 0
                    and year.year > self._last_exception_year):
                raise ValueError("this schedule has no working time left")
        return _instant(year.minute_after(target))

    def between(self, start: datetime, end: datetime) -> int:
        """Working minutes from `start` to `end`; negative when `end` is before `start`."""
        first, last = _minute(start), _minute(end)
        if first == last:
            return 0
        if last < first:
            return -self._count(last, first)
        return self._count(first, last)

    def _count(self, first: int, last: int) -> int:
        if self._continuous:
            return last - first
        head = self._year_at(first)
        tail = self._year_at(last)
        if head is tail:
            return tail.count_before(last) - head.count_before(first)
        total = head.total - head.count_before(first)
        for year in range(head.year + 1, tail.year):
            total += self._year(year).total
        return total + tail.count_before(last)

    # -- laying out years --------------------------------------------------------------------

    def _year_at(self, minute: int) -> _Year:
        last = self._last[0]
        if last is not None and last.start <= minute < last.end:
            return last
        year = self._year(date.fromordinal(minute // MINUTES_IN_DAY + _EPOCH_ORDINAL).year)
        if minute < year.start:
            year = self._year(year.year - 1)
        elif minute >= year.end:
            year = self._year(year.year + 1)
        self._last[0] = year
        return year

    def _year(self, number: int) -> _Year:
        found = self._years.get(number)
        if found is None:
            found = self._years.setdefault(number, self._lay_out(number))
        return found

    def _lay_out(self, number: int) -> _Year:
        zone = self._zone
        starts: list[int] = []
        ends: list[int] = []

        def put(start: int, end: int) -> None:
            if end <= start:
                return
            if ends and start <= ends[-1]:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)

        first = date(number, 1, 1).toordinal()
        after = date(number + 1, 1, 1).toordinal()
        next_offset = _wall_offset_seconds(zone, datetime(number, 1, 1)) // 60
        for ordinal in range(first, after):
            offset = next_offset
            day = date.fromordinal(ordinal)
            next_offset = _wall_offset_seconds(zone, datetime.fromordinal(ordinal + 1)) // 60
            hours = self.local_hours(day)
            if not hours:
                continue
            midnight = (ordinal - _EPOCH_ORDINAL) * MINUTES_IN_DAY
            if offset == next_offset:
                for start, end in hours:
                    put(midnight + start - offset, midnight + end - offset)
            else:
                for start, end in _changeover_day(zone, day, hours):
                    put(start, end)
        before: list[int] = []
        through: list[int] = []
        total = 0
        for start, end in zip(starts, ends, strict=True):
            before.append(total)
            total += end - start
            through.append(total)
        return _Year(
            year=number,
            start=_first_instant(zone, date(number, 1, 1)) // 60,
            end=_first_instant(zone, date(number + 1, 1, 1)) // 60,
            starts=starts,
            ends=ends,
            before=before,
            through=through,
            total=total,
        )


def _merge(hours: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in hours:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _shorten(hours: tuple[tuple[int, int], ...], minutes: int) -> tuple[tuple[int, int], ...]:
    kept = list(hours)
    while kept and minutes > 0:
        start, end = kept.pop()
        length = end - start
        if length > minutes:
            kept.append((start, end - minutes))
        minutes -= length
    return tuple(kept)


def _minute(moment: datetime) -> int:
    if moment.utcoffset() is None:
        raise ValueError("a naive datetime has no place in business time; give it a time zone")
    return int(moment.timestamp() // 60)


def _instant(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, UTC)


def _local_seconds(day: date) -> int:
    """Local midnight of `day` as if it were UTC, in seconds since the epoch."""
    return (day.toordinal() - _EPOCH_ORDINAL) * 86400


def _around(zone: tzinfo, day: date) -> tuple[int, int, int]:
    """(offset before, offset after, the changeover second) for a day whose offset changes.

    The offsets are those of local midnight of `day` and of the next day; when they are
    equal there is no changeover and the third value is meaningless.
    """
    wall = _local_seconds(day)
    before = _wall_offset_seconds(zone, datetime.fromordinal(day.toordinal()))
    after = _wall_offset_seconds(zone, datetime.fromordinal(day.toordinal() + 1))
    if before == after:
        return before, after, 0
    # Twelve hours either side of the day hold one offset each: zones change twice a year.
    changeover = _transition(zone, wall - before - 43200, wall + 86400 - after + 43200, before)
    return before, after, changeover


def _first_instant(zone: tzinfo, day: date) -> int:
    """The first UTC second whose local date is `day` (its midnight, or the end of a gap)."""
    wall = _local_seconds(day)
    offset = _wall_offset_seconds(zone, datetime.fromordinal(day.toordinal()))
    candidate = wall - offset
    if datetime.fromtimestamp(candidate, zone).replace(tzinfo=None) == datetime.fromordinal(
        day.toordinal()
    ):
        # Midnight exists; with fold=0 it is its first occurrence when it happens twice.
        return candidate
    # Midnight falls into a gap: the day starts when the clocks jump.
    previous_offset = _wall_offset_seconds(zone, datetime.fromordinal(day.toordinal() - 1))
    return _transition(zone, wall - previous_offset - 43200, candidate + 43200, previous_offset)


def _changeover_day(
    zone: tzinfo, day: date, hours: tuple[tuple[int, int], ...]
) -> list[tuple[int, int]]:
    """UTC minute intervals of a day on which the UTC offset changes (DST and the like).

    The day is cut at the changeover: before it local time is UTC + the old offset, after
    it UTC + the new one; an interval keeps the UTC minutes whose wall-clock time is inside
    it, in each part.
    """
    old, new, changeover = _around(zone, day)
    day_start = _first_instant(zone, day)
    day_end = _first_instant(zone, day + timedelta(days=1))
    parts = []
    if day_start < changeover:
        parts.append((day_start, min(changeover, day_end), old))
    if day_end > changeover:
        parts.append((max(changeover, day_start), day_end, new))
    wall = _local_seconds(day)
    found: list[tuple[int, int]] = []
    for start, end in hours:
        for low, high, offset in parts:
            begin = max(wall + start * 60 - offset, low)
            finish = min(wall + end * 60 - offset, high)
            if finish > begin:
                found.append((begin // 60, finish // 60))
    return sorted(found)


TWENTY_FOUR_SEVEN = Schedule(time_zone="UTC", is_24x7=True)
"""Every minute is working: the schedule of a partner without a calendar."""


def schedule_for(calendar: BusinessCalendar | None) -> Schedule:
    """The compiled, cached schedule of a BusinessCalendar (None: TWENTY_FOUR_SEVEN).

    Loading reads the database, so it lives in firstline.sla.calendars; it is re-exported
    here so that deadline code imports everything business-time from one module.
    """
    from firstline.sla.calendars import schedule_for as load

    return load(calendar)
