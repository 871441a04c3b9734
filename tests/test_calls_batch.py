"""The queue_log batch path gives exactly what the one-by-one path gives; crash and race safety."""

import random
import threading
from datetime import date

import pytest
from django.db import IntegrityError, connection, connections

from firstline.calls import importer, phones, queries, services
from firstline.calls.importer import import_file, import_lines
from firstline.calls.models import Call, QueueLogPosition, RawCallEvent
from tests import calls_support
from tests.calls_support import KNOWN_CALLER

lines = calls_support.lines

pytestmark = pytest.mark.django_db

T0 = 1764920000  # 2025-12-05 07:33:20 UTC


def _queue_log(calls: int = 60, seed: int = 3) -> list[str]:
    """A day's queue_log: answered, abandoned, timed-out calls, interleaved and shuffled a
    little (events out of order), with replayed lines, bad lines and noise among them."""
    rng = random.Random(seed)
    out: list[str] = []
    for n in range(calls):
        t, call = T0 + n * 7, f"{T0 + n * 7}.{n}"
        queue = "support-alpha" if n % 3 else "support-beta"
        caller = KNOWN_CALLER[1:] if n % 10 == 4 else f"7900{n:07d}"
        kind = n % 5
        block = [f"{t}|{call}|{queue}|NONE|ENTERQUEUE||{caller}|1"]
        if kind in (0, 1, 2):
            block += [f"{t + 3}|{call}|{queue}|PJSIP/102|RINGNOANSWER|15000",
                      f"{t + 20}|{call}|{queue}|PJSIP/101|CONNECT|20|{t}.9|4",
                      f"{t + 200 + n}|{call}|{queue}|PJSIP/101|COMPLETECALLER|20|{180 + n}|1"]
        elif kind == 3:
            block += [f"{t + 45}|{call}|{queue}|NONE|ABANDON|1|1|45"]
        else:
            block += [f"{t + 300}|{call}|{queue}|NONE|EXITWITHTIMEOUT|2|2|300"]
        if n % 7 == 0:
            block.reverse()  # the end before the start
        if n % 11 == 0:
            block.append(block[0])  # a replayed line
        if n % 13 == 0:
            block.insert(1, f"{t}|{call}|support-alpha|NONE|ENTERQUEUE||not-a-number|1")
        if n % 17 == 0:
            block.insert(1, f"{t}|{call}|nobodys-queue|NONE|ABANDON|1|1|4")
        if n % 19 == 0:
            block.append(f"{t + 30}|{call}|{queue}|PJSIP/101|COMPLETEAGENT|20")  # truncated
        if n % 23 == 0:
            block.append(f"{t + 99999}|{call}|{queue}|NONE|ABANDON|1|1|4")  # a day later
        if n % 29 == 0:
            # No queue named: the call is looked up (or waited for), one by one.
            block.insert(0, f"{t - 1}|{call}||NONE|RINGNOANSWER|1000")
        out += block
        if rng.random() < 0.2:
            out.append(f"{t}|NONE|NONE|PJSIP/101|ADDMEMBER|")
    return out


def _snapshot() -> dict:
    calls = {
        c["external_id"]: c for c in Call.objects.values(
            "external_id", "partner_id", "source", "direction", "caller", "dialled",
            "started_at", "entered_at", "answered_at", "ended_at", "wait_seconds",
            "talk_seconds", "reported_talk_seconds", "reported_outcome", "outcome",
            "operator_id", "recording_url", "callback_ticket__subject")
    }
    raws = sorted(RawCallEvent.objects.values_list(
        "source", "dedupe_key", "external_id", "partner_id", "payload", "event", "state",
        "reason", "call__external_id"))
    partners = list({c["partner_id"] for c in calls.values()})
    from firstline.core.models import Partner
    group = list(Partner.objects.filter(pk__in=partners).select_related("tariff"))
    month = date(2025, 12, 1)
    minutes = queries.talk_minutes_for(group, month)
    week = queries.line_weeks_for(group, month.replace(day=5))
    shares = {pk: (w.calls, w.answered, w.max_wait) for pk, w in week.items()}
    return {"calls": calls, "raws": raws, "minutes": minutes, "shares": shares}


def _wipe() -> None:
    from firstline.tickets.models import Ticket

    Call.objects.all().delete()
    RawCallEvent.objects.all().delete()
    Ticket.objects.all().delete()


def test_the_batch_gives_the_same_calls_events_minutes_and_shares_as_one_by_one(lines):
    log = _queue_log()
    one = import_lines(log, one_by_one=True)
    expected = _snapshot()
    _wipe()
    batch = import_lines(log)
    # One by one, an event before its call's start waits (and is applied at the start);
    # the batch sees the start in the same chunk and applies it at once.
    assert (batch.applied + batch.waiting, batch.refused, batch.duplicate, batch.skipped) == (
        one.applied + one.waiting, one.refused, one.duplicate, one.skipped)
    assert one.refused > 0 and one.duplicate > 0 and one.skipped > 0 and one.waiting > 0
    got = _snapshot()
    assert got["calls"] == expected["calls"]
    assert got["raws"] == expected["raws"]
    assert got["minutes"] == expected["minutes"] and sum(got["minutes"].values()) > 0
    assert got["shares"] == expected["shares"]
    # A call-back task for the known caller's unanswered calls, made once by either path.
    assert any(c["callback_ticket__subject"] for c in got["calls"].values())


def test_a_file_imported_in_small_chunks_twice_changes_nothing(lines, tmp_path, monkeypatch):
    log = _queue_log(40)
    import_lines(log, one_by_one=True)
    expected = _snapshot()
    _wipe()
    path = tmp_path / "queue_log"
    path.write_text("\n".join(log) + "\n")
    monkeypatch.setattr(importer, "BATCH_LINES", 7)  # calls split across chunks
    import_file(str(path))
    assert _snapshot() == expected
    QueueLogPosition.objects.all().delete()
    again = import_file(str(path))
    assert again.applied == 0 and again.duplicate + again.skipped == len(log)
    assert _snapshot() == expected


def test_a_crash_mid_file_keeps_the_position_with_the_rows_and_resumes_exactly(
        lines, tmp_path, monkeypatch):
    log = _queue_log(40)
    path = tmp_path / "queue_log"
    path.write_text("\n".join(log) + "\n")
    monkeypatch.setattr(importer, "BATCH_LINES", 25)
    real = services._insert_raw_events
    batches = []

    def crash_on_the_third(*args, **kwargs):
        batches.append(1)
        if len(batches) == 3:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_insert_raw_events", crash_on_the_third)
    with pytest.raises(RuntimeError):
        import_file(str(path))
    position = QueueLogPosition.objects.get()
    # Two chunks committed, with their rows; the third rolled back with its position.
    assert position.offset == sum(len(line) + 1 for line in log[:50])
    assert RawCallEvent.objects.count() + sum(
        1 for line in log[:50] if "ADDMEMBER" in line) + len(log[:50]) - len(
        set(log[:50])) == 50
    monkeypatch.setattr(services, "_insert_raw_events", real)
    rest = import_file(str(path))
    assert rest.read == len(log) - 50
    resumed = _snapshot()
    _wipe()
    import_lines(log, one_by_one=True)
    assert resumed == _snapshot()


def test_a_batch_that_meets_a_concurrent_writer_is_redone_one_by_one(lines, monkeypatch):
    log = _queue_log(20)
    import_lines(log, one_by_one=True)
    expected = _snapshot()
    _wipe()
    real = services._insert_raw_events

    def conflict(*args, **kwargs):
        real(*args, **kwargs)
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(services, "_insert_raw_events", conflict)
    import_lines(log)
    assert _snapshot() == expected


@pytest.mark.django_db(transaction=True)
def test_two_importers_of_one_log_store_each_event_once(lines):
    """Two workers import the same lines at once: each event is stored and counted once."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; PostgreSQL runs this")
    log = _queue_log(60)
    import_lines(log, one_by_one=True)
    expected = _snapshot()
    _wipe()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            import_lines(log)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    got = _snapshot()
    assert got["calls"] == expected["calls"]
    assert got["raws"] == expected["raws"]


def test_a_russian_number_read_quickly_is_what_phonenumbers_reads():
    rng = random.Random(5)
    for _ in range(3000):
        d = "".join(rng.choice("0123456789") for _ in range(10))
        for text in (f"7{d}", f"8{d}", f"+7{d}", f"+7 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}",
                     f"8 {d[:3]} {d[3:]}", f"+8{d}"):
            try:
                slow = phones._to_e164(text, "RU")
            except phones.NotANumber:
                slow = None
            assert phones.try_e164(text) == slow, text


def _webhook_items(partner) -> list[services.Incoming]:
    from datetime import UTC, datetime

    from firstline.calls.events import CallEvent, Kind
    from tests.calls_support import ALPHA_NUMBER, BETA_NUMBER

    at = datetime(2025, 12, 5, 9, 0, tzinfo=UTC)
    events = [
        ("own-number", CallEvent(Kind.START, "w-1", at, caller=KNOWN_CALLER,
                                 dialled=ALPHA_NUMBER)),
        ("other-number", CallEvent(Kind.START, "w-2", at, caller=KNOWN_CALLER,
                                   dialled=BETA_NUMBER)),
        ("no-number", CallEvent(Kind.START, "w-3", at, caller=KNOWN_CALLER)),
    ]
    return [services.Incoming(payload={"n": key}, dedupe_key=key,
                              parse=lambda event=event: event, partner=partner)
            for key, event in events]


def test_a_batch_for_one_partners_token_touches_only_that_partner_as_one_by_one(lines):
    partner = lines.a.partner
    states = services.record_many(source="webhook", items=_webhook_items(partner))
    batch = _snapshot()
    _wipe()
    one_by_one = [services.record_event(source="webhook", payload=item.payload,
                                        dedupe_key=item.dedupe_key, parse=item.parse,
                                        partner=partner).raw.state
                  for item in _webhook_items(partner)]
    assert states == one_by_one == ["processed", "failed", "processed"]
    assert _snapshot() == batch
    assert set(Call.objects.values_list("external_id", "partner_id")) == {
        ("w-1", partner.pk), ("w-3", partner.pk)}
    refused = RawCallEvent.objects.get(dedupe_key="other-number")
    assert refused.partner_id == partner.pk and refused.reason.startswith("dialled:")


def test_precheck_refuses_what_applying_would_refuse_and_passes_the_rest(lines):
    from firstline.calls.events import BadEvent

    items = _webhook_items(lines.a.partner)
    services.precheck(items[0].parse(), lines.a.partner)
    services.precheck(items[2].parse(), lines.a.partner)
    services.precheck(items[1].parse())  # another partner's number, no token
    with pytest.raises(BadEvent) as refused:
        services.precheck(items[1].parse(), lines.a.partner)
    assert refused.value.field == "dialled"
    from dataclasses import replace
    with pytest.raises(BadEvent) as refused:
        services.precheck(replace(items[0].parse(), caller="not-a-number"))
    assert refused.value.field == "caller"
    assert not Call.objects.exists() and not RawCallEvent.objects.exists()


def test_the_event_json_written_by_hand_is_the_events_json():
    import json
    from datetime import UTC, datetime, timedelta, timezone

    from firstline.calls.events import CallEvent, Kind

    at = datetime(2025, 12, 5, 9, 0, 1, 250000, tzinfo=UTC)
    events = [
        CallEvent(Kind.START, "1.2", at, caller="79001234567", queue="q"),
        CallEvent(Kind.END, 'a"b\\c\td\nё€😀', at.astimezone(timezone(timedelta(hours=3))),
                  direction="outbound", outcome="answered", talk_seconds=0,
                  operator="PJSIP/101", recording_url="https://x.example/r?a=1&b=ü"),
        CallEvent(Kind.RECORDING, "x", at, dialled="+74951110001", talk_seconds=43200),
    ]
    for event in events:
        assert json.loads(services.event_json(event)) == event.to_json()


ODD_LINES = [
    # Backslashes, a tab, quotes and non-ASCII in the fields; NUL; a stamp no clock has.
    f"{T0}|{T0}.odd\\1|support-alpha|NONE|ENTERQUEUE|a\tb|79001112233|1",
    f"{T0 + 5}|{T0}.odd\\1|support-alpha|Агент \"1\"|CONNECT|5|x|1",
    f"{T0 + 9}|{T0}.odd\\1|support-alpha|NONE|COMPLETEAGENT|5|4|1",
    f"{T0}|{T0}.nul|support-alpha|NONE|ENTERQUEUE||7900\x00111|1",
    f"99999999999999999999|{T0}.far|support-alpha|NONE|ENTERQUEUE||79001112234|1",
]


def test_odd_characters_are_stored_as_written_by_the_batch_as_one_by_one(lines, tmp_path):
    import_lines(ODD_LINES, one_by_one=True)
    expected = _snapshot()
    _wipe()
    path = tmp_path / "queue_log"
    path.write_text("\n".join(ODD_LINES) + "\n")
    counts = import_file(str(path))
    assert _snapshot() == expected
    # The caller with a NUL in it is not a number: refused, and kept.
    assert counts.applied == 3 and counts.refused == 2
    stored = set(RawCallEvent.objects.values_list("payload__line", flat=True))
    assert set(ODD_LINES[:3]) <= stored
    assert ODD_LINES[3].replace("\x00", "\ufffd") in stored
    far = RawCallEvent.objects.get(external_id="")
    assert far.state == "failed" and far.reason.startswith("time:") and "Unix" in far.reason
    call = Call.objects.get(external_id=f"{T0}.odd\\1")
    assert (call.outcome, call.talk_seconds) == ("answered", 4)


def test_a_replayed_webhook_event_in_an_optimistic_batch_is_stored_once(lines):
    partner = lines.a.partner
    first = services.record_many(source="webhook", items=_webhook_items(partner)[:1],
                                 expect_new=True)
    again = services.record_many(source="webhook", items=_webhook_items(partner),
                                 expect_new=True)
    assert first == ["processed"]
    assert again == [services.DUPLICATE, "failed", "processed"]
    assert RawCallEvent.objects.filter(dedupe_key="own-number").count() == 1
    assert Call.objects.filter(external_id="w-1").count() == 1


def test_a_replay_in_the_middle_of_a_log_read_from_its_position_changes_nothing(
        lines, tmp_path, monkeypatch):
    """The position lost half-way: the replayed half is found by the unique key, the
    batch redone with the look-up, and the new half still goes in."""
    log = _queue_log(40)
    import_lines(log, one_by_one=True)
    expected = _snapshot()
    _wipe()
    half = len(log) // 2
    path = tmp_path / "queue_log"
    path.write_text("\n".join(log[:half]) + "\n")
    monkeypatch.setattr(importer, "BATCH_LINES", 30)
    import_file(str(path))
    QueueLogPosition.objects.all().delete()
    path.write_text("\n".join(log) + "\n")
    again = import_file(str(path))
    assert again.read == len(log)
    assert _snapshot() == expected


def test_a_lines_key_starts_with_its_time_and_tells_lines_apart():
    from firstline.calls.queue_log import Line

    a = Line(f"{T0}|1.1|q|NONE|ENTERQUEUE||79001234567|1\n").dedupe_key()
    b = Line(f"{T0}|1.1|q|NONE|ENTERQUEUE||79001234568|1").dedupe_key()
    later = Line(f"{T0 + 1}|1.1|q|NONE|ENTERQUEUE||79001234567|1").dedupe_key()
    assert a.startswith(f"{T0}:") and len(a) == 64 and a != b and a < later
    assert a == Line(f"{T0}|1.1|q|NONE|ENTERQUEUE||79001234567|1\r\n").dedupe_key()
    odd = Line("x" * 30 + "|1.1|q").dedupe_key()
    assert odd.startswith(":") and len(odd) == 65 - 1
    long = Line("9" * 40 + "|1.1|q").dedupe_key()
    assert long.startswith(":") and len(long) == 64


def test_an_inbound_event_built_quickly_is_the_event_built_plainly_with_the_same_checks():
    from dataclasses import replace
    from datetime import UTC, datetime

    from firstline.calls.events import BadEvent, CallEvent, Kind

    at = datetime(2025, 12, 5, 9, 0, tzinfo=UTC)
    quick = CallEvent.inbound(Kind.END, "1.2", at, "79001234567", "q", "PJSIP/1", "answered", 9)
    plain = CallEvent(Kind.END, "1.2", at, caller="79001234567", queue="q",
                      operator="PJSIP/1", outcome="answered", talk_seconds=9)
    assert quick == plain and quick.to_json() == plain.to_json()
    assert replace(quick, talk_seconds=1).talk_seconds == 1
    with pytest.raises(AttributeError):
        quick.caller = "x"  # type: ignore[misc]
    with pytest.raises(BadEvent) as refused:
        CallEvent.inbound(Kind.END, "", at, "", "q", "")
    assert refused.value.field == "call_id"
    with pytest.raises(BadEvent) as refused:
        CallEvent.inbound(Kind.END, "1.2", at, "", "q", "", "answered", 10**6)
    assert refused.value.field == "talk_seconds"
