"""A change to a business calendar moves the deadlines of the open tickets that run on it."""

from datetime import date, datetime, time

import pytest
import time_machine

from firstline.core.audit import events_for
from firstline.sla import calendar_services as services
from firstline.sla.calendar import WeeklyInterval
from firstline.sla.models import BusinessCalendar, EscalationStep, PendingEscalation
from firstline.tickets.models import Priority, Status, Ticket

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
        cast, office):
    calendar, ticket, closed = office
    with time_machine.travel(at(2026, 11, 27, 18, 30), tick=False):
        day = services.add_calendar_day(calendar=calendar, actor=cast.supervisor, day=MONDAY,
                                         kind="holiday", note="Day off")
    assert day.recomputed == 1
    assert reaction(ticket) == at(2026, 12, 1, 10, 0)  # Monday is off now: Tuesday 10:00
    [after] = recomputed(ticket)
    assert after["reason"] == "sla.calendar_changed"
    assert datetime.fromisoformat(after["reaction_due_at"]) == at(2026, 12, 1, 10, 0)
    assert not recomputed(closed)  # closed tickets keep what they had

    # Only the note changes: no deadline moves, nothing is recomputed.
    again = services.add_calendar_day(calendar=calendar, actor=cast.supervisor, day=MONDAY,
                                      kind="holiday", note="Company day off")
    assert again.recomputed == 0 and len(recomputed(ticket)) == 1

    with time_machine.travel(at(2026, 11, 27, 18, 40), tick=False):
        assert services.remove_calendar_day(day=again, actor=cast.supervisor) == 1
    assert reaction(ticket) == at(2026, 11, 30, 10, 0)
    assert len(recomputed(ticket)) == 2


def test_new_weekly_hours_move_the_deadlines_and_a_new_name_does_not(cast, office):
    calendar, ticket, _closed = office
    hours = [WeeklyInterval(day, time(9), time(18)) for day in range(5)]
    renamed = services.update_calendar(
        calendar=calendar, actor=cast.supervisor,
        data=services.CalendarData(name="Renamed", time_zone="Europe/Moscow", intervals=hours))
    assert renamed.recomputed == 0 and not recomputed(ticket)

    later = [WeeklyInterval(day, time(9, 30) if day == 0 else time(9), time(18))
             for day in range(5)]
    with time_machine.travel(at(2026, 11, 27, 18, 30), tick=False):
        changed = services.update_calendar(
            calendar=calendar, actor=cast.supervisor,
            data=services.CalendarData(name="Renamed", time_zone="Europe/Moscow",
                                       intervals=later))
    assert changed.recomputed == 1
    assert reaction(ticket) == at(2026, 11, 30, 10, 30)  # Monday opens at 9:30 now


def test_the_production_calendar_moves_the_tickets_on_every_calendar_that_follows_it(
        cast, office):
    calendar, ticket, _closed = office
    # Another partner's policy on a calendar that ignores the production calendar.
    other = office_policy(cast.b.partner)
    BusinessCalendar.objects.filter(pk=other.calendar_id).update(
        uses_production_calendar=False)
    with time_machine.travel(at(2026, 11, 27, 17, 0), tick=False):
        steady = new_ticket(cast.b)
    with time_machine.travel(at(2026, 11, 27, 18, 30), tick=False):
        result = services.import_calendar_days(None, f"{MONDAY.isoformat()},holiday",
                                               actor=None)
    assert (result.created, result.recomputed) == (1, 1)
    assert reaction(ticket) == at(2026, 12, 1, 10, 0)
    steady_before = steady.reaction_due_at
    steady.refresh_from_db()
    assert steady.reaction_due_at == steady_before and not recomputed(steady)
    # Importing the same days again changes nothing and recomputes nothing.
    assert services.import_calendar_days(None, f"{MONDAY.isoformat()},holiday",
                                         actor=None).recomputed == 0
    assert len(recomputed(ticket)) == 1
