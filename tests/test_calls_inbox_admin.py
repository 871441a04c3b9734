"""The call events not applied yet, in the admin: a read-only list; nothing added or
changed there; deleting one (it is then never applied) only for superusers."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from firstline.calls import inbox
from firstline.calls.models import CallEventInbox, Source
from firstline.core.models import User

LIST_URL = "/admin/calls/calleventinbox/"
RECEIVED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def stored(call_id: str, partner=None) -> CallEventInbox:
    data = {"call_id": call_id, "event": "start", "at": RECEIVED.isoformat(),
            "caller": "+79001112233", "dialled": "+74950000001"}
    pk = inbox.store(source=Source.WEBHOOK, payload=data, dedupe_key=inbox.webhook_key(data),
                     external_id=call_id, partner_id=partner.pk if partner else None,
                     received_at=RECEIVED)
    return CallEventInbox.objects.get(pk=pk)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("inbox-admin", "admin@provider.example", "pw-12345678")


@pytest.fixture
def staff(db) -> User:
    """Admin-site staff who holds every permission on the inbox but is no superuser."""
    user = User.objects.create_user("inbox-staff", password="pw-12345678",
                                    role=User.Role.ADMIN, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="calls", content_type__model="calleventinbox"))
    return user


def test_the_list_shows_the_waiting_events(cast, superuser):
    first = stored("call-1", cast.a.partner)
    second = stored("call-2")
    page = signed_in(superuser).get(LIST_URL)
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [first, second]  # in the order received
    text = page.content.decode()
    assert first.dedupe_key in text and "call-1" in text and cast.a.partner.name in text


def test_nothing_is_added_or_changed_in_the_admin(superuser):
    event = stored("call-1")
    client = signed_in(superuser)
    assert client.get(LIST_URL + "add/").status_code == 403
    assert client.post(LIST_URL + "add/", {"source": "webhook", "dedupe_key": "x",
                                           "payload": "{}"}).status_code == 403
    change = reverse("admin:calls_calleventinbox_change", args=[event.pk])
    page = client.get(change)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(change, {"external_id": "changed"}).status_code == 403
    event.refresh_from_db()
    assert event.external_id == "call-1"
    assert CallEventInbox.objects.count() == 1


def test_only_a_superuser_may_delete_an_event(staff, superuser):
    event = stored("call-1")
    delete = reverse("admin:calls_calleventinbox_delete", args=[event.pk])
    client = signed_in(staff)
    assert client.get(LIST_URL).status_code == 200  # staff may look
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert CallEventInbox.objects.filter(pk=event.pk).exists()

    answer = signed_in(superuser).post(delete, {"post": "yes"})
    assert answer.status_code == 302
    assert not CallEventInbox.objects.filter(pk=event.pk).exists()
