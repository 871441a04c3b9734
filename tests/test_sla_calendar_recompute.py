"""A change to a business calendar moves the deadlines of the open tickets that run on it:
in the background, by a task enqueued once the change commits (the tests' task backend runs
it at once when the commit's callbacks run; the last test uses the real database queue and
its worker)."""

from datetime import date, datetime, time

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections
from django.test import Client, override_settings
from django.urls import reverse

from firstline.core.audit import events_for
from firstline.core.models import User
from firstline.sla import calendar_services as services
from firstline.sla.calendar import WeeklyInterval
from firstline.sla.models import (
    BusinessCalendar,
    CalendarDay,
    EscalationStep,
    PendingEscalation,
)
from firstline.sla.tasks import recompute_calendar_deadlines
from firstline.tickets.models import Priority, Status, Ticket

from .conftest import make_user
from .test_sla_deadlines import at, new_ticket, office_policy

MONDAY = date(2026, 11, 30)


@pytest.fixture
def office(cast):
    """A 9-18 weekday calendar (following the production calendar), its policy with a
    reaction escalation, and a normal ticket opened on Friday at 17:00: reaction due
    Monday 10:00 (60 business minutes Friday, 60 Monday)."""
    policy = office_policy(cast.a.partner)
    EscalationStep.objects.create(
        partner=cast.a.partner, policy=policy, priority=Priority.NORMAL, target="reaction",
        percent=100, roles=[EscalationStep.Role.LEAD], channels=[EscalationStep.Channel.EMAIL])
    with time_machine.travel(at(2026, 11, 27, 17, 0), tick=False):
        ticket = new_ticket(cast.a)
        closed = new_ticket(cast.a)
    Ticket.objects.filter(pk=closed.pk).update(status=Status.CLOSED)
    assert ticket.reaction_due_at == at(2026, 11, 30, 10, 0)
    return policy.calendar, ticket, closed


def reaction(ticket: Ticket):
    ticket.refresh_from_db()
    pending = PendingEscalation.objects.get(ticket=ticket, fired_at__isnull=True)
    assert pending.due_at == ticket.reaction_due_at  # the escalation follows the deadline
    return ticket.reaction_due_at


def recomputed(ticket: Ticket) -> list[dict]:
    return [event.after for event in events_for(ticket).filter(
        action="ticket.deadlines_recomputed")]


def test_a_day_off_on_the_calendar_moves_the_open_tickets_deadlines_and_escalations(
        cast, office, django_capture_on_commit_callbacks):
    calendar, ticket, closed = office
    with time_machine.travel(at(2026, 11, 27, 18, 30), tick=False):
        with django_capture_on_commit_callbacks() as callbacks:
            day = services.add_calendar_day(calendar=calendar, actor=cast.supervisor,
                                            day=MONDAY, kind="holiday", note="Day off")
        assert day.recompute_queued and len(callbacks) == 1
        # Not before the task runs: the day is kept, the deadline still the old one.
        assert CalendarDay.objects.filter(calendar=calendar, date=MONDAY).exists()
        assert reaction(ticket) == at(2026, 11, 30, 10, 0) and not recomputed(ticket)
        callbacks[0]()
    assert reaction(ticket) == at(2026, 12, 1, 10, 0)  # Monday is off now: Tuesday 10:00
    [after] = recomputed(ticket)
    assert after["reason"] == "sla.calendar_changed"
    assert datetime.fromisoformat(after["reaction_due_at"]) == at(2026, 12, 1, 10, 0)
    assert not recomputed(closed)  # closed tickets keep what they had

    # The same task again (enqueued twice, or retried): nothing moves, nothing audited twice.
    with time_machine.travel(at(2026, 11, 27, 18, 35), tick=False):
        assert recompute_calendar_deadlines.call(calendar.pk, cast.supervisor.pk) == 0
    assert len(recomputed(ticket)) == 1 and reaction(ticket) == at(2026, 12, 1, 10, 0)

    # Only the note changes: no deadline moves, nothing is queued.
    with django_capture_on_commit_callbacks() as callbacks:
        again = services.add_calendar_day(calendar=calendar, actor=cast.supervisor,
                                          day=MONDAY, kind="holiday", note="Company day off")
    assert not again.recompute_queued and not callbacks and len(recomputed(ticket)) == 1

    with (time_machine.travel(at(2026, 11, 27, 18, 40), tick=False),
          django_capture_on_commit_callbacks(execute=True)):
        assert services.remove_calendar_day(day=again, actor=cast.supervisor) is True
    assert reaction(ticket) == at(2026, 11, 30, 10, 0)
    assert len(recomputed(ticket)) == 2
    assert {event.actor for event in events_for(ticket).filter(
        action="ticket.deadlines_recomputed")} == {cast.supervisor}  # the editor, audited


def test_new_weekly_hours_move_the_deadlines_and_a_new_name_does_not(
        cast, office, django_capture_on_commit_callbacks):
    calendar, ticket, _closed = office
    hours = [WeeklyInterval(day, time(9), time(18)) for day in range(5)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        renamed = services.update_calendar(
            calendar=calendar, actor=cast.supervisor,
            data=services.CalendarData(name="Renamed", time_zone="Europe/Moscow",
                                       intervals=hours))
    assert not renamed.recompute_queued and not callbacks and not recomputed(ticket)

    later = [WeeklyInterval(day, time(9, 30) if day == 0 else time(9), time(18))
             for day in range(5)]
    with time_machine.travel(at(2026, 11, 27, 18, 30), tick=False):
        with django_capture_on_commit_callbacks() as callbacks:
            changed = services.update_calendar(
                calendar=calendar, actor=cast.supervisor,
                data=services.CalendarData(name="Renamed", time_zone="Europe/Moscow",
                                           intervals=later))
        assert changed.recompute_queued
        assert reaction(ticket) == at(2026, 11, 30, 10, 0)  # not before the task runs
        for callback in callbacks:
            callback()
    assert reaction(ticket) == at(2026, 11, 30, 10, 30)  # Monday opens at 9:30 now


def test_the_production_calendar_moves_the_tickets_on_every_calendar_that_follows_it(
        cast, office, django_capture_on_commit_callbacks):
    calendar, ticket, _closed = office
    # Another partner's policy on a calendar that ignores the production calendar.
    other = office_policy(cast.b.partner)
    BusinessCalendar.objects.filter(pk=other.calendar_id).update(
        uses_production_calendar=False)
    with time_machine.travel(at(2026, 11, 27, 17, 0), tick=False):
        steady = new_ticket(cast.b)
    with (time_machine.travel(at(2026, 11, 27, 18, 30), tick=False),
          django_capture_on_commit_callbacks(execute=True)):
        result = services.import_calendar_days(None, f"{MONDAY.isoformat()},holiday",
                                               actor=None)
    assert (result.created, result.recompute_queued) == (1, True)
    assert reaction(ticket) == at(2026, 12, 1, 10, 0)
    steady_before = steady.reaction_due_at
    steady.refresh_from_db()
    assert steady.reaction_due_at == steady_before and not recomputed(steady)
    # Importing the same days again changes nothing and recomputes nothing.
    with django_capture_on_commit_callbacks() as callbacks:
        assert not services.import_calendar_days(None, f"{MONDAY.isoformat()},holiday",
                                                 actor=None).recompute_queued
    assert not callbacks
    assert len(recomputed(ticket)) == 1


@override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend",
                                      "QUEUES": ["default"]}})
def test_the_page_says_the_deadlines_are_being_recomputed_until_the_worker_is_done(
        transactional_db, cast, office):
    """The real queue: the edit is one short request that leaves a task row; the calendar
    page says the recompute is running; `db_worker` moves the deadlines."""
    from django_tasks_db.models import DBTaskResult

    calendar, ticket, _closed = office
    client = Client()
    client.force_login(cast.supervisor)
    page = reverse("calendars:detail", args=[calendar.pk])
    notice = "The open tickets' deadlines are being recomputed."
    with time_machine.travel(at(2026, 11, 27, 18, 30), tick=True):
        assert notice not in client.get(page).content.decode()
        answer = client.post(reverse("calendars:day-add", args=[calendar.pk]),
                             {"date": MONDAY.isoformat(), "kind": "holiday", "note": "Day off"})
        assert answer.status_code == 302
        (queued,) = DBTaskResult.objects.all()
        assert queued.task_path == "firstline.sla.tasks.recompute_calendar_deadlines"
        assert queued.args_kwargs["kwargs"] == {"calendar_id": calendar.pk,
                                                "actor_id": cast.supervisor.pk}
        assert notice in client.get(page).content.decode()
        assert "Сроки открытых заявок пересчитываются." in client.get(
            page, headers={"accept-language": "ru"}).content.decode()
        assert reaction(ticket) == at(2026, 11, 30, 10, 0) and not recomputed(ticket)
        # The production calendar's page is about other tickets: it says nothing.
        assert notice not in client.get(reverse("calendars:production")).content.decode()

        call_command("db_worker", batch=True, interval=0, startup_delay=False, verbosity=0)
        assert DBTaskResult.objects.get().status == "SUCCESSFUL"
        assert DBTaskResult.objects.get().return_value == 1
        assert reaction(ticket) == at(2026, 12, 1, 10, 0)
        assert notice not in client.get(page).content.decode()

        # The production calendar: its page says so for the calendars that follow it.
        admin = Client()
        admin.force_login(make_user("boss", User.Role.ADMIN))
        production = reverse("calendars:production")
        assert admin.post(reverse("calendars:production-day-add"), {
            "date": MONDAY.isoformat(), "kind": "holiday"}).status_code == 302
        assert notice in admin.get(production).content.decode()
        assert notice not in client.get(page).content.decode()
        call_command("db_worker", batch=True, interval=0, startup_delay=False, verbosity=0)
        assert notice not in admin.get(production).content.decode()
    [after] = recomputed(ticket)
    assert after["reason"] == "sla.calendar_changed"
    connections.close_all()
