"""The calendar pages: supervisors and admins only, forms with errors on their fields.

The pages live under /calendars/ (firstline.web.calendar_urls). Until firstline/web/urls.py
includes them, this module serves them through its own URLconf on top of the project's.
"""

from datetime import date, time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import include, path, reverse

from firstline import urls as project_urls
from firstline.core.models import User
from firstline.sla import calendar_services as services
from firstline.sla.calendar import WeeklyInterval
from firstline.sla.models import BusinessCalendar, CalendarDay

from .conftest import client_for, make_user

_wired = any(getattr(pattern, "namespace", None) == "calendars"
             or any(getattr(inner, "namespace", None) == "calendars"
                    for inner in getattr(pattern, "url_patterns", []))
             for pattern in project_urls.urlpatterns)
urlpatterns = list(project_urls.urlpatterns)
if not _wired:
    urlpatterns.insert(0, path("calendars/", include("firstline.web.calendar_urls")))

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

OFFICE = [WeeklyInterval(day, time(9), time(13)) for day in range(5)] + \
    [WeeklyInterval(day, time(14), time(18)) for day in range(5)]


@pytest.fixture
def admin(cast):
    return make_user("admin", User.Role.ADMIN)


@pytest.fixture
def calendar(cast):
    return services.create_calendar(
        partner=cast.a.partner, actor=cast.supervisor,
        data=services.CalendarData(name="Alpha office", intervals=OFFICE),
    )


def form_data(**changes):
    data = {"name": "Beta support", "partner": "", "time_zone": "Europe/Moscow",
            "uses_production_calendar": "follow", **{f"day_{d}": "" for d in range(7)}}
    data.update(changes)
    return data


def test_a_stranger_is_sent_to_sign_in(client, calendar):
    response = client.get(reverse("calendars:list"))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("who", ["operator", "engineer", "manager"])
def test_operators_and_partner_accounts_cannot_open_or_change_calendars(cast, calendar, who):
    client = client_for(getattr(cast, who, None) or getattr(cast.a, who))
    assert client.get(reverse("calendars:list")).status_code == 403
    assert client.get(reverse("calendars:detail", args=[calendar.pk])).status_code == 403
    response = client.post(reverse("calendars:day-add", args=[calendar.pk]),
                           {"date": "2026-08-03", "kind": "holiday"})
    assert response.status_code == 403
    assert not calendar.days.exists()


def test_the_list_shows_every_partners_calendars_and_the_production_calendar(cast, calendar):
    services.create_calendar(partner=cast.b.partner, actor=cast.supervisor,
                             data=services.CalendarData(name="Beta nights", is_24x7=True))
    page = client_for(cast.supervisor).get(reverse("calendars:list")).content.decode()
    assert "Alpha office" in page and "Beta nights" in page
    assert "Mon–Fri 09:00-13:00, 14:00-18:00" in page
    assert "24x7" in page
    assert "Russian production calendar" in page
    for year in ("2025", "2026", "2027"):
        assert f"?year={year}" in page


def test_the_list_filters_by_partner_and_paginates(cast, settings):
    settings.FIRSTLINE_PAGE_SIZE = 2
    for number in range(3):
        services.create_calendar(partner=cast.b.partner, actor=cast.supervisor,
                                 data=services.CalendarData(name=f"Beta {number}",
                                                            intervals=OFFICE))
    services.create_calendar(partner=cast.a.partner, actor=cast.supervisor,
                             data=services.CalendarData(name="Alpha only", intervals=OFFICE))
    client = client_for(cast.supervisor)
    url = reverse("calendars:list")
    first = client.get(url, {"partner": cast.b.partner.pk}).content.decode()
    assert "Beta 0" in first and "Beta 1" in first and "Alpha only" not in first
    assert "Page 1 of 2" in first
    second = client.get(url, {"partner": cast.b.partner.pk, "page": 2}).content.decode()
    assert "Beta 2" in second and "Beta 0" not in second


def test_the_list_costs_the_same_queries_for_one_calendar_or_many(
    cast, calendar, django_assert_max_num_queries
):
    client = client_for(cast.supervisor)
    client.get(reverse("calendars:list"))
    with django_assert_max_num_queries(8) as few:
        client.get(reverse("calendars:list"))
    for number in range(10):
        services.create_calendar(partner=cast.b.partner, actor=cast.supervisor,
                                 data=services.CalendarData(name=f"Beta {number}",
                                                            intervals=OFFICE))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("calendars:list"))


def test_a_calendar_is_created_from_the_form_with_a_lunch_break(cast):
    response = client_for(cast.supervisor).post(reverse("calendars:new"), form_data(
        partner=str(cast.b.partner.pk), time_zone="Asia/Yekaterinburg",
        day_0="09:00-13:00, 14:00–18:00", day_4="20:00-24:00",
    ))
    calendar = BusinessCalendar.objects.get(name="Beta support")
    assert response.status_code == 302
    assert response["Location"] == reverse("calendars:detail", args=[calendar.pk])
    assert (calendar.partner, calendar.time_zone) == (cast.b.partner, "Asia/Yekaterinburg")
    assert list(calendar.intervals.values_list("weekday", "start", "end")) == [
        (0, time(9), time(13)), (0, time(14), time(18)), (4, time(20), time(0))]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"day_0": "09:00-13:00, 12:00-18:00"}, "day_0",
         "Monday: 09:00-13:00 overlaps 12:00-18:00."),
        ({"day_2": "18:00-09:00"}, "day_2", "must end after it starts"),
        ({"day_3": "9 to 6"}, "day_3", "“9 to 6” is not an interval like 09:00-18:00."),
        ({"day_3": "09:00-25:00"}, "day_3", "is not an interval"),
        ({"time_zone": "Europe/Atlantis"}, "time_zone", "Select a valid choice"),
        ({"name": ""}, "name", "This field is required."),
    ],
)
def test_a_bad_calendar_form_shows_the_error_on_its_field_and_creates_nothing(
    cast, changes, field, message
):
    response = client_for(cast.supervisor).post(reverse("calendars:new"), form_data(**changes))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert any(message in text for text in errors[field]), errors
    assert message in response.content.decode()
    assert not BusinessCalendar.objects.exists()


def test_the_edit_form_shows_the_hours_and_saves_changes(cast, calendar):
    client = client_for(cast.supervisor)
    url = reverse("calendars:edit", args=[calendar.pk])
    page = client.get(url).content.decode()
    assert 'value="09:00-13:00, 14:00-18:00"' in page
    data = form_data(name="Alpha office", day_0="00:00-24:00")
    data["uses_production_calendar"] = "ignore"
    response = client.post(url, data)
    assert response.status_code == 302
    calendar.refresh_from_db()
    assert not calendar.uses_production_calendar
    assert list(calendar.intervals.values_list("weekday", "start", "end")) == [
        (0, time(0), time(0))]
    assert "00:00-24:00" in client.get(url).content.decode()


def test_the_calendar_page_shows_the_hours_and_the_days_of_the_chosen_year(cast, calendar):
    services.add_calendar_day(calendar=calendar, actor=cast.supervisor, day=date(2026, 8, 3),
                              kind="holiday", note="Office move")
    services.add_calendar_day(calendar=calendar, actor=cast.supervisor, day=date(2027, 8, 2),
                              kind="holiday", note="Move of 2027")
    client = client_for(cast.supervisor)
    page = client.get(reverse("calendars:detail", args=[calendar.pk]),
                      {"year": 2026}).content.decode()
    assert "Office move" in page and "Move of 2027" not in page
    assert "09:00-13:00, 14:00-18:00" in page
    # 247 working days of 8 hours, four an hour shorter, one more day off of our own.
    assert "1964" in page
    assert client.get(reverse("calendars:detail", args=[calendar.pk]),
                      {"year": "nonsense"}).status_code == 200


def test_an_exception_day_is_added_and_deleted_from_the_calendar_page(cast, calendar):
    client = client_for(cast.supervisor)
    response = client.post(reverse("calendars:day-add", args=[calendar.pk]),
                           {"date": "2026-08-03", "kind": "short", "note": "", "year": "2026"})
    assert response.status_code == 302
    assert response["Location"].endswith("?year=2026")
    day = calendar.days.get()
    assert (day.date, day.kind) == (date(2026, 8, 3), "short")
    response = client.post(reverse("calendars:day-delete", args=[calendar.pk, day.pk]))
    assert response.status_code == 302
    assert not calendar.days.exists()


def test_a_bad_exception_day_shows_the_error_and_adds_nothing(cast, calendar):
    response = client_for(cast.supervisor).post(
        reverse("calendars:day-add", args=[calendar.pk]), {"date": "2026-02-30", "kind": "nap"})
    assert response.status_code == 400
    assert set(response.context["day_form"].errors) == {"date", "kind"}
    assert not calendar.days.exists()


def test_a_day_of_another_calendar_cannot_be_deleted_through_this_one(cast, calendar):
    other = services.create_calendar(partner=cast.b.partner, actor=cast.supervisor,
                                     data=services.CalendarData(name="Beta", intervals=OFFICE))
    day = services.add_calendar_day(calendar=other, actor=cast.supervisor,
                                    day=date(2026, 8, 3), kind="holiday")
    response = client_for(cast.supervisor).post(
        reverse("calendars:day-delete", args=[calendar.pk, day.pk]))
    assert response.status_code == 404
    assert CalendarDay.objects.filter(pk=day.pk).exists()


def upload(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("days.csv", text.encode("utf-8"), "text/csv")


def test_a_csv_upload_adds_the_days(cast, calendar):
    response = client_for(cast.supervisor).post(
        reverse("calendars:import", args=[calendar.pk]),
        {"file": upload("date,kind,note\n2026-08-03,holiday,Move\n2026-08-08,working,\n")})
    assert response.status_code == 302
    assert calendar.days.count() == 2


def test_a_csv_upload_with_bad_lines_shows_each_line_and_adds_nothing(cast, calendar):
    response = client_for(cast.supervisor).post(
        reverse("calendars:import", args=[calendar.pk]),
        {"file": upload("2026-08-03,holiday\n2026-08-32,holiday\n2026-08-04,nap\n")})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Line 2: “2026-08-32” is not a date like 2026-01-31." in page
    assert "Line 3: unknown kind" in page
    assert not calendar.days.exists()


def test_a_csv_upload_that_is_not_utf8_is_refused(cast, calendar):
    response = client_for(cast.supervisor).post(
        reverse("calendars:import", args=[calendar.pk]),
        {"file": SimpleUploadedFile("days.csv", "2026-08-03,holiday,Переезд".encode("cp1251"))})
    assert response.status_code == 400
    assert "The file is not UTF-8 text." in response.content.decode()


def test_the_production_calendar_page_shows_the_norm_of_hours(cast):
    page = client_for(cast.supervisor).get(reverse("calendars:production"),
                                           {"year": 2025}).content.decode()
    assert "1972" in page
    assert "Новогодние каникулы" in page
    assert "Import days from CSV" not in page  # supervisors look, admins edit


def test_a_supervisor_cannot_change_the_production_calendar_but_an_admin_can(cast, admin):
    url = reverse("calendars:production-day-add")
    data = {"date": "2028-01-03", "kind": "holiday", "note": "New Year"}
    assert client_for(cast.supervisor).post(url, data).status_code == 403
    assert not CalendarDay.objects.filter(date=date(2028, 1, 3)).exists()
    client = client_for(admin)
    assert client.post(url, data).status_code == 302
    day = CalendarDay.objects.get(calendar__isnull=True, date=date(2028, 1, 3))
    response = client.post(reverse("calendars:production-import"),
                           {"file": upload("2028-01-04,holiday\n")})
    assert response.status_code == 302
    response = client.post(reverse("calendars:production-day-delete", args=[day.pk]))
    assert response.status_code == 302
    assert not CalendarDay.objects.filter(pk=day.pk).exists()
    assert CalendarDay.objects.filter(calendar__isnull=True, date=date(2028, 1, 4)).exists()


def test_a_typo_on_one_day_does_not_hide_an_overlap_on_another(cast):
    response = client_for(cast.supervisor).post(reverse("calendars:new"), form_data(
        day_0="09:00-13:00, 12:00-18:00", day_1="nope"))
    errors = response.context["form"].errors
    assert errors["day_0"] == ["Monday: 09:00-13:00 overlaps 12:00-18:00."]
    assert errors["day_1"] == ["“nope” is not an interval like 09:00-18:00."]


def test_a_new_calendar_form_starts_with_monday_to_friday_nine_to_six(cast):
    page = client_for(cast.supervisor).get(reverse("calendars:new")).content.decode()
    assert page.count('value="09:00-18:00"') == 5
