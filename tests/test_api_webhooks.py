"""Webhook subscriptions through the REST API: the desk pages' rules, for scripts.

A real receiver on 127.0.0.1 checks every signature with the secret the API handed out
(once); events come from the real services and go out through the real outbox pass.
"""

import json

import pytest

from firstline.core.models import AuditEvent
from firstline.outbox.models import OutboxMessage, Status
from firstline.webhooks.models import Delivery, Subscription
from tests.test_api_support import error_fields, token_client
from tests.test_webhooks import Receiver, deliver, new_ticket

pytestmark = pytest.mark.django_db

BASE = "/api/webhooks/subscriptions"


@pytest.fixture(autouse=True)
def no_cached_subscriptions():
    """Workers cache subscriptions for seconds; tests reuse ids of rolled-back rows."""
    from firstline.webhooks import adapter

    adapter.forget()
    yield
    adapter.forget()


@pytest.fixture
def allow_local(settings):
    settings.FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE = True


# A public address written as one: no DNS needed, nothing is ever sent there (no worker).
def _create(client, partner, url="https://93.184.215.14/hooks", events=("ticket.created",),
            **extra):
    return client.post_json(BASE, {"partner_id": partner.pk if partner else None, "url": url,
                                   "events": list(events), **extra})


def _state() -> dict:
    """What a refused request must leave as it was."""
    return {
        "subscriptions": list(Subscription.objects.order_by("pk").values(
            "pk", "partner_id", "url", "events", "name", "is_active", "secret_rotated_at")),
        "secrets": sorted(subscription.secret for subscription in Subscription.objects.all()),
        "deliveries": list(Delivery.objects.order_by("pk").values_list("pk", flat=True)),
        "audit": AuditEvent.objects.count(),
    }


# --- happy paths -------------------------------------------------------------------------


def test_a_created_subscription_receives_a_real_signed_delivery(cast, allow_local):
    client = token_client(cast.a.manager)
    with Receiver({}) as receiver:
        created = _create(client, cast.a.partner, url=receiver.url("/a"),
                          events=["ticket.created", "ticket.status_changed"], name="CRM")
        assert created.status_code == 201, created.content
        body = created.json()
        receiver.secrets["/a"] = body["secret"]  # the secret as the API handed it out
        ticket = new_ticket(cast.a, cast.operator)
        deliver()

    assert body["secret"].startswith("whsec_")
    assert (body["partner_id"], body["url"], body["name"], body["is_active"]) == (
        cast.a.partner.pk, receiver.url("/a"), "CRM", True)
    assert body["events"] == ["ticket.created", "ticket.status_changed"]
    (seen,) = receiver.verified  # the signature checked with that secret
    assert seen.json()["type"] == "ticket.created"
    assert seen.json()["data"]["ticket"]["number"] == ticket.number
    log = client.get(f"{BASE}/{body['id']}/deliveries").json()
    (item,) = log["items"]
    assert (item["status"], item["response_code"], item["attempts"]) == ("sent", 200, 1)
    assert item["event_id"] == seen.json()["id"] and item["event_type"] == "ticket.created"
    assert item["next_attempt_at"] is None and item["sent_at"] is not None
    assert AuditEvent.objects.filter(action="webhook.create", actor=cast.a.manager).exists()


def test_the_secret_is_shown_once_in_the_create_answer_and_once_per_rotation(cast):
    client = token_client(cast.a.manager)
    created = _create(client, cast.a.partner).json()
    url = f"{BASE}/{created['id']}"

    later = [client.get(url), client.get(BASE),
             client.patch_json(url, {"name": "Renamed"})]

    for response in later:
        assert response.status_code == 200
        assert created["secret"] not in response.content.decode()
        assert "secret" not in _keys(response.json())
    rotated = client.post(f"{url}/rotate-secret")
    assert rotated.status_code == 200
    secret = rotated.json()["secret"]
    assert secret.startswith("whsec_") and secret != created["secret"]
    assert Subscription.objects.get(pk=created["id"]).secret == secret
    assert secret not in client.get(url).content.decode()
    rotation = AuditEvent.objects.get(action="webhook.rotate_secret")
    assert secret not in json.dumps(rotation.after, default=str)


def _keys(value) -> list[str]:
    if isinstance(value, dict):
        return [*value, *(key for item in value.values() for key in _keys(item))]
    if isinstance(value, list):
        return [key for item in value for key in _keys(item)]
    return []


def test_update_changes_what_is_given_and_keeps_the_rest(cast, allow_local):
    client = token_client(cast.a.manager)
    created = _create(client, cast.a.partner, name="CRM").json()
    url = f"{BASE}/{created['id']}"

    changed = client.patch_json(url, {"events": ["sla.breached", "ticket.merged"],
                                      "is_active": False})
    audit_rows = AuditEvent.objects.count()
    nothing = client.patch_json(url, {})

    assert changed.status_code == 200, changed.content
    answer = changed.json()
    assert answer["events"] == ["ticket.merged", "sla.breached"]  # in the documented order
    assert (answer["is_active"], answer["name"], answer["url"]) == (
        False, "CRM", created["url"])
    row = Subscription.objects.get(pk=created["id"])
    assert (row.is_active, row.events) == (False, ["ticket.merged", "sla.breached"])
    update = AuditEvent.objects.get(action="webhook.update")
    assert update.before["is_active"] is True and update.after["is_active"] is False
    assert nothing.status_code == 200 and AuditEvent.objects.count() == audit_rows


def test_delete_cancels_waiting_deliveries_and_the_subscription_is_gone(cast, allow_local):
    client = token_client(cast.a.manager)
    created = _create(client, cast.a.partner).json()
    new_ticket(cast.a, cast.operator)  # a delivery waits: no worker ran
    message_id = Delivery.objects.get(subscription_id=created["id"]).message_id

    deleted = client.delete(f"{BASE}/{created['id']}")

    assert deleted.status_code == 204 and deleted.content == b""
    assert not Subscription.objects.filter(pk=created["id"]).exists()
    assert OutboxMessage.objects.get(pk=message_id).status == Status.CANCELLED
    assert client.get(f"{BASE}/{created['id']}").status_code == 404
    assert client.delete(f"{BASE}/{created['id']}").status_code == 404


def test_deliveries_are_paged_newest_first_and_filtered_by_status(cast, allow_local):
    client = token_client(cast.a.manager)
    created = _create(client, cast.a.partner).json()
    for n in range(5):
        new_ticket(cast.a, cast.operator, subject=f"Заявка {n}")
    ids = list(Delivery.objects.filter(subscription_id=created["id"]).order_by(
        "-pk").values_list("pk", flat=True))
    OutboxMessage.objects.filter(pk=Delivery.objects.get(pk=ids[0]).message_id).update(
        status=Status.FAILED)
    url = f"{BASE}/{created['id']}/deliveries"

    first = client.get(url, {"limit": 2}).json()
    second = client.get(url, {"limit": 2, "cursor": first["next_cursor"]}).json()
    third = client.get(url, {"limit": 2, "cursor": second["next_cursor"]}).json()
    failed = client.get(url, {"status": "failed"}).json()

    seen = [item["id"] for page in (first, second, third) for item in page["items"]]
    assert seen == ids and third["next_cursor"] is None
    assert [item["id"] for item in failed["items"]] == [ids[0]]


def test_send_again_through_the_api_repeats_a_sent_event_with_its_id(cast, allow_local):
    client = token_client(cast.a.manager)
    with Receiver({}) as receiver:
        created = _create(client, cast.a.partner, url=receiver.url("/a")).json()
        receiver.secrets["/a"] = created["secret"]
        new_ticket(cast.a, cast.operator)
        deliver()
        (sent,) = client.get(f"{BASE}/{created['id']}/deliveries").json()["items"]
        # A new secret signs the copy too: the receiver knows only the new one now.
        receiver.secrets["/a"] = client.post(
            f"{BASE}/{created['id']}/rotate-secret").json()["secret"]
        again = client.post(f"{BASE}/{created['id']}/deliveries/{sent['id']}/send-again")
        deliver()

    assert again.status_code == 200, again.content
    copy = again.json()
    assert copy["id"] != sent["id"] and copy["resent_from_id"] == sent["id"]
    assert copy["event_id"] == sent["event_id"] and copy["status"] == "pending"
    first, repeated = receiver.verified
    assert first.body == repeated.body
    assert AuditEvent.objects.filter(action="webhook.send_again").count() == 1


def test_send_again_of_a_switched_off_subscription_is_409_naming_delivery(cast, allow_local):
    client = token_client(cast.a.manager)
    created = _create(client, cast.a.partner).json()
    new_ticket(cast.a, cast.operator)
    delivery = Delivery.objects.get(subscription_id=created["id"])
    client.patch_json(f"{BASE}/{created['id']}", {"is_active": False})
    before = _state()

    response = client.post(f"{BASE}/{created['id']}/deliveries/{delivery.pk}/send-again")

    assert response.status_code == 409
    assert error_fields(response) == {"delivery"}
    assert _state() == before


def test_a_supervisor_manages_every_partners_and_provider_wide_subscriptions(cast):
    partner_hook = _create(token_client(cast.a.manager), cast.a.partner).json()
    client = token_client(cast.supervisor)

    provider_wide = _create(client, None, events=["incident.opened"])
    for_b = _create(client, cast.b.partner)
    listed = client.get(BASE).json()["items"]
    only_b = client.get(BASE, {"partner_id": cast.b.partner.pk}).json()["items"]

    assert provider_wide.status_code == 201 and provider_wide.json()["partner_id"] is None
    assert for_b.status_code == 201 and for_b.json()["partner_id"] == cast.b.partner.pk
    # Newest first.
    assert [item["id"] for item in listed] == [
        for_b.json()["id"], provider_wide.json()["id"], partner_hook["id"]]
    assert [item["id"] for item in only_b] == [for_b.json()["id"]]
    assert client.patch_json(f"{BASE}/{partner_hook['id']}",
                             {"name": "Seen by the provider"}).status_code == 200


# --- tenancy and permissions --------------------------------------------------------------


def test_another_partners_manager_gets_404_for_everything_and_changes_nothing(cast):
    owner = token_client(cast.a.manager)
    created = _create(owner, cast.a.partner).json()
    new_ticket(cast.a, cast.operator)
    delivery = Delivery.objects.get(subscription_id=created["id"])
    stranger = token_client(cast.b.manager)
    url = f"{BASE}/{created['id']}"
    before = _state()

    answers = [
        stranger.get(url), stranger.patch_json(url, {"name": "Mine now"}),
        stranger.delete(url), stranger.post(f"{url}/rotate-secret"),
        stranger.get(f"{url}/deliveries"),
        stranger.post(f"{url}/deliveries/{delivery.pk}/send-again"),
    ]

    assert [answer.status_code for answer in answers] == [404] * 6
    assert all(answer.json() == {"detail": answers[0].json()["detail"]} for answer in answers)
    assert stranger.get(BASE).json()["items"] == []
    assert _state() == before


def test_a_partner_manager_cannot_see_provider_wide_subscriptions(cast):
    provider_wide = _create(token_client(cast.supervisor), None).json()
    client = token_client(cast.a.manager)

    assert client.get(BASE).json()["items"] == []
    assert client.get(f"{BASE}/{provider_wide['id']}").status_code == 404


@pytest.mark.parametrize("who", ["operator", "engineer", "integration"])
def test_staff_who_do_not_manage_webhooks_get_403(cast, who):
    user = cast.operator if who == "operator" else getattr(cast.a, who)
    created = _create(token_client(cast.a.manager), cast.a.partner).json()
    client = token_client(user)
    before = _state()

    answers = [client.get(BASE), _create(client, cast.a.partner),
               client.get(f"{BASE}/{created['id']}"),
               client.delete(f"{BASE}/{created['id']}")]

    assert [answer.status_code for answer in answers] == [403] * 4
    assert answers[0].json()["detail"]
    assert _state() == before


def test_without_a_token_the_api_answers_401(cast):
    from tests.test_api_support import ApiClient

    assert ApiClient().get(BASE).status_code == 401


# --- bad input ------------------------------------------------------------------------------

BAD = {
    "ftp scheme": ({"url": "ftp://hooks.example.com/x"}, "url", "http"),
    "credentials": ({"url": "https://user:pw@hooks.example.com/x"}, "url", "password"),
    "no host": ({"url": "https://"}, "url", "host"),
    "empty url": ({"url": "   "}, "url", ""),
    "loopback": ({"url": "http://127.0.0.1:8080/hook"}, "url", "127.0.0.1"),
    "private": ({"url": "http://10.1.2.3/hook"}, "url", "10.1.2.3"),
    "metadata": ({"url": "http://169.254.169.254/latest"}, "url", "169.254.169.254"),
    "mapped v6": ({"url": "http://[::ffff:192.168.0.1]/hook"}, "url", ""),
    "unknown event": ({"events": ["ticket.deleted"]}, "events.0", ""),
    "no events": ({"events": []}, "events", ""),
    "nul in name": ({"name": "a\x00b"}, "name", "NUL"),
    "long name": ({"name": "x" * 201}, "name", ""),
    "unknown key": ({"secret": "whsec_mine"}, "secret", ""),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_422_naming_the_field_and_nothing_is_written(cast, case):
    changes, field, words = BAD[case]
    client = token_client(cast.a.manager)
    body = {"partner_id": cast.a.partner.pk, "url": "https://hooks.example.com/x",
            "events": ["ticket.created"], **changes}
    before = _state()

    response = client.post_json(BASE, body)

    assert response.status_code == 422, response.content
    assert error_fields(response) == {field}
    assert words in json.dumps(response.json(), ensure_ascii=False)
    assert _state() == before


def test_a_bad_change_is_422_naming_the_field_and_changes_nothing(cast, allow_local):
    client = token_client(cast.a.manager)
    created = _create(client, cast.a.partner).json()
    before = _state()

    bad_url = client.patch_json(f"{BASE}/{created['id']}",
                                {"url": "gopher://x", "name": "Changed"})
    bad_event = client.patch_json(f"{BASE}/{created['id']}", {"events": ["nope"]})

    assert (bad_url.status_code, error_fields(bad_url)) == (422, {"url"})
    assert (bad_event.status_code, error_fields(bad_event)) == (422, {"events.0"})
    assert _state() == before


def test_another_partner_or_provider_wide_is_422_naming_partner_id(cast):
    client = token_client(cast.a.manager)
    before = _state()

    other = _create(client, cast.b.partner)
    provider_wide = _create(client, None)
    missing = client.post_json(BASE, {"url": "https://hooks.example.com/x",
                                      "events": ["ticket.created"]})

    for response in (other, provider_wide, missing):
        assert response.status_code == 422, response.content
        assert error_fields(response) == {"partner_id"}
    assert _state() == before


def test_the_document_keeps_ticket_and_delivery_statuses_apart():
    """Two enums of one class name would share one component: the last one would win."""
    from django.test import Client

    from firstline.tickets.models import Status as TicketStatus

    schemas = Client().get("/api/openapi.json").json()["components"]["schemas"]

    assert schemas["Status"]["enum"] == list(TicketStatus.values)
    assert schemas["DeliveryStatus"]["enum"] == list(Status.values)
    assert "ticket.merged" in schemas["EventName"]["enum"]


def test_the_delivery_log_costs_the_same_queries_for_2_and_8_deliveries(cast, allow_local):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = token_client(cast.a.manager)
    created = _create(client, cast.a.partner).json()
    url = f"{BASE}/{created['id']}/deliveries"
    for n in range(2):
        new_ticket(cast.a, cast.operator, subject=f"Заявка {n}")
    client.get(url)  # the token's last use is written once, not counted
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(url).json()["items"]) == 2
    for n in range(6):
        new_ticket(cast.a, cast.operator, subject=f"Ещё {n}")
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(url).json()["items"]) == 8

    assert len(many) == len(few), [query["sql"] for query in many.captured_queries]
