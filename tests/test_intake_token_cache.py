"""Intake's cached lookups keep their guarantees: the stated revocation bound and tenancy.

A token (with its user and partner) is kept in the per-process configuration cache
(firstline.core.config_cache). A change saved in this process drops it at once (see
test_api_tickets); a change made by another process, which sends this one no signal, is
simulated here with a queryset update and must take effect once the entry is older than
config_cache.TTL_SECONDS: that is the bound the API documents.
"""

import pytest
from django.utils import timezone

from firstline.api.models import ApiToken
from firstline.core import config_cache
from firstline.core.models import User
from firstline.tickets.models import Ticket
from tests.test_api_support import db_snapshot, error_fields, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """The cache's monotonic clock, moved by hand."""
    moment = [1000.0]
    monkeypatch.setattr(config_cache.time, "monotonic", lambda: moment[0])
    config_cache.clear()
    return moment


def intake_body(side) -> dict:
    return {"partner_id": side.partner.pk, "contact_id": side.contact.pk,
            "subject": "Printer", "text": "It does not print."}


def test_a_token_revoked_by_another_process_is_refused_within_the_ttl(cast, clock):
    client = token_client(cast.a.integration)
    assert client.post_json("/api/tickets", intake_body(cast.a)).status_code == 201

    # Another process revokes it: no signal reaches this one.
    ApiToken.objects.filter(user=cast.a.integration).update(revoked_at=timezone.now())
    clock[0] += config_cache.TTL_SECONDS - 0.5
    assert client.post_json("/api/tickets", intake_body(cast.a)).status_code == 201
    clock[0] += 1.0
    before = Ticket.objects.count()

    response = client.post_json("/api/tickets", intake_body(cast.a))

    assert response.status_code == 401
    assert Ticket.objects.count() == before


def test_a_user_disabled_by_another_process_is_refused_within_the_ttl(cast, clock):
    client = token_client(cast.a.integration)
    assert client.post_json("/api/tickets", intake_body(cast.a)).status_code == 201

    User.objects.filter(pk=cast.a.integration.pk).update(is_active=False)
    clock[0] += config_cache.TTL_SECONDS + 0.5

    assert client.post_json("/api/tickets", intake_body(cast.a)).status_code == 401


def test_a_token_revoked_in_this_process_is_refused_at_once_on_intake(cast, clock):
    from firstline.api.services import revoke_token

    client = token_client(cast.a.integration)
    assert client.post_json("/api/tickets", intake_body(cast.a)).status_code == 201
    revoke_token(ApiToken.objects.get(user=cast.a.integration), actor=cast.a.manager)

    assert client.post_json("/api/tickets", intake_body(cast.a)).status_code == 401


def test_staff_cannot_give_a_ticket_another_partners_contact_or_service(cast):
    """Staff see every contact: the partner named in the body must still own them."""
    client = token_client(cast.operator)
    before = db_snapshot()

    response = client.post_json("/api/tickets", {
        **intake_body(cast.a), "contact_id": cast.b.contact.pk, "service_id": cast.b.service.pk,
    })

    assert response.status_code == 422
    assert error_fields(response) == {"contact_id", "service_id"}
    assert db_snapshot() == before


def test_staff_create_a_ticket_with_the_partners_own_contact_and_service(cast):
    client = token_client(cast.operator)

    response = client.post_json("/api/tickets", {
        **intake_body(cast.a), "service_id": cast.a.service.pk,
    })

    assert response.status_code == 201, response.json()
    ticket = Ticket.objects.get(pk=response.json()["id"])
    assert (ticket.partner_id, ticket.contact_id, ticket.service_id) == (
        cast.a.partner.pk, cast.a.contact.pk, cast.a.service.pk)
