"""Asterisk's queue_log into calls: the documented events, replays, bad lines, --follow."""

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from firstline.calls.importer import import_file, import_lines
from firstline.calls.models import Call, Outcome, QueueLogPosition, RawCallEvent
from firstline.tickets.models import Channel
from tests import calls_support
from tests.calls_support import KNOWN_CALLER

lines = calls_support.lines

pytestmark = pytest.mark.django_db

T0 = 1764920000  # 2025-12-05 07:33:20 UTC

ANSWERED = [
    f"{T0}|{T0}.1|support-alpha|NONE|ENTERQUEUE||79001112233|1",
    f"{T0 + 3}|{T0}.1|support-alpha|PJSIP/102|RINGNOANSWER|15000",
    f"{T0 + 20}|{T0}.1|support-alpha|PJSIP/101|CONNECT|20|{T0 + 5}.2|4",
    f"{T0 + 200}|{T0}.1|support-alpha|PJSIP/101|COMPLETECALLER|20|180|1",
]
ABANDONED = [
    f"{T0 + 30}|{T0 + 30}.3|support-beta|NONE|ENTERQUEUE||79005556677|1",
    f"{T0 + 75}|{T0 + 30}.3|support-beta|NONE|ABANDON|1|1|45",
]
TIMEOUT = [
    f"{T0 + 40}|{T0 + 40}.4|support-alpha|NONE|ENTERQUEUE||{KNOWN_CALLER[1:]}|2",
    f"{T0 + 340}|{T0 + 40}.4|support-alpha|NONE|EXITWITHTIMEOUT|2|2|300",
]
NOISE = [f"{T0}|NONE|NONE|PJSIP/101|ADDMEMBER|", f"{T0}|NONE|NONE|NONE|QUEUESTART|"]


def _calls():
    return {call.external_id: call for call in Call.objects.all()}


def test_documented_events_give_the_right_calls(lines):
    """Answered, abandoned and timed-out calls get their partner, times and outcome."""
    counts = import_lines(NOISE + ANSWERED + ABANDONED + TIMEOUT)
    assert (counts.applied, counts.skipped, counts.refused) == (8, 2, 0)
    calls = _calls()
    answered = calls[f"{T0}.1"]
    assert answered.partner == lines.a.partner
    assert answered.caller == "+79001112233"
    assert answered.outcome == Outcome.ANSWERED
    assert (answered.wait_seconds, answered.talk_seconds) == (20, 180)
    assert answered.operator == lines.operator
    abandoned = calls[f"{T0 + 30}.3"]
    assert abandoned.partner == lines.b.partner
    assert (abandoned.outcome, abandoned.wait_seconds, abandoned.talk_seconds) == (
        Outcome.ABANDONED, 45, 0)
    missed = calls[f"{T0 + 40}.4"]
    assert (missed.outcome, missed.wait_seconds) == (Outcome.MISSED, 300)


def test_a_missed_call_from_a_known_customer_becomes_a_call_back_task(lines):
    import_lines(TIMEOUT)
    call = Call.objects.get()
    task = call.callback_ticket
    assert task is not None and task.channel == Channel.PHONE
    assert task.contact == lines.a.contact
    assert KNOWN_CALLER in task.subject
    import_lines(TIMEOUT)  # the replay makes no second task
    assert lines.a.partner.tickets.filter(channel=Channel.PHONE).count() == 1


def test_a_replay_changes_nothing_and_any_order_gives_the_same_calls(lines):
    events = ANSWERED + ABANDONED + TIMEOUT
    import_lines(events)
    first = {key: (c.outcome, c.wait_seconds, c.talk_seconds, c.started_at, c.operator_id)
             for key, c in _calls().items()}
    counts = import_lines(events)
    assert counts.duplicate == len(events) and counts.applied == 0
    assert RawCallEvent.objects.count() == len(events)
    Call.objects.all().delete()
    RawCallEvent.objects.all().delete()
    for order in itertools.islice(itertools.permutations(ANSWERED), 6):
        import_lines(reversed(order))
    import_lines(list(reversed(ABANDONED)) + list(reversed(TIMEOUT)))
    again = {key: (c.outcome, c.wait_seconds, c.talk_seconds, c.started_at, c.operator_id)
             for key, c in _calls().items()}
    assert again == first


@pytest.mark.parametrize(("line", "reason"), [
    (f"{T0}|{T0}.9|support-alpha", "truncated"),
    (f"{T0}|{T0}.9|support-alpha|NONE|ENTERQUEUE", "truncated"),
    (f"{T0}|{T0}.9|support-alpha|NONE|ENTERQUEUE||not-a-number|1", "caller"),
    (f"{T0}|{T0}.9|nobodys-queue|NONE|ENTERQUEUE||79001112233|1", "queue"),
    (f"yesterday|{T0}.9|support-alpha|NONE|ENTERQUEUE||79001112233|1", "time"),
    (f"{T0}|{T0}.9|support-alpha|PJSIP/101|COMPLETECALLER|20|-5|1", "calltime"),
    (f"{T0}|{T0}.9|support-alpha|PJSIP/101|COMPLETECALLER|20|999999|1", "talk_seconds"),
])
def test_a_bad_line_is_kept_aside_with_its_reason_and_its_neighbours_go_in(
        lines, line, reason):
    counts = import_lines([ANSWERED[0], line, ANSWERED[2], ANSWERED[3]])
    assert counts.refused == 1 and counts.applied == 3
    kept = RawCallEvent.objects.get(state=RawCallEvent.State.FAILED)
    assert reason in kept.reason
    assert kept.payload == {"line": line}
    assert Call.objects.get(external_id=f"{T0}.1").outcome == Outcome.ANSWERED


def test_the_one_shot_command_imports_a_file_and_remembers_where_it_stopped(
        lines, tmp_path, capsys):
    path = tmp_path / "queue_log"
    path.write_text("\n".join(ANSWERED) + "\n")
    call_command("calls_import", "queue_log", str(path))
    assert "applied 4" in capsys.readouterr().out
    with path.open("a") as handle:
        handle.write("\n".join(ABANDONED) + "\n" + TIMEOUT[0][:15])  # a truncated last line
    call_command("calls_import", "queue_log", str(path))
    assert "read 3, applied 2" in capsys.readouterr().out
    assert Call.objects.count() == 2
    assert RawCallEvent.objects.filter(state=RawCallEvent.State.FAILED).count() == 1
    position = QueueLogPosition.objects.get()
    assert position.offset == path.stat().st_size


def test_a_rotated_file_is_read_from_its_start(lines, tmp_path):
    path = tmp_path / "queue_log"
    path.write_text("\n".join(ANSWERED) + "\n")
    import_file(str(path))
    os.rename(path, tmp_path / "queue_log.1")
    path.write_text("\n".join(ABANDONED) + "\n")
    counts = import_file(str(path))
    assert counts.applied == 2
    assert Call.objects.count() == 2


def test_a_call_entering_the_queue_again_in_a_later_file_is_the_same_call(lines, tmp_path):
    """Its new ENTERQUEUE is a start the import does not look up (lines after the saved
    position are taken as new): the calls' unique index finds the call, and the batch is
    read again with the look-up, so the events merge into it."""
    path = tmp_path / "queue_log"
    path.write_text("\n".join(ANSWERED) + "\n")
    import_file(str(path))
    os.rename(path, tmp_path / "queue_log.1")
    again = [  # put back into the queue by the operator, then answered by another
        f"{T0 + 210}|{T0}.1|support-alpha|PJSIP/101|ENTERQUEUE||79001112233|1",
        f"{T0 + 400}|{T0}.1|support-alpha|PJSIP/103|COMPLETECALLER|5|60|1",
    ]
    path.write_text("\n".join(again + ABANDONED) + "\n")
    counts = import_file(str(path))
    assert (counts.applied, counts.duplicate, counts.refused) == (4, 0, 0)
    assert Call.objects.count() == 2
    call = Call.objects.get(external_id=f"{T0}.1")
    assert call.started_at.timestamp() == T0
    assert call.ended_at.timestamp() == T0 + 400
    assert call.talk_seconds == 60  # the PBX's last report
    assert RawCallEvent.objects.filter(call=call).count() == 6


def _wait_for(predicate, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.django_db(transaction=True)
def test_follow_tails_the_file_and_goes_on_after_a_restart(lines, tmp_path):
    """`--follow` picks up new lines, waits for a half-written one, resumes after SIGTERM."""
    from django.db import connection

    path = tmp_path / "queue_log"
    path.write_text(ANSWERED[0] + "\n")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    if connection.vendor == "sqlite":
        pytest.skip("the test database is in memory on SQLite; PostgreSQL runs this")
    env["DATABASE_URL"] = _database_url(connection)
    command = [sys.executable, "-m", "django", "calls_import", "queue_log", str(path),
               "--follow", "--poll", "0.1"]

    def start():
        return subprocess.Popen(command, env=env, cwd=Path(__file__).parent.parent)

    follower = start()
    try:
        _wait_for(lambda: Call.objects.filter(external_id=f"{T0}.1").exists())
        with path.open("a") as handle:
            handle.write(ANSWERED[2] + "\n" + ANSWERED[3][:20])
            handle.flush()
            _wait_for(lambda: Call.objects.filter(outcome=Outcome.TALKING).exists())
            assert not RawCallEvent.objects.filter(state=RawCallEvent.State.FAILED).exists()
            handle.write(ANSWERED[3][20:] + "\n")
        _wait_for(lambda: Call.objects.filter(outcome=Outcome.ANSWERED).exists())
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.wait(10)
    with path.open("a") as handle:
        handle.write("\n".join(ABANDONED) + "\n")
    follower = start()
    try:
        _wait_for(lambda: Call.objects.filter(outcome=Outcome.ABANDONED).exists())
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.wait(10)
    # Each line was read once: nothing was replayed from the start after the restart.
    assert RawCallEvent.objects.count() == 5
    assert Call.objects.get(external_id=f"{T0}.1").talk_seconds == 180


def _database_url(connection) -> str:
    settings = connection.settings_dict
    return (f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
            f"{settings['PORT'] or 5432}/{settings['NAME']}")
