"""Read queries over contacts: finding the caller by what they say about themselves.

The caller gives a name, a phone number, an e-mail or their contract number; one search
box takes any of them. The queryset passed in is already scoped by tenancy
(firstline.tenancy.contacts_for), so a search never reaches another partner's people.
"""

import re
from collections.abc import Sequence
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, Q, QuerySet

from firstline.contacts.models import Contact, ContactEmail, ContactPhone, Organisation

MIN_PHONE_DIGITS = 4


def _phone_pattern(text: str) -> str | None:
    """'495 123-45-67' -> a pattern matching those digits whatever the separators."""
    digits = re.sub(r"\D", "", text)
    if len(digits) < MIN_PHONE_DIGITS or re.search(r"[^\d\s()+\-.]", text):
        return None
    return r"\D*".join(digits)


def search_contacts(contacts: QuerySet[Contact], text: str, *, limit: int = 10) -> list[Contact]:
    """Contacts whose name, organisation, contract number, e-mail or phone matches `text`."""
    text = " ".join(text.split())
    if len(text) < 2:
        return []
    # `ucontains` folds case (Cyrillic too, on SQLite as well) and reads ё as е, so «иван»,
    # «ИВАН» and «иВан» all find «Иван» (firstline/core/textsearch.py).
    condition = Q(name__ucontains=text) | Q(organisation__name__ucontains=text)
    organisations = Organisation.objects.filter(contract_number__ucontains=text)
    condition |= Q(organisation__in=organisations.values("pk"))
    # Subqueries, not joins, so a contact with several addresses or phones is one row.
    emails = ContactEmail.objects.filter(address__ucontains=text)
    condition |= Q(pk__in=emails.values("contact_id"))
    if pattern := _phone_pattern(text):
        phones = ContactPhone.objects.filter(number__regex=pattern)
        condition |= Q(pk__in=phones.values("contact_id"))
    found = (
        contacts.filter(condition)
        .select_related("partner", "organisation")
        .prefetch_related("emails", "phones")
        .order_by("name", "pk")
    )
    return list(found[:limit])


# The intake's contact lookup, SQL built once per process and database: a queryset with
# select_related costs Django ~0.6 ms to compile on every request, most of the lookup.
_WITH_ORGANISATION_SQL: dict[str, str] = {}


def _with_organisation_sql(connection: BaseDatabaseWrapper) -> str:
    sql = _WITH_ORGANISATION_SQL.get(connection.alias)
    if sql is None:
        quote = connection.ops.quote_name
        columns = [f"c.{quote(field.column)}" for field in Contact._meta.concrete_fields]
        columns += [f"o.{quote(field.column)}" for field in Organisation._meta.concrete_fields]
        organisation_id = quote(Contact._meta.get_field("organisation").column)
        # Names from the models, values as parameters.
        sql = (
            f"SELECT {', '.join(columns)} FROM {quote(Contact._meta.db_table)} c "  # noqa: S608
            f"LEFT JOIN {quote(Organisation._meta.db_table)} o ON o.id = c.{organisation_id} "
            f"WHERE c.id = %s AND c.{quote(Contact._meta.get_field('partner').column)} = %s"
        )
        _WITH_ORGANISATION_SQL[connection.alias] = sql
    return sql


def _converted(model: type[Model], values: Sequence[Any],
               connection: BaseDatabaseWrapper) -> list[Any]:
    """The row's values as the ORM would give them (e.g. SQLite's datetimes and booleans)."""
    converted = []
    for field, value in zip(model._meta.concrete_fields, values, strict=True):
        column = field.get_col(model._meta.db_table)
        for converter in (connection.ops.get_db_converters(column)
                          + field.get_db_converters(connection)):
            value = converter(value, column, connection)
        converted.append(value)
    return converted


def contact_with_organisation(pk: int, partner_id: int) -> Contact | None:
    """The partner's contact with this primary key, its organisation loaded; else None.

    The same instances as `Contact.objects.select_related("organisation").filter(pk=pk,
    partner_id=partner_id).first()` (the tenancy scope of a partner's account, or of staff
    creating a ticket for that partner), for a fraction of the CPU."""
    connection = connections[router.db_for_read(Contact)]
    with connection.cursor() as cursor:
        cursor.execute(_with_organisation_sql(connection), [pk, partner_id])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(Contact._meta.concrete_fields)
    contact_fields = [field.attname for field in Contact._meta.concrete_fields]
    contact = Contact.from_db(connection.alias, contact_fields,
                              _converted(Contact, row[:split], connection))
    organisation = None
    if contact.organisation_id is not None:
        organisation = Organisation.from_db(
            connection.alias, [field.attname for field in Organisation._meta.concrete_fields],
            _converted(Organisation, row[split:], connection))
    Contact.organisation.field.set_cached_value(contact, organisation)
    return contact
