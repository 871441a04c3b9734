"""A new 24x7 calendar runs every minute of every day unless told to follow the holidays."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from firstline.sla import calendar_services as services
from firstline.sla.calendar import WeeklyInterval
from firstline.sla.calendars import schedule_for
from firstline.sla.models import BusinessCalendar

from .conftest import client_for

MONDAYS = [WeeklyInterval(0, time(9), time(18))]

pytestmark = pytest.mark.django_db

MOSCOW = ZoneInfo("Europe/Moscow")
NEW_YEAR = datetime(2026, 1, 1, tzinfo=MOSCOW)  # a public holiday on the production calendar
NEXT_DAY = datetime(2026, 1, 2, tzinfo=MOSCOW)


def post_new(cast, **changes):
    data = {"name": "Round the clock", "partner": str(cast.a.partner.pk),
            "time_zone": "Europe/Moscow", "is_24x7": "on",
            "uses_production_calendar": "by_kind", **{f"day_{d}": "" for d in range(7)}}
    data.update(changes)
    return client_for(cast.supervisor).post(reverse("calendars:new"), data)


def test_a_new_24x7_calendar_does_not_stop_on_public_holidays_by_default(cast):
    response = post_new(cast)
    assert response.status_code == 302
    calendar = BusinessCalendar.objects.get(name="Round the clock")
    assert calendar.is_24x7 and not calendar.uses_production_calendar
    assert schedule_for(calendar).between(NEW_YEAR, NEXT_DAY) == 24 * 60


def test_a_24x7_calendar_told_to_follow_the_production_calendar_stops_on_holidays(cast):
    assert post_new(cast, uses_production_calendar="follow").status_code == 302
    calendar = BusinessCalendar.objects.get(name="Round the clock")
    assert calendar.uses_production_calendar
    assert schedule_for(calendar).between(NEW_YEAR, NEXT_DAY) == 0


def test_a_new_calendar_of_weekly_hours_follows_the_production_calendar_by_default(cast):
    response = post_new(cast, is_24x7="", day_3="09:00-18:00", day_4="09:00-18:00")
    assert response.status_code == 302
    calendar = BusinessCalendar.objects.get(name="Round the clock")
    assert calendar.uses_production_calendar
    # 1 January 2026 is a Thursday, a day off by the production calendar.
    assert schedule_for(calendar).between(NEW_YEAR, NEXT_DAY) == 0


def test_the_service_default_depends_on_the_kind_of_calendar(cast):
    nonstop = services.create_calendar(partner=cast.a.partner, actor=cast.supervisor,
                                       data=services.CalendarData(name="A", is_24x7=True))
    office = services.create_calendar(partner=cast.a.partner, actor=cast.supervisor,
                                      data=services.CalendarData(name="B", intervals=MONDAYS))
    assert not nonstop.uses_production_calendar
    assert office.uses_production_calendar


def test_a_week_without_working_hours_is_refused_unless_24x7(cast):
    """No deadline could ever be reached on it (every recompute would fail)."""
    with pytest.raises(ValidationError) as refused:
        services.create_calendar(partner=cast.a.partner, actor=cast.supervisor,
                                 data=services.CalendarData(name="Empty"))
    assert list(refused.value.message_dict) == ["intervals"]
    office = services.create_calendar(partner=cast.a.partner, actor=cast.supervisor,
                                      data=services.CalendarData(name="B", intervals=MONDAYS))
    with pytest.raises(ValidationError):
        services.update_calendar(calendar=office, actor=cast.supervisor,
                                 data=services.CalendarData(name="B"))
    assert [(i.weekday, i.start, i.end) for i in office.intervals.all()] == [
        (0, time(9), time(18))]
    response = client_for(cast.supervisor).post(reverse("calendars:new"), {
        "name": "Empty", "time_zone": "Europe/Moscow", "uses_production_calendar": "by_kind"},
        HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 400
    assert "Укажите хотя бы один рабочий интервал недели" in response.content.decode()
    assert not BusinessCalendar.objects.filter(name="Empty").exists()


def test_an_unknown_answer_is_refused_naming_the_field(cast):
    response = post_new(cast, uses_production_calendar="sometimes")
    assert response.status_code == 400
    assert "uses_production_calendar" in response.context["form"].errors
    assert not BusinessCalendar.objects.exists()


def test_the_form_says_that_24x7_runs_on_public_holidays(cast):
    with translation.override("ru"):
        page = client_for(cast.supervisor).get(
            reverse("calendars:new"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "круглосуточный календарь — нет" in page
    form = client_for(cast.supervisor).get(reverse("calendars:new")).context["form"]
    assert form["uses_production_calendar"].value() == "by_kind"


def test_the_edit_form_shows_what_the_calendar_does_now(cast):
    calendar = services.create_calendar(partner=cast.a.partner, actor=cast.supervisor,
                                        data=services.CalendarData(name="A", is_24x7=True))
    form = client_for(cast.supervisor).get(
        reverse("calendars:edit", args=[calendar.pk])).context["form"]
    assert form["uses_production_calendar"].value() == "ignore"
