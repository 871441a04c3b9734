"""Business calendars on the desk: provider supervisors and administrators look and edit.

Views parse, call firstline.sla.calendar_services, render. Which calendars a user reaches is
decided by firstline.sla.calendars.calendars_for; the shared production calendar is edited
by administrators only (the service refuses anyone else as well).
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.dates import MONTHS, WEEKDAYS
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from firstline.core.clock import now
from firstline.core.models import User
from firstline.sla import calendar_services as services
from firstline.sla.calendar import Schedule, WeeklyInterval
from firstline.sla.calendars import (
    calendars_for,
    can_edit_production_calendar,
    hours_text,
    interval_messages,
    production_days,
    schedule_for,
    weekly_summary,
)
from firstline.sla.models import BusinessCalendar, CalendarDay, DayKind
from firstline.sla.tasks import recompute_state
from firstline.tenancy import partners_for
from firstline.web.access import supervisor_required
from firstline.web.confirm import confirm_delete
from firstline.web.forms import add_service_error

MAX_IMPORT_BYTES = 1024 * 1024
PROVIDER_WIDE = "provider"
# Whether a calendar follows the production calendar (the form's three answers).
BY_KIND, FOLLOW, IGNORE = "by_kind", "follow", "ignore"
# The norm of the production calendar: a 40-hour week, Monday to Friday 8 hours.
NORM_WEEK = [WeeklyInterval(day, time(9), time(17)) for day in range(5)]

_INTERVAL = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–—]\s*(\d{1,2}):(\d{2})$")


# -- forms ----------------------------------------------------------------------------------


class HoursField(forms.CharField):
    """A weekday's hours as typed: "09:00-13:00, 14:00-18:00"; 24:00 ends the day."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": gettext_lazy("day off")}))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[tuple[time, time]]:  # type: ignore[override]
        text = super().to_python(value)
        found = []
        for part in re.split(r"[,;]", text):
            part = part.strip()
            if not part:
                continue
            match = _INTERVAL.match(part)
            numbers = [int(group) for group in match.groups()] if match else []
            if not match or not _valid_times(*numbers):
                raise ValidationError(
                    _("“%(value)s” is not an interval like 09:00-18:00.") % {"value": part}
                )
            start_hour, start_minute, end_hour, end_minute = numbers
            end = time(0, 0) if end_hour == 24 else time(end_hour, end_minute)
            found.append((time(start_hour, start_minute), end))
        return found


def _valid_times(start_hour: int, start_minute: int, end_hour: int, end_minute: int) -> bool:
    return (start_hour < 24 and start_minute < 60 and end_minute < 60
            and (end_hour < 24 or (end_hour == 24 and end_minute == 0)))


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(available_timezones())]


class CalendarForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    partner = forms.ChoiceField(label=gettext_lazy("Partner"), required=False)
    time_zone = forms.ChoiceField(label=gettext_lazy("Time zone"), initial="Europe/Moscow")
    is_24x7 = forms.BooleanField(
        label=gettext_lazy("24x7: every minute is working time"), required=False,
        help_text=gettext_lazy("Public holidays included, unless you choose below that the "
                               "calendar follows the production calendar."),
    )
    uses_production_calendar = forms.ChoiceField(
        label=gettext_lazy("Russian production calendar (public holidays, transferred days)"),
        choices=[
            (BY_KIND, gettext_lazy("By the kind of calendar: weekly hours follow it; a 24x7 "
                                   "calendar does not, its clock runs on public holidays too")),
            (FOLLOW, gettext_lazy("Follow it: the clock stops on days off and runs on "
                                  "transferred working days")),
            (IGNORE, gettext_lazy("Do not follow it: only this calendar's own days apply")),
        ],
        initial=BY_KIND, required=False, widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, user: User, calendar: BusinessCalendar | None = None,
                 **kwargs: Any) -> None:
        if calendar is not None:
            initial = {
                "name": calendar.name,
                "time_zone": calendar.time_zone,
                "is_24x7": calendar.is_24x7,
                "uses_production_calendar": (
                    FOLLOW if calendar.uses_production_calendar else IGNORE
                ),
            }
            intervals = [interval.as_weekly() for interval in calendar.intervals.all()]
            for weekday in range(7):
                initial[f"day_{weekday}"] = hours_text(
                    [i for i in intervals if i.weekday == weekday]
                )
            kwargs.setdefault("initial", initial)
        else:
            kwargs.setdefault("initial", {f"day_{weekday}": "09:00-18:00" for weekday in range(5)})
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = _time_zone_choices()
        for weekday in range(7):
            self.fields[f"day_{weekday}"] = HoursField(label=WEEKDAYS[weekday])
        if calendar is None:
            self.fields["partner"].choices = [
                (PROVIDER_WIDE, _("Provider-wide (any partner)")),
                *[(str(pk), name) for pk, name in partners_for(user).values_list("pk", "name")],
            ]
        else:
            del self.fields["partner"]

    def main_fields(self) -> list[forms.BoundField]:
        return [field for field in self if not field.name.startswith("day_")]

    def weekday_fields(self) -> list[forms.BoundField]:
        return [self[f"day_{weekday}"] for weekday in range(7)]

    def intervals(self) -> list[WeeklyInterval]:
        return [
            WeeklyInterval(weekday, start, end)
            for weekday in range(7)
            for start, end in self.cleaned_data.get(f"day_{weekday}") or []
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # Each weekday on its own: one day's typo does not hide another day's overlap.
        for weekday, text in interval_messages(self.intervals()):
            self.add_error(f"day_{weekday}", text)
        return data

    def calendar_data(self) -> services.CalendarData:
        data = self.cleaned_data
        return services.CalendarData(
            name=data["name"],
            time_zone=data["time_zone"],
            is_24x7=data["is_24x7"],
            # Not sent (an old form) is "do not follow", as an unticked box was.
            uses_production_calendar={BY_KIND: None, FOLLOW: True}.get(
                data["uses_production_calendar"], False
            ),
            intervals=self.intervals(),
        )


class DayForm(forms.Form):
    date = forms.DateField(label=gettext_lazy("Date"),
                           widget=forms.DateInput(attrs={"type": "date"}))
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=DayKind.choices)
    note = forms.CharField(label=gettext_lazy("Note"), max_length=200, required=False)


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy("Lines date,kind[,note]: 2026-01-09,holiday,New Year. Kinds: "
                               "holiday, working, short. A header line is optional."),
    )

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if upload.size is not None and upload.size > MAX_IMPORT_BYTES:
            raise ValidationError(_("The file is larger than %(limit)d bytes.")
                                  % {"limit": MAX_IMPORT_BYTES})
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ValidationError(_("The file is not UTF-8 text.")) from error


# -- helpers --------------------------------------------------------------------------------


def _year(request: HttpRequest, zone: str) -> int:
    try:
        year = int(request.GET.get("year", ""))
    except ValueError:
        year = 0
    if not 1900 <= year <= 2200:
        year = now().astimezone(ZoneInfo(zone)).year
    return year


def _months(schedule: Schedule, year: int, zone: str) -> list[tuple[str, float]]:
    """Working hours in each month of the year, by the schedule."""
    tz = ZoneInfo(zone)
    rows = []
    for month in range(1, 13):
        start = datetime(year, month, 1, tzinfo=tz)
        end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
        rows.append((str(MONTHS[month]), schedule.between(start, end) / 60))
    return rows


def _get_calendar(request: HttpRequest, pk: int) -> BusinessCalendar:
    return get_object_or_404(calendars_for(request.user).select_related("partner"), pk=pk)


def _detail(
    request: HttpRequest,
    calendar: BusinessCalendar | None,
    *,
    day_form: DayForm | None = None,
    import_form: ImportForm | None = None,
    status: int = 200,
) -> HttpResponse:
    zone = calendar.time_zone if calendar else "Europe/Moscow"
    year = _year(request, zone)
    if calendar is None:
        days = CalendarDay.objects.filter(calendar__isnull=True)
        schedule = Schedule(time_zone=zone, weekly=NORM_WEEK, days=production_days())
        can_edit = can_edit_production_calendar(request.user)
        weekly: list[tuple[str, str]] = []
    else:
        days = calendar.days.all()
        schedule = schedule_for(calendar)
        can_edit = True
        intervals = [interval.as_weekly() for interval in calendar.intervals.all()]
        weekly = [
            (str(WEEKDAYS[weekday]),
             "00:00-24:00" if calendar.is_24x7
             else hours_text([i for i in intervals if i.weekday == weekday]))
            for weekday in range(7)
        ]
    page = Paginator(
        days.filter(date__year=year).order_by("date"), settings.FIRSTLINE_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    months = _months(schedule, year, zone)
    context = {
        "calendar": calendar,
        "year": year,
        "previous_year": year - 1,
        "next_year": year + 1,
        "page": page,
        "query": f"year={year}",
        "weekly": weekly,
        "months": months,
        "year_hours": sum(hours for _month, hours in months),
        "can_edit": can_edit,
        "day_form": day_form or DayForm(),
        "import_form": import_form or ImportForm(),
        # A change to the schedule reaches the open tickets in the background: say so
        # while it is queued or running, and how the last one ended (a failure with a
        # button to queue it again).
        "recompute": recompute_state(calendar),
    }
    return render(request, "web/calendars/detail.html", context, status=status)


def _add_day(request: HttpRequest, calendar: BusinessCalendar | None) -> DayForm | None:
    """Add a day from the posted form; the bound form with its errors when refused."""
    form = DayForm(request.POST)
    if form.is_valid():
        try:
            services.add_calendar_day(
                calendar=calendar, actor=request.user, day=form.cleaned_data["date"],
                kind=form.cleaned_data["kind"], note=form.cleaned_data["note"],
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Day %(date)s saved.")
                             % {"date": form.cleaned_data["date"].isoformat()})
            return None
    return form


def _import(request: HttpRequest, calendar: BusinessCalendar | None) -> ImportForm | None:
    form = ImportForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            result = services.import_calendar_days(
                calendar, form.cleaned_data["file"], actor=request.user
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Imported: %(created)d new, %(updated)d changed, "
                                        "%(unchanged)d unchanged.") % {
                "created": result.created, "updated": result.updated,
                "unchanged": result.unchanged})
            return None
    return form


def _back(request: HttpRequest, calendar: BusinessCalendar | None) -> HttpResponse:
    target = (redirect("calendars:detail", pk=calendar.pk) if calendar
              else redirect("calendars:production"))
    year = request.POST.get("year", "")
    if year.isdigit():
        target["Location"] += f"?year={year}"
    return target


# -- views ----------------------------------------------------------------------------------


@supervisor_required
def calendar_list_view(request: HttpRequest) -> HttpResponse:
    calendars = (calendars_for(request.user).select_related("partner")
                 .prefetch_related("intervals").order_by("partner__name", "name", "pk"))
    choice = request.GET.get("partner", "")
    if choice == PROVIDER_WIDE:
        calendars = calendars.filter(partner__isnull=True)
    elif choice.isdigit():
        calendars = calendars.filter(partner_id=int(choice))
    page = Paginator(calendars, settings.FIRSTLINE_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        (calendar, weekly_summary([i.as_weekly() for i in calendar.intervals.all()],
                                  is_24x7=calendar.is_24x7))
        for calendar in page
    ]
    years = [day.year for day in CalendarDay.objects.filter(calendar__isnull=True)
             .dates("date", "year")]
    context = {
        "page": page,
        "rows": rows,
        "query": f"partner={choice}" if choice else "",
        "partner_choice": choice,
        "partners": partners_for(request.user).values_list("pk", "name"),
        "provider_wide": PROVIDER_WIDE,
        "production_years": years,
    }
    return render(request, "web/calendars/list.html", context)


@supervisor_required
def calendar_new_view(request: HttpRequest) -> HttpResponse:
    form = CalendarForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        choice = form.cleaned_data["partner"]
        partner = (None if choice in ("", PROVIDER_WIDE)
                   else get_object_or_404(partners_for(request.user), pk=int(choice)))
        try:
            calendar = services.create_calendar(
                partner=partner, actor=request.user, data=form.calendar_data()
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Calendar created."))
            return redirect("calendars:detail", pk=calendar.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "web/calendars/form.html", {"form": form, "calendar": None},
                  status=status)


@supervisor_required
def calendar_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = _get_calendar(request, pk)
    form = CalendarForm(request.POST or None, user=request.user, calendar=calendar)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_calendar(
                calendar=calendar, actor=request.user, data=form.calendar_data()
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Calendar saved."))
            return redirect("calendars:detail", pk=calendar.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "web/calendars/form.html", {"form": form, "calendar": calendar},
                  status=status)


@supervisor_required
def calendar_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _get_calendar(request, pk))


@supervisor_required
@require_POST
def calendar_day_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = _get_calendar(request, pk)
    form = _add_day(request, calendar)
    if form is None:
        return _back(request, calendar)
    return _detail(request, calendar, day_form=form, status=400)


def _confirm_day_delete(request: HttpRequest, calendar: BusinessCalendar | None,
                        day: CalendarDay) -> HttpResponse:
    back = (reverse("calendars:detail", args=[calendar.pk]) if calendar
            else reverse("calendars:production"))
    year = request.GET.get("year", "")
    if year.isdigit():
        back += f"?year={year}"
    name = calendar.name if calendar else _("Production calendar")
    return confirm_delete(
        request, title=_("Delete a calendar day"),
        question=_("Remove %(date)s (%(kind)s) from %(calendar)s?") % {
            "date": day.date.strftime("%d.%m.%Y"), "kind": day.get_kind_display(),
            "calendar": name},
        details=[day.note] if day.note else [],
        cancel_url=back, hidden={"year": year} if year.isdigit() else {},
    )


@supervisor_required
@require_http_methods(["GET", "POST"])
def calendar_day_delete_view(request: HttpRequest, pk: int, day_pk: int) -> HttpResponse:
    """GET: the confirmation step; POST: remove the day."""
    calendar = _get_calendar(request, pk)
    day = get_object_or_404(calendar.days.all(), pk=day_pk)
    if request.method == "GET":
        return _confirm_day_delete(request, calendar, day)
    services.remove_calendar_day(day=day, actor=request.user)
    messages.success(request, _("Day %(date)s removed.") % {"date": day.date.isoformat()})
    return _back(request, calendar)


@supervisor_required
@require_POST
def calendar_import_view(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = _get_calendar(request, pk)
    form = _import(request, calendar)
    if form is None:
        return _back(request, calendar)
    return _detail(request, calendar, import_form=form, status=400)


@supervisor_required
@require_POST
def calendar_recompute_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = _get_calendar(request, pk)
    _retry(request, calendar)
    return _back(request, calendar)


def _retry(request: HttpRequest, calendar: BusinessCalendar | None) -> None:
    try:
        services.retry_recompute(calendar=calendar, actor=request.user)
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
    else:
        messages.success(request, _("The recomputation of the deadlines is queued again."))


@supervisor_required
def production_calendar_view(request: HttpRequest) -> HttpResponse:
    return _detail(request, None)


def _ensure_production_editor(request: HttpRequest) -> None:
    if not can_edit_production_calendar(request.user):
        raise PermissionDenied


@supervisor_required
@require_POST
def production_day_add_view(request: HttpRequest) -> HttpResponse:
    _ensure_production_editor(request)
    form = _add_day(request, None)
    if form is None:
        return _back(request, None)
    return _detail(request, None, day_form=form, status=400)


@supervisor_required
@require_http_methods(["GET", "POST"])
def production_day_delete_view(request: HttpRequest, day_pk: int) -> HttpResponse:
    """GET: the confirmation step; POST: remove the day."""
    _ensure_production_editor(request)
    day = get_object_or_404(CalendarDay.objects.filter(calendar__isnull=True), pk=day_pk)
    if request.method == "GET":
        return _confirm_day_delete(request, None, day)
    services.remove_calendar_day(day=day, actor=request.user)
    messages.success(request, _("Day %(date)s removed.") % {"date": day.date.isoformat()})
    return _back(request, None)


@supervisor_required
@require_POST
def production_recompute_retry_view(request: HttpRequest) -> HttpResponse:
    _ensure_production_editor(request)
    _retry(request, None)
    return _back(request, None)


@supervisor_required
@require_POST
def production_import_view(request: HttpRequest) -> HttpResponse:
    _ensure_production_editor(request)
    form = _import(request, None)
    if form is None:
        return _back(request, None)
    return _detail(request, None, import_form=form, status=400)

