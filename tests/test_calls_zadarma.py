"""Zadarma's call notifications posted over real HTTP to a running server, as documented:
form fields, the `Signature` header (base64 of the hex HMAC-SHA1 of three fields), the
zd_echo check of the URL."""

import base64
import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from firstline.calls import inbox, zadarma
from firstline.calls.models import Call, CallEventInbox, Direction, Outcome, RawCallEvent
from firstline.core.clock import now
from tests import calls_support
from tests.calls_support import KNOWN_CALLER

pytestmark = pytest.mark.django_db(transaction=True)
lines = calls_support.lines

SECRET = "zadarma-api-secret"
START = "2026-12-01 12:00:00"  # Moscow time: 09:00 UTC
CALL = "in_5f1c9e0d2a8b4c7d"


def _sign(fields: dict[str, str], names: tuple[str, ...]) -> str:
    # Written out here, as Zadarma's PHP example does it, not with the code under test.
    text = "".join(fields[name] for name in names)
    digest = hmac.new(SECRET.encode(), text.encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(digest.encode()).decode()


SIGNED = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_INTERNAL": ("caller_id", "called_did", "call_start"),
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
}


def _post(url: str, fields: dict[str, str], signature: str | None = None) -> tuple[int, dict]:
    signature = signature if signature is not None else _sign(fields, SIGNED[fields["event"]])
    request = urllib.request.Request(  # noqa: S310 - the live test server's http URL
        f"{url}/calls/zadarma/", data=urllib.parse.urlencode(fields).encode(), method="POST",
        headers={"Signature": signature,
                 "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _work() -> int:
    return inbox.work(stop=threading.Event(), once=True)


def _inbound(caller: str = "79001112233", disposition: str = "answered",
             duration: str = "61") -> list[dict[str, str]]:
    base = {"call_start": START, "pbx_call_id": CALL, "caller_id": caller}
    return [
        {"event": "NOTIFY_START", **base, "called_did": "74951110001"},
        {"event": "NOTIFY_INTERNAL", **base, "called_did": "74951110001", "internal": "101"},
        {"event": "NOTIFY_ANSWER", **base, "destination": "101", "internal": "101"},
        {"event": "NOTIFY_END", **base, "called_did": "74951110001", "internal": "101",
         "duration": duration, "disposition": disposition, "status_code": "16",
         "is_recorded": "0", "call_id_with_rec": ""},
    ]


@pytest.fixture
def server(lines, live_server, settings):
    settings.FIRSTLINE_ZADARMA_SECRET = SECRET
    settings.FIRSTLINE_ZADARMA_TIME_ZONE = "Europe/Moscow"
    return live_server.url


def test_the_url_check_echoes_zd_echo(server):
    url = f"{server}/calls/zadarma/?zd_echo=a1b2c3"
    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310
        assert r.read() == b"a1b2c3"


def test_the_signature_is_computed_as_documented():
    fields = _inbound()[0]
    assert zadarma.sign(fields, SECRET) == _sign(fields, SIGNED["NOTIFY_START"])


def test_an_answered_inbound_call_gives_its_record_and_a_replay_changes_nothing(server):
    for fields in _inbound():
        status, body = _post(server, fields)
        assert (status, body["state"]) == (200, "accepted")
    assert CallEventInbox.objects.count() == 4 and not Call.objects.exists()
    assert _work() == 4
    call = Call.objects.get()
    assert call.partner.slug == "alpha"
    assert (call.caller, call.dialled, call.direction) == (
        "+79001112233", "+74951110001", Direction.INBOUND)
    assert call.started_at.isoformat() == "2026-12-01T09:00:00+00:00"
    assert (call.outcome, call.talk_seconds, call.operator.username) == (
        Outcome.ANSWERED, 61, "operator")
    before = Call.objects.values().get()
    for fields in _inbound():
        status, body = _post(server, fields)
        assert (status, body["duplicate"], body["state"]) == (200, True, "processed")
    _work()
    assert Call.objects.values().get() == before
    assert RawCallEvent.objects.count() == 4


def test_the_answer_is_placed_when_it_arrived_not_when_the_worker_applied_it(server):
    """NOTIFY_ANSWER carries no time of its own: the moment it was received counts."""
    start = (now() - timedelta(seconds=30)).astimezone(ZoneInfo("Europe/Moscow"))
    base = {"call_start": start.strftime("%Y-%m-%d %H:%M:%S"), "pbx_call_id": "live",
            "caller_id": "79001112233"}
    _post(server, {"event": "NOTIFY_START", **base, "called_did": "74951110001"})
    _post(server, {"event": "NOTIFY_ANSWER", **base, "destination": "101", "internal": "101"})
    received = CallEventInbox.objects.get(payload__event="NOTIFY_ANSWER").received_at
    _work()
    call = Call.objects.get()
    assert call.answered_at == received and call.outcome == Outcome.TALKING
    assert 29 <= call.wait_seconds <= 40


def test_the_end_before_the_start_gives_the_same_call(server):
    events = _inbound()
    for fields in reversed(events):
        assert _post(server, fields)[0] == 200
    _work()
    call = Call.objects.get()
    assert (call.outcome, call.talk_seconds, call.dialled) == (
        Outcome.ANSWERED, 61, "+74951110001")


def test_a_cancelled_call_from_a_known_customer_is_abandoned_and_a_call_back_task(server):
    for fields in _inbound(caller=KNOWN_CALLER[1:], disposition="cancel", duration="0"):
        if fields["event"] != "NOTIFY_ANSWER":
            _post(server, fields)
    _work()
    call = Call.objects.get()
    assert call.outcome == Outcome.ABANDONED and call.talk_seconds == 0
    assert call.callback_ticket is not None
    assert call.callback_ticket.contact.name == "Ivan alpha"


def test_an_outgoing_call_back_is_recorded_as_outbound(server):
    base = {"call_start": START, "pbx_call_id": "out_1", "internal": "101",
            "destination": "79001112233", "caller_id": "74951110001"}
    assert _post(server, {"event": "NOTIFY_OUT_START", **base})[0] == 200
    assert _post(server, {"event": "NOTIFY_OUT_END", **base, "duration": "95",
                          "disposition": "answered", "status_code": "16",
                          "is_recorded": "0", "call_id_with_rec": ""})[0] == 200
    _work()
    call = Call.objects.get()
    assert (call.direction, call.outcome, call.talk_seconds, call.caller) == (
        Direction.OUTBOUND, Outcome.ANSWERED, 95, "+79001112233")


def test_a_bad_signature_is_refused_and_nothing_is_stored(server):
    status, body = _post(server, _inbound()[0], signature="bm90LWEtc2lnbmF0dXJl")
    assert status == 401 and "signature" in body["detail"].lower()
    assert not CallEventInbox.objects.exists()
    _work()
    assert not RawCallEvent.objects.exists()


@pytest.mark.parametrize(("change", "reason"), [
    ({"called_did": "74990000000"}, "dialled"),
    ({"caller_id": "anonymous"}, "caller"),
    ({"call_start": "yesterday"}, "call_start"),
])
def test_a_bad_notification_is_kept_with_its_reason_and_the_next_one_goes_in(
        server, change, reason):
    """Answered 200 (Zadarma wants 200; sending it again changes nothing), saying why it
    is refused; kept refused for an operator."""
    fields = {**_inbound()[0], **change}
    status, body = _post(server, fields)
    assert status == 200 and body["state"] == "failed" and reason in body["reason"]
    assert _post(server, {**_inbound()[0], "pbx_call_id": "next"})[0] == 200
    _work()
    kept = RawCallEvent.objects.get(state=RawCallEvent.State.FAILED)
    assert kept.reason == body["reason"]
    assert Call.objects.get().external_id == "next"


def test_an_absurd_duration_is_refused(server):
    _post(server, _inbound()[0])
    status, body = _post(server, {**_inbound()[3], "duration": "-5"})
    assert (status, body["state"]) == (200, "failed") and "duration" in body["reason"]
    _work()
    assert Call.objects.get().outcome == Outcome.RINGING
    assert "duration" in RawCallEvent.objects.get(state=RawCallEvent.State.FAILED).reason


def test_a_nul_character_is_refused_not_a_server_error(server):
    status, body = _post(server, {**_inbound()[1], "internal": "10\x001"})
    assert status == 400 and "NUL" in body["detail"]
    assert not CallEventInbox.objects.exists()
    assert _post(server, _inbound()[0])[0] == 200
