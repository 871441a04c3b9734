"""Planned works (F22, F24): allowed windows, the notice period, reminders that fire once.

Per SLA policy (the partner's default one), a MaintenancePolicy names the windows works may
take (e.g. only 00:00–03:00, local time of the policy's calendar) and the notice period in
business days of that calendar (default 3). Planning outside a window, with too little
notice, or at a local time that does not exist in the time zone (a DST gap) is refused with
the reason. Customers hear of the works at the notice time and one day before, and, for
significant works, 15 minutes before and right after: one WorksReminder row each, fired by
`firstline incidents_clock` with a conditional UPDATE, so each goes once even with several
workers or after a restart.
"""

import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import Partner, Service, User
from firstline.incidents import services
from firstline.incidents.models import (
    Announcement,
    AnnouncementKind,
    Audience,
    MaintenancePolicy,
    PlannedWorks,
    ReminderStep,
    WorksReminder,
    WorksStatus,
)
from firstline.sla.calendar import Schedule
from firstline.sla.calendars import schedule_for
from firstline.sla.models import SlaPolicy

log = logging.getLogger(__name__)
DEFAULT_NOTICE_DAYS = 3
RETRY_FAILED_AFTER = timedelta(minutes=1)


def maintenance_for(partner: Partner) -> tuple[MaintenancePolicy | None, Schedule, str]:
    """The partner's maintenance policy (of its default SLA policy), the business calendar
    it counts notice in, and the time zone windows are read in."""
    policy = SlaPolicy.objects.filter(partner=partner, is_default=True).select_related(
        "calendar").first()
    maintenance = MaintenancePolicy.objects.filter(sla_policy=policy).first() if policy else None
    calendar = policy.calendar if policy else None
    zone = calendar.time_zone if calendar else partner.time_zone
    schedule = schedule_for(calendar)
    return maintenance, schedule, zone


def notice_at(schedule: Schedule, starts_at: datetime, days: int, zone: str) -> datetime:
    """The moment customers must be told: the beginning of the business day `days` business
    days before the works' local date (the works' own day does not count)."""
    day: date = starts_at.astimezone(ZoneInfo(zone)).date()
    if days <= 0:
        return starts_at
    counted = 0
    while True:
        day -= timedelta(days=1)
        periods = schedule.working_periods(day)
        if periods:
            counted += 1
            if counted == days:
                return periods[0][0]
        if (starts_at.date() - day).days > 400:
            raise ValidationError({"starts_at": _("The calendar has no business days.")})


def local_moment(value: datetime, zone: ZoneInfo, name: str) -> datetime:
    """An aware UTC instant for a local wall time; refused if the wall time does not exist
    (the clocks jump over it) or happens twice in the zone."""
    if value.tzinfo is not None:
        return value
    first = value.replace(tzinfo=zone, fold=0)
    second = value.replace(tzinfo=zone, fold=1)
    there_and_back = first.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None)
    if there_and_back != value:
        raise ValidationError({name: _("%(time)s does not exist in the time zone %(zone)s "
                                       "(the clocks are moved at that hour).")
                               % {"time": f"{value:%d.%m.%Y %H:%M}", "zone": str(zone)}})
    if first.utcoffset() != second.utcoffset():
        raise ValidationError({name: _("%(time)s happens twice in the time zone %(zone)s "
                                       "(the clocks are moved back); choose another time.")
                               % {"time": f"{value:%d.%m.%Y %H:%M}", "zone": str(zone)}})
    return first


def _window_refusal(maintenance: MaintenancePolicy | None, starts_at: datetime,
                    ends_at: datetime, zone: str) -> str | None:
    windows = list(maintenance.windows.all()) if maintenance else []
    if not windows:
        return None
    tz = ZoneInfo(zone)
    start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    for window in windows:
        if window.weekday is not None and window.weekday != start.weekday():
            continue
        window_start = datetime.combine(start.date(), window.starts, tzinfo=tz)
        window_end = datetime.combine(start.date(), window.ends, tzinfo=tz)
        if window.ends <= window.starts:  # e.g. 23:00–02:00 crosses midnight
            window_end += timedelta(days=1)
        if window_start <= start and end <= window_end:
            return None
    allowed = "; ".join(
        f"{window.starts:%H:%M}–{window.ends:%H:%M}" for window in windows)
    return _("The works must fit in a maintenance window (%(windows)s, %(zone)s).") % {
        "windows": allowed, "zone": zone}


PLANNED_PARTS = ("purpose", "symptoms", "still_available", "support_contacts", "how_to_check")


@transaction.atomic
def plan_works(
    *,
    partner: Partner,
    actor: User | None,
    title: str,
    services_affected: Sequence[Service],
    starts: datetime,
    ends: datetime,
    time_zone: str,
    parts: Mapping[str, Any],
    significant: bool = False,
) -> PlannedWorks:
    """Plan works and their reminders; `starts`/`ends` are local wall times in `time_zone`
    (or aware). The announcement's parts are checked now, so every reminder can go."""
    services.ensure_can_manage(actor, partner)
    errors: dict[str, Any] = {}
    if not (title or "").strip():
        errors["title"] = _("Name the works.")
    try:
        zone = ZoneInfo(time_zone)
    except (KeyError, ValueError):
        raise ValidationError({"time_zone": _("Unknown time zone “%(value)s”.")
                               % {"value": time_zone}}) from None
    starts_at = ends_at = None
    try:
        starts_at = local_moment(starts, zone, "starts_at")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        ends_at = local_moment(ends, zone, "ends_at")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if starts_at and ends_at and ends_at <= starts_at:
        errors["ends_at"] = _("The end must come after the start.")
    values = {name: parts.get(name, "") for name in PLANNED_PARTS}
    values.update(period_start=starts_at, period_end=ends_at, time_zone=time_zone,
                  services=list(services_affected))
    try:
        services.validate_announcement(AnnouncementKind.PLANNED, values)
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            if key != "period_end":  # said on ends_at already
                errors.setdefault(key, messages)
    if any(service.partner_id != partner.pk for service in services_affected):
        errors["services"] = _("A service belongs to another partner.")
    if errors:
        raise ValidationError(errors)
    assert starts_at is not None and ends_at is not None
    maintenance, schedule, window_zone = maintenance_for(partner)
    refusal = _window_refusal(maintenance, starts_at, ends_at, window_zone)
    if refusal:
        raise ValidationError({"starts_at": refusal})
    days = maintenance.notice_business_days if maintenance else DEFAULT_NOTICE_DAYS
    notice = notice_at(schedule, starts_at, days, window_zone)
    moment = now()
    if notice < moment:
        raise ValidationError({"starts_at": ngettext(
            "Planned works need %(days)d business day of notice: customers would have had "
            "to be told by %(notice)s.",
            "Planned works need %(days)d business days of notice: customers would have had "
            "to be told by %(notice)s.", days) % {
            "days": days,
            "notice": f"{notice.astimezone(ZoneInfo(window_zone)):%d.%m.%Y %H:%M} "
                      f"({window_zone})"}})
    works = PlannedWorks.objects.create(
        partner=partner, title=title.strip()[:300], starts_at=starts_at, ends_at=ends_at,
        time_zone=time_zone, significant=significant, notice_at=notice, created_by=actor)
    works.services.set(services_affected)
    # The announcement as planned: each reminder sends a copy of it.
    services.create_announcement(partner=partner, actor=actor, kind=AnnouncementKind.PLANNED,
                                 values=values, works=works, audience=Audience.SUBSCRIBERS,
                                 send=False)
    steps = [(ReminderStep.NOTICE, notice),
             (ReminderStep.DAY_BEFORE, starts_at - timedelta(days=1))]
    if significant:
        steps += [(ReminderStep.SOON, starts_at - timedelta(minutes=15)),
                  (ReminderStep.AFTER, ends_at)]
    WorksReminder.objects.bulk_create([
        WorksReminder(partner=partner, works=works, step=step, due_at=max(due, moment))
        for step, due in steps
    ])
    audit.record(actor=actor, partner=partner, action="works.planned", target=works,
                 after={"title": works.title, "starts_at": starts_at, "ends_at": ends_at,
                        "notice_at": notice, "significant": significant})
    services._changed(partner)
    return works


def due_ids(moment: datetime, limit: int) -> list[int]:
    return list(WorksReminder.objects.filter(fired_at__isnull=True, due_at__lte=moment)
                .order_by("due_at").values_list("pk", flat=True)[:limit])


def fire(reminder_id: int, moment: datetime, worker: str) -> bool:
    """Send one due reminder if this worker wins the claim; False if another one did."""
    with transaction.atomic():
        claimed = WorksReminder.objects.filter(pk=reminder_id, fired_at__isnull=True).update(
            fired_at=moment, fired_by=worker[:100])
        if claimed != 1:
            return False
        reminder = WorksReminder.objects.select_related("works", "works__partner").get(
            pk=reminder_id)
        works = reminder.works
        if works.status != WorksStatus.PLANNED:
            return True  # cancelled works: the reminder is spent, nothing is sent
        template = (Announcement.objects.filter(works=works, kind=AnnouncementKind.PLANNED)
                    .order_by("id").first())
        if template is None:
            return True
        sent = services.create_announcement(
            partner=works.partner, actor=None, kind=AnnouncementKind.PLANNED,
            values=services.announcement_values(template), works=works,
            audience=Audience.SUBSCRIBERS, send=True)
        WorksReminder.objects.filter(pk=reminder_id).update(announcement=sent)
    return True


def sweep(moment: datetime | None = None, limit: int = 200, worker: str = "") -> int:
    """Fire every reminder due at `moment`; how many this worker fired."""
    from firstline.sla.clock import worker_name

    moment = moment or now()
    worker = worker or worker_name()
    fired = 0
    while True:
        ids = due_ids(moment, limit)
        for reminder_id in ids:
            try:
                fired += fire(reminder_id, moment, worker)
            except Exception:
                # One broken row must not stop the clock: try it again a minute later.
                log.exception("planned works reminder %s failed; retrying later", reminder_id)
                WorksReminder.objects.filter(pk=reminder_id, fired_at__isnull=True).update(
                    due_at=moment + RETRY_FAILED_AFTER)
        if len(ids) < limit:
            return fired
