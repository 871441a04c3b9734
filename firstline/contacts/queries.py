"""Read queries over contacts: finding the caller by what they say about themselves.

The caller gives a name, a phone number, an e-mail or their contract number; one search
box takes any of them. The queryset passed in is already scoped by tenancy
(firstline.tenancy.contacts_for), so a search never reaches another partner's people.
"""

import re

from django.db.models import Q, QuerySet

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
