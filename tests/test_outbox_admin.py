"""The outbox in the admin: a read-only list with a status filter and retry / cancel actions."""

import pytest
from django.test import Client
from django.urls import reverse

from firstline.core.audit import events_for
from firstline.core.models import User
from firstline.outbox.models import Channel, OutboxMessage, Status
from firstline.outbox.services import cancel, enqueue, retry_now
from tests.test_outbox_http import make_partner

LIST_URL = "/admin/outbox/outboxmessage/"


@pytest.fixture
def admin_user(db) -> User:
    return User.objects.create_superuser("outbox-admin", "admin@provider.example", "pw-12345678")


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def message(status: str = Status.PENDING, **extra) -> OutboxMessage:
    created = enqueue(partner=make_partner(f"p{OutboxMessage.objects.count()}"),
                      channel=Channel.SMS, recipient="+79255070602", body="Текст", **extra)
    OutboxMessage.objects.filter(pk=created.pk).update(status=status)
    created.refresh_from_db()
    return created


def test_the_list_shows_messages_and_filters_by_status(admin_client) -> None:
    failed = message(Status.FAILED, dedupe_key="failed-one")
    sent = message(Status.SENT, dedupe_key="sent-one")
    OutboxMessage.objects.filter(pk=failed.pk).update(last_error="SMS.ru status_code 201")
    page = admin_client.get(LIST_URL)
    assert page.status_code == 200
    assert set(page.context["cl"].result_list) == {failed, sent}
    filtered = admin_client.get(LIST_URL, {"status__exact": "failed"})
    assert filtered.status_code == 200
    rows = filtered.context["cl"].result_list
    assert list(rows) == [failed]
    assert "SMS.ru status_code 201" in filtered.content.decode()
    assert sent not in list(rows)


def test_messages_cannot_be_added_edited_or_deleted_in_the_admin(admin_client) -> None:
    row = message()
    assert admin_client.get(LIST_URL + "add/").status_code == 403
    change_url = reverse("admin:outbox_outboxmessage_change", args=[row.pk])
    detail = admin_client.get(change_url)
    assert detail.status_code == 200  # viewable
    assert 'name="_save"' not in detail.content.decode()
    assert admin_client.post(change_url, {"body": "changed"}).status_code == 403
    assert admin_client.get(change_url + "delete/").status_code == 403
    row.refresh_from_db()
    assert row.body == "Текст"


def test_retry_now_makes_failed_messages_due_with_fresh_attempts(admin_client, admin_user) -> None:
    failed = message(Status.FAILED)
    OutboxMessage.objects.filter(pk=failed.pk).update(attempts=30)
    sent = message(Status.SENT)
    response = admin_client.post(LIST_URL, {
        "action": "retry_now", "_selected_action": [failed.pk, sent.pk],
    }, follow=True)
    assert response.status_code == 200
    assert "1 message will be sent now." in response.content.decode()
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.status, failed.attempts) == (Status.PENDING, 0)
    assert sent.status == Status.SENT  # a sent message is never sent again
    (event,) = events_for(failed)
    assert (event.actor, event.action) == (admin_user, "outbox.retry")
    assert event.before["status"] == "failed" and event.after["status"] == "pending"


def test_cancel_stops_waiting_messages_but_not_one_being_sent(admin_client) -> None:
    waiting = message(Status.PENDING)
    in_flight = message(Status.SENDING)
    response = admin_client.post(LIST_URL, {
        "action": "cancel", "_selected_action": [waiting.pk, in_flight.pk],
    }, follow=True)
    assert "1 message cancelled." in response.content.decode()
    waiting.refresh_from_db()
    in_flight.refresh_from_db()
    assert (waiting.status, in_flight.status) == (Status.CANCELLED, Status.SENDING)


def test_the_actions_need_the_change_permission(db) -> None:
    viewer = User.objects.create_user("viewer", password="pw-12345678", role=User.Role.ADMIN,
                                      is_staff=True)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_outboxmessage"))
    client = Client()
    client.force_login(viewer)
    page = client.get(LIST_URL)
    assert page.status_code == 200
    assert "retry_now" not in page.content.decode()
    row = message(Status.FAILED)
    client.post(LIST_URL, {"action": "retry_now", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.status == Status.FAILED


def test_retry_and_cancel_as_services_report_what_they_changed(db) -> None:
    failed, cancelled = message(Status.FAILED), message(Status.CANCELLED)
    assert retry_now(message_ids=[failed.pk, cancelled.pk], actor=None) == 1
    assert cancel(message_ids=[failed.pk, cancelled.pk], actor=None) == 1
    failed.refresh_from_db()
    assert failed.status == Status.CANCELLED
