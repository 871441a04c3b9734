"""Contact phones carry their E.164 form, so the caller of a call is one indexed lookup."""

import importlib

from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from firstline.calls.services import contact_for_number
from firstline.contacts.models import ContactPhone


def test_a_number_typed_any_way_is_found_by_its_e164_in_one_query(cast):
    typed = ContactPhone.objects.create(partner=cast.a.partner, contact=cast.a.contact,
                                        number="8 (912) 345-67-89")
    assert typed.e164 == "+79123456789"
    [bulk] = ContactPhone.objects.bulk_create([ContactPhone(
        partner=cast.b.partner, contact=cast.b.contact, number="+7 495 120-45-67")])
    assert ContactPhone.objects.get(pk=bulk.pk).e164 == "+74951204567"
    with CaptureQueriesContext(connection) as queries:
        assert contact_for_number(cast.a.partner, "+79123456789") == cast.a.contact
    assert len(queries) == 1
    assert contact_for_number(cast.b.partner, "+74951204567") == cast.b.contact
    # Tenancy: another partner's customer with the same number is not this partner's caller.
    assert contact_for_number(cast.b.partner, "+79123456789") is None
    # A changed number moves its E.164 along; text that is no number has none.
    typed.number = "+7 912 000-00-01"
    typed.save(update_fields=["number"])
    assert contact_for_number(cast.a.partner, "+79120000001") == cast.a.contact
    assert contact_for_number(cast.a.partner, "+79123456789") is None
    typed.number = "ext. 101"
    typed.save()
    assert ContactPhone.objects.get(pk=typed.pk).e164 == ""


def test_the_migration_fills_the_phones_kept_before_it(cast):
    phones = [ContactPhone.objects.create(partner=cast.a.partner, contact=cast.a.contact,
                                          number=number)
              for number in ("89123456789", "+7 (495) 120-45-67", "not a number")]
    ContactPhone.objects.update(e164="")  # as the rows were before the column existed
    migration = importlib.import_module("firstline.contacts.migrations.0006_contactphone_e164")
    migration.fill_e164(apps, None)
    assert [ContactPhone.objects.get(pk=p.pk).e164 for p in phones] == [
        "+79123456789", "+74951204567", ""]
