"""Escalation ladder: steps scheduled from the deadlines, fired once by the SLA clock."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, connections
from django.urls import reverse

from firstline.core.audit import events_for
from firstline.core.models import User
from firstline.outbox.delivery import deliver_due
from firstline.outbox.models import OutboxMessage
from firstline.outbox.models import Status as OutboxStatus
from firstline.sla import clock
from firstline.sla.models import EscalationStep, PendingEscalation
from firstline.tickets.models import Message, Priority, Status
from firstline.tickets.services import TicketChange, add_message, change_ticket

from .conftest import client_for
from .test_outbox_http import FakeServer
from .test_sla_deadlines import at, new_ticket, office_policy

Role, ChannelKind = EscalationStep.Role, EscalationStep.Channel


@pytest.fixture
def ladder(cast):
    """Critical tickets: reaction breach to the lead; resolution 50% and 100% escalations."""
    policy = office_policy(cast.a.partner)
    User.objects.filter(pk=cast.supervisor.pk).update(email="lead@provider.example",
                                                      phone="+7 900 000-00-01")
    User.objects.filter(pk=cast.a.engineer.pk).update(email="eng@alpha.example",
                                                      phone="+7 900 000-00-02")
    steps = {
        "reaction": EscalationStep.objects.create(
            partner=cast.a.partner, policy=policy, priority=Priority.CRITICAL,
            target="reaction", percent=100, roles=[Role.LEAD], channels=[ChannelKind.EMAIL]),
        "half": EscalationStep.objects.create(
            partner=cast.a.partner, policy=policy, priority=Priority.CRITICAL,
            target="resolution", percent=50, roles=[Role.PARTNER_ENGINEER],
            channels=[ChannelKind.EMAIL, ChannelKind.SMS]),
        "breach": EscalationStep.objects.create(
            partner=cast.a.partner, policy=policy, priority=Priority.CRITICAL,
            target="resolution", percent=100, roles=[Role.LEAD, Role.PARTNER_MANAGER],
            channels=[ChannelKind.EMAIL]),
    }
    return policy, steps


def critical_ticket(cast, moment):
    with time_machine.travel(moment, tick=False):
        return new_ticket(cast.a, priority=Priority.CRITICAL)


def test_steps_are_scheduled_from_the_deadlines_in_business_time(cast, ladder):
    _, steps = ladder
    ticket = critical_ticket(cast, at(2026, 11, 27, 17, 45))  # Friday, 15 min before closing
    due = {p.step_id: p.due_at for p in PendingEscalation.objects.filter(ticket=ticket)}
    assert due == {
        steps["reaction"].pk: at(2026, 11, 30, 9, 15),   # 30 business minutes
        steps["half"].pk: at(2026, 11, 30, 10, 45),      # 120 business minutes
        steps["breach"].pk: at(2026, 11, 30, 12, 45),    # 240 business minutes
    }


def test_a_step_fires_once_with_outbox_messages_a_timeline_note_and_an_audit_row(cast, ladder):
    ticket = critical_ticket(cast, at(2026, 11, 30, 9, 0))
    assert clock.sweep(at(2026, 11, 30, 9, 29)) == 0
    assert clock.sweep(at(2026, 11, 30, 9, 30)) == 1
    assert clock.sweep(at(2026, 11, 30, 9, 31)) == 0
    mail = OutboxMessage.objects.get()
    assert (mail.channel, mail.recipient) == ("email", "lead@provider.example")
    assert ticket.number in mail.subject
    note = Message.objects.get(ticket=ticket, is_automatic=True)
    assert note.kind == Message.Kind.NOTE and cast.supervisor.display_name in note.body_text
    fired = events_for(ticket).get(action="escalation.fired")
    assert fired.after["late"] is False


def test_the_reaction_step_is_dropped_once_a_human_replies(cast, ladder):
    ticket = critical_ticket(cast, at(2026, 11, 30, 9, 0))
    with time_machine.travel(at(2026, 11, 30, 9, 10), tick=False):
        add_message(ticket=ticket, actor=cast.operator, kind=Message.Kind.REPLY, text="Иван")
    assert clock.sweep(at(2026, 11, 30, 9, 45)) == 0
    assert not OutboxMessage.objects.filter(dedupe_key__startswith="escalation:").exists()


def test_a_paused_ticket_does_not_escalate_resolution_until_it_resumes(cast, ladder):
    _, steps = ladder
    ticket = critical_ticket(cast, at(2026, 11, 30, 9, 0))
    with time_machine.travel(at(2026, 11, 30, 9, 10), tick=False):
        add_message(ticket=ticket, actor=cast.operator, kind=Message.Kind.REPLY, text="Иван")
        ticket = change_ticket(ticket=ticket, actor=cast.operator,
                               change=TicketChange(status=Status.WAITING_CUSTOMER))
    assert not PendingEscalation.objects.filter(ticket=ticket, fired_at__isnull=True).exists()
    assert clock.sweep(at(2026, 11, 30, 14, 0)) == 0
    with time_machine.travel(at(2026, 11, 30, 15, 10), tick=False):
        add_message(ticket=ticket, actor=cast.a.customer, kind=Message.Kind.INBOUND, text="Вот")
    half = PendingEscalation.objects.get(ticket=ticket, step=steps["half"])
    assert half.due_at == at(2026, 11, 30, 17, 0)  # 11:00 moved by 6 paused hours


def test_a_clock_stopped_over_the_deadlines_fires_each_missed_step_once_marked_late(cast, ladder):
    ticket = critical_ticket(cast, at(2026, 11, 30, 9, 0))
    assert clock.sweep(at(2026, 12, 1, 9, 0)) == 3
    assert clock.sweep(at(2026, 12, 1, 9, 5)) == 0
    fired = PendingEscalation.objects.filter(ticket=ticket)
    assert fired.count() == 3 and all(p.fired_late for p in fired)
    # lead by mail (reaction) + engineer by mail and SMS (50%) + lead by mail (100%); the
    # manager has no e-mail: recorded as skipped, not lost silently.
    assert OutboxMessage.objects.count() == 4
    breach = [e for e in events_for(ticket).filter(action="escalation.fired")
              if e.after["skipped"]]
    assert breach and "partner_manager" not in str(breach[0].after["notified"])


def test_a_malformed_phone_is_skipped_without_losing_the_other_notices(cast, ladder):
    User.objects.filter(pk=cast.a.engineer.pk).update(phone="call me maybe")
    critical_ticket(cast, at(2026, 11, 30, 9, 0))
    assert clock.sweep(at(2026, 11, 30, 11, 0)) == 2
    assert list(OutboxMessage.objects.values_list("channel", flat=True).order_by("id")) == [
        "email", "email"]


def test_the_escalation_sms_reaches_the_gateway_with_the_number_and_text(cast, ladder, settings):
    def smsru(seen):
        phone = seen.form()["to"]
        return 200, {"status": "OK", "status_code": 100,
                     "sms": {phone: {"status": "OK", "status_code": 100, "sms_id": "77"}}}

    critical_ticket(cast, at(2026, 11, 30, 9, 0))
    with FakeServer(smsru) as gateway:
        settings.FIRSTLINE_SMS_PROVIDER = "smsru"
        settings.FIRSTLINE_SMSRU_API_ID = "test-key"
        settings.FIRSTLINE_SMSRU_URL = gateway.url("/sms/send")
        with time_machine.travel(at(2026, 11, 30, 11, 0), tick=False):
            clock.sweep()
            deliver_due()
    sms = [r.form() for r in gateway.requests]
    assert len(sms) == 1
    assert sms[0]["api_id"] == "test-key" and sms[0]["to"] == "79000000002"
    assert "FL-" in sms[0]["msg"]
    assert OutboxMessage.objects.get(channel="sms").status == OutboxStatus.SENT


@pytest.mark.django_db(transaction=True)
def test_two_clocks_on_the_same_due_steps_notify_exactly_once(cast, ladder):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; SQLite's test database is in memory")
    tickets = [critical_ticket(cast, at(2026, 11, 30, 9, 0)) for _ in range(30)]
    moment = at(2026, 11, 30, 9, 0) + timedelta(hours=5)
    fired: list[int] = []
    barrier = threading.Barrier(2)

    def worker(name):
        try:
            barrier.wait()
            fired.append(clock.sweep(moment, limit=7, worker=name))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(f"clock-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(fired) == 3 * len(tickets)
    assert PendingEscalation.objects.filter(fired_at__isnull=True).count() == 0
    # Per ticket: reaction (lead mail) + 50% (engineer mail and SMS) + 100% (lead mail).
    assert OutboxMessage.objects.count() == 4 * len(tickets)
    assert len(set(OutboxMessage.objects.values_list("dedupe_key", flat=True))) == 4 * len(tickets)


def test_the_ticket_page_shows_deadlines_and_messages_waiting_for_delivery(cast, ladder):
    ticket = critical_ticket(cast, at(2026, 11, 30, 9, 0))
    clock.sweep(at(2026, 11, 30, 9, 45))  # reaction breached: the lead is mailed
    with time_machine.travel(at(2026, 11, 30, 9, 50), tick=False):
        page = client_for(cast.operator).get(reverse("ticket", args=[ticket.pk]))
    body = page.content.decode()
    assert "30.11.2026 09:30" in body  # reaction due, Moscow time
    assert "lead@provider.example" in body  # waiting in the outbox
    assert "due-breach" in body and "reaction overdue by 20 min" in body
    # Partner users see the deadlines but not the provider's outbox.
    partner_page = client_for(cast.a.engineer).get(reverse("ticket", args=[ticket.pk]))
    assert "lead@provider.example" not in partner_page.content.decode()


def test_a_batch_of_due_steps_costs_the_same_statements_as_one_step(cast, ladder):
    """Steps are claimed and written a batch at a time: 3 due steps or 30, the same queries."""
    from django.test.utils import CaptureQueriesContext

    def sweep_statements(tickets: int, day: int) -> int:
        for _ in range(tickets):
            critical_ticket(cast, at(2026, 11, day, 9, 0))
        with CaptureQueriesContext(connection) as queries:
            assert clock.sweep(at(2026, 11, day, 14, 0)) == 3 * tickets
        # The escalation's own statements; subscribers of the events it publishes run
        # their own queries per event, and are not what this counts.
        own = ("sla_", "outbox_", "tickets_message", "core_auditevent", "core_user")
        return len([q for q in queries.captured_queries
                    if any(f'"{table}' in q["sql"] for table in own)])

    assert sweep_statements(1, 23) == sweep_statements(10, 24)
    # Every step still has its own notices, note and audit row; none twice.
    assert OutboxMessage.objects.count() == 4 * 11
    assert Message.objects.filter(is_automatic=True, kind=Message.Kind.NOTE).count() == 3 * 11
    keys = list(OutboxMessage.objects.values_list("dedupe_key", flat=True))
    assert len(set(keys)) == len(keys)


def test_a_step_that_fails_costs_only_itself_a_retry_and_publishes_the_events(
        cast, ladder, django_capture_on_commit_callbacks):
    from django.db import transaction

    from firstline.core import events

    first, broken, last = (critical_ticket(cast, at(2026, 11, 30, 9, 0)) for _ in range(3))
    seen: list[tuple[str, int]] = []

    def receiver(event, partner_id, moment, ticket, **kwargs):
        if ticket.pk == broken.pk:
            raise RuntimeError("a subscriber failed on this ticket")
        # Receivers run in the batch's transaction: count what committed, not what the
        # failed batch published before it was rolled back.
        transaction.on_commit(lambda: seen.append((event, ticket.pk)))

    events.subscribe("escalation.fired", receiver)
    events.subscribe("sla.breached", receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert clock.sweep(at(2026, 11, 30, 14, 0)) == 6
    finally:
        for name in ("escalation.fired", "sla.breached"):
            events._signal(name).disconnect(
                dispatch_uid=f"{name}:{receiver.__module__}.{receiver.__qualname__}")
    assert not PendingEscalation.objects.filter(ticket__in=[first, last],
                                                fired_at__isnull=True).exists()
    waiting = PendingEscalation.objects.filter(ticket=broken, fired_at__isnull=True)
    assert waiting.count() == 3
    assert {p.due_at for p in waiting} == {at(2026, 11, 30, 14, 1)}  # retried a minute later
    assert not OutboxMessage.objects.filter(ticket=broken).exists()
    assert not events_for(broken).filter(action="escalation.fired").exists()
    # Each fired step published once; only the 100% step is a breach.
    assert sorted(seen) == sorted(
        [("escalation.fired", t.pk) for t in (first, last) for _ in range(3)]
        + [("sla.breached", t.pk) for t in (first, last) for _ in range(2)])
