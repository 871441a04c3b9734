"""Text search that finds Russian words in any case, on SQLite and PostgreSQL alike.

SQLite's LIKE (and so Django's `icontains`) folds ASCII letters only: «егоров» would not
find «Егоров». The `ucontains` lookup compares case-folded text instead: the column goes
through `fold` in the database, the searched text through `fold` in Python, then LIKE.

What `fold` does, the same on both databases: lower case (Cyrillic included) and «ё» read
as «е», so «Семенов», «СЕМЁНОВ» and «семёнов» find each other.
- SQLite: a deterministic SQL function `firstline_fold`, registered on every new
  connection (a `connection_created` receiver) and calling the Python `fold` below.
- PostgreSQL: `translate(lower(x), 'А…ЯЁё', 'а…яее')`; the explicit Cyrillic mapping keeps
  the fold right even on a database created with the C locale, where `lower()` leaves
  Cyrillic alone.

Use it as any lookup: `Ticket.objects.filter(subject__ucontains="егоров")`, across
relations (`contact__name__ucontains`), and in the admin's `search_fields`
(`"name__ucontains"`). LIKE wildcards in the searched text are escaped as for `contains`.
"""

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.models import CharField, TextField, Transform
from django.db.models.lookups import Contains

SQLITE_FUNCTION = "firstline_fold"
_UPPER = "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
_LOWER = "абвгдеежзийклмнопрстуфхцчшщъыьэюя"


def fold(text: str) -> str:
    """Text as search compares it: lower case, «ё» as «е»."""
    return text.lower().replace("ё", "е")


def _sqlite_fold(value: Any) -> Any:
    return fold(value) if isinstance(value, str) else value


def register_sqlite(connection: Any) -> None:
    """Give a raw sqlite3 connection the fold function (deterministic: usable in indexes)."""
    connection.create_function(SQLITE_FUNCTION, 1, _sqlite_fold, deterministic=True)


def _on_connection(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        register_sqlite(connection.connection)


connection_created.connect(_on_connection, dispatch_uid="firstline.core.textsearch")


class Folded(Transform):
    """The column's text as `fold` gives it."""

    lookup_name = "folded"

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        sql, params = compiler.compile(self.lhs)
        if connection.vendor == "sqlite":
            return f"{SQLITE_FUNCTION}({sql})", params
        if connection.vendor == "postgresql":
            return f"translate(lower({sql}), '{_UPPER}ё', '{_LOWER}е')", params
        # Another database: its own LOWER(), which may fold ASCII only.
        return f"LOWER({sql})", params


class UContains(Contains):
    """Case-insensitive `contains` that folds Cyrillic too (see the module docstring)."""

    lookup_name = "ucontains"

    def __init__(self, lhs: Any, rhs: Any) -> None:
        super().__init__(Folded(lhs), fold(rhs) if isinstance(rhs, str) else rhs)

    def get_rhs_op(self, connection: Any, rhs: str) -> str:
        return connection.operators["contains"] % rhs


def _register() -> None:
    for field in (CharField, TextField):
        field.register_lookup(Folded)
        field.register_lookup(UContains)


_register()

__all__ = ["Folded", "UContains", "fold", "register_sqlite"]
