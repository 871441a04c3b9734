"""A partner's language of letters changed in Django admin is audited like any setting:
who, when, before and after; other changes there and refused ones record nothing."""

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from firstline.core.audit import events_for
from firstline.core.models import User


@pytest.fixture
def admin_client(db) -> tuple[Client, User]:
    boss = User.objects.create_superuser("lang-admin", "admin@provider.example", "pw-12345678")
    client = Client()
    client.force_login(boss)
    return client, boss


def change_form_data(client: Client, url: str) -> dict[str, Any]:
    """What the admin's change form posts back unchanged, read from the form it renders."""
    page = client.get(url)
    assert page.status_code == 200
    data: dict[str, Any] = {}
    for bound in page.context["adminform"].form:
        value = bound.value()
        widget = getattr(bound.field.widget, "widget", bound.field.widget)
        if hasattr(widget, "decompress"):  # the split date and time of a datetime
            day, moment = widget.decompress(value)
            data[f"{bound.html_name}_0"] = day.isoformat()
            data[f"{bound.html_name}_1"] = moment.strftime("%H:%M:%S")
        elif isinstance(value, bool):
            if value:
                data[bound.html_name] = "on"
        elif value is not None:
            data[bound.html_name] = value
    return data


def language_events(partner) -> list:
    return list(events_for(partner).filter(action="partner.language_changed"))


def test_a_partners_language_changed_in_the_admin_is_audited_with_before_and_after(
        cast, admin_client):
    client, boss = admin_client
    partner = cast.a.partner
    assert partner.language == "ru"
    url = reverse("admin:core_partner_change", args=[partner.pk])
    data = change_form_data(client, url)
    answer = client.post(url, {**data, "language": "en"})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    partner.refresh_from_db()
    assert partner.language == "en"
    [event] = language_events(partner)
    assert (event.actor, event.partner) == (boss, partner)
    assert (event.before, event.after) == ({"language": "ru"}, {"language": "en"})

    # And back: a second row, the other way round.
    client.post(url, {**change_form_data(client, url), "language": "ru"})
    assert [(e.before, e.after) for e in language_events(partner)] == [
        ({"language": "ru"}, {"language": "en"}), ({"language": "en"}, {"language": "ru"})]


def test_other_changes_in_the_admin_record_no_language_change(cast, admin_client):
    client, _boss = admin_client
    partner = cast.a.partner
    url = reverse("admin:core_partner_change", args=[partner.pk])
    answer = client.post(url, {**change_form_data(client, url), "support_phone": "+74951234567"})
    assert answer.status_code == 302
    partner.refresh_from_db()
    assert partner.support_phone == "+74951234567" and partner.language == "ru"
    assert language_events(partner) == []


def test_an_unknown_language_is_refused_and_nothing_is_recorded(cast, admin_client):
    client, _boss = admin_client
    partner = cast.a.partner
    url = reverse("admin:core_partner_change", args=[partner.pk])
    answer = client.post(url, {**change_form_data(client, url), "language": "de"})
    assert answer.status_code == 200
    assert "language" in answer.context["adminform"].form.errors
    partner.refresh_from_db()
    assert partner.language == "ru" and language_events(partner) == []


def inline_data(client: Client, url: str) -> dict[str, Any]:
    """The change form's inline rows (a contact's e-mails and phones) as posted back."""
    data: dict[str, Any] = {}
    for inline in client.get(url).context["inline_admin_formsets"]:
        formset = inline.formset
        for bound in formset.management_form:
            data[bound.html_name] = bound.value()
        for form in formset.forms:
            for bound in form:
                value = bound.value()
                if isinstance(value, bool):
                    if value:
                        data[bound.html_name] = "on"
                elif value is not None:
                    data[bound.html_name] = value
    return data


def test_a_contacts_language_changed_in_the_admin_is_audited_as_the_desk_does(
        cast, admin_client):
    client, boss = admin_client
    contact = cast.a.contact
    before = contact.language
    assert before != "en"
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    data = {**change_form_data(client, url), **inline_data(client, url)}
    answer = client.post(url, {**data, "language": "en"})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    contact.refresh_from_db()
    assert contact.language == "en"
    [event] = events_for(contact).filter(action="contact.language_changed")
    assert (event.actor, event.partner) == (boss, contact.partner)
    assert (event.before, event.after) == ({"language": before}, {"language": "en"})
