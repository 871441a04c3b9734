"""The field types every API input is built from, so each limit is decided in one place.

- `Text`: any string the API accepts (bodies and query parameters). PostgreSQL cannot store
  a NUL character (it fails the whole statement), SQLite would store it and hand it to the
  next program that chokes on it; either way the client gets a 422 naming the field, on
  both databases. The OpenAPI document says so with a `pattern`.
- `NonBlankText`: a `Text` that must contain something other than white space.
- `Id`: a database id, 1..2^63-1 (a signed 64-bit column). Bigger numbers would overflow
  SQLite's integer binding (a 500) and can never name a row, so they are a 422 naming
  the parameter, path ids included; the document shows the bounds.
- `TEXT_MAX`: the longest text (ticket text, message text) in characters. Any body within
  the limits fits in Django's `DATA_UPLOAD_MAX_MEMORY_SIZE` (2.5 MB by default); a larger
  body is answered 413 (see `errors.py`).

`tests/test_api_contract.py` walks the OpenAPI document and fails if an input string or
id is declared without these types.
"""

from typing import Annotated

from django.utils.translation import gettext as _
from pydantic import AfterValidator, Field

TEXT_MAX = 100_000
SEARCH_MAX = 200
ID_MAX = 2**63 - 1

# JSON Schema patterns are ECMA-262 and unanchored; Python's re reads them the same way.
NO_NUL_PATTERN = r"^[^\u0000]*$"
NON_BLANK_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


def _refuse_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError(_("The text contains a NUL character (\\x00), which cannot be stored."))
    return value


def _refuse_blank(value: str) -> str:
    if not value.strip():
        raise ValueError(_("This field must not be empty."))
    return value


Text = Annotated[
    str, AfterValidator(_refuse_nul), Field(json_schema_extra={"pattern": NO_NUL_PATTERN})
]
NonBlankText = Annotated[
    str,
    AfterValidator(_refuse_nul),
    AfterValidator(_refuse_blank),
    Field(json_schema_extra={"pattern": NON_BLANK_PATTERN}),
]
Id = Annotated[int, Field(ge=1, le=ID_MAX)]
