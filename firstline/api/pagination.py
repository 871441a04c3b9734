"""Keyset ("cursor") pagination on the id, newest first.

A cursor is opaque to clients: `v1` and the last id of the previous page in base 36, so
that we may change what is inside (a new version prefix). Its shape is in the OpenAPI
document (`CURSOR_PATTERN`), and every string of that shape is a valid position: past
the newest id is the first page, below the oldest an empty one. Unlike offsets, pages
stay correct while new tickets arrive, and the database seeks to the cursor instead of
counting rows past it.
"""

import re
from typing import Annotated

from django.db.models import Model, QuerySet
from django.utils.translation import gettext as _
from ninja import Field, Schema
from pydantic import Field as PydanticField
from pydantic import field_validator

from firstline.api.fields import ID_MAX

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_VERSION = "v1"
CURSOR_PATTERN = r"^v1[0-9a-z]{1,13}$"
_CURSOR_RE = re.compile(CURSOR_PATTERN)
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def encode_cursor(last_id: int) -> str:
    digits = ""
    while True:
        last_id, digit = divmod(last_id, 36)
        digits = _DIGITS[digit] + digits
        if not last_id:
            return _VERSION + digits


def decode_cursor(cursor: str) -> int | None:
    """The id a cursor points after, or None if it does not have a cursor's shape."""
    if not _CURSOR_RE.match(cursor):
        return None
    # 13 base-36 digits reach past the largest id; such a cursor is simply "after all".
    return min(int(cursor.removeprefix(_VERSION), 36), ID_MAX)


# The pattern shows the shape in the document; the validator gives the clearer message.
Cursor = Annotated[str, PydanticField(json_schema_extra={"pattern": CURSOR_PATTERN})]


class PageParams(Schema):
    limit: int = Field(
        DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="How many items per page (1..200)."
    )
    cursor: Cursor | None = Field(
        None, description="`next_cursor` of the previous page; omit for the first page."
    )

    @field_validator("cursor")
    @classmethod
    def _cursor_is_ours(cls, value: str | None) -> str | None:
        # Checked with the other parameters, so one answer names every bad one.
        if value is not None and decode_cursor(value) is None:
            raise ValueError(_("This cursor is not one the API gave out."))
        return value


def paginate[M: Model](
    queryset: QuerySet[M], params: PageParams
) -> tuple[list[M], str | None]:
    """One page of `queryset` ordered by id descending, and the cursor of the next page."""
    rows = queryset.order_by("-pk")
    if params.cursor is not None:
        rows = rows.filter(pk__lt=decode_cursor(params.cursor))
    # One row more than asked tells whether a next page exists without a COUNT.
    page = list(rows[: params.limit + 1])
    if len(page) <= params.limit:
        return page, None
    page = page[: params.limit]
    return page, encode_cursor(page[-1].pk)
