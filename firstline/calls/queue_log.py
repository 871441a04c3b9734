"""Asterisk's queue_log: one line per queue event, `time|callid|queue|agent|event|data...`.

    1733389200|1733389200.42|support-alpha|NONE|ENTERQUEUE||79123456789|1
    1733389212|1733389200.42|support-alpha|PJSIP/101|CONNECT|12|1733389205.43|3
    1733389390|1733389200.42|support-alpha|PJSIP/101|COMPLETECALLER|12|178|1

`time` is Unix seconds, `callid` the channel's uniqueid, `queue` is mapped to a partner by
PartnerPhoneNumber.queue_name, `agent` to an operator by OperatorLine. The data fields, as
Asterisk's documentation lists them:

- ENTERQUEUE      url, callerid, position
- CONNECT         holdtime, bridged channel uniqueid, ringtime
- COMPLETEAGENT / COMPLETECALLER   holdtime, calltime, origposition
- ABANDON         position, origposition, waittime
- EXITWITHTIMEOUT position, origposition, waittime
- EXITEMPTY / EXITWITHKEY          position, ... (the caller left the queue unanswered)
- RINGNOANSWER    ringtime (an agent's phone rang out; the call goes on waiting)
- TRANSFER        extension, context, holdtime, calltime, origposition

Other events (agent log-ins, pauses, QUEUESTART...) say nothing about a call and are
skipped. A line that cannot be read is kept aside with the reason.
"""

import hashlib
from datetime import UTC, datetime

from firstline.calls.events import BadEvent, CallEvent, Kind
from firstline.calls.models import Outcome

CALL_EVENTS = {
    "ENTERQUEUE", "CONNECT", "COMPLETEAGENT", "COMPLETECALLER", "ABANDON", "EXITWITHTIMEOUT",
    "EXITEMPTY", "EXITWITHKEY", "RINGNOANSWER", "TRANSFER",
}


class Line:
    """One line of the log, split once: the import reads its fields several times."""

    __slots__ = ("fields", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.fields = text.rstrip("\r\n").split("|")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Line) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Line({self.text!r})"

    @property
    def is_call_event(self) -> bool:
        fields = self.fields
        # Too short to say: read it, so that a truncated line is kept with its reason.
        return len(fields) < 5 or fields[4] in CALL_EVENTS

    def dedupe_key(self) -> str:
        """The line's time, then a digest of the whole line (64 characters at most).

        The time first keeps the keys of a log's new lines next to each other in the raw
        events' unique index, as they come: a bare digest sends each insert to a random
        page of an index that outgrows memory (twice the cost at a million lines)."""
        digest = hashlib.sha256(self.text.rstrip("\r\n").encode()).hexdigest()
        stamp = self.fields[0]
        if not (stamp.isdigit() and len(stamp) <= 20):
            stamp = ""
        return f"{stamp}:{digest}"[:64]


def _seconds(fields: list[str], index: int, name: str) -> int:
    if len(fields) <= index or not fields[index].strip().isdigit():
        raise BadEvent(name, f"missing or not a number of seconds in field {index + 1}")
    return int(fields[index])


# Unix seconds read already: a busy log has many lines a second (bounded, cleared when full).
_moments: dict[str, datetime] = {}


def _moment(stamp: str) -> datetime:
    at = _moments.get(stamp)
    if at is None:
        if len(_moments) >= 10_000:
            _moments.clear()
        try:
            at = datetime.fromtimestamp(int(stamp), tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise BadEvent("time", f"{stamp!r} is not a plausible Unix time") from exc
        _moments[stamp] = at
    return at


def _agent(value: str) -> str:
    return "" if value in ("", "NONE") else value


def to_event(line: Line) -> CallEvent:
    fields = line.fields
    if len(fields) < 5:
        raise BadEvent("line", f"truncated: {len(fields)} of at least 5 fields")
    stamp, call_id, queue, agent, name = fields[:5]
    if not stamp.isdigit():
        raise BadEvent("time", f"{stamp!r} is not Unix seconds")
    at = _moment(stamp)
    operator = _agent(agent)
    # (kind, external_id, at, caller, queue, operator, outcome, talk_seconds)
    if name == "ENTERQUEUE":
        if len(fields) < 7:
            raise BadEvent("line", "truncated: ENTERQUEUE without the caller id")
        return CallEvent.inbound(Kind.START, call_id, at, fields[6], queue, operator)
    if name == "CONNECT":
        _seconds(fields, 5, "holdtime")
        return CallEvent.inbound(Kind.ANSWER, call_id, at, "", queue, operator)
    if name in ("COMPLETEAGENT", "COMPLETECALLER"):
        _seconds(fields, 5, "holdtime")
        talk = _seconds(fields, 6, "calltime")
        return CallEvent.inbound(Kind.END, call_id, at, "", queue, operator, Outcome.ANSWERED, talk)
    if name == "TRANSFER":
        talk = _seconds(fields, 8, "calltime")
        return CallEvent.inbound(Kind.END, call_id, at, "", queue, operator, Outcome.ANSWERED, talk)
    if name == "ABANDON":
        _seconds(fields, 7, "waittime")
        return CallEvent.inbound(Kind.END, call_id, at, "", queue, operator, Outcome.ABANDONED, 0)
    if name in ("EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY"):
        _seconds(fields, 5, "position")
        return CallEvent.inbound(Kind.END, call_id, at, "", queue, operator, Outcome.MISSED, 0)
    if name == "RINGNOANSWER":
        # The phone rang out: nothing changes for the call (it waits on).
        return CallEvent.inbound(Kind.OFFER, call_id, at, "", queue, "")
    raise BadEvent("event", f"{name!r} is not a queue call event")
