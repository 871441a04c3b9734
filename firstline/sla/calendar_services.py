"""Every change to a business calendar or the shared production calendar goes through here.

One transaction each: check who acts, validate everything (ValidationError naming the
field, nothing written), write, record the audit event, and bump the version of every
calendar whose schedule changed, so that `schedule_for` compiles it afresh. Then, once that
transaction is done, the open tickets of every policy on a calendar whose schedule changed
get their deadlines and pending escalations from the new schedule
(`recompute_open_tickets_on`: batched, each ticket audited), as when a policy's terms change.
That runs in the background (`firstline.sla.tasks`, enqueued after the commit): over a large
backlog it takes long, and the supervisor's request should not; the functions say whether
it was queued (`recompute_queued`).

Who may: provider supervisors and administrators edit calendars; only administrators edit
the shared production calendar (it moves every partner's deadlines). `actor=None` is the
system (migrations, scripts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from firstline.core import audit, config_cache
from firstline.core.clock import now
from firstline.core.models import Partner, User, validate_time_zone
from firstline.sla.calendar import WeeklyInterval, parse_days
from firstline.sla.calendars import (
    can_edit_calendars,
    can_edit_production_calendar,
    hours_text,
    interval_messages,
    line_message,
)
from firstline.sla.models import (
    BusinessCalendar,
    CalendarDay,
    DayKind,
    SlaPolicy,
    WorkingInterval,
)
from firstline.sla.services import recompute_open_tickets
from firstline.sla.tasks import enqueue_recompute, recompute_state

NAME_MAX = BusinessCalendar._meta.get_field("name").max_length or 200
NOTE_MAX = CalendarDay._meta.get_field("note").max_length or 200
SOURCE_MANUAL = "manual"
SOURCE_IMPORT = "import"


@dataclass(frozen=True)
class CalendarData:
    """What a calendar is made of; `intervals` replace the calendar's weekly hours.

    `uses_production_calendar` None means "by the kind of calendar": a calendar of weekly
    hours follows the production calendar, a 24x7 one does not (its clock runs every minute
    of every day, public holidays included)."""

    name: str
    time_zone: str = "Europe/Moscow"
    is_24x7: bool = False
    uses_production_calendar: bool | None = None
    intervals: Sequence[WeeklyInterval] = ()


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    recompute_queued: bool = False  # the new days move deadlines: recomputing in the background

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def _ensure_can_edit(actor: User | None, calendar: BusinessCalendar | None) -> None:
    if calendar is None:
        if not can_edit_production_calendar(actor):
            raise PermissionDenied(_("Only administrators can change the production calendar."))
    elif not can_edit_calendars(actor):
        raise PermissionDenied(_("Only supervisors and administrators can change calendars."))


def _week(intervals: Sequence[WeeklyInterval]) -> list[str]:
    """The weekly hours for the audit trail: seven strings, Monday first."""
    return [hours_text([i for i in intervals if i.weekday == day]) for day in range(7)]


def _snapshot(calendar: BusinessCalendar, intervals: Sequence[WeeklyInterval]) -> dict:
    return {
        "name": calendar.name,
        "time_zone": calendar.time_zone,
        "is_24x7": calendar.is_24x7,
        "uses_production_calendar": calendar.uses_production_calendar,
        "hours": _week(intervals),
    }


def _validate(data: CalendarData, *, partner: Partner | None, exclude: int | None) -> CalendarData:
    errors: dict[str, list[str]] = {}
    name = (data.name or "").strip()
    if not name:
        errors["name"] = [_("Give the calendar a name.")]
    elif len(name) > NAME_MAX:
        errors["name"] = [_("The name is longer than %(max)d characters.") % {"max": NAME_MAX}]
    else:
        same = BusinessCalendar.objects.filter(name=name)
        same = same.filter(partner=partner) if partner else same.filter(partner__isnull=True)
        if same.exclude(pk=exclude).exists():
            errors["name"] = [_("There is already a calendar with this name.")]
    try:
        validate_time_zone(data.time_zone)
    except ValidationError as error:
        errors["time_zone"] = error.messages
    problems = interval_messages(data.intervals)
    if problems:
        errors["intervals"] = [text for _weekday, text in problems]
    elif not data.is_24x7 and not data.intervals:
        # No deadline could ever be reached on it: every ticket's recompute would fail.
        errors["intervals"] = [_("Give at least one working interval of the week, or make "
                                 "the calendar 24x7.")]
    if errors:
        raise ValidationError(errors)
    return CalendarData(
        name=name,
        time_zone=data.time_zone,
        is_24x7=bool(data.is_24x7),
        uses_production_calendar=(
            not data.is_24x7 if data.uses_production_calendar is None
            else bool(data.uses_production_calendar)
        ),
        intervals=sorted(data.intervals, key=lambda i: (i.weekday, i.start_minutes)),
    )


def _store_intervals(calendar: BusinessCalendar, intervals: Sequence[WeeklyInterval]) -> None:
    calendar.intervals.all().delete()
    WorkingInterval.objects.bulk_create(
        [
            WorkingInterval(partner_id=calendar.partner_id, calendar=calendar,
                            weekday=interval.weekday, start=interval.start, end=interval.end)
            for interval in intervals
        ]
    )


def _touch(calendar: BusinessCalendar) -> None:
    """A new version: cached schedules of the old one are no longer used."""
    BusinessCalendar.objects.filter(pk=calendar.pk).update(
        version=F("version") + 1, updated_at=now()
    )
    calendar.refresh_from_db(fields=["version", "updated_at"])
    # A cached default policy may hold the old calendar row (firstline.core.config_cache).
    config_cache.clear()


def _touch_followers_of_production_calendar() -> None:
    BusinessCalendar.objects.filter(uses_production_calendar=True).update(
        version=F("version") + 1, updated_at=now()
    )
    config_cache.clear()


def recompute_open_tickets_on(calendar: BusinessCalendar | None, *, actor: User | None) -> int:
    """Open tickets follow a calendar's new schedule; how many tickets' deadlines changed.

    `calendar` None: the production calendar changed, so every calendar that follows it
    did. Each policy on such a calendar has its open tickets recomputed as when its own
    terms change (`services.recompute_open_tickets`: batches of their own transactions,
    deadlines from the new schedule, unfired steps rescheduled, one audit row a ticket,
    reason "sla.calendar_changed"). Run after the calendar's change committed, by the task
    worker (`firstline.sla.tasks`), so that a long recomputation neither holds the calendar
    locked nor undoes the change if it fails: calling it again finishes the job, and a
    second call after a finished one changes nothing."""
    on_calendar = (Q(calendar=calendar) if calendar is not None
                   else Q(calendar__uses_production_calendar=True))
    total = 0
    for policy in (SlaPolicy.objects.filter(on_calendar, partner__isnull=False)
                   .select_related("partner").order_by("pk")):
        total += recompute_open_tickets(actor=actor, partner=policy.partner, policy=policy,
                                        reason="sla.calendar_changed")
    return total


def retry_recompute(*, calendar: BusinessCalendar | None, actor: User | None) -> None:
    """Queue again the recomputation of the open tickets on `calendar` (None: the production
    calendar) whose last run failed, once whatever made it fail is put right.

    Who may: whoever may edit the calendar. Refused (ValidationError on "recompute",
    nothing queued) unless the latest recomputation failed and none is queued since: a
    second click queues nothing twice. Audited ("calendar.recompute_retried", with the
    error the retry answers) on the calendar, on the failed task for the production one."""
    _ensure_can_edit(actor, calendar)
    with transaction.atomic():
        if calendar is not None:
            # One retry at a time: a second click waits here and then, almost always, finds
            # the first one queued (a retry that slips through only repeats idempotent work).
            calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
        state = recompute_state(calendar)
        if state is None or not state.failed:
            raise ValidationError({"recompute": _(
                "The last recomputation of the deadlines did not fail: there is nothing "
                "to repeat.")})
        from django_tasks_db.models import DBTaskResult

        audit.record(
            actor=actor, partner=calendar.partner if calendar else None,
            action="calendar.recompute_retried",
            target=calendar if calendar is not None else DBTaskResult.objects.get(
                pk=state.task_id),
            before={"error": state.reason, "failed_at": state.finished_at},
            after={"queued": True},
        )
        enqueue_recompute(calendar, actor)


@transaction.atomic
def create_calendar(
    *, partner: Partner | None, actor: User | None, data: CalendarData
) -> BusinessCalendar:
    """A new calendar for `partner` (None: provider-wide) with its weekly hours."""
    _ensure_can_edit(actor, BusinessCalendar(partner=partner))
    clean = _validate(data, partner=partner, exclude=None)
    calendar = BusinessCalendar.objects.create(
        partner=partner,
        name=clean.name,
        time_zone=clean.time_zone,
        is_24x7=clean.is_24x7,
        uses_production_calendar=clean.uses_production_calendar,
    )
    _store_intervals(calendar, clean.intervals)
    audit.record(actor=actor, partner=partner, action="calendar.created", target=calendar,
                 after=_snapshot(calendar, clean.intervals))
    return calendar


def update_calendar(
    *, calendar: BusinessCalendar, actor: User | None, data: CalendarData
) -> BusinessCalendar:
    """Change name, time zone, 24x7, production calendar and weekly hours (replaced).

    When the schedule changed (anything but the name), the open tickets on it follow, in
    the background; `recompute_queued` on the calendar returned says whether they will."""
    updated, schedule_changed = _update_calendar(calendar=calendar, actor=actor, data=data)
    if schedule_changed:
        enqueue_recompute(updated, actor)
    updated.recompute_queued = schedule_changed  # type: ignore[attr-defined]
    return updated


@transaction.atomic
def _update_calendar(
    *, calendar: BusinessCalendar, actor: User | None, data: CalendarData
) -> tuple[BusinessCalendar, bool]:
    _ensure_can_edit(actor, calendar)
    locked = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    clean = _validate(data, partner=locked.partner, exclude=locked.pk)
    old_intervals = [interval.as_weekly() for interval in locked.intervals.all()]
    before = _snapshot(locked, old_intervals)
    locked.name = clean.name
    locked.time_zone = clean.time_zone
    locked.is_24x7 = clean.is_24x7
    locked.uses_production_calendar = clean.uses_production_calendar
    after = _snapshot(locked, clean.intervals)
    if after == before:
        return locked, False
    locked.save(update_fields=["name", "time_zone", "is_24x7", "uses_production_calendar"])
    if after["hours"] != before["hours"]:
        _store_intervals(locked, clean.intervals)
    _touch(locked)
    changed = [key for key in after if after[key] != before[key]]
    audit.record(actor=actor, partner=locked.partner, action="calendar.updated", target=locked,
                 before={key: before[key] for key in changed},
                 after={key: after[key] for key in changed})
    return locked, changed != ["name"]


def _days_of(calendar: BusinessCalendar | None) -> Q:
    return Q(calendar=calendar) if calendar is not None else Q(calendar__isnull=True)


def _after_days_changed(calendar: BusinessCalendar | None) -> None:
    if calendar is None:
        _touch_followers_of_production_calendar()
    else:
        _touch(calendar)


def add_calendar_day(
    *,
    calendar: BusinessCalendar | None,
    actor: User | None,
    day: date | None,
    kind: str,
    note: str = "",
) -> CalendarDay:
    """Add an exception day (None: to the shared production calendar); an existing
    exception on that date is replaced. The open tickets on the calendar (on every
    calendar that follows the production one) then follow, in the background;
    `recompute_queued` on the day returned says whether they will (a new note alone moves
    nothing)."""
    added, changed = _add_calendar_day(calendar=calendar, actor=actor, day=day, kind=kind,
                                       note=note)
    if changed:
        enqueue_recompute(calendar, actor)
    added.recompute_queued = changed  # type: ignore[attr-defined]
    return added


@transaction.atomic
def _add_calendar_day(
    *,
    calendar: BusinessCalendar | None,
    actor: User | None,
    day: date | None,
    kind: str,
    note: str,
) -> tuple[CalendarDay, bool]:
    _ensure_can_edit(actor, calendar)
    errors: dict[str, str] = {}
    note = (note or "").strip()
    if not isinstance(day, date):
        errors["date"] = _("Give a date.")
    if kind not in DayKind.values:
        errors["kind"] = _("Unknown kind of day “%(value)s”.") % {"value": kind}
    if len(note) > NOTE_MAX:
        errors["note"] = _("The note is longer than %(max)d characters.") % {"max": NOTE_MAX}
    if errors:
        raise ValidationError(errors)
    assert day is not None
    if calendar is not None:
        calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    existing = CalendarDay.objects.filter(_days_of(calendar), date=day).first()
    before = {"date": day, "kind": existing.kind, "note": existing.note} if existing else {}
    if existing is None:
        existing = CalendarDay.objects.create(
            calendar=calendar,
            partner_id=calendar.partner_id if calendar else None,
            date=day, kind=kind, note=note,
            source=SOURCE_MANUAL if calendar is None else "",
        )
    elif (existing.kind, existing.note) == (kind, note):
        return existing, False
    else:
        existing.kind, existing.note = kind, note
        existing.save(update_fields=["kind", "note"])
    _after_days_changed(calendar)
    audit.record(
        actor=actor,
        partner=calendar.partner if calendar else None,
        action="calendar.day_changed" if before else "calendar.day_added",
        target=calendar if calendar is not None else existing,
        before=before,
        after={"date": day, "kind": kind, "note": note},
    )
    # A changed note alone moves no deadline.
    return existing, before.get("kind") != kind


def remove_calendar_day(*, day: CalendarDay, actor: User | None) -> bool:
    """Remove an exception day; the open tickets on the calendar follow, in the background
    (True: recomputing is queued)."""
    calendar = day.calendar
    _remove_calendar_day(day=day, actor=actor)
    enqueue_recompute(calendar, actor)
    return True


@transaction.atomic
def _remove_calendar_day(*, day: CalendarDay, actor: User | None) -> None:
    calendar = day.calendar
    _ensure_can_edit(actor, calendar)
    if calendar is not None:
        calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    audit.record(
        actor=actor,
        partner=calendar.partner if calendar else None,
        action="calendar.day_removed",
        target=calendar if calendar is not None else day,
        before={"date": day.date, "kind": day.kind, "note": day.note},
    )
    day.delete()
    _after_days_changed(calendar)


def import_calendar_days(
    calendar: BusinessCalendar | None, text: str, *, actor: User | None = None
) -> ImportResult:
    """Add or replace exception days from `date,kind[,note]` lines (header optional).

    Every line is checked first; if any is bad, ValidationError on "file" lists each bad
    line with its number and reason, and nothing is written. When days were added or
    changed, the open tickets on the calendar follow, in the background (`recompute_queued`
    in the result).
    """
    result = _import_calendar_days(calendar, text, actor=actor)
    if not (result.created or result.updated):
        return result
    enqueue_recompute(calendar, actor)
    return replace(result, recompute_queued=True)


@transaction.atomic
def _import_calendar_days(
    calendar: BusinessCalendar | None, text: str, *, actor: User | None
) -> ImportResult:
    _ensure_can_edit(actor, calendar)
    rows, problems = parse_days(text or "", note_limit=NOTE_MAX)
    if problems:
        raise ValidationError({"file": [line_message(problem) for problem in problems]})
    if not rows:
        raise ValidationError({"file": _("The file has no days.")})
    if calendar is not None:
        calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    dates = [row.date for row in rows]
    existing = {
        day.date: day
        for day in CalendarDay.objects.filter(
            _days_of(calendar), date__range=(min(dates), max(dates))
        )
    }
    new: list[CalendarDay] = []
    changed: list[CalendarDay] = []
    for row in rows:
        found = existing.get(row.date)
        if found is None:
            new.append(CalendarDay(
                calendar=calendar, partner_id=calendar.partner_id if calendar else None,
                date=row.date, kind=row.kind, note=row.note,
                source=SOURCE_IMPORT if calendar is None else "",
            ))
        elif (found.kind, found.note) != (row.kind, row.note):
            found.kind, found.note = row.kind, row.note
            changed.append(found)
    CalendarDay.objects.bulk_create(new, batch_size=500)
    CalendarDay.objects.bulk_update(changed, ["kind", "note"], batch_size=500)
    result = ImportResult(created=len(new), updated=len(changed),
                          unchanged=len(rows) - len(new) - len(changed))
    if new or changed:
        _after_days_changed(calendar)
        audit.record(
            actor=actor,
            partner=calendar.partner if calendar else None,
            action="calendar.days_imported",
            target=calendar if calendar is not None else (new or changed)[0],
            after={"created": result.created, "updated": result.updated,
                   "first": min(dates), "last": max(dates)},
        )
    return result
