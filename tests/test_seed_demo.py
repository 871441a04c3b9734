"""`seed_demo`: the demo data set is complete, consistent and loaded only once."""

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db.models import F

from firstline.contacts.models import Contact, Organisation
from firstline.core.clock import now
from firstline.core.models import AuditEvent, Partner, Tariff, User
from firstline.quality.script_models import ClassificationField, DiagnosticParameter
from firstline.sla.models import EscalationStep, PendingEscalation, SlaPolicy
from firstline.tickets.models import (
    ACTIVE_STATUSES,
    Channel,
    Message,
    Priority,
    Status,
    Ticket,
)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = (Tariff, Partner, User, Organisation, Contact, Ticket, Message, AuditEvent)
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture
def output(db) -> str:
    return seed()


def test_three_partners_one_on_each_tariff(output):
    tariffs = {partner.tariff.code for partner in Partner.objects.select_related("tariff")}
    assert Partner.objects.count() == 3
    assert tariffs == {"start", "optimum", "all-inclusive"}
    optimum = Tariff.objects.get(code="optimum")
    assert (optimum.name, optimum.requests_included, optimum.minutes_included) == (
        "Оптимум", 50, 300
    )
    assert str(optimum.monthly_fee) == "13900.00"
    assert str(optimum.first_month_fee) == "4900.00"


def test_about_two_hundred_tickets_in_every_status_for_every_partner(output):
    assert 180 <= Ticket.objects.count() <= 240
    assert set(Ticket.objects.values_list("status", flat=True)) == set(Status.values)
    assert set(Ticket.objects.values_list("priority", flat=True)) == set(Priority.values)
    # Every channel, Telegram too (one partner's bot and its chats, telegram.demo_telegram).
    assert set(Ticket.objects.values_list("channel", flat=True)) == set(Channel.values)
    for partner in Partner.objects.all():
        assert Ticket.objects.filter(partner=partner).exists(), partner


def test_tickets_spread_over_the_last_sixty_days(output):
    moment = now()
    assert not Ticket.objects.filter(created_at__lt=moment - timedelta(days=60)).exists()
    assert not Ticket.objects.filter(created_at__gt=moment).exists()
    assert Ticket.objects.filter(created_at__lt=moment - timedelta(days=45)).exists()


def test_messages_follow_their_ticket(output):
    assert not Message.objects.filter(created_at__lt=F("ticket__created_at")).exists()
    assert not Message.objects.filter(created_at__gt=now()).exists()
    assert not Message.objects.exclude(partner_id=F("ticket__partner_id")).exists()
    for kind in Message.Kind.values:
        assert Message.objects.filter(kind=kind).exists(), kind


def test_ticket_dates_match_their_status(output):
    for ticket in Ticket.objects.all():
        # A person's reply: an automatic one (the bot's acknowledgement) is no response.
        first_reply = ticket.messages.filter(kind=Message.Kind.REPLY, is_automatic=False).first()
        assert ticket.first_response_at == (first_reply.created_at if first_reply else None)
        assert ticket.sla_policy is not None
        assert ticket.reaction_due_at is not None and ticket.resolution_due_at is not None
        if ticket.status in ACTIVE_STATUSES:
            assert ticket.resolved_at is None
            if ticket.paused_since is None or ticket.first_response_at is None:
                assert ticket.due_at in (ticket.reaction_due_at, ticket.resolution_due_at)
        else:
            assert ticket.due_at is None
            assert ticket.resolved_at is not None
            assert ticket.resolution_in_time is not None
        assert (ticket.closed_at is not None) == (ticket.status == Status.CLOSED)


def test_every_ticket_has_an_audit_trail(output):
    created = AuditEvent.objects.filter(action="ticket.created", target_type="ticket")
    assert created.count() == Ticket.objects.count()
    done = Ticket.objects.filter(status__in=[Status.RESOLVED, Status.CLOSED]).count()
    to_resolved = AuditEvent.objects.filter(
        action="ticket.status_changed", after__status=Status.RESOLVED
    )
    assert to_resolved.count() == done


def test_portal_users_belong_to_a_contact_of_their_partner(output):
    customers = User.objects.filter(role=User.Role.CUSTOMER)
    assert customers.count() == 6
    for user in customers:
        assert user.contact.partner_id == user.partner_id
        assert user.username == f"{user.partner.slug}:{user.email}"
        assert user.contact.emails.filter(address=user.email, is_confirmed=True).exists()


def test_demo_accounts_sign_in_with_the_demo_password(output):
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert admin.check_password("demo12345")
    assert User.objects.get(username="oblakoteka-engineer").check_password("demo12345")
    assert Organisation.objects.exclude(code_word_hash="").count() == Organisation.objects.count()


def test_prints_the_logins(output):
    assert "demo12345" in output
    assert "operator2" in output
    assert "/portal/oblakoteka/login/" in output
    assert f"{settings.SITE_URL}/" in output


def test_if_empty_creates_nothing_the_second_time(output):
    before = counts()
    assert "already there" in seed("--if-empty")
    assert counts() == before


def test_without_if_empty_a_second_run_is_refused(output):
    before = counts()
    with pytest.raises(CommandError, match="clash"):
        seed()
    assert counts() == before


def test_if_empty_seeds_an_empty_database(db):
    seed("--if-empty")
    assert Partner.objects.count() == 3


def test_every_partner_has_an_sla_policy_escalations_and_a_script(output):
    for partner in Partner.objects.all():
        assert SlaPolicy.objects.filter(partner=partner, is_default=True).count() == 1
        assert EscalationStep.objects.filter(partner=partner).exists()
        assert ClassificationField.objects.filter(partner=partner, required=True).exists()
        assert DiagnosticParameter.objects.filter(partner=partner).count() == 2
    # Steps of the past count as fired already: a first start does not flood the outbox.
    assert not PendingEscalation.objects.filter(fired_at__isnull=True, due_at__lte=now()).exists()
