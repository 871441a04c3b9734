"""Business calendars on the Django side: compiled schedules, queries and readable messages.

`schedule_for(calendar)` is what deadline code calls: it reads the calendar, its intervals,
its exception days and (when the calendar follows it) the shared production calendar once,
compiles them into an immutable `Schedule` and keeps it per process, keyed by the
calendar's id and version. Every change through firstline.sla.calendar_services bumps the
version, so the next `schedule_for` with a freshly loaded calendar sees the change.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import date

from django.db.models import Q, QuerySet
from django.utils.dates import WEEKDAYS, WEEKDAYS_ABBR
from django.utils.translation import gettext as _

from firstline.core.models import User
from firstline.sla.calendar import (
    TWENTY_FOUR_SEVEN,
    LineProblem,
    Schedule,
    WeeklyInterval,
    interval_problems,
)
from firstline.sla.models import BusinessCalendar, CalendarDay

CACHE_SIZE = 256

_cache: OrderedDict[tuple[int, int], Schedule] = OrderedDict()
_lock = threading.Lock()


def production_days() -> dict[date, str]:
    """The shared production calendar: date -> kind."""
    return dict(
        CalendarDay.objects.filter(calendar__isnull=True).values_list("date", "kind")
    )


def compile_schedule(calendar: BusinessCalendar) -> Schedule:
    """The calendar as it is in the database now, without the cache."""
    days: dict[date, str] = production_days() if calendar.uses_production_calendar else {}
    if calendar.pk is not None:
        # The calendar's own days win over the production calendar's.
        days.update(calendar.days.values_list("date", "kind"))
        weekly = [
            WeeklyInterval(weekday, start, end)
            for weekday, start, end in calendar.intervals.values_list("weekday", "start", "end")
        ]
    else:
        weekly = []
    return Schedule(
        time_zone=calendar.time_zone, weekly=weekly, is_24x7=calendar.is_24x7, days=days
    )


def schedule_for(calendar: BusinessCalendar | None) -> Schedule:
    """The compiled schedule of a calendar; `TWENTY_FOUR_SEVEN` for None (no calendar)."""
    if calendar is None:
        return TWENTY_FOUR_SEVEN
    if calendar.pk is None:
        return compile_schedule(calendar)
    key = (calendar.pk, calendar.version)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    schedule = compile_schedule(calendar)
    with _lock:
        _cache[key] = schedule
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return schedule


def clear_schedule_cache() -> None:
    with _lock:
        _cache.clear()


def calendars_for(user: User) -> QuerySet[BusinessCalendar]:
    """Calendars a user may see: staff all of them; a partner account its own and the
    provider-wide ones; nobody else any."""
    if not (user and user.is_authenticated and user.is_active):
        return BusinessCalendar.objects.none()
    if user.is_provider_staff:
        return BusinessCalendar.objects.all()
    if user.is_partner_user:
        return BusinessCalendar.objects.filter(
            Q(partner_id=user.partner_id) | Q(partner__isnull=True)
        )
    return BusinessCalendar.objects.none()


def can_edit_calendars(user: User | None) -> bool:
    return user is None or user.role in (User.Role.SUPERVISOR, User.Role.ADMIN)


def can_edit_production_calendar(user: User | None) -> bool:
    """The shared production calendar changes every partner's deadlines: admins only."""
    return user is None or user.role == User.Role.ADMIN


# -- readable messages --------------------------------------------------------------------


def interval_messages(intervals: Iterable[WeeklyInterval]) -> list[tuple[int, str]]:
    """(weekday, message) for everything wrong with a week's intervals."""
    found = []
    for weekday, code, details in interval_problems(intervals):
        day = str(WEEKDAYS.get(weekday, weekday))
        if code == "weekday":
            text = _("Unknown weekday %(weekday)s.") % {"weekday": weekday}
        elif code == "seconds":
            text = _("%(weekday)s: %(interval)s is not on whole minutes.") % {
                "weekday": day, "interval": details[0]}
        elif code == "order":
            text = _("%(weekday)s: %(interval)s must end after it starts "
                     "(write 24:00 for the end of the day).") % {
                "weekday": day, "interval": details[0]}
        else:
            text = _("%(weekday)s: %(first)s overlaps %(second)s.") % {
                "weekday": day, "first": details[0], "second": details[1]}
        found.append((weekday, text))
    return found


def line_message(problem: LineProblem) -> str:
    line = problem.line
    if problem.code == "fields":
        return _("Line %(line)d: expected date,kind[,note].") % {"line": line}
    if problem.code == "date":
        return _("Line %(line)d: “%(value)s” is not a date like 2026-01-31.") % {
            "line": line, "value": problem.details[0]}
    if problem.code == "kind":
        return _("Line %(line)d: unknown kind “%(value)s”; use holiday, working or short.") % {
            "line": line, "value": problem.details[0]}
    if problem.code == "note":
        return _("Line %(line)d: the note is longer than %(limit)d characters.") % {
            "line": line, "limit": problem.details[0]}
    return _("Line %(line)d: this date is already on line %(other)d.") % {
        "line": line, "other": problem.details[0]}


def hours_text(intervals: Sequence[WeeklyInterval]) -> str:
    """One weekday's hours as typed in the form: "09:00-13:00, 14:00-18:00"."""
    ordered = sorted(intervals, key=lambda item: item.start_minutes)
    return ", ".join(str(interval) for interval in ordered)


def weekly_summary(intervals: Iterable[WeeklyInterval], *, is_24x7: bool = False) -> str:
    """"Mon–Fri 09:00-18:00; Sat 10:00-14:00": consecutive weekdays with equal hours joined."""
    if is_24x7:
        return _("24x7")
    by_day: dict[int, list[WeeklyInterval]] = {}
    for interval in intervals:
        by_day.setdefault(interval.weekday, []).append(interval)
    texts = [hours_text(by_day.get(weekday, [])) for weekday in range(7)]
    parts = []
    weekday = 0
    while weekday < 7:
        last = weekday
        while last + 1 < 7 and texts[last + 1] == texts[weekday]:
            last += 1
        if texts[weekday]:
            days = str(WEEKDAYS_ABBR[weekday])
            if last > weekday:
                days = f"{days}–{WEEKDAYS_ABBR[last]}"
            parts.append(f"{days} {texts[weekday]}")
        weekday = last + 1
    return "; ".join(parts) or _("no working hours")
