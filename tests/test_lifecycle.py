import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from firstline.core.models import AuditEvent
from firstline.tickets import lifecycle
from firstline.tickets.models import Message, Status, Ticket
from firstline.tickets.services import TicketChange, add_message, change_ticket, take_over


def test_every_listed_transition_is_allowed_and_nothing_else():
    for current in Status.values:
        for target in Status.values:
            if target == current or target in lifecycle.TRANSITIONS[current]:
                lifecycle.check_transition(current, target)
            else:
                with pytest.raises(ValidationError) as info:
                    lifecycle.check_transition(current, target)
                assert "status" in info.value.message_dict


def test_a_refused_transition_names_the_field_and_changes_nothing(cast):
    ticket = cast.a.ticket
    audit_before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as info:
        change_ticket(ticket=ticket, actor=cast.operator,
                      change=TicketChange(status=Status.CLOSED, priority="high"))
    assert "cannot go from" in info.value.message_dict["status"][0]
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW
    assert ticket.priority == "normal"  # the valid part of the change was not applied either
    assert AuditEvent.objects.count() == audit_before


def test_full_lifecycle_is_audited_with_before_and_after(cast):
    ticket = cast.a.ticket
    for status in (Status.OPEN, Status.WAITING_PARTNER, Status.RESOLVED, Status.OPEN,
                   Status.RESOLVED, Status.CLOSED):
        ticket = change_ticket(ticket=ticket, actor=cast.operator,
                               change=TicketChange(status=status))
    events = AuditEvent.objects.filter(target_type="ticket", target_id=str(ticket.pk))
    changes = [(e.before.get("status"), e.after.get("status")) for e in events
               if e.action in ("ticket.status_changed", "ticket.reopened")]
    assert changes == [("new", "open"), ("open", "waiting_partner"),
                       ("waiting_partner", "resolved"), ("resolved", "open"),
                       ("open", "resolved"), ("resolved", "closed")]
    assert events.filter(action="ticket.reopened").count() == 1
    assert ticket.closed_at is not None and ticket.due_at is None


def test_customer_answer_reopens_a_resolved_ticket_and_resumes_waiting(cast):
    ticket = change_ticket(ticket=cast.a.ticket, actor=cast.operator,
                           change=TicketChange(status=Status.WAITING_CUSTOMER))
    add_message(ticket=ticket, actor=cast.a.customer, kind=Message.Kind.INBOUND, text="Here.")
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    change_ticket(ticket=ticket, actor=cast.operator, change=TicketChange(status=Status.RESOLVED))
    add_message(ticket=ticket, actor=cast.a.customer, kind=Message.Kind.INBOUND, text="Again.")
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN and ticket.due_at is not None


def test_a_closed_ticket_refuses_a_customer_answer(cast):
    ticket = cast.a.ticket
    for status in (Status.RESOLVED, Status.CLOSED):
        ticket = change_ticket(ticket=ticket, actor=cast.operator,
                               change=TicketChange(status=status))
    count = Message.objects.count()
    with pytest.raises(ValidationError) as info:
        add_message(ticket=ticket, actor=cast.a.customer, kind=Message.Kind.INBOUND, text="Hi")
    assert "text" in info.value.message_dict
    assert Message.objects.count() == count


def test_first_public_reply_sets_first_response_but_a_note_does_not(cast):
    ticket = cast.a.ticket
    add_message(ticket=ticket, actor=cast.operator, kind=Message.Kind.NOTE, text="Checking")
    ticket.refresh_from_db()
    assert ticket.first_response_at is None and ticket.status == Status.NEW
    add_message(ticket=ticket, actor=cast.operator, kind=Message.Kind.REPLY, text="Hello")
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None and ticket.status == Status.OPEN


def test_priority_change_recomputes_the_deadline(cast):
    ticket = cast.a.ticket
    due_normal = ticket.due_at
    ticket = change_ticket(ticket=ticket, actor=cast.operator,
                           change=TicketChange(priority="critical"))
    assert ticket.due_at < due_normal


def test_partner_user_takes_over_only_own_partners_ticket(cast):
    ticket = change_ticket(ticket=cast.a.ticket, actor=cast.operator,
                           change=TicketChange(status=Status.WAITING_PARTNER))
    ticket = take_over(ticket=ticket, actor=cast.a.engineer)
    assert ticket.assignee == cast.a.engineer and ticket.status == Status.OPEN
    with pytest.raises(PermissionDenied):
        take_over(ticket=cast.a.other_ticket, actor=cast.b.engineer)
    assert Ticket.objects.get(pk=cast.a.other_ticket.pk).assignee is None


def test_assignee_from_another_partner_is_refused(cast):
    with pytest.raises(ValidationError) as info:
        change_ticket(ticket=cast.a.ticket, actor=cast.operator,
                      change=TicketChange(assignee=cast.b.engineer))
    assert "assignee" in info.value.message_dict
    assert Ticket.objects.get(pk=cast.a.ticket.pk).assignee is None


def test_customers_cannot_write_internal_notes(cast):
    with pytest.raises(ValidationError) as info:
        add_message(ticket=cast.a.ticket, actor=cast.a.customer, kind=Message.Kind.NOTE,
                    text="x")
    assert "kind" in info.value.message_dict
