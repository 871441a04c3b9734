"""Keyset ("cursor") pagination on the id, newest first.

A cursor is the last id of the previous page, base64-encoded so that clients treat it as
opaque and we may change what is inside. Unlike offsets, pages stay correct while new
tickets arrive, and the database seeks to the cursor instead of counting rows past it.
"""

import base64
import binascii

from django.db.models import Model, QuerySet
from django.utils.translation import gettext as _
from ninja import Field, Schema
from pydantic import field_validator

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_VERSION = "v1"


def encode_cursor(last_id: int) -> str:
    raw = f"{_VERSION}:{last_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    """The id a cursor points after, or None if the API did not make this cursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        version, _sep, last_id = base64.urlsafe_b64decode(padded).decode().partition(":")
        value = int(last_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return value if version == _VERSION and value > 0 else None


class PageParams(Schema):
    limit: int = Field(
        DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="How many items per page (1..200)."
    )
    cursor: str | None = Field(
        None, description="`next_cursor` of the previous page; omit for the first page."
    )

    @field_validator("cursor")
    @classmethod
    def _cursor_is_ours(cls, value: str | None) -> str | None:
        # Checked with the other parameters, so one answer names every bad one.
        if value and decode_cursor(value) is None:
            raise ValueError(_("This cursor is not one the API gave out."))
        return value or None


def paginate[M: Model](
    queryset: QuerySet[M], params: PageParams
) -> tuple[list[M], str | None]:
    """One page of `queryset` ordered by id descending, and the cursor of the next page."""
    rows = queryset.order_by("-pk")
    if params.cursor:
        rows = rows.filter(pk__lt=decode_cursor(params.cursor))
    # One row more than asked tells whether a next page exists without a COUNT.
    page = list(rows[: params.limit + 1])
    if len(page) <= params.limit:
        return page, None
    page = page[: params.limit]
    return page, encode_cursor(page[-1].pk)
