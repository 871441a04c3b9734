"""The script in the API: step times, classification and diagnostics on the ticket, and
POST /api/tickets/{id}/handover."""

from datetime import timedelta

import pytest
import time_machine

from firstline.core.models import AuditEvent
from firstline.quality import services
from firstline.quality.script_models import TicketStep
from firstline.tickets.models import Status
from tests.test_api_support import db_snapshot, error_fields, token_client
from tests.test_script_support import configure, contract_of, fill_script

pytestmark = pytest.mark.django_db


def handover_url(ticket):
    return f"/api/tickets/{ticket.pk}/handover"


def test_the_ticket_shows_classification_diagnostics_and_step_times(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    with time_machine.travel(ticket.created_at + timedelta(minutes=6), tick=False) as clock:
        fill_script(ticket, cast.operator, cfg)
        clock.shift(timedelta(minutes=4))
        services.hand_over(ticket, cast.operator)

    body = token_client(cast.a.integration).get(f"/api/tickets/{ticket.pk}").json()

    script = body["script"]
    assert script["classification"] == [{"name": "Услуга", "value": "Облако → ВМ"}]
    assert script["diagnostics"] == [{"name": "ID виртуальной машины", "result": "vm-4711"}]
    assert script["identified_by"] == "code_word"
    assert script["classification_minutes"] == 6
    assert script["routing_minutes"] == 10
    assert script["partner_group"] == "Облачная группа"
    assert script["routing_corrections"] == 0
    assert script["first_line_resolved"] is None and script["first_contact_resolved"] is None
    assert script["handed_over_at"] is not None and script["classified_at"] is not None
    assert body["status"] == "waiting_partner" and body["assignee"]["id"] == cast.a.engineer.pk


def test_listing_tickets_still_costs_no_query_per_ticket(cast, django_assert_max_num_queries):
    cfg = configure(cast.a)
    fill_script(cast.a.ticket, cast.operator, cfg)
    client = token_client(cast.a.integration)
    client.get("/api/tickets")  # records the token's last use
    with django_assert_max_num_queries(3):
        response = client.get("/api/tickets")
    items = {item["id"]: item for item in response.json()["items"]}
    assert items[cast.a.ticket.pk]["script"]["classification"][0]["value"] == "Облако → ВМ"


def test_hand_over_without_diagnostics_is_409_naming_them_and_changes_nothing(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    services.identify(ticket=ticket, actor=cast.operator, contract_number=contract_of(ticket),
                      confirmed_email=True)
    services.classify(ticket=ticket, actor=cast.operator,
                      values={cfg.service_field.pk: "Почта"})
    client = token_client(cast.operator)
    before, steps = db_snapshot(), TicketStep.objects.count()

    response = client.post_json(handover_url(ticket), {})

    # 409: the ticket's state (missing diagnostics) refuses it, not the request's shape.
    assert response.status_code == 409
    assert response.json()["errors"] == [{
        "field": "diagnostics",
        "message": "The diagnostics are not filled in: ID виртуальной машины.",
    }]
    assert db_snapshot() == before and TicketStep.objects.count() == steps


def test_hand_over_routes_by_the_rules(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    fill_script(ticket, cast.operator, cfg)

    response = token_client(cast.operator).post_json(handover_url(ticket), {})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == Status.WAITING_PARTNER
    assert body["assignee"] == {"id": cast.a.engineer.pk, "name": cast.a.engineer.display_name}
    assert body["script"]["partner_group"] == "Облачная группа"
    assert AuditEvent.objects.filter(action="script.handed_over", actor=cast.operator).exists()


def test_hand_over_to_a_named_engineer_and_a_re_route_is_a_correction(cast):
    cfg = configure(cast.a)
    ticket = cast.a.ticket
    fill_script(ticket, cast.operator, cfg)
    client = token_client(cast.operator)
    client.post_json(handover_url(ticket), {})

    response = client.post_json(handover_url(ticket),
                                {"assignee_id": cast.a.manager.pk, "group": "L2"})

    assert response.status_code == 200
    assert response.json()["assignee"]["id"] == cast.a.manager.pk
    assert response.json()["script"]["routing_corrections"] == 1


@pytest.mark.parametrize("who", ["operator_b_engineer", "unknown"])
def test_hand_over_to_someone_outside_the_partner_is_422(cast, who):
    cfg = configure(cast.a)
    fill_script(cast.a.ticket, cast.operator, cfg)
    assignee = cast.b.engineer.pk if who == "operator_b_engineer" else 999_999
    client = token_client(cast.operator)
    before = db_snapshot()
    response = client.post_json(handover_url(cast.a.ticket), {"assignee_id": assignee})
    assert response.status_code == 422
    assert error_fields(response) == {"assignee_id"}
    assert db_snapshot() == before


def test_partner_tokens_cannot_hand_over_and_other_partners_tickets_are_404(cast):
    cfg = configure(cast.a)
    fill_script(cast.a.ticket, cast.operator, cfg)
    a_integration, b_integration, b_engineer = (
        token_client(cast.a.integration), token_client(cast.b.integration),
        token_client(cast.b.engineer))
    before = db_snapshot()
    assert a_integration.post_json(handover_url(cast.a.ticket), {}).status_code == 403
    assert b_integration.post_json(handover_url(cast.a.ticket), {}).status_code == 404
    assert b_engineer.post_json(handover_url(cast.a.ticket), {}).status_code == 404
    assert db_snapshot() == before


def test_unknown_body_fields_are_refused(cast):
    response = token_client(cast.operator).post_json(handover_url(cast.a.ticket),
                                                     {"assignee": 1})
    assert response.status_code == 422
    assert error_fields(response) == {"assignee"}
