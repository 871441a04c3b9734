"""Calendar services: validation names the field and writes nothing; changes are audited."""

from datetime import date, time
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from firstline.core.models import AuditEvent, User
from firstline.sla import calendar_services as services
from firstline.sla.calendar import WeeklyInterval
from firstline.sla.models import BusinessCalendar, CalendarDay, WorkingInterval

from .conftest import make_user

pytestmark = pytest.mark.django_db

OFFICE = [WeeklyInterval(day, time(9), time(13)) for day in range(5)] + \
    [WeeklyInterval(day, time(14), time(18)) for day in range(5)]


@pytest.fixture
def admin(cast):
    return make_user("admin", User.Role.ADMIN)


@pytest.fixture
def calendar(cast):
    return services.create_calendar(
        partner=cast.a.partner, actor=cast.supervisor,
        data=services.CalendarData(name="Alpha office", time_zone="Europe/Moscow",
                                   intervals=OFFICE),
    )


def written():
    """Everything the calendar services could have written."""
    return (BusinessCalendar.objects.count(), WorkingInterval.objects.count(),
            CalendarDay.objects.count(), AuditEvent.objects.filter(
                action__startswith="calendar").count(),
            list(BusinessCalendar.objects.values_list("version", flat=True)))


def field_errors(raised: pytest.ExceptionInfo) -> dict[str, list[str]]:
    return raised.value.message_dict


def test_creating_a_calendar_stores_its_hours_with_the_partner_and_audits_it(cast, calendar):
    assert calendar.partner == cast.a.partner
    assert calendar.intervals.count() == 10
    assert set(calendar.intervals.values_list("partner_id", flat=True)) == {cast.a.partner.pk}
    event = AuditEvent.objects.get(action="calendar.created")
    assert event.actor == cast.supervisor and event.partner == cast.a.partner
    assert event.after["hours"][0] == "09:00-13:00, 14:00-18:00"
    assert event.after["hours"][6] == ""


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (services.CalendarData(name="X", intervals=[
            WeeklyInterval(0, time(9), time(13)), WeeklyInterval(0, time(12), time(18))]),
         "intervals", "Monday: 09:00-13:00 overlaps 12:00-18:00"),
        (services.CalendarData(name="X", intervals=[WeeklyInterval(2, time(18), time(9))]),
         "intervals", "Wednesday: 18:00-09:00 must end after it starts"),
        (services.CalendarData(name="X", intervals=[
            WeeklyInterval(4, time(9), time(18)), WeeklyInterval(4, time(10), time(11)),
            WeeklyInterval(4, time(12), time(13))]),
         "intervals", "Friday: 09:00-18:00 overlaps 12:00-13:00"),
        (services.CalendarData(name="X", intervals=[WeeklyInterval(1, time(9, 0, 30),
                                                                   time(18))]),
         "intervals", "Tuesday: 09:00:30-18:00 is not on whole minutes"),
        (services.CalendarData(name="X", time_zone="Europe/Atlantis"), "time_zone",
         "Unknown time zone: Europe/Atlantis"),
        (services.CalendarData(name="   "), "name", "Give the calendar a name"),
        (services.CalendarData(name="Alpha office"), "name", "already a calendar"),
    ],
)
def test_a_bad_calendar_is_refused_naming_the_field_and_nothing_is_written(
    cast, calendar, data, field, words
):
    before = written()
    with pytest.raises(ValidationError) as raised:
        services.create_calendar(partner=cast.a.partner, actor=cast.supervisor, data=data)
    assert any(words in text for text in field_errors(raised)[field])
    assert written() == before


def test_the_same_name_is_fine_for_another_partner(cast, calendar):
    other = services.create_calendar(partner=cast.b.partner, actor=cast.supervisor,
                                     data=services.CalendarData(name="Alpha office",
                                                                intervals=OFFICE))
    assert other.partner == cast.b.partner


def test_touching_intervals_and_a_day_ending_at_midnight_are_accepted(cast):
    calendar = services.create_calendar(
        partner=None, actor=cast.supervisor,
        data=services.CalendarData(name="Evenings", intervals=[
            WeeklyInterval(0, time(9), time(13)), WeeklyInterval(0, time(13), time(18)),
            WeeklyInterval(4, time(20), time(0))]),
    )
    assert calendar.partner is None
    assert calendar.intervals.get(weekday=4).end == time(0)


@pytest.mark.parametrize("who", ["operator", "engineer", "manager", "customer"])
def test_only_supervisors_and_admins_change_calendars(cast, who):
    actor = getattr(cast, who, None) or getattr(cast.a, who)
    with pytest.raises(PermissionDenied):
        services.create_calendar(partner=cast.a.partner, actor=actor,
                                 data=services.CalendarData(name="Mine"))
    assert BusinessCalendar.objects.count() == 0


def test_updating_replaces_the_hours_bumps_the_version_and_audits_what_changed(cast, calendar):
    version = calendar.version
    updated = services.update_calendar(
        calendar=calendar, actor=cast.supervisor,
        data=services.CalendarData(name="Alpha office", time_zone="Asia/Yekaterinburg",
                                   intervals=[WeeklyInterval(0, time(8), time(17))]),
    )
    assert updated.version == version + 1
    assert list(updated.intervals.values_list("weekday", "start", "end")) == [
        (0, time(8), time(17))
    ]
    event = AuditEvent.objects.get(action="calendar.updated")
    assert set(event.after) == {"time_zone", "hours"}
    assert event.before["time_zone"] == "Europe/Moscow"


def test_an_update_that_changes_nothing_writes_nothing(cast, calendar):
    before = written()
    services.update_calendar(
        calendar=calendar, actor=cast.supervisor,
        data=services.CalendarData(name="Alpha office", time_zone="Europe/Moscow",
                                   intervals=list(reversed(OFFICE))),
    )
    assert written() == before


def test_a_bad_update_changes_nothing(cast, calendar):
    before = written()
    with pytest.raises(ValidationError) as raised:
        services.update_calendar(
            calendar=calendar, actor=cast.supervisor,
            data=services.CalendarData(name="Alpha office", time_zone="Mars/Olympus",
                                       intervals=[]),
        )
    assert "time_zone" in field_errors(raised)
    assert written() == before


def test_an_exception_day_is_added_then_replaced_then_removed_and_each_step_is_audited(
    cast, calendar
):
    day = services.add_calendar_day(calendar=calendar, actor=cast.supervisor,
                                    day=date(2026, 8, 3), kind="holiday", note="Office move")
    assert (day.partner_id, day.calendar_id) == (cast.a.partner.pk, calendar.pk)
    again = services.add_calendar_day(calendar=calendar, actor=cast.supervisor,
                                      day=date(2026, 8, 3), kind="short")
    assert again.pk == day.pk and again.kind == "short"
    services.remove_calendar_day(day=again, actor=cast.supervisor)
    assert not calendar.days.exists()
    assert list(AuditEvent.objects.filter(action__startswith="calendar.day")
                .values_list("action", flat=True)) == [
        "calendar.day_added", "calendar.day_changed", "calendar.day_removed"]
    calendar.refresh_from_db()
    assert calendar.version == 4


def test_a_bad_exception_day_is_refused_naming_the_field(cast, calendar):
    before = written()
    with pytest.raises(ValidationError) as raised:
        services.add_calendar_day(calendar=calendar, actor=cast.supervisor, day=None,
                                  kind="vacation", note="x" * 201)
    assert set(field_errors(raised)) == {"date", "kind", "note"}
    assert written() == before


GOOD_CSV = """\ufeffdate,kind,note
# our own days
2026-08-03,holiday,Office move
2026-08-08,working,Saturday shift
2026-12-30,short,"Party, early close"
"""


def test_importing_days_adds_them_and_importing_again_changes_nothing(cast, calendar):
    result = services.import_calendar_days(calendar, GOOD_CSV, actor=cast.supervisor)
    assert (result.created, result.updated, result.unchanged) == (3, 0, 0)
    assert dict(calendar.days.values_list("date", "note")) == {
        date(2026, 8, 3): "Office move", date(2026, 8, 8): "Saturday shift",
        date(2026, 12, 30): "Party, early close"}
    before = written()
    again = services.import_calendar_days(calendar, GOOD_CSV, actor=cast.supervisor)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert written() == before


def test_an_import_replaces_the_kind_of_days_already_there(cast, calendar):
    services.add_calendar_day(calendar=calendar, actor=cast.supervisor, day=date(2026, 8, 3),
                              kind="short")
    result = services.import_calendar_days(calendar, "2026-08-03,holiday\n2026-08-04,holiday",
                                           actor=cast.supervisor)
    assert (result.created, result.updated) == (1, 1)
    assert calendar.days.get(date=date(2026, 8, 3)).kind == "holiday"


def test_an_import_with_bad_lines_lists_each_with_its_number_and_writes_nothing(cast, calendar):
    text = "\n".join([
        "date,kind,note",
        "2026-08-03,holiday,fine",
        "2026-02-30,holiday",
        "2026-08-04,vacation",
        "2026-08-03,short",
        "just one field",
        "03.08.2026,holiday",
    ])
    before = written()
    with pytest.raises(ValidationError) as raised:
        services.import_calendar_days(calendar, text, actor=cast.supervisor)
    assert field_errors(raised)["file"] == [
        "Line 3: “2026-02-30” is not a date like 2026-01-31.",
        "Line 4: unknown kind “vacation”; use holiday, working or short.",
        "Line 5: this date is already on line 2.",
        "Line 6: expected date,kind[,note].",
        "Line 7: “03.08.2026” is not a date like 2026-01-31.",
    ]
    assert written() == before


def test_an_empty_import_is_refused(cast, calendar):
    with pytest.raises(ValidationError) as raised:
        services.import_calendar_days(calendar, "date,kind\n\n# nothing\n", actor=cast.supervisor)
    assert field_errors(raised)["file"] == ["The file has no days."]


def test_only_admins_change_the_production_calendar(cast, admin):
    before = written()
    with pytest.raises(PermissionDenied):
        services.add_calendar_day(calendar=None, actor=cast.supervisor, day=date(2028, 1, 1),
                                  kind="holiday")
    with pytest.raises(PermissionDenied):
        services.import_calendar_days(None, "2028-01-01,holiday", actor=cast.supervisor)
    assert written() == before
    result = services.import_calendar_days(None, "2028-01-01,holiday,Новый год\n"
                                                 "2028-01-02,holiday", actor=admin)
    assert result.created == 2
    day = CalendarDay.objects.get(calendar__isnull=True, date=date(2028, 1, 1))
    assert (day.source, day.partner_id) == ("import", None)
    event = AuditEvent.objects.get(action="calendar.days_imported")
    assert event.actor == admin and event.partner is None


def test_a_change_of_the_production_calendar_bumps_the_calendars_that_follow_it(
    cast, admin, calendar
):
    ignoring = services.create_calendar(
        partner=cast.b.partner, actor=cast.supervisor,
        data=services.CalendarData(name="Beta", uses_production_calendar=False,
                                   intervals=OFFICE))
    day = services.add_calendar_day(calendar=None, actor=admin, day=date(2028, 1, 1),
                                    kind="holiday")
    calendar.refresh_from_db()
    ignoring.refresh_from_db()
    assert (calendar.version, ignoring.version) == (2, 1)
    services.remove_calendar_day(day=day, actor=admin)
    calendar.refresh_from_db()
    assert calendar.version == 3


def test_the_shipped_data_file_imports_cleanly_over_the_loaded_production_calendar(admin):
    shipped = (Path(__file__).resolve().parent.parent / "firstline" / "sla" / "data"
               / "ru_production_calendar.csv").read_text(encoding="utf-8")
    result = services.import_calendar_days(None, shipped, actor=admin)
    assert (result.created, result.updated) == (0, 0)
    assert result.unchanged == CalendarDay.objects.filter(calendar__isnull=True).count()
