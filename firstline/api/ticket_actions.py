"""Cleaning up tickets: mark as spam (and undo), merge a duplicate into another ticket.

The rules are firstline.tickets.merge's; here the tenancy scope finds the ticket (another
partner's is a 404), and a refusal caused by a ticket's state is a 409 naming the field.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Router, Schema
from pydantic import BeforeValidator, ConfigDict, WithJsonSchema

from firstline.api.auth import current_user
from firstline.api.errors import StateConflict
from firstline.api.fields import ID_MAX, Id
from firstline.api.schemas import BODY_ERRORS, COMMON_ERRORS, CONFLICT, NOT_FOUND, TicketOut
from firstline.api.tickets import _ticket_or_404
from firstline.tickets import merge as merging
from firstline.tickets.models import Ticket

router = Router(tags=["tickets"])

# What tickets.models.parse_number reads: "FL-000123", "FL-000123-7KQX", "fl123", "123", or
# the id as a JSON integer. Without regex flags, so the JSON Schema and the server agree.
_NUMBER_PATTERN = r"^\s*([Ff][Ll]-?)?[0-9]{1,19}(-[0-9A-Za-z]{4})?\s*$"


def _integer_as_text(value: Any) -> Any:
    # One field for both forms, so a refusal names `into` (a union would name its branches).
    if isinstance(value, bool):
        return value
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return value


TicketRef = Annotated[
    str,
    BeforeValidator(_integer_as_text),
    Field(max_length=40, pattern=_NUMBER_PATTERN),
    WithJsonSchema({"anyOf": [
        {"type": "integer", "minimum": 1, "maximum": ID_MAX},
        {"type": "string", "maxLength": 40, "pattern": _NUMBER_PATTERN,
         "examples": ["FL-000123", "123"]},
    ]}),
]


class MergeIn(Schema):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    into: TicketRef = Field(
        ..., description="The ticket to merge into: its id or its number (FL-000123)."
    )


@contextmanager
def _state_conflicts() -> Iterator[None]:
    """A refusal only because of a ticket's state (merge.STATE) is a 409, the rest 422."""
    try:
        yield
    except ValidationError as exc:
        codes = {error.code for errors in getattr(exc, "error_dict", {}).values()
                 for error in errors}
        if codes == {merging.STATE}:
            raise StateConflict(exc) from exc
        raise


_ANSWERS = {200: TicketOut, **COMMON_ERRORS, **NOT_FOUND, **CONFLICT}


def _answer(request: HttpRequest, ticket_id: int) -> Ticket:
    return _ticket_or_404(current_user(request), ticket_id)


@router.post("/tickets/{ticket_id}/spam", response=_ANSWERS)
def mark_spam(request: HttpRequest, ticket_id: Id) -> Ticket:
    """Mark the ticket as spam: it is closed, nobody is mailed, billing does not count it.

    Repeating it changes nothing; a merged ticket is refused with 409 naming `status`."""
    user = current_user(request)
    with _state_conflicts():
        merging.mark_spam(ticket=_ticket_or_404(user, ticket_id), actor=user)
    return _answer(request, ticket_id)


@router.delete("/tickets/{ticket_id}/spam", response=_ANSWERS)
def unmark_spam(request: HttpRequest, ticket_id: Id) -> Ticket:
    """Not spam after all: the flag goes, the ticket stays closed."""
    user = current_user(request)
    merging.unmark_spam(ticket=_ticket_or_404(user, ticket_id), actor=user)
    return _answer(request, ticket_id)


@router.post("/tickets/{ticket_id}/merge", response={**_ANSWERS, **BODY_ERRORS})
def merge(request: HttpRequest, ticket_id: Id, payload: MergeIn) -> Ticket:
    """Merge this ticket (a duplicate) into the ticket `into`, of the same partner.

    Its messages move to `into` keeping their times; it is closed and keeps the link, and
    mail on its thread goes on in `into`. A ticket that does not exist or is another
    partner's, or the ticket itself, is a 422 naming `into`; `into` closed, spam or itself
    merged, or this ticket already merged or closed, is a 409. Answers with this ticket."""
    user = current_user(request)
    source = _ticket_or_404(user, ticket_id)
    with _state_conflicts():
        target = merging.find_target(user, payload.into)
        merging.merge(source=source, target=target, actor=user)
    return _answer(request, ticket_id)
