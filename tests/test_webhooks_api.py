"""The webhooks in the OpenAPI document: every event's payload is documented, and what a
receiver really gets matches the document."""

import jsonschema_rs
import pytest
from django.test import Client
from django.utils.timezone import now

from firstline.core import events
from firstline.incidents.services import open_incident
from firstline.outbox.delivery import run_pass
from firstline.sla.policy_models import EscalationStep
from firstline.tickets import services as ticket_services
from firstline.tickets.merge import merge
from firstline.tickets.models import Channel as TicketChannel
from firstline.tickets.models import Message
from firstline.webhooks import services
from firstline.webhooks.models import EVENT_NAMES
from tests.test_outbox_http import FakeServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_cached_subscriptions():
    """Workers cache subscriptions for seconds; tests reuse ids of rolled-back rows."""
    from firstline.webhooks import adapter

    adapter.forget()
    yield
    adapter.forget()


def _document() -> dict:
    return Client().get("/api/openapi.json").json()


def test_every_event_is_a_documented_webhook_with_the_signature_scheme():
    document = _document()

    assert document["openapi"].startswith("3.1")
    assert set(document["webhooks"]) == set(EVENT_NAMES)
    for event, entry in document["webhooks"].items():
        body = entry["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["properties"]["type"]["const"] == event
        headers = {parameter["name"] for parameter in entry["post"]["parameters"]}
        assert {"X-Firstline-Signature", "X-Firstline-Event-Id"} <= headers
    description = document["info"]["description"]
    assert "X-Firstline-Signature: t=<unix time>,v1=<hex>" in description
    assert "HMAC-SHA256" in description and "FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE" in description


def test_what_a_receiver_gets_matches_the_documented_payload(cast, settings):
    settings.FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE = True
    schemas = {event: entry["post"]["requestBody"]["content"]["application/json"]["schema"]
               for event, entry in _document()["webhooks"].items()}
    with FakeServer() as receiver:
        services.create_subscription(actor=cast.supervisor, partner=None,
                                     url=receiver.url("/all"), events=EVENT_NAMES)
        ticket = ticket_services.create_ticket(
            partner=cast.a.partner, actor=cast.a.customer, channel=TicketChannel.PORTAL,
            subject="Нет интернета", text="С утра нет интернета", contact=cast.a.contact,
            service=cast.a.service)
        ticket_services.add_message(ticket=ticket, actor=cast.operator,
                                    kind=Message.Kind.REPLY, text="Проверяем линию")
        step = EscalationStep(target="resolution", percent=100)
        events.publish("escalation.fired", partner_id=ticket.partner_id, moment=now(),
                       ticket=ticket, step=step, late=False)
        events.publish("sla.breached", partner_id=ticket.partner_id, moment=now(),
                       ticket=ticket, target="resolution")
        incident = open_incident(
            partner=cast.a.partner, actor=cast.operator, title="Авария на линии",
            services=[cast.a.service], impact="full", started_at=now(),
            time_zone="Europe/Moscow")
        events.publish("incident.resolved", partner_id=incident.partner_id, moment=now(),
                       incident=incident, actor=cast.operator)
        merge(source=cast.a.other_ticket, target=ticket, actor=cast.operator)
        while run_pass(limit=50).claimed:
            pass

    seen = {}
    for request in receiver.requests:
        payload = request.json()
        seen.setdefault(payload["type"], payload)
        validator = jsonschema_rs.Draft202012Validator(schemas[payload["type"]],
                                                        validate_formats=True)
        errors = [error.message for error in validator.iter_errors(payload)]
        assert errors == [], (payload["type"], errors)
    assert {"ticket.created", "message.public_reply", "escalation.fired", "sla.breached",
            "incident.resolved", "ticket.merged"} <= set(seen)
    merged = seen["ticket.merged"]["data"]
    assert merged["ticket"]["id"] == ticket.pk and merged["actor"] == "provider"
    assert merged["duplicate"]["number"] == cast.a.other_ticket.number
    assert merged["duplicate"]["status"] == "closed"
    assert seen["ticket.created"]["data"]["actor"] == "customer"
    assert seen["incident.resolved"]["data"]["incident"]["service_ids"] == [cast.a.service.pk]
