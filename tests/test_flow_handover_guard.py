"""One hand-over rule for every path: the ticket card, the API's PATCH and the script's
hand-over all refuse «waiting for partner» until the partner's script is done."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from firstline.core.models import AuditEvent
from firstline.quality import services as script_services
from firstline.tickets import services
from firstline.tickets.models import Channel, Status, Ticket
from tests.conftest import client_for
from tests.test_api_support import db_snapshot, token_client
from tests.test_script_support import configure, fill_script

pytestmark = pytest.mark.django_db

MISSING = (
    "The customer is not identified yet",
    "The classification is not filled in: Услуга.",
    "The diagnostics are not filled in: ID виртуальной машины.",
)


def test_the_card_refuses_a_hand_over_without_the_script_and_changes_nothing(cast):
    configure(cast.a)
    before = db_snapshot()

    response = client_for(cast.operator).post(
        reverse("ticket-update", args=[cast.a.ticket.pk]),
        {"status": "waiting_partner", "priority": "high", "assignee": cast.a.engineer.pk},
    )

    assert response.status_code == 400
    errors = " ".join(response.context["update_form"].errors["status"])
    for text in MISSING:
        assert text in errors
    assert db_snapshot() == before  # neither status, priority nor assignee changed


def test_the_api_patch_refuses_a_hand_over_without_the_script(cast):
    configure(cast.a)
    client = token_client(cast.operator)
    before = db_snapshot()

    response = client.patch_json(
        f"/api/tickets/{cast.a.ticket.pk}",
        {"status": "waiting_partner", "assignee_id": cast.a.engineer.pk},
    )

    assert response.status_code == 409  # a refusal by the ticket's state (API contract)
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == ["status"]
    for text in MISSING:
        assert text in errors[0]["message"]
    assert db_snapshot() == before


def test_the_partners_own_engineer_cannot_bypass_it_through_the_api_either(cast):
    configure(cast.a)
    response = token_client(cast.a.engineer).patch_json(
        f"/api/tickets/{cast.a.ticket.pk}", {"status": "waiting_partner"})
    assert response.status_code == 409  # a refusal by the ticket's state (API contract)
    assert Ticket.objects.get(pk=cast.a.ticket.pk).status == Status.NEW


def test_once_the_script_is_done_the_card_may_hand_over(cast):
    cfg = configure(cast.a)
    fill_script(cast.a.ticket, cast.operator, cfg)
    response = client_for(cast.operator).post(
        reverse("ticket-update", args=[cast.a.ticket.pk]),
        {"status": "waiting_partner", "priority": "normal", "assignee": cast.a.engineer.pk},
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get(pk=cast.a.ticket.pk)
    assert (ticket.status, ticket.assignee) == (Status.WAITING_PARTNER, cast.a.engineer)


def test_the_service_itself_refuses_on_the_status_field(cast):
    """Whatever calls change_ticket (a bulk action later) meets the rule."""
    configure(cast.a)
    audit = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as refused:
        services.change_ticket(ticket=cast.a.ticket, actor=cast.supervisor,
                               change=services.TicketChange(status=Status.WAITING_PARTNER))
    assert list(refused.value.message_dict) == ["status"]
    assert AuditEvent.objects.count() == audit


def test_a_partner_without_a_script_is_not_held_up(cast):
    ticket = services.change_ticket(ticket=cast.b.ticket, actor=cast.operator,
                                    change=services.TicketChange(status=Status.WAITING_PARTNER))
    assert ticket.status == Status.WAITING_PARTNER


def test_a_monitoring_alert_needs_no_customer_identification(cast):
    cfg = configure(cast.a)
    alert = services.create_ticket(partner=cast.a.partner, actor=cast.a.integration,
                                   channel=Channel.MONITORING, subject="Host down",
                                   text="ICMP loss 100%")
    script_services.classify(ticket=alert, actor=cast.operator,
                             values={cfg.service_field.pk: "Облако → ВМ"})
    script_services.diagnose(ticket=alert, actor=cast.operator, results={cfg.vm_id.pk: "vm-1"})

    handed = script_services.hand_over(alert, cast.operator)

    assert handed.status == Status.WAITING_PARTNER
    page = client_for(cast.operator).get(f"/tickets/{alert.pk}/").content.decode()
    assert "A monitoring alert: there is no customer to identify." in page
    assert reverse("script-step", args=[alert.pk, "identify"]) not in page
