"""Outbound webhooks against a real HTTP receiver on 127.0.0.1.

The receiver checks every request's signature with the subscription's secret, as a
partner's system would; events come from the real services (tickets, replies, status
changes) and go out through the real outbox worker pass.
"""

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from firstline.core.models import AuditEvent
from firstline.outbox.delivery import run_pass
from firstline.outbox.models import Channel, OutboxMessage, Status
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel as TicketChannel
from firstline.tickets.models import Message
from firstline.tickets.models import Status as TicketStatus
from firstline.webhooks import services, signing
from firstline.webhooks.models import Delivery, Subscription
from tests.test_outbox_http import FakeServer, Seen

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_cached_subscriptions():
    """Workers cache subscriptions for seconds; tests reuse ids of rolled-back rows."""
    from firstline.webhooks import adapter

    adapter.forget()
    yield
    adapter.forget()


class Receiver(FakeServer):
    """A partner's receiver: answers 200 to a request whose signature checks, else 401."""

    def __init__(self, secrets: dict[str, str], statuses: list[int] | None = None) -> None:
        self.secrets = secrets  # path -> secret
        self.statuses = list(statuses or [])
        self.verified: list[Seen] = []
        super().__init__(self.answer)

    def answer(self, seen: Seen) -> tuple[int, object]:
        header = seen.headers.get("x-firstline-signature", "")
        if not signing.verify(self.secrets.get(seen.path, ""), header, seen.body):
            return 401, {"error": "bad signature"}
        if self.statuses:
            return self.statuses.pop(0), {"error": "try later"}
        self.verified.append(seen)
        return 200, {"ok": True}

    def events(self) -> list[tuple[str, str]]:
        return [(seen.json()["type"], seen.json()["id"]) for seen in self.verified]


@pytest.fixture
def allow_local(settings):
    settings.FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE = True


def deliver() -> None:
    while run_pass(limit=50).claimed:
        pass


def hook(actor, partner, url, events=("ticket.created",)):
    return services.create_subscription(actor=actor, partner=partner, url=url,
                                        events=list(events))


def new_ticket(side, actor, subject="Не печатает принтер"):
    return ticket_services.create_ticket(
        partner=side.partner, actor=actor, channel=TicketChannel.PHONE, subject=subject,
        text="Принтер в бухгалтерии не печатает", contact=side.contact)


def test_each_event_arrives_once_signed_with_its_fields(cast, allow_local):
    with Receiver({}) as receiver:
        subscription, secret = hook(
            cast.a.manager, cast.a.partner, receiver.url("/hooks/a"),
            events=["ticket.created", "message.public_reply", "ticket.status_changed"])
        receiver.secrets["/hooks/a"] = secret
        ticket = new_ticket(cast.a, cast.operator)
        ticket_services.add_message(ticket=ticket, actor=cast.operator,
                                    kind=Message.Kind.NOTE, text="Внутренняя заметка: пароль 123")
        ticket_services.add_message(ticket=ticket, actor=cast.operator,
                                    kind=Message.Kind.REPLY, text="Перезагрузите принтер")
        ticket_services.change_ticket(ticket=ticket, actor=cast.operator,
                                      change=ticket_services.TicketChange(
                                          status=TicketStatus.RESOLVED))
        deliver()
        deliver()  # a second pass sends nothing again

    types = [kind for kind, _id in receiver.events()]
    assert sorted(types) == sorted(
        ["ticket.created", "message.public_reply", "ticket.status_changed",
         # the public reply moved the ticket from new to waiting for the customer
         *(["ticket.status_changed"] if types.count("ticket.status_changed") == 2 else [])])
    assert types.count("ticket.created") == 1 and types.count("message.public_reply") == 1
    ids = [event_id for _kind, event_id in receiver.events()]
    assert len(set(ids)) == len(ids)
    assert len(receiver.requests) == len(receiver.verified)  # every one signed correctly
    bodies = {seen.json()["type"]: seen for seen in receiver.verified}
    created = bodies["ticket.created"]
    assert created.headers["x-firstline-event"] == "ticket.created"
    assert created.headers["x-firstline-event-id"] == created.json()["id"]
    assert created.headers["content-type"].startswith("application/json")
    payload = created.json()
    assert payload["partner"] == {"id": cast.a.partner.pk, "slug": "alpha",
                                  "name": cast.a.partner.name}
    assert payload["data"]["ticket"]["number"] == ticket.number
    assert payload["data"]["ticket"]["subject"] == "Не печатает принтер"
    assert payload["data"]["actor"] == "provider"
    reply = bodies["message.public_reply"].json()
    assert reply["data"]["message"]["text"] == "Перезагрузите принтер"
    # The internal note went nowhere: no event carries it, no body mentions it.
    assert not any("пароль 123" in seen.body.decode() for seen in receiver.requests)
    # Staff names stay inside.
    assert not any("Olga" in seen.body.decode() for seen in receiver.requests)
    log = list(services.deliveries_for(subscription))
    assert {row.message.status for row in log} == {Status.SENT}
    assert {row.code for row in log} == {200}


def test_a_tampered_body_or_wrong_secret_does_not_verify():
    body = b'{"id": "1"}'
    header = signing.header("whsec_a", body)
    assert signing.verify("whsec_a", header, body)
    assert not signing.verify("whsec_b", header, body)
    assert not signing.verify("whsec_a", header, body + b" ")
    old = signing.header("whsec_a", body, timestamp=1_000_000)
    assert not signing.verify("whsec_a", old, body)


def test_a_500_is_retried_with_a_fresh_signature_and_logged(cast, allow_local):
    with Receiver({}, statuses=[500]) as receiver:
        subscription, secret = hook(cast.a.manager, cast.a.partner, receiver.url("/h"))
        receiver.secrets["/h"] = secret
        new_ticket(cast.a, cast.operator)
        deliver()
        delivery = services.deliveries_for(subscription).get()
        message = delivery.message
        assert message.status == Status.PENDING and message.attempts == 1
        assert delivery.code == 500
        assert "HTTP 500" in message.last_error
        assert receiver.verified == []
        # The back-off passes.
        OutboxMessage.objects.filter(pk=message.pk).update(
            next_attempt_at=message.created_at)
        deliver()

    delivery.refresh_from_db()
    delivery.message.refresh_from_db()
    assert delivery.message.status == Status.SENT and delivery.message.attempts == 2
    assert delivery.code == 200
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first.body == second.body  # the same event, the same id
    assert first.headers["x-firstline-event-id"] == second.headers["x-firstline-event-id"]


def test_send_again_repeats_a_sent_event_and_retries_a_failed_one(cast, allow_local, settings):
    settings.FIRSTLINE_OUTBOX_MAX_ATTEMPTS = 1
    with Receiver({}, statuses=[503]) as receiver:
        subscription, secret = hook(cast.a.manager, cast.a.partner, receiver.url("/h"))
        receiver.secrets["/h"] = secret
        new_ticket(cast.a, cast.operator, subject="Первая")
        deliver()
        failed = services.deliveries_for(subscription).get()
        assert failed.message.status == Status.FAILED

        services.send_again(actor=cast.a.manager, delivery=failed)
        deliver()
        failed.message.refresh_from_db()
        assert failed.message.status == Status.SENT
        assert len(receiver.verified) == 1

        copy = services.send_again(actor=cast.a.manager, delivery=failed)
        deliver()

    assert copy.pk != failed.pk and copy.resent_from_id == failed.pk
    copy.message.refresh_from_db()
    assert copy.message.status == Status.SENT
    assert len(receiver.verified) == 2
    first, again = receiver.verified
    assert first.body == again.body
    assert first.headers["x-firstline-delivery"] != again.headers["x-firstline-delivery"]
    assert AuditEvent.objects.filter(action="webhook.send_again").count() == 1


def test_send_again_through_the_page_button(cast, allow_local):
    from tests.conftest import client_for

    with Receiver({}) as receiver:
        subscription, secret = hook(cast.a.manager, cast.a.partner, receiver.url("/h"))
        receiver.secrets["/h"] = secret
        new_ticket(cast.a, cast.operator)
        deliver()
        delivery = services.deliveries_for(subscription).get()
        client = client_for(cast.a.manager)
        page = client.get(f"/webhooks/{subscription.pk}/")
        assert f"/webhooks/{subscription.pk}/deliveries/{delivery.pk}/again/" in page.text
        response = client.post(f"/webhooks/{subscription.pk}/deliveries/{delivery.pk}/again/")
        assert response.status_code == 302
        deliver()
        # Another partner's manager cannot press it.
        other = client_for(cast.b.manager).post(
            f"/webhooks/{subscription.pk}/deliveries/{delivery.pk}/again/")
        deliver()

    assert other.status_code == 404
    assert len(receiver.verified) == 2


def test_tenancy_a_partners_hook_gets_only_its_partners_events(cast, allow_local):
    with Receiver({}) as receiver:
        _a, secret_a = hook(cast.a.manager, cast.a.partner, receiver.url("/a"))
        _b, secret_b = hook(cast.b.manager, cast.b.partner, receiver.url("/b"))
        _p, secret_p = hook(cast.supervisor, None, receiver.url("/provider"))
        receiver.secrets.update({"/a": secret_a, "/b": secret_b, "/provider": secret_p})
        ticket_a = new_ticket(cast.a, cast.operator, subject="У Альфы")
        ticket_b = new_ticket(cast.b, cast.operator, subject="У Беты")
        deliver()

    by_path: dict[str, list[int]] = {}
    for seen in receiver.verified:
        by_path.setdefault(seen.path, []).append(seen.json()["data"]["ticket"]["id"])
    assert by_path["/a"] == [ticket_a.pk]
    assert by_path["/b"] == [ticket_b.pk]
    assert sorted(by_path["/provider"]) == sorted([ticket_a.pk, ticket_b.pk])
    # Each partner's rows are that partner's, the provider's copy included.
    for row in OutboxMessage.objects.filter(channel=Channel.EVENT_HOOK):
        assert row.partner_id == json.loads(row.body)["partner"]["id"]


def test_a_partners_manager_manages_only_its_own_hooks(cast, allow_local):
    with pytest.raises(ValidationError) as refused:
        hook(cast.a.manager, cast.b.partner, "http://127.0.0.1:9/x")
    assert set(refused.value.message_dict) == {"partner"}
    with pytest.raises(ValidationError):
        hook(cast.a.manager, None, "http://127.0.0.1:9/x")
    with pytest.raises(PermissionDenied):
        hook(cast.a.engineer, cast.a.partner, "http://127.0.0.1:9/x")
    mine, _secret = hook(cast.a.manager, cast.a.partner, "http://127.0.0.1:9/x")
    theirs, _secret = hook(cast.supervisor, cast.b.partner, "http://127.0.0.1:9/y")
    assert list(services.manageable_for(cast.a.manager)) == [mine]
    assert set(services.manageable_for(cast.supervisor)) == {mine, theirs}
    assert not services.manageable_for(cast.operator).exists()


def test_rotating_the_secret_signs_the_next_send_with_the_new_one(cast, allow_local):
    with Receiver({}) as receiver:
        subscription, old = hook(cast.a.manager, cast.a.partner, receiver.url("/h"))
        new_ticket(cast.a, cast.operator)
        new = services.rotate_secret(actor=cast.a.manager, subscription=subscription)
        receiver.secrets["/h"] = new
        deliver()

    assert new != old and new.startswith("whsec_")
    assert len(receiver.verified) == 1
    audit = AuditEvent.objects.get(action="webhook.rotate_secret")
    assert old not in json.dumps(audit.after) and new not in json.dumps(audit.after)
    # The secret is stored encrypted, never as typed.
    from django.db import connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_subscription WHERE id = %s",
                       [subscription.pk])
        assert new not in cursor.fetchone()[0]


def test_a_switched_off_hook_gets_nothing_and_events_it_did_not_choose_neither(
        cast, allow_local):
    with Receiver({}) as receiver:
        off, _secret = hook(cast.a.manager, cast.a.partner, receiver.url("/off"))
        services.update_subscription(actor=cast.a.manager, subscription=off, url=off.url,
                                     events=off.events, name="", is_active=False)
        _other, _secret = hook(cast.a.manager, cast.a.partner, receiver.url("/replies"),
                               events=["message.public_reply"])
        new_ticket(cast.a, cast.operator)
        deliver()

    assert receiver.requests == []
    assert not Delivery.objects.exists()


def test_bad_input_is_named_on_its_field_and_nothing_is_stored(cast, allow_local):
    cases = {
        "url": [("", ["ticket.created"]), ("ftp://example.com/x", ["ticket.created"]),
                ("http://user:pw@127.0.0.1/x", ["ticket.created"]),
                ("http://exa mple.com/", ["ticket.created"]), ("http://:80/", ["ticket.created"])],
        "events": [("http://127.0.0.1:9/x", []),
                   ("http://127.0.0.1:9/x", ["ticket.created", "ticket.exploded"])],
    }
    for field, inputs in cases.items():
        for url, events in inputs:
            with pytest.raises(ValidationError) as refused:
                hook(cast.a.manager, cast.a.partner, url, events)
            assert set(refused.value.message_dict) == {field}, (url, events)
    assert "ticket.exploded" in str(refused.value)
    assert not Subscription.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="webhook.").exists()


def test_the_pages_name_bad_input_on_its_field_and_keep_to_the_partner(cast, allow_local):
    from tests.conftest import client_for

    manager = client_for(cast.a.manager)
    response = manager.post("/webhooks/", {"partner": cast.a.partner.pk,
                                           "url": "http://127.0.0.1:9/x"})
    assert response.status_code == 422
    assert "Choose at least one event." in response.context["form"].errors["events"]
    response = manager.post("/webhooks/", {"partner": cast.b.partner.pk,
                                           "url": "http://127.0.0.1:9/x",
                                           "events": ["ticket.created"]})
    assert response.status_code == 422
    assert response.context["form"].errors["partner"]
    assert not Subscription.objects.exists()

    response = manager.post("/webhooks/", {"partner": cast.a.partner.pk, "name": "CRM",
                                           "url": "http://127.0.0.1:9/x",
                                           "events": ["ticket.created"]})
    subscription = Subscription.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/webhooks/{subscription.pk}/"
    page = manager.get(response["Location"])
    assert page.context["secret"].startswith("whsec_")
    assert page["Cache-Control"].startswith("max-age=0")
    assert manager.get(response["Location"]).context["secret"] == ""  # shown once

    assert client_for(cast.b.manager).get(f"/webhooks/{subscription.pk}/").status_code == 404
    assert client_for(cast.a.engineer).get("/webhooks/").status_code == 403
    assert client_for(cast.supervisor).get(f"/webhooks/{subscription.pk}/").status_code == 200
