"""Solved on the first line and within the first contact: from the ticket's own history."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from firstline.quality import metrics, services
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel, Message, Status, Ticket
from firstline.tickets.services import TicketChange, add_message, change_ticket, create_ticket
from tests.conftest import client_for
from tests.test_script_support import configure, fill_script


@dataclass
class M:
    kind: str
    is_automatic: bool = False


@dataclass
class S:
    kind: str


INBOUND, REPLY, NOTE = M("inbound"), M("reply"), M("note")
AUTO = M("reply", is_automatic=True)
HANDED = S("hand_over")


# --- The pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "messages", "steps", "expected"),
    [
        ("email", [INBOUND, REPLY], [], True),
        ("email", [INBOUND, AUTO, NOTE, REPLY], [], True),  # automatic replies, notes: not contact
        ("email", [INBOUND, REPLY, REPLY], [], False),
        ("email", [INBOUND, REPLY, INBOUND, REPLY], [], False),
        ("email", [INBOUND], [], False),  # resolved without answering anybody
        ("email", [INBOUND, REPLY], [HANDED], False),
        ("phone", [INBOUND], [], True),  # solved during the call
        ("phone", [INBOUND, REPLY, REPLY], [], True),
        ("phone", [INBOUND, REPLY, INBOUND], [], False),  # the customer had to call again
        ("phone", [INBOUND], [HANDED], False),
        ("portal", [INBOUND, INBOUND, REPLY], [], False),
    ],
)
def test_solved_within_the_first_contact(channel, messages, steps, expected):
    assert metrics.solved_within_first_contact(channel, messages, steps) is expected


def test_solved_on_the_first_line_means_no_hand_over_and_not_by_the_partner(cast):
    assert metrics.solved_on_first_line([], cast.operator) is True
    assert metrics.solved_on_first_line([S("hand_back")], None) is True
    assert metrics.solved_on_first_line([HANDED], cast.operator) is False
    assert metrics.solved_on_first_line([HANDED, S("hand_back")], cast.operator) is False
    assert metrics.solved_on_first_line([], cast.a.engineer) is False


# --- Stored at resolution ----------------------------------------------------------------------


def resolve(ticket, actor):
    return change_ticket(ticket=ticket, actor=actor, change=TicketChange(status=Status.RESOLVED))


@pytest.mark.django_db
def test_one_message_one_reply_is_solved_on_the_first_line_and_the_first_contact(cast):
    ticket = cast.a.ticket
    add_message(ticket=ticket, actor=cast.operator, kind="reply",
                text="Иван, доступ к FTP восстановлен: попробуйте войти снова.")

    ticket = resolve(ticket, cast.operator)

    ticket.refresh_from_db()
    assert (ticket.first_line_resolved, ticket.first_contact_resolved) == (True, True)


@pytest.mark.django_db
def test_a_reopen_forgets_the_facts_and_the_next_resolution_decides_again(cast):
    ticket = cast.a.ticket
    add_message(ticket=ticket, actor=cast.operator, kind="reply", text="Доступ восстановлен.")
    resolve(ticket, cast.operator)

    add_message(ticket=ticket, actor=cast.a.customer, kind="inbound", text="Снова не работает.")
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert (ticket.first_line_resolved, ticket.first_contact_resolved) == (None, None)

    add_message(ticket=ticket, actor=cast.operator, kind="reply", text="Исправили, проверьте.")
    resolve(ticket, cast.operator)
    ticket.refresh_from_db()
    assert (ticket.first_line_resolved, ticket.first_contact_resolved) == (True, False)


@pytest.mark.django_db
def test_a_handed_over_ticket_is_solved_neither_on_the_first_line_nor_first_contact(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    fill_script(ticket, cast.operator, cfg)
    services.hand_over(ticket, cast.operator)
    add_message(ticket=ticket, actor=cast.a.engineer, kind="reply", text="Перезапустили ВМ.")

    resolve(ticket, cast.a.engineer)

    ticket.refresh_from_db()
    assert (ticket.first_line_resolved, ticket.first_contact_resolved) == (False, False)


@pytest.mark.django_db
def test_a_phone_call_resolved_during_the_call_is_first_contact(cast):
    ticket = create_ticket(partner=cast.a.partner, actor=cast.operator, channel=Channel.PHONE,
                           contact=cast.a.contact, subject="", text="Не помню пароль от FTP.")
    resolve(ticket, cast.operator)
    ticket.refresh_from_db()
    assert (ticket.first_line_resolved, ticket.first_contact_resolved) == (True, True)


@pytest.mark.django_db
def test_the_partner_resolving_directly_is_not_first_line(cast):
    ticket = cast.a.other_ticket
    ticket_services.take_over(ticket=ticket, actor=cast.a.engineer)
    add_message(ticket=ticket, actor=cast.a.engineer, kind="reply", text="Почта исправлена.")
    resolve(ticket, cast.a.engineer)
    ticket.refresh_from_db()
    assert ticket.first_line_resolved is False and ticket.first_contact_resolved is True


@pytest.mark.django_db
def test_the_ticket_page_shows_both_facts_to_staff(cast):
    ticket = cast.a.ticket
    add_message(ticket=ticket, actor=cast.operator, kind="reply", text="Доступ восстановлен.")
    resolve(ticket, cast.operator)
    page = client_for(cast.operator).get(f"/tickets/{ticket.pk}/").content.decode()
    assert "Solved on the first line</dt><dd>yes" in page
    assert "Solved within the first contact</dt><dd>yes" in page
    partner_page = client_for(cast.a.engineer).get(f"/tickets/{ticket.pk}/").content.decode()
    assert "Solved on the first line" not in partner_page


# --- The aggregate for reports -----------------------------------------------------------------


@pytest.mark.django_db
def test_shares_per_partner_and_period_are_one_query(cast):
    start = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        # partner, resolved_at, first line, first contact, handed over, corrections
        (cast.a, start + timedelta(days=1), True, True, False, 0),
        (cast.a, start + timedelta(days=2), True, False, False, 0),
        (cast.a, start + timedelta(days=3), False, False, True, 1),
        (cast.a, start + timedelta(days=3), False, False, True, 0),
        (cast.a, start - timedelta(days=1), True, True, False, 0),  # before the period
        (cast.b, start + timedelta(days=5), True, True, False, 0),
    ]
    for side, resolved_at, first_line, first_contact, handed_over, corrections in rows:
        ticket = create_ticket(partner=side.partner, actor=cast.operator, channel=Channel.EMAIL,
                               subject="x", text="x")
        Ticket.objects.filter(pk=ticket.pk).update(
            status=Status.RESOLVED, resolved_at=resolved_at, first_line_resolved=first_line,
            first_contact_resolved=first_contact,
            handed_over_at=resolved_at if handed_over else None,
            routing_corrections=corrections,
        )

    with CaptureQueriesContext(connection) as queries:
        shares = metrics.resolution_shares(Ticket.objects.all(), start,
                                           start + timedelta(days=31))

    assert len(queries) == 1
    by_partner = {share.partner_id: share for share in shares}
    a = by_partner[cast.a.partner.pk]
    assert (a.resolved, a.first_line, a.first_contact, a.handed_over) == (4, 2, 1, 2)
    assert (a.first_line_share, a.first_contact_share, a.routed_right_share) == (0.5, 0.25, 0.5)
    assert by_partner[cast.b.partner.pk].first_line_share == 1.0
    # A partner's scope sees its own partner only.
    scoped = metrics.resolution_shares(Ticket.objects.filter(partner=cast.b.partner), start,
                                       start + timedelta(days=31))
    assert [share.partner_id for share in scoped] == [cast.b.partner.pk]


@pytest.mark.django_db
def test_routing_and_classification_minutes_come_from_the_ticket(cast):
    ticket = cast.a.ticket
    ticket.classified_at = ticket.created_at + timedelta(minutes=4)
    ticket.diagnosed_at = ticket.created_at + timedelta(minutes=11)
    ticket.handed_over_at = ticket.created_at + timedelta(minutes=15, seconds=59)
    assert metrics.classification_minutes(ticket) == 11
    assert metrics.routing_minutes(ticket) == 15
    ticket.diagnosed_at = None
    assert metrics.classification_minutes(ticket) == 4
    ticket.classified_at = None
    assert metrics.classification_minutes(ticket) is None
    assert Message.objects.filter(ticket=ticket).count() == 1
