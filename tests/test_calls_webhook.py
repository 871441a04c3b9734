"""The generic JSON webhook and the calls API: auth, idempotency, order, bad input, tenancy."""

import hashlib
import hmac
import io
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from firstline.calls import inbox
from firstline.calls.models import Call, CallEventInbox, Outcome, RawCallEvent
from tests import calls_support
from tests.calls_support import ALPHA_NUMBER, BETA_NUMBER, KNOWN_CALLER
from tests.test_api_support import ApiClient, error_fields, token_client

pytestmark = pytest.mark.django_db
lines = calls_support.lines

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SECRET = "pbx-webhook-secret"


def _event(kind: str, at: datetime, call_id: str = "c-1", **extra) -> dict:
    return {"call_id": call_id, "event": kind, "at": at.isoformat(), **extra}


def _answered_call(call_id: str = "c-1", caller: str = "8 (900) 111-22-33") -> list[dict]:
    return [
        _event("start", T0, call_id, caller=caller, dialled=ALPHA_NUMBER),
        _event("offer", T0 + timedelta(seconds=5), call_id, operator="101"),
        _event("answer", T0 + timedelta(seconds=25), call_id, operator="101"),
        _event("end", T0 + timedelta(seconds=25 + 61), call_id),
    ]


def _post(client: ApiClient, event: dict):
    return client.post_json("/api/calls/events", event)


def _work() -> int:
    """The worker's run, as `calls_work --once` does it: applies what the posts stored."""
    return inbox.work(stop=threading.Event(), once=True)


def _state(client: ApiClient, answer) -> dict:
    return client.get(f"/api/calls/events/{answer.json()['key']}").json()


def test_an_integration_posts_a_call_the_worker_applies_it(lines):
    client = token_client(lines.a.integration)
    answers = [_post(client, event) for event in _answered_call()]
    assert [(a.status_code, a.json()["state"]) for a in answers] == [(202, "accepted")] * 4
    # Stored as received, not applied yet: the answer did not wait for the call.
    assert CallEventInbox.objects.count() == 4 and not Call.objects.exists()
    assert _state(client, answers[0])["state"] == "accepted"
    assert _work() == 4
    call = Call.objects.get()
    assert (call.partner, call.caller, call.outcome) == (
        lines.a.partner, "+79001112233", Outcome.ANSWERED)
    assert (call.wait_seconds, call.talk_seconds, call.operator) == (25, 61, lines.operator)
    assert not CallEventInbox.objects.exists()
    state = _state(client, answers[3])
    assert (state["state"], state["call_id"]) == ("processed", call.pk)
    assert state["event_id"] == RawCallEvent.objects.get(dedupe_key=answers[3].json()["key"]).pk
    body = client.get(f"/api/calls/{call.pk}").json()
    assert body["outcome"] == "answered" and body["operator"]["id"] == lines.operator.pk


def test_the_worker_command_applies_the_stored_events(lines):
    client = token_client(lines.a.integration)
    for event in _answered_call():
        _post(client, event)
    out = io.StringIO()
    call_command("calls_work", "--once", "--batch", "3", stdout=out)
    assert out.getvalue().strip() == "4 call events applied"
    assert Call.objects.get().outcome == Outcome.ANSWERED


def test_the_same_event_twice_changes_nothing(lines):
    client = token_client(lines.a.integration)
    for event in _answered_call():
        _post(client, event)
    # Sent again before the worker ran: not stored twice.
    early = _post(client, _answered_call()[0])
    assert (early.status_code, early.json()["state"], early.json()["duplicate"]) == (
        200, "accepted", True)
    assert CallEventInbox.objects.count() == 4
    _work()
    before = Call.objects.values().get()
    again = _post(client, _answered_call()[3])
    assert again.status_code == 200
    assert (again.json()["duplicate"], again.json()["state"]) == (True, "processed")
    assert again.json()["call_id"] == before["id"]
    assert not CallEventInbox.objects.exists()
    _work()
    assert Call.objects.values().get() == before
    assert RawCallEvent.objects.count() == 4


def test_events_out_of_order_end_in_the_same_record(lines):
    """An answer before its start waits and is applied when the call starts, whether the
    start comes in a later batch or in the same one."""
    client = token_client(lines.a.integration)
    events = _answered_call()
    early = _post(client, events[2])
    _work()
    assert _state(client, early)["state"] == "waiting"
    for event in (events[3], events[1], events[0]):
        _post(client, event)
    _work()
    call = Call.objects.get()
    assert (call.outcome, call.wait_seconds, call.talk_seconds) == (Outcome.ANSWERED, 25, 61)
    assert not RawCallEvent.objects.exclude(state=RawCallEvent.State.PROCESSED).exists()
    # All four in one batch, last first.
    for event in reversed(_answered_call("c-2")):
        _post(client, event)
    _work()
    second = Call.objects.get(external_id="c-2")
    assert (second.outcome, second.wait_seconds, second.talk_seconds) == (
        Outcome.ANSWERED, 25, 61)


def test_a_signed_pbx_posts_without_a_token_and_a_bad_signature_is_refused(lines, settings):
    settings.FIRSTLINE_CALLS_WEBHOOK_SECRET = SECRET
    body = json.dumps(_answered_call()[0]).encode()
    good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    client = ApiClient()
    answer = client.post("/api/calls/events", body, content_type="application/json",
                         headers={"X-Firstline-Signature": good})
    assert (answer.status_code, answer.json()["state"]) == (202, "accepted")
    bad = client.post("/api/calls/events", body, content_type="application/json",
                      headers={"X-Firstline-Signature": good[:-2] + "00"})
    assert bad.status_code == 401 and "signature" in bad.json()["detail"].lower()
    unsigned = client.post("/api/calls/events", body, content_type="application/json")
    assert unsigned.status_code == 401
    assert CallEventInbox.objects.count() == 1
    _work()
    assert RawCallEvent.objects.count() == 1 and Call.objects.get().partner == lines.a.partner


@pytest.mark.parametrize(("change", "field"), [
    ({"dialled": "+74950000000"}, "dialled"),
    ({"dialled": BETA_NUMBER}, "dialled"),  # another partner's number, with alpha's token
    ({"caller": "anonymous"}, "caller"),
])
def test_bad_events_are_kept_aside_with_the_field_and_the_reason(lines, change, field):
    """Refused at once (202 `failed`, so that a PBX does not retry it), and kept: the worker
    stores it refused with the same reason. The next event goes in."""
    client = token_client(lines.a.integration)
    answer = _post(client, {**_answered_call()[0], **change})
    assert answer.status_code == 202
    assert (answer.json()["state"], answer.json()["field"]) == ("failed", field)
    assert field in answer.json()["reason"]
    assert _post(client, _answered_call("c-2")[0]).json()["state"] == "accepted"
    _work()
    kept = RawCallEvent.objects.get(external_id="c-1")
    assert kept.state == RawCallEvent.State.FAILED and kept.reason == answer.json()["reason"]
    state = _state(client, answer)
    assert (state["state"], state["field"], state["reason"]) == (
        "failed", field, kept.reason)
    assert Call.objects.get().external_id == "c-2"


def test_refused_requests_lose_none_of_the_events_around_them(lines, settings):
    """A bad signature and a malformed body between good events: refused and not stored; an
    unknown number: kept refused; every good event is applied."""
    settings.FIRSTLINE_CALLS_WEBHOOK_SECRET = SECRET
    client = token_client(lines.a.integration)
    events = _answered_call()
    assert _post(client, events[0]).status_code == 202
    body = json.dumps(events[1]).encode()
    forged = ApiClient().post("/api/calls/events", body, content_type="application/json",
                              headers={"X-Firstline-Signature": "sha256=" + "0" * 64})
    assert forged.status_code == 401
    assert client.post("/api/calls/events", b'{"call_id": "c-1", "ev',
                       content_type="application/json").status_code == 400
    assert _post(client, {**events[1], "at": "not a time"}).status_code == 422
    assert _post(client, {**_answered_call("c-9")[0], "dialled": "+74950000000"}
                 ).json()["state"] == "failed"
    for event in events[1:]:
        assert _post(client, event).status_code == 202
    _work()
    call = Call.objects.get()
    assert (call.external_id, call.outcome, call.talk_seconds) == ("c-1", Outcome.ANSWERED, 61)
    assert sorted(RawCallEvent.objects.values_list("state", flat=True)) == [
        "failed"] + ["processed"] * 4


@pytest.mark.parametrize(("event", "field"), [
    ({"talk_seconds": -5}, "talk_seconds"),
    ({"talk_seconds": 10**7}, "talk_seconds"),
    ({"at": "2026-12-01T09:00:00"}, "at"),
    ({"event": "exploded"}, "event"),
])
def test_absurd_values_are_refused_naming_the_field(lines, event, field):
    client = token_client(lines.a.integration)
    answer = _post(client, {**_answered_call()[3], **event})
    assert answer.status_code == 422 and field in error_fields(answer)
    assert not CallEventInbox.objects.exists()


def test_an_event_half_a_day_away_from_its_call_is_refused(lines):
    client = token_client(lines.a.integration)
    _post(client, _answered_call()[0])
    _work()
    late = _post(client, _event("end", T0 + timedelta(hours=13)))
    assert late.json()["state"] == "accepted"  # the request does not look at the call
    _work()
    state = _state(client, late)
    assert (state["state"], state["field"]) == ("failed", "at")
    assert Call.objects.get().outcome == Outcome.RINGING


def test_an_end_for_an_unknown_call_id_is_kept_waiting(lines):
    client = token_client(lines.a.integration)
    answer = _post(client, _event("end", T0, "nobody-knows"))
    assert answer.status_code == 202
    _work()
    assert "nobody-knows" in RawCallEvent.objects.get().reason
    state = _state(client, answer)
    assert state["state"] == "waiting" and "nobody-knows" in state["reason"]


def test_an_event_is_read_only_by_its_partner_and_staff(lines):
    answer = _post(token_client(lines.a.integration), _answered_call()[0])
    key = answer.json()["key"]
    assert token_client(lines.b.engineer).get(f"/api/calls/events/{key}").status_code == 404
    assert token_client(lines.a.engineer).get(f"/api/calls/events/{key}").status_code == 200
    assert token_client(lines.operator).get(f"/api/calls/events/{key}").status_code == 200
    _work()
    assert token_client(lines.b.integration).get(f"/api/calls/events/{key}").status_code == 404
    assert token_client(lines.a.manager).get(f"/api/calls/events/{key}").json()[
        "state"] == "processed"
    unknown = token_client(lines.operator).get(f"/api/calls/events/{'0' * 64}")
    assert unknown.status_code == 404
    assert token_client(lines.operator).get("/api/calls/events/XYZ").status_code == 422


def test_a_partner_engineer_may_not_post_events(lines):
    answer = _post(token_client(lines.a.engineer), _answered_call()[0])
    assert answer.status_code == 403
    assert not CallEventInbox.objects.exists()


def test_calls_are_scoped_by_partner(lines):
    _post(token_client(lines.a.integration), _answered_call()[0])
    _work()
    call = Call.objects.get()
    beta = token_client(lines.b.engineer)
    assert beta.get(f"/api/calls/{call.pk}").status_code == 404
    assert beta.get("/api/calls").json()["items"] == []
    assert token_client(lines.a.engineer).get("/api/calls").json()["items"][0]["id"] == call.pk
    # Staff see it; another partner cannot attach it to their ticket.
    assert token_client(lines.operator).get(f"/api/calls/{call.pk}").status_code == 200
    attach = beta.post_json(f"/api/calls/{call.pk}/ticket", {"ticket_id": lines.b.ticket.pk})
    assert attach.status_code == 404


def test_attaching_an_answered_call_meets_the_reaction_target(lines):
    client = token_client(lines.a.integration)
    for event in _answered_call(caller=KNOWN_CALLER):
        _post(client, event)
    _work()
    call = Call.objects.get()
    ticket = lines.a.ticket
    assert ticket.first_response_at is None
    answer = token_client(lines.a.engineer).post_json(
        f"/api/calls/{call.pk}/ticket", {"ticket_id": ticket.pk})
    assert answer.status_code == 200 and answer.json()["ticket_id"] == ticket.pk
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None and ticket.reaction_in_time is True
    refused = token_client(lines.operator).post_json(
        f"/api/calls/{call.pk}/ticket", {"ticket_id": lines.b.ticket.pk})
    assert refused.status_code == 422 and "ticket" in error_fields(refused)


def test_talk_minutes_are_listed_against_the_tariff(lines):
    client = token_client(lines.a.integration)
    for event in _answered_call():
        _post(client, event)
    _work()
    rows = token_client(lines.a.manager).get("/api/calls/minutes?year=2026&month=12").json()
    assert rows == [{"partner_id": lines.a.partner.pk, "month": "2026-12", "minutes_used": 2,
                     "minutes_included": 50}]


def test_an_early_event_with_a_caller_that_is_not_a_number_is_refused_as_answered(lines):
    """Refused at once ("failed: caller"), and still refused when its call starts later:
    what the answer said is what became of it, whatever the order."""
    client = token_client(lines.a.integration)
    early = _post(client, _event("answer", T0 + timedelta(seconds=20), "c-9",
                                 caller="not-a-number", operator="101"))
    assert early.status_code == 202 and early.json()["state"] == "failed"
    assert early.json()["field"] == "caller"
    _work()  # no call yet: it waits
    _post(client, _answered_call("c-9")[0])
    _work()
    refused = _state(client, early)
    assert refused["state"] == "failed" and refused["field"] == "caller"
    call = Call.objects.get(external_id="c-9")
    assert call.answered_at is None and call.caller == "+79001112233"
