"""A calendar's page tells how the background recomputation of its open tickets' deadlines
ended: a failure with its reason and a button to queue it again, a success with when it
finished and how many tickets moved. The real database queue and its worker throughout."""

from datetime import date, time

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.db import connections
from django.test import Client, override_settings
from django.urls import reverse

from firstline.core.audit import events_for
from firstline.sla import calendar_services as services
from firstline.sla.calendar import WeeklyInterval
from firstline.sla.models import DayKind

from .browser import ARTIFACTS, CHROMIUM
from .conftest import PASSWORD
from .test_sla_calendar_recompute import office, reaction, recomputed  # noqa: F401
from .test_sla_deadlines import at

pytestmark = pytest.mark.usefixtures("transactional_db")

DB_QUEUE = override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend",
                                                "QUEUES": ["default"]}})
FAILED = ("Пересчёт сроков не выполнен: в календаре не осталось рабочего времени: задайте "
          "рабочие часы недели или сделайте его круглосуточным")
PENDING = "Сроки открытых заявок пересчитываются."


def work() -> None:
    call_command("db_worker", batch=True, interval=0, startup_delay=False, verbosity=0)


def russian(client: Client, url: str) -> str:
    return client.get(url, headers={"accept-language": "ru"}).content.decode()


def hours(start: time) -> services.CalendarData:
    return services.CalendarData(
        name="Office hours calendar", time_zone="Europe/Moscow",
        intervals=[WeeklyInterval(day, start if day == 0 else time(9), time(18))
                   for day in range(5)])


@pytest.fixture(autouse=True)
def _close_connections():
    yield
    connections.close_all()


@DB_QUEUE
def test_a_failed_recompute_shows_its_reason_and_retry_queues_it_again(cast, office):  # noqa: F811
    from django_tasks_db.models import DBTaskResult

    calendar, ticket, _closed = office
    supervisor = Client()
    supervisor.force_login(cast.supervisor)
    page = reverse("calendars:detail", args=[calendar.pk])
    retry = reverse("calendars:recompute", args=[calendar.pk])
    with time_machine.travel(at(2026, 11, 27, 18, 30), tick=True):
        # A week with no working hours at all (saved before the calendar form refused
        # one): no deadline can be reached on it, so when a day off added to it queues the
        # recomputation of the ticket opened on it, that fails in the worker.
        calendar.intervals.all().delete()
        services.add_calendar_day(calendar=calendar, actor=cast.supervisor,
                                  day=date(2026, 12, 31), kind=DayKind.HOLIDAY)
        work()
        assert DBTaskResult.objects.get().status == "FAILED"
        assert reaction(ticket) == at(2026, 11, 30, 10, 0) and not recomputed(ticket)
        text = russian(supervisor, page)
        assert FAILED in text and "Повторить" in text and f'action="{retry}"' in text
        assert PENDING not in text

        # An operator may not queue it again: refused, nothing queued, nothing audited.
        operator = Client()
        operator.force_login(cast.operator)
        assert operator.post(retry).status_code == 403
        assert DBTaskResult.objects.count() == 1
        assert not events_for(calendar).filter(action="calendar.recompute_retried").exists()

        answer = supervisor.post(retry, {"year": "2026"})
        assert answer.status_code == 302 and answer["Location"] == f"{page}?year=2026"
        queued = DBTaskResult.objects.get(status="READY")
        assert queued.args_kwargs["kwargs"] == {"calendar_id": calendar.pk,
                                                "actor_id": cast.supervisor.pk}
        [event] = events_for(calendar).filter(action="calendar.recompute_retried")
        assert event.actor == cast.supervisor
        assert event.before["error"] == "this schedule has no working time left"
        text = russian(supervisor, page)
        assert PENDING in text and FAILED not in text and "Повторить" not in text

        # A second click while it is queued queues nothing more and says why.
        again = supervisor.post(retry, follow=True, headers={"accept-language": "ru"})
        assert "повторять нечего" in again.content.decode()
        assert DBTaskResult.objects.filter(status="READY").count() == 1

        # The retry really runs: on the same bad week it fails again, and says so.
        work()
        assert DBTaskResult.objects.filter(status="FAILED").count() == 2
        assert FAILED in russian(supervisor, page)

        # Hours again (Monday from 9:30): the recomputation succeeds and the page says when
        # and how many tickets' deadlines moved; the failure is gone.
        services.update_calendar(calendar=calendar, actor=cast.supervisor,
                                 data=hours(time(9, 30)))
        work()
        text = russian(supervisor, page)
        assert "Сроки открытых заявок пересчитаны 27.11.2026" in text
        assert "изменились у 1 заявки." in text
        assert FAILED not in text and "Повторить" not in text
        assert reaction(ticket) == at(2026, 11, 30, 10, 30)
        english = supervisor.get(page).content.decode()
        assert "1 ticket changed." in english


@DB_QUEUE
def test_nothing_to_retry_when_the_last_recompute_succeeded(cast, office):  # noqa: F811
    from django_tasks_db.models import DBTaskResult

    calendar, _ticket, _closed = office
    with time_machine.travel(at(2026, 11, 27, 18, 30), tick=True):
        services.update_calendar(calendar=calendar, actor=cast.supervisor,
                                 data=hours(time(10)))
        work()
        client = Client()
        client.force_login(cast.supervisor)
        answer = client.post(reverse("calendars:recompute", args=[calendar.pk]), follow=True)
    assert "there is nothing to repeat" in answer.content.decode()
    assert DBTaskResult.objects.count() == 1
    assert not events_for(calendar).filter(action="calendar.recompute_retried").exists()


@DB_QUEUE
def test_only_an_administrator_may_retry_the_production_calendars_recompute(cast):
    """A supervisor sees the production calendar but may not change it, nor queue its
    recomputation: refused before anything is looked at."""
    client = Client()
    client.force_login(cast.supervisor)
    assert client.post(reverse("calendars:production-recompute")).status_code == 403
    with pytest.raises(PermissionDenied):
        services.retry_recompute(calendar=None, actor=cast.supervisor)


def test_without_the_database_queue_the_page_says_nothing_of_a_recompute(cast, office):  # noqa: F811
    """The tests' immediate backend keeps no result row: no notice, no button."""
    calendar, _ticket, _closed = office
    client = Client()
    client.force_login(cast.supervisor)
    page = reverse("calendars:detail", args=[calendar.pk])
    services.update_calendar(calendar=calendar, actor=cast.supervisor, data=hours(time(10)))
    assert "recompute-notice" not in client.get(page).content.decode()


@DB_QUEUE
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_in_chromium_the_supervisor_sees_the_failure_and_retries_it(
        live_server, cast, office, browser):  # noqa: F811
    from django_tasks_db.models import DBTaskResult

    calendar, _ticket, _closed = office
    calendar.intervals.all().delete()  # as in the test above: no working time left
    services.add_calendar_day(calendar=calendar, actor=cast.supervisor,
                              day=date(2026, 12, 31), kind=DayKind.HOLIDAY)
    work()
    page = browser.new_page(locale="ru-RU", viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", cast.supervisor.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/tickets/")
    page.goto(f"{live_server.url}{reverse('calendars:detail', args=[calendar.pk])}")
    notice = page.locator(".recompute-notice [role=alert]")
    assert FAILED in " ".join(notice.inner_text().split())
    page.screenshot(path=str(ARTIFACTS / "calendar-recompute-failed.png"), full_page=True)
    notice.get_by_role("button", name="Повторить").click()
    page.wait_for_selector(".flash .success")
    assert "Пересчёт сроков снова поставлен в очередь." in page.text_content("main")
    assert PENDING in page.text_content(".recompute-notice")
    assert DBTaskResult.objects.filter(status="READY").count() == 1
    page.screenshot(path=str(ARTIFACTS / "calendar-recompute-retried.png"), full_page=True)
    # Closed here, while Playwright still runs, as the other browser tests do: closed only
    # after it stopped, this test's PostgreSQL session stays open and the test database
    # cannot be dropped at the end of the run.
    connections.close_all()


def test_the_reason_is_the_final_exceptions_own_words_without_its_traceback():
    """As the worker stores a failure (django_tasks_db's set_failed): the class path and
    the formatted traceback, chained causes and multi-line messages included."""
    from traceback import format_exception

    from django.db import IntegrityError

    from firstline.sla.tasks import REASON_MAX, failure_reason

    try:
        try:
            raise KeyError("calendar")
        except KeyError as cause:
            raise IntegrityError('duplicate key value\nDETAIL:  Key (id)=(7) exists.') from cause
    except IntegrityError as error:
        stored = "".join(format_exception(error))
    assert failure_reason("django.db.utils.IntegrityError", stored) == (
        "duplicate key value DETAIL: Key (id)=(7) exists.")
    try:
        raise ValueError("x" * 1000)
    except ValueError as error:
        long = failure_reason("builtins.ValueError", "".join(format_exception(error)))
    assert len(long) == REASON_MAX and long.endswith("…")
    assert failure_reason("builtins.RuntimeError", "garbled") == "RuntimeError"


def test_the_engines_known_reason_is_said_in_the_readers_language_others_as_they_are():
    from django.utils import translation

    from firstline.sla.tasks import RecomputeState

    known = RecomputeState("failed", reason="this schedule has no working time left")
    with translation.override("ru"):
        assert known.reason_text.startswith("в календаре не осталось рабочего времени")
    with translation.override("en"):
        assert known.reason_text.startswith("the calendar has no working time left")
    other = RecomputeState("failed", reason="deadlock detected")
    assert other.reason_text == "deadlock detected"
