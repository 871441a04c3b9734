"""Deadlines on tickets: business time, reaction, pause and resume, reopen, priority, policy."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from firstline.api.services import issue_token
from firstline.contacts.models import Organisation
from firstline.sla.models import (
    BusinessCalendar,
    SlaPolicy,
    SlaTarget,
    TypicalRequest,
    UrgencyRule,
    WorkingInterval,
)
from firstline.tickets.models import Channel, Message, Priority, Status, Ticket
from firstline.tickets.services import TicketChange, add_message, change_ticket, create_ticket

MSK = ZoneInfo("Europe/Moscow")
TARGETS = {  # reaction, resolution in business minutes
    Priority.CRITICAL: (30, 240), Priority.HIGH: (60, 540),
    Priority.NORMAL: (120, 1080), Priority.LOW: (240, 2700),
}


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)


def office_policy(partner, name="Office hours", default=True, targets=TARGETS):
    calendar = BusinessCalendar.objects.create(
        partner=partner, name=f"{name} calendar", time_zone="Europe/Moscow",
        uses_production_calendar=True,
    )
    WorkingInterval.objects.bulk_create(
        WorkingInterval(calendar=calendar, weekday=day, start=time(9), end=time(18))
        for day in range(5)
    )
    policy = SlaPolicy.objects.create(partner=partner, name=name, is_default=default,
                                      calendar=calendar)
    for priority, (reaction, resolution) in targets.items():
        SlaTarget.objects.create(partner=partner, policy=policy, priority=priority,
                                 reaction_minutes=reaction, resolution_minutes=resolution)
    return policy


@pytest.fixture
def policy(cast):
    return office_policy(cast.a.partner)


def new_ticket(side, **extra):
    return create_ticket(partner=side.partner, actor=side.customer, channel=Channel.PORTAL,
                         contact=side.contact, subject="Нет доступа на FTP",
                         text="Не могу зайти на FTP", **extra)


def test_deadlines_count_business_time_across_the_weekend(cast, policy):
    with time_machine.travel(at(2026, 11, 27, 17, 0), tick=False):  # a Friday
        ticket = new_ticket(cast.a)
    assert ticket.sla_policy == policy
    assert ticket.reaction_due_at == at(2026, 11, 30, 10, 0)  # 60 min Fri + 60 min Mon
    assert ticket.resolution_due_at == at(2026, 12, 1, 17, 0)  # 1080 min = 2 days
    assert ticket.due_at == ticket.reaction_due_at


def test_russian_holidays_are_not_business_time(cast, policy):
    with time_machine.travel(at(2025, 12, 30, 17, 30), tick=False):
        ticket = new_ticket(cast.a, priority=Priority.HIGH)
    # 30 minutes are left on Dec 30; Dec 31 2025 and Jan 1-11 2026 are days off.
    assert ticket.reaction_due_at == at(2026, 1, 12, 9, 30)
    assert ticket.resolution_due_at == at(2026, 1, 12, 17, 30)


def test_a_note_does_not_meet_reaction_but_a_public_reply_does(cast, policy):
    with time_machine.travel(at(2026, 11, 30, 9, 0), tick=False) as clock:
        ticket = new_ticket(cast.a)
        clock.move_to(at(2026, 11, 30, 9, 30))
        add_message(ticket=ticket, actor=cast.operator, kind=Message.Kind.NOTE, text="Смотрю")
        ticket.refresh_from_db()
        assert ticket.reaction_minutes is None and ticket.due_at == ticket.reaction_due_at
        clock.move_to(at(2026, 11, 30, 10, 15))
        add_message(ticket=ticket, actor=cast.operator, kind=Message.Kind.REPLY, text="Иван, ...")
    ticket.refresh_from_db()
    assert ticket.reaction_minutes == 75 and ticket.reaction_in_time is True
    assert ticket.due_at == ticket.resolution_due_at


def test_late_reaction_is_recorded_as_not_in_time(cast, policy):
    with time_machine.travel(at(2026, 11, 30, 9, 0), tick=False) as clock:
        ticket = new_ticket(cast.a)
        clock.move_to(at(2026, 11, 30, 12, 0))
        add_message(ticket=ticket, actor=cast.operator, kind=Message.Kind.REPLY, text="Иван")
    ticket.refresh_from_db()
    assert ticket.reaction_minutes == 180 and ticket.reaction_in_time is False


def test_waiting_for_the_customer_pauses_resolution_and_the_answer_resumes_it(cast, policy):
    with time_machine.travel(at(2026, 11, 30, 9, 0), tick=False) as clock:
        ticket = new_ticket(cast.a)
        due = ticket.resolution_due_at
        clock.move_to(at(2026, 11, 30, 10, 0))
        ticket = change_ticket(ticket=ticket, actor=cast.operator,
                               change=TicketChange(status=Status.WAITING_CUSTOMER))
        assert ticket.paused_since is not None
        clock.move_to(at(2026, 11, 30, 17, 30))  # the customer answers the same evening
        add_message(ticket=ticket, actor=cast.a.customer, kind=Message.Kind.INBOUND,
                    text="Вот tracert")
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN and ticket.paused_since is None
    assert ticket.paused_minutes == 450
    # Due Tue 18:00 without the pause; 7.5 business hours later is Wed 16:30.
    assert ticket.resolution_due_at == at(2026, 12, 2, 16, 30)
    assert ticket.resolution_due_at > due


def test_a_reopen_resumes_the_same_clock(cast, policy):
    with time_machine.travel(at(2026, 11, 30, 9, 0), tick=False) as clock:
        ticket = new_ticket(cast.a)
        clock.move_to(at(2026, 11, 30, 11, 0))
        ticket = change_ticket(ticket=ticket, actor=cast.operator,
                               change=TicketChange(status=Status.RESOLVED))
        assert ticket.resolution_minutes == 120 and ticket.resolution_in_time is True
        clock.move_to(at(2026, 12, 1, 11, 0))  # a business day later the customer objects
        add_message(ticket=ticket, actor=cast.a.customer, kind=Message.Kind.INBOUND,
                    text="Всё ещё не работает")
        ticket.refresh_from_db()
        assert ticket.status == Status.OPEN
        assert ticket.paused_minutes == 540 and ticket.resolution_in_time is None
        clock.move_to(at(2026, 12, 1, 12, 0))
        ticket = change_ticket(ticket=ticket, actor=cast.operator,
                               change=TicketChange(status=Status.RESOLVED))
    assert ticket.resolution_minutes == 180  # 2 h before, 1 h after; the resolved day is not
    assert ticket.resolution_in_time is True


def test_a_priority_change_recomputes_both_deadlines(cast, policy):
    with time_machine.travel(at(2026, 11, 30, 9, 0), tick=False):
        ticket = new_ticket(cast.a)
        ticket = change_ticket(ticket=ticket, actor=cast.operator,
                               change=TicketChange(priority=Priority.CRITICAL))
    assert ticket.reaction_due_at == at(2026, 11, 30, 9, 30)
    assert ticket.resolution_due_at == at(2026, 11, 30, 13, 0)


def test_the_contracts_own_policy_wins_over_the_partners_default(cast, policy):
    vip = office_policy(cast.a.partner, name="VIP contract", default=False,
                        targets={p: (10, 60) for p in Priority.values})
    Organisation.objects.filter(pk=cast.a.organisation.pk).update(sla_policy=vip)
    cast.a.contact.organisation.refresh_from_db()
    with time_machine.travel(at(2026, 11, 30, 9, 0), tick=False):
        ticket = new_ticket(cast.a)
    assert ticket.sla_policy == vip and ticket.reaction_due_at == at(2026, 11, 30, 9, 10)


def test_a_typical_request_uses_its_own_resolution_norm(cast, policy):
    reset = TypicalRequest.objects.create(partner=cast.a.partner, name="Сброс пароля",
                                          resolution_minutes=30)
    with time_machine.travel(at(2026, 11, 30, 9, 0), tick=False):
        ticket = new_ticket(cast.a, typical_request=reset)
    assert ticket.resolution_due_at == at(2026, 11, 30, 9, 30)


def test_urgency_rules_set_the_priority_at_intake_unless_one_is_given(cast, policy):
    UrgencyRule.objects.create(partner=cast.a.partner, position=1, name="Down",
                               keywords="не работает, недоступ", priority=Priority.HIGH)
    UrgencyRule.objects.create(partner=cast.a.partner, position=2, name="VIP", vip_only=True,
                               priority=Priority.CRITICAL)
    down = create_ticket(partner=cast.a.partner, actor=cast.a.customer, channel=Channel.PORTAL,
                         contact=cast.a.contact, subject="Сайт", text="Сайт НЕ РАБОТАЕТ")
    assert down.priority == Priority.HIGH
    plain = new_ticket(cast.a)
    assert plain.priority == Priority.NORMAL
    Organisation.objects.filter(pk=cast.a.organisation.pk).update(is_vip=True)
    cast.a.contact.organisation.refresh_from_db()
    assert new_ticket(cast.a).priority == Priority.CRITICAL
    assert new_ticket(cast.a, priority=Priority.LOW).priority == Priority.LOW
    # Another partner's rules never apply.
    assert new_ticket(cast.b).priority == Priority.NORMAL


def test_share_in_time_is_one_aggregate_query(cast, policy, django_assert_num_queries):
    from django.db.models import Count, Q

    with time_machine.travel(at(2026, 11, 30, 9, 0), tick=False) as clock:
        quick, slow = new_ticket(cast.a), new_ticket(cast.a, priority=Priority.CRITICAL)
        clock.move_to(at(2026, 11, 30, 14, 0))
        for ticket in (quick, slow):
            change_ticket(ticket=ticket, actor=cast.operator,
                          change=TicketChange(status=Status.RESOLVED))
    with django_assert_num_queries(1):
        facts = Ticket.objects.filter(partner=cast.a.partner, resolved_at__isnull=False).aggregate(
            resolved=Count("id"), in_time=Count("id", filter=Q(resolution_in_time=True)))
    assert facts == {"resolved": 2, "in_time": 1}


def test_the_api_shows_the_deadlines_and_the_facts(cast, policy):
    with time_machine.travel(at(2026, 11, 30, 9, 0), tick=False) as clock:
        ticket = new_ticket(cast.a)
        clock.move_to(at(2026, 11, 30, 9, 45))
        add_message(ticket=ticket, actor=cast.operator, kind=Message.Kind.REPLY, text="Иван, …")
    _, token = issue_token(cast.a.integration, "reports")
    body = Client().get(f"/api/tickets/{ticket.pk}",
                        headers={"Authorization": f"Bearer {token}"}).json()
    assert body["sla"]["policy_id"] == policy.pk
    assert body["sla"]["reaction_minutes"] == 45 and body["sla"]["reaction_in_time"] is True
    assert body["sla"]["resolution_due_at"].startswith("2026-12-01T15:00")  # Tue 18:00 MSK
