"""The shipped Russian production calendar, and schedules compiled from the database."""

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from firstline.sla import calendar_services as services
from firstline.sla.calendar import (
    TWENTY_FOUR_SEVEN,
    Schedule,
    WeeklyInterval,
    parse_days,
    read_days,
    schedule_for,
)
from firstline.sla.calendars import calendars_for, clear_schedule_cache
from firstline.sla.models import BusinessCalendar, CalendarDay

DATA_FILE = Path(__file__).resolve().parent.parent / "firstline" / "sla" / "data" / \
    "ru_production_calendar.csv"
PRODUCTION = read_days(DATA_FILE.read_text(encoding="utf-8"))
MSK = ZoneInfo("Europe/Moscow")
MONDAYS = [WeeklyInterval(0, time(9), time(18))]
PUBLIC_HOLIDAYS = [(1, day) for day in range(1, 9)] + [(2, 23), (3, 8), (5, 1), (5, 9),
                                                       (6, 12), (11, 4)]


def msk(*args):
    return datetime(*args, tzinfo=MSK)


def office(weekly_hours=8):
    return Schedule(time_zone="Europe/Moscow", days=PRODUCTION,
                    weekly=[WeeklyInterval(day, time(9), time(9 + weekly_hours))
                            for day in range(5)])


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_schedule_cache()
    yield
    clear_schedule_cache()


@pytest.mark.parametrize("year", [2025, 2026, 2027])
def test_each_year_has_247_working_days_and_1972_hours_at_40_hours_a_week(year):
    schedule = office()
    working_days = sum(
        bool(schedule.working_periods(date(year, 1, 1) + timedelta(days=offset)))
        for offset in range((date(year + 1, 1, 1) - date(year, 1, 1)).days)
    )
    assert working_days == 247
    assert schedule.between(msk(year, 1, 1), msk(year + 1, 1, 1)) == 1972 * 60


@pytest.mark.parametrize("year", [2025, 2026, 2027])
def test_every_public_holiday_is_a_day_off(year):
    assert all(PRODUCTION[date(year, month, day)] == "holiday" for month, day in PUBLIC_HOLIDAYS)


def test_the_transfers_of_the_decrees_are_in_the_data():
    days_off = {day for day, kind in PRODUCTION.items() if kind == "holiday"}
    # 2025 (decree 1335): May 2, May 8, Jun 13, Nov 3, Dec 31.
    # 2026 (decree 1466): Jan 9, Dec 31; art. 112: Mar 9, May 11.
    # 2027 (decree 1187): Feb 22, Nov 5, Dec 31; art. 112: May 3, May 10, Jun 14.
    moved = {date(2025, 5, 2), date(2025, 5, 8), date(2025, 6, 13), date(2025, 11, 3),
             date(2025, 12, 31), date(2026, 1, 9), date(2026, 12, 31), date(2026, 3, 9),
             date(2026, 5, 11), date(2027, 2, 22), date(2027, 11, 5), date(2027, 12, 31),
             date(2027, 5, 3), date(2027, 5, 10), date(2027, 6, 14)}
    assert moved <= days_off
    shortened = {day for day, kind in PRODUCTION.items() if kind == "short"}
    assert shortened == {
        date(2025, 3, 7), date(2025, 4, 30), date(2025, 6, 11), date(2025, 11, 1),
        date(2026, 4, 30), date(2026, 5, 8), date(2026, 6, 11), date(2026, 11, 3),
        date(2027, 2, 20), date(2027, 4, 30), date(2027, 6, 11), date(2027, 11, 3),
    }
    # Saturdays made working are short days too; nothing else is listed as working.
    assert [day for day, kind in PRODUCTION.items() if kind == "working"] == []


def test_the_data_file_names_its_sources_and_is_clean():
    text = DATA_FILE.read_text(encoding="utf-8")
    for decree in ("No. 1335", "No. 1466", "No. 1187"):
        assert decree in text
    rows, problems = parse_days(text)
    assert problems == []
    assert len(rows) == len(PRODUCTION)


@pytest.mark.django_db
def test_the_migration_loaded_the_production_calendar_as_shared_days():
    shared = CalendarDay.objects.filter(calendar__isnull=True)
    assert dict(shared.values_list("date", "kind")) == PRODUCTION
    assert not shared.exclude(partner__isnull=True).exists()
    saturday = shared.get(date=date(2025, 11, 1))
    assert saturday.kind == "short" and "03.11" in saturday.note


@pytest.mark.django_db
def test_schedule_for_compiles_hours_own_days_and_the_production_calendar(cast):
    calendar = services.create_calendar(
        partner=cast.a.partner, actor=cast.supervisor,
        data=services.CalendarData(
            name="Office", time_zone="Europe/Moscow",
            intervals=[WeeklyInterval(day, time(9), time(18)) for day in range(5)]),
    )
    services.add_calendar_day(calendar=calendar, actor=cast.supervisor,
                              day=date(2026, 3, 10), kind="holiday")
    # The calendar's own day wins over the production calendar's.
    services.add_calendar_day(calendar=calendar, actor=cast.supervisor,
                              day=date(2026, 5, 8), kind="working")
    calendar.refresh_from_db()
    schedule = schedule_for(calendar)
    assert schedule.working_periods(date(2026, 3, 9)) == []  # production: moved from Mar 8
    assert schedule.working_periods(date(2026, 3, 10)) == []  # own holiday
    assert schedule.working_periods(date(2026, 5, 8)) == [(msk(2026, 5, 8, 9), msk(2026, 5, 8, 18))]
    assert schedule.add(msk(2026, 3, 6, 17), 120) == msk(2026, 3, 11, 10)


@pytest.mark.django_db
def test_a_calendar_that_does_not_follow_the_production_calendar_works_on_holidays(cast):
    calendar = services.create_calendar(
        partner=cast.a.partner, actor=cast.supervisor,
        data=services.CalendarData(
            name="Own", uses_production_calendar=False,
            intervals=[WeeklyInterval(day, time(9), time(18)) for day in range(5)]),
    )
    assert schedule_for(calendar).working_periods(date(2026, 1, 5)) == [
        (msk(2026, 1, 5, 9), msk(2026, 1, 5, 18))
    ]


@pytest.mark.django_db
def test_schedule_for_is_cached_until_the_calendar_changes(cast, django_assert_num_queries):
    calendar = services.create_calendar(
        partner=cast.a.partner, actor=cast.supervisor,
        data=services.CalendarData(
            name="Office", intervals=[WeeklyInterval(0, time(9), time(18))]),
    )
    first = schedule_for(calendar)
    with django_assert_num_queries(0):
        assert schedule_for(calendar) is first
    services.update_calendar(
        calendar=calendar, actor=cast.supervisor,
        data=services.CalendarData(
            name="Office", intervals=[WeeklyInterval(0, time(10), time(18))]),
    )
    calendar = BusinessCalendar.objects.get(pk=calendar.pk)
    second = schedule_for(calendar)
    assert second is not first
    assert second.add(msk(2026, 3, 2, 0), 1) == msk(2026, 3, 2, 10, 1)


@pytest.mark.django_db
def test_a_change_of_the_production_calendar_reaches_every_calendar_that_follows_it(cast):
    admin = cast.supervisor
    admin.role = "admin"
    admin.save()
    follows = services.create_calendar(
        partner=cast.a.partner, actor=admin,
        data=services.CalendarData(name="Follows", intervals=[WeeklyInterval(2, time(9),
                                                                             time(18))]),
    )
    ignores = services.create_calendar(
        partner=cast.b.partner, actor=admin,
        data=services.CalendarData(name="Ignores", uses_production_calendar=False,
                                   intervals=[WeeklyInterval(2, time(9), time(18))]),
    )
    assert schedule_for(follows).working_periods(date(2026, 7, 1)) != []
    services.add_calendar_day(calendar=None, actor=admin, day=date(2026, 7, 1), kind="holiday",
                              note="A new public holiday")
    follows.refresh_from_db()
    ignores.refresh_from_db()
    assert schedule_for(follows).working_periods(date(2026, 7, 1)) == []
    assert schedule_for(ignores).working_periods(date(2026, 7, 1)) != []


def test_schedule_for_none_is_around_the_clock():
    assert schedule_for(None) is TWENTY_FOUR_SEVEN


@pytest.mark.django_db
def test_a_partner_account_sees_its_own_and_provider_wide_calendars_only(cast):
    own = services.create_calendar(partner=cast.a.partner, actor=cast.supervisor,
                                   data=services.CalendarData(name="Alpha hours",
                                                              intervals=MONDAYS))
    shared = services.create_calendar(partner=None, actor=cast.supervisor,
                                      data=services.CalendarData(name="Provider hours",
                                                              intervals=MONDAYS))
    other = services.create_calendar(partner=cast.b.partner, actor=cast.supervisor,
                                     data=services.CalendarData(name="Beta hours",
                                                              intervals=MONDAYS))
    assert set(calendars_for(cast.a.engineer)) == {own, shared}
    assert set(calendars_for(cast.supervisor)) == {own, shared, other}
    assert list(calendars_for(cast.a.customer)) == []
