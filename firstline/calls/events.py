"""A call event as every way in reads it: the one shape `services.record_event` applies.

Each source (the JSON webhook, Zadarma, Asterisk's queue_log) turns its own format into a
`CallEvent`, or raises `BadEvent` naming the field and the reason.
"""

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from firstline.calls.models import Direction


class Kind(StrEnum):
    START = "start"          # the call reached the line (entered the queue / IVR)
    OFFER = "offer"          # an operator's phone rings
    ANSWER = "answer"        # an operator picked up
    END = "end"              # the call is over
    RECORDING = "recording"  # the recording is ready


class BadEvent(ValueError):
    """An event that cannot be applied; `field` and the message say why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


_DIRECTIONS = frozenset(Direction.values)

# A phone call longer than this is a broken PBX clock or a typo, not a call.
MAX_CALL_SECONDS = 12 * 3600


@dataclass(frozen=True)
class CallEvent:
    kind: Kind
    external_id: str
    at: datetime
    direction: str = Direction.INBOUND
    caller: str = ""
    dialled: str = ""
    queue: str = ""
    operator: str = ""
    outcome: str = ""
    talk_seconds: int | None = None
    recording_url: str = ""

    def __post_init__(self) -> None:
        if not self.external_id or len(self.external_id) > 120:
            raise BadEvent("call_id", "required, at most 120 characters")
        if self.at.tzinfo is None:
            raise BadEvent("at", "the time needs a time zone")
        if self.direction not in _DIRECTIONS:
            raise BadEvent("direction", f"unknown direction {self.direction!r}")
        if self.talk_seconds is not None and not 0 <= self.talk_seconds <= MAX_CALL_SECONDS:
            raise BadEvent("talk_seconds", f"{self.talk_seconds} is not a plausible duration")

    @classmethod
    def inbound(cls, kind: Kind, external_id: str, at: datetime, caller: str, queue: str,
                operator: str, outcome: str = "", talk_seconds: int | None = None,
                ) -> "CallEvent":
        """An inbound call's event, as `CallEvent(...)` makes it and with the same checks,
        at a third of the cost: a frozen dataclass sets each field through
        object.__setattr__, and the queue_log import makes one event a line."""
        event = object.__new__(cls)
        event.__dict__.update(
            kind=kind, external_id=external_id, at=at, direction=Direction.INBOUND,
            caller=caller, dialled="", queue=queue, operator=operator, outcome=outcome,
            talk_seconds=talk_seconds, recording_url="")
        event.__post_init__()
        return event

    def to_json(self) -> dict[str, Any]:
        # By hand rather than dataclasses.asdict (which deep-copies): the batch import
        # calls this for every line.
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["kind"] = str(self.kind)
        data["at"] = self.at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CallEvent":
        values = dict(data)
        values["kind"] = Kind(values["kind"])
        values["at"] = datetime.fromisoformat(values["at"])
        return cls(**values)


_FIELD_NAMES = tuple(field.name for field in fields(CallEvent))
