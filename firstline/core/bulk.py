"""Writing many rows at once where Django's bulk INSERT or UPDATE is the cost."""

from collections.abc import Sequence

from django.db import connections, router
from django.db.models import NOT_PROVIDED, Model
from django.db.models.fields import AutoFieldMixin


def insert_all(model: type[Model], objects: Sequence[Model]) -> None:
    """`bulk_create` for rows whose keys nobody reads back; on PostgreSQL with COPY.

    Django's bulk INSERT on PostgreSQL binds every column as an array quoted in Python,
    which cost more than all the rest of firing a batch (about 0.1 ms a row). COPY takes
    the same prepared values, row by row, through psycopg's C adapters. Like bulk_create
    it sends no signals and calls no save(); a field that the database fills in itself
    (generated, db_default) sends the rows the ordinary way."""
    if not objects:
        return
    connection = connections[router.db_for_write(model)]
    fields = [field for field in model._meta.concrete_fields
              if not isinstance(field, AutoFieldMixin)]
    if connection.vendor != "postgresql" or any(
            field.generated or field.db_default is not NOT_PROVIDED for field in fields):
        model._default_manager.bulk_create(objects)
        return
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    with connection.cursor() as cursor, cursor.copy(
            f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    ) as copy:
        for instance in objects:
            copy.write_row([field.get_db_prep_save(field.pre_save(instance, True), connection)
                            for field in fields])


def save_fields(model: type[Model], batch: Sequence[Model], names: list[str]) -> None:
    """Write these fields of every row of the batch (rows of `model`).

    Django's bulk_update builds a CASE per field and row (20 fields x 500 tickets took 16 s
    of Python, and PostgreSQL reads the CASE again for every row it updates); on PostgreSQL
    this is an UPDATE … FROM (VALUES …) per chunk of rows (`_statement_sizes`). Elsewhere
    (SQLite in the tests) one UPDATE per distinct set of values."""
    if not batch:
        return
    connection = connections[router.db_for_write(model)]
    fields = [model._meta.get_field(name) for name in dict.fromkeys(names)]
    rows = [[field.get_db_prep_save(getattr(row, field.attname), connection)
             for field in fields] for row in batch]
    if connection.vendor != "postgresql":
        # Rows with equal stored values share an UPDATE (repr: JSON values don't hash).
        groups: dict[tuple[str, ...], tuple[Model, list[int]]] = {}
        for row, prepared in zip(batch, rows, strict=True):
            key = tuple(repr(value) for value in prepared)
            groups.setdefault(key, (row, []))[1].append(row.pk)
        for sample, ids in groups.values():
            model._default_manager.filter(pk__in=ids).update(
                **{field.attname: getattr(sample, field.attname) for field in fields})
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    casts = ", ".join(f"CAST(%s AS {field.db_type(connection)})" for field in fields)
    key = model._meta.pk.rel_db_type(connection)
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}"
                            for field in fields)
    start = 0
    with connection.cursor() as cursor:
        for size in _statement_sizes(len(rows), len(fields) + 1):
            values = ", ".join([f"(CAST(%s AS {key}), {casts})"] * size)
            params = [value for index in range(start, start + size)
                      for value in (batch[index].pk, *rows[index])]
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments} FROM (VALUES {values}) "  # noqa: S608
                f"AS v(id, {columns}) WHERE t.id = v.id", params)
            start += size


def _statement_sizes(rows: int, per_row: int) -> list[int]:
    """How many rows each UPDATE takes: powers of two, so that the few statement texts
    recur and psycopg's cache of parsed queries keeps them (parsing 250 rows of 16
    parameters each anew took 18 ms a batch), within the protocol's 65,535 parameters."""
    largest = 1 << max(min(_MAX_ROWS_PER_STATEMENT, 65535 // per_row), 1).bit_length() - 1
    sizes = [largest] * (rows // largest)
    rest = rows % largest
    while rest:
        size = 1 << rest.bit_length() - 1
        sizes.append(size)
        rest -= size
    return sizes


# Longer statements save little and their texts weigh on the parsed-query cache.
_MAX_ROWS_PER_STATEMENT = 256
