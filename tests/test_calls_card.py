"""The call card (screen pop) on the desk, tickets from calls, the calls overview."""

from datetime import timedelta

import pytest

from firstline.calls.events import CallEvent, Kind
from firstline.calls.models import Call, CallEventInbox, Outcome, Source
from firstline.calls.services import record_event
from firstline.core.clock import now
from firstline.quality.script_models import IdentificationRule, ScriptSettings
from firstline.tickets.models import Channel, Status
from tests import calls_support
from tests.calls_support import ALPHA_NUMBER, KNOWN_CALLER
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
lines = calls_support.lines


def _event(kind: Kind, call_id: str = "card-1", seconds_ago: int = 0, **extra) -> None:
    event = CallEvent(kind=kind, external_id=call_id,
                      at=now() - timedelta(seconds=seconds_ago), **extra)
    record_event(source=Source.WEBHOOK, payload=event.to_json(),
                 dedupe_key=f"{call_id}-{kind}", parse=lambda: event)


def _ringing(caller: str = KNOWN_CALLER) -> Call:
    _event(Kind.START, caller=caller, dialled=ALPHA_NUMBER, seconds_ago=10)
    _event(Kind.OFFER, operator="101", seconds_ago=5)
    return Call.objects.get()


def test_a_ringing_call_pops_up_with_greeting_script_caller_and_open_tickets(lines):
    ScriptSettings.objects.create(partner=lines.a.partner,
                                  contract_number=IdentificationRule.REQUIRED)
    lines.a.partner.greeting = lines.a.partner.Greeting.PERSONAL
    lines.a.partner.save()
    _ringing()
    page = client_for(lines.operator).get("/calls/card/").content.decode()
    assert "Partner alpha" in page
    # The personalised greeting with the operator's name, in the partner's language.
    assert "меня зовут Olga" in page
    assert "Contract number" in page and "required" in page
    assert "Ivan alpha" in page and "alpha customer LLC" in page
    assert lines.a.ticket.number in page
    # With the worker's hop (calls_work looks every 0.2 s), still within 2 s of the event.
    assert 'hx-trigger="every 1.5s"' in page


def test_the_poll_leaves_the_card_alone_while_the_calls_are_the_same(lines):
    call = _ringing()
    client = client_for(lines.operator)
    assert client.get(f"/calls/card/?shown={call.pk}").status_code == 204
    _event(Kind.ANSWER, operator="101")
    assert client.get(f"/calls/card/?shown={call.pk}").status_code == 204
    assert "Talking" in client.get(f"/calls/{call.pk}/status/").content.decode()
    assert client.get("/calls/card/?shown=").status_code == 200


def test_an_unknown_number_is_said_so_and_other_operators_see_no_card(lines):
    _ringing(caller="+79990001122")
    assert "not in the directory" in client_for(lines.operator).get("/calls/card/").content.decode()
    assert client_for(lines.supervisor).get("/calls/card/").content.decode().count(
        'class="call"') == 0
    assert client_for(lines.a.engineer).get("/calls/card/").status_code == 403


def test_one_click_creates_a_phone_ticket_with_the_call_that_meets_reaction(lines):
    call = _ringing()
    _event(Kind.ANSWER, operator="101")
    response = client_for(lines.operator).post(
        f"/calls/{call.pk}/ticket/", {"subject": "", "text": "Сайт не открывается"})
    call.refresh_from_db()
    ticket = call.ticket
    assert response.status_code == 302 and response["Location"] == f"/tickets/{ticket.pk}/"
    assert (ticket.channel, ticket.contact) == (Channel.PHONE, lines.a.contact)
    assert ticket.first_response_at is not None and ticket.reaction_in_time is True
    assert ticket.status == Status.OPEN


def test_an_unanswered_call_gives_a_ticket_without_meeting_reaction(lines):
    call = _ringing()
    client_for(lines.operator).post(f"/calls/{call.pk}/ticket/", {"text": "Перезвонить"})
    call.refresh_from_db()
    assert call.ticket.first_response_at is None


def test_attaching_from_the_card_puts_the_call_on_the_open_ticket(lines):
    call = _ringing()
    _event(Kind.ANSWER, operator="101")
    response = client_for(lines.operator).post(f"/calls/{call.pk}/attach/",
                                               {"ticket": lines.a.ticket.pk})
    assert response.status_code == 302
    call.refresh_from_db()
    assert call.ticket == lines.a.ticket
    bad = client_for(lines.operator).post(f"/calls/{call.pk}/attach/", {"ticket": "x"})
    assert bad.status_code == 404


def test_the_overview_shows_minutes_of_the_tariff_and_the_line(lines):
    _ringing()
    _event(Kind.ANSWER, operator="101", seconds_ago=4)
    _event(Kind.END, talk_seconds=61)
    assert Call.objects.get().outcome == Outcome.ANSWERED
    page = client_for(lines.a.manager).get("/calls/").content.decode()
    assert "2 of 50 minutes used this month" in page
    assert "Partner beta" not in page
    staff = client_for(lines.supervisor).get("/calls/").content.decode()
    assert "Partner beta" in staff


def test_the_overview_tells_staff_when_received_events_wait_too_long(lines):
    """An event applied within a second is normal; one waiting half a minute means the
    worker is not running."""
    fresh = {"source": Source.WEBHOOK, "payload": {}, "external_id": "x"}
    CallEventInbox.objects.create(dedupe_key="fresh", **fresh)
    warning = "is <code>firstline calls_work</code> running?"
    assert warning not in client_for(lines.supervisor).get("/calls/").content.decode()
    CallEventInbox.objects.create(dedupe_key="stale", received_at=now() - timedelta(minutes=2),
                                  **fresh)
    page = client_for(lines.supervisor).get("/calls/").content.decode()
    assert "2 call events, the first received 2\xa0minutes ago, are not applied yet" in page
    assert warning in page
    assert warning not in client_for(lines.a.manager).get("/calls/").content.decode()
