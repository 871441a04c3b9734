"""The priority of a new ticket is asked of the rules the apps above tickets register
(firstline.tickets.hooks); tickets imports none of them. Win-back's rule is one."""

import ast
from pathlib import Path

import pytest
from django.db import transaction

from firstline.surveys import winback
from firstline.surveys.models import CustomerStanding
from firstline.tickets import hooks
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel, Priority

TICKETS = Path(hooks.__file__).resolve().parent


@pytest.fixture
def rules(monkeypatch) -> dict:
    """The registry for this test only: rules registered here are gone afterwards."""
    registry = dict(hooks._priority_rules)
    monkeypatch.setattr(hooks, "_priority_rules", registry)
    return registry


def new_ticket(side, **extra):
    return ticket_services.create_ticket(
        partner=side.partner, actor=None, channel=Channel.EMAIL, subject="Сервер недоступен",
        text="Сервер не отвечает", **extra)


def test_a_registered_rule_decides_the_priority_of_a_new_ticket_of_a_known_contact(
        cast, rules):
    asked = []

    def vip(*, partner_id, organisation_id, priority):
        asked.append((partner_id, organisation_id, priority))
        return Priority.CRITICAL if organisation_id == cast.a.organisation.pk else priority

    hooks.register_priority_rule(vip)
    hooks.register_priority_rule(vip)  # ready() run twice: still asked once
    assert new_ticket(cast.a, contact=cast.a.contact).priority == Priority.CRITICAL
    assert asked == [(cast.a.partner.pk, cast.a.organisation.pk, Priority.NORMAL)]
    assert new_ticket(cast.b, contact=cast.b.contact).priority == Priority.NORMAL
    # A priority given by the caller, or no contact: no rule is asked.
    given = new_ticket(cast.a, contact=cast.a.contact, priority=Priority.LOW)
    assert given.priority == Priority.LOW
    assert new_ticket(cast.a).priority == Priority.NORMAL
    assert len(asked) == 2


def test_rules_run_in_the_order_registered_each_given_the_previous_answer(cast, rules):
    rules.clear()
    hooks.register_priority_rule(lambda **kw: Priority.HIGH)

    def one_lower(*, partner_id, organisation_id, priority):
        return {Priority.HIGH: Priority.NORMAL}.get(priority, priority)

    hooks.register_priority_rule(one_lower)
    assert new_ticket(cast.a, contact=cast.a.contact).priority == Priority.NORMAL


def test_a_rule_answering_no_known_priority_is_refused_and_no_ticket_is_made(cast, rules):
    def broken(*, partner_id, organisation_id, priority):
        return "urgent"

    hooks.register_priority_rule(broken)
    before = cast.a.partner.tickets.count()
    # create_ticket writes without a savepoint of its own: its caller's transaction rolls back.
    with pytest.raises(ValueError, match="broken returned 'urgent'"), transaction.atomic():
        new_ticket(cast.a, contact=cast.a.contact)
    assert cast.a.partner.tickets.count() == before


def test_win_back_registers_its_rule_and_a_sensitive_customer_gets_one_step_higher(cast):
    assert winback.priority_for_new_ticket in hooks.priority_rules()
    CustomerStanding.objects.create(partner=cast.a.partner, organisation=cast.a.organisation,
                                    is_sensitive=True)
    assert new_ticket(cast.a, contact=cast.a.contact).priority == Priority.HIGH
    assert new_ticket(cast.b, contact=cast.b.contact).priority == Priority.NORMAL


def test_the_tickets_app_imports_nothing_of_surveys():
    """The layering: a lower domain names no app built on it."""
    offenders = []
    for path in TICKETS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {name}" for name in names
                          if name.startswith("firstline.surveys")]
    assert offenders == []
