"""A policy's new terms reach its open tickets: deadlines, pauses and escalation steps follow
from the change on, each ticket audited; resolved tickets and other policies keep theirs.
A policy in use cannot be deleted; an unused one goes after a confirmation."""

from datetime import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from firstline.contacts.models import Organisation
from firstline.core import config_cache
from firstline.core.models import AuditEvent
from firstline.sla import clock, services
from firstline.sla.calendars import clear_schedule_cache
from firstline.sla.models import EscalationStep, PendingEscalation, SlaPolicy, SlaTarget
from firstline.tickets.models import Priority, Status, Ticket
from firstline.tickets.services import TicketChange, change_ticket

from .conftest import client_for
from .test_sla_deadlines import TARGETS, at, new_ticket, office_policy
from .test_sla_escalation import critical_ticket, ladder  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_schedules():
    clear_schedule_cache()
    yield
    clear_schedule_cache()


def targets_with(**changes):
    targets = {str(priority): pair for priority, pair in TARGETS.items()}
    targets.update(changes)
    return targets


def save(cast, policy, **changes):
    with time_machine.travel(at(2026, 11, 30, 10, 0), tick=False):
        return services.save_policy(actor=cast.supervisor, partner=cast.a.partner,
                                    policy=SlaPolicy.objects.get(pk=policy.pk),
                                    targets=targets_with(**changes))


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def pending(ticket):
    return {p.step_id: p.due_at for p in
            PendingEscalation.objects.filter(ticket=ticket, fired_at__isnull=True)}


def test_a_tightened_target_moves_the_open_tickets_deadlines_and_audits_each(cast, ladder):  # noqa: F811
    policy, steps = ladder
    ticket = critical_ticket(cast, at(2026, 11, 30, 9, 0))
    assert (ticket.reaction_due_at, ticket.resolution_due_at) == (
        at(2026, 11, 30, 9, 30), at(2026, 11, 30, 13, 0))

    saved = save(cast, policy, critical=(15, 120))

    assert saved.recomputed == 1
    ticket.refresh_from_db()
    assert ticket.reaction_due_at == at(2026, 11, 30, 9, 15)
    assert ticket.resolution_due_at == at(2026, 11, 30, 11, 0)
    assert ticket.due_at == ticket.reaction_due_at
    event = AuditEvent.objects.get(action="ticket.deadlines_recomputed",
                                   target_id=str(ticket.pk))
    assert event.actor == cast.supervisor and event.partner == cast.a.partner
    assert parse(event.before["resolution_due_at"]) == at(2026, 11, 30, 13, 0)
    assert parse(event.after["resolution_due_at"]) == at(2026, 11, 30, 11, 0)
    assert event.after["policy"] == policy.name
    # Steps the change made overdue fall due at the change (10:00) and fire on time.
    assert pending(ticket) == {
        steps["reaction"].pk: at(2026, 11, 30, 10, 0),
        steps["half"].pk: at(2026, 11, 30, 10, 0),
        steps["breach"].pk: at(2026, 11, 30, 11, 0),
    }
    assert clock.sweep(at(2026, 11, 30, 10, 0)) == 2
    fired = AuditEvent.objects.filter(action="escalation.fired")
    assert [event.after["late"] for event in fired] == [False, False]


def test_a_relaxed_target_gives_more_time_and_does_not_fire_a_step_twice(cast, ladder):  # noqa: F811
    policy, steps = ladder
    ticket = critical_ticket(cast, at(2026, 11, 30, 9, 0))
    assert clock.sweep(at(2026, 11, 30, 9, 30)) == 1  # the reaction breach has fired

    save(cast, policy, critical=(60, 480))

    ticket.refresh_from_db()
    assert ticket.reaction_due_at == at(2026, 11, 30, 10, 0)
    assert ticket.resolution_due_at == at(2026, 11, 30, 17, 0)
    assert pending(ticket) == {
        steps["half"].pk: at(2026, 11, 30, 13, 0),
        steps["breach"].pk: at(2026, 11, 30, 17, 0),
    }
    assert PendingEscalation.objects.filter(ticket=ticket, step=steps["reaction"]).count() == 1


def test_resolved_tickets_other_policies_and_other_partners_keep_their_deadlines(cast, ladder):  # noqa: F811
    policy, _steps = ladder
    with time_machine.travel(at(2026, 11, 30, 9, 0), tick=False):
        resolved = new_ticket(cast.a, priority=Priority.CRITICAL)
        change_ticket(ticket=resolved, actor=cast.operator,
                      change=TicketChange(status=Status.RESOLVED))
        other_policy = office_policy(cast.b.partner, name="Beta office")
        beta = new_ticket(cast.b, priority=Priority.CRITICAL)
    resolved.refresh_from_db()
    before = {pk: tuple(Ticket.objects.filter(pk=pk).values_list(
        "reaction_due_at", "resolution_due_at", "resolution_in_time")[0])
        for pk in (resolved.pk, beta.pk)}
    assert beta.sla_policy == other_policy

    assert save(cast, policy, critical=(15, 120)).recomputed == 0

    after = {pk: tuple(Ticket.objects.filter(pk=pk).values_list(
        "reaction_due_at", "resolution_due_at", "resolution_in_time")[0])
        for pk in (resolved.pk, beta.pk)}
    assert after == before
    assert not AuditEvent.objects.filter(action="ticket.deadlines_recomputed").exists()


def test_a_save_that_keeps_the_terms_recomputes_nothing(cast, ladder):  # noqa: F811
    policy, _steps = ladder
    critical_ticket(cast, at(2026, 11, 30, 9, 0))
    policy.name = "Renamed"
    with time_machine.travel(at(2026, 11, 30, 10, 0), tick=False):
        saved = services.save_policy(actor=cast.supervisor, partner=cast.a.partner,
                                     policy=policy, targets=targets_with())
    assert saved.recomputed == 0
    assert not AuditEvent.objects.filter(action="ticket.deadlines_recomputed").exists()


def test_a_status_that_now_pauses_stops_the_resolution_clock_from_the_change(cast, ladder):  # noqa: F811
    policy, _steps = ladder
    ticket = critical_ticket(cast, at(2026, 11, 30, 9, 0))
    with time_machine.travel(at(2026, 11, 30, 9, 10), tick=False):
        change_ticket(ticket=ticket, actor=cast.operator,
                      change=TicketChange(status=Status.WAITING_PARTNER))
    policy = SlaPolicy.objects.get(pk=policy.pk)
    policy.paused_statuses = [Status.WAITING_CUSTOMER, Status.WAITING_PARTNER]
    with time_machine.travel(at(2026, 11, 30, 10, 0), tick=False):
        services.save_policy(actor=cast.supervisor, partner=cast.a.partner, policy=policy,
                             targets=targets_with())
    ticket.refresh_from_db()
    assert ticket.paused_since == at(2026, 11, 30, 10, 0)
    assert ticket.due_at == ticket.reaction_due_at  # the resolution clock is stopped
    with time_machine.travel(at(2026, 11, 30, 11, 0), tick=False):
        change_ticket(ticket=ticket, actor=cast.operator, change=TicketChange(status=Status.OPEN))
    ticket.refresh_from_db()
    assert ticket.resolution_due_at == at(2026, 11, 30, 14, 0)  # an hour later: paused 60 min


def test_thousands_of_tickets_are_recomputed_in_batches_of_constant_queries(cast, ladder):  # noqa: F811
    policy, _steps = ladder

    def queries_for(count):
        Ticket.objects.all().delete()
        for _ in range(count):
            critical_ticket(cast, at(2026, 11, 30, 9, 0))
        SlaTarget.objects.filter(policy=policy, priority=Priority.CRITICAL).update(
            reaction_minutes=15 + count, resolution_minutes=200)
        config_cache.clear()  # an UPDATE sends no signal; the service's saves do
        with CaptureQueriesContext(connection) as queries:
            changed = services.recompute_open_tickets(
                actor=cast.supervisor, partner=cast.a.partner, policy=policy, batch_size=25)
        assert changed == count
        return len(queries)

    # Twice the tickets in one batch each: the same queries; four batches: more, not 50x.
    assert queries_for(10) == queries_for(20)
    many = queries_for(100)
    assert Ticket.objects.filter(resolution_due_at=at(2026, 11, 30, 12, 20)).count() == 100
    assert many < 4 * queries_for(25)


def test_the_policy_page_tells_the_supervisor_the_open_tickets_follow(cast, ladder):  # noqa: F811
    policy, _steps = ladder
    critical_ticket(cast, at(2026, 11, 30, 9, 0))
    client = client_for(cast.supervisor)
    url = reverse("sla-policy-edit", args=[cast.a.partner.pk, policy.pk])
    page = client.get(url).content.decode()
    assert "1 open ticket counts its deadlines by this policy" in page
    data = {"name": policy.name, "is_default": "on", "calendar": policy.calendar_id,
            "paused_statuses": ["waiting_customer"]}
    for priority, (reaction, resolution) in targets_with(critical=(15, 120)).items():
        data[f"reaction_{priority}"], data[f"resolution_{priority}"] = reaction, resolution
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    assert "The deadlines of 1 open ticket now follow the new terms." in \
        response.content.decode()


# --- Deleting a policy ---------------------------------------------------------------------


def test_a_policy_in_use_is_refused_naming_where_it_is_used(cast, ladder):  # noqa: F811
    policy, _steps = ladder
    SlaPolicy.objects.filter(pk=policy.pk).update(is_default=False)
    Organisation.objects.filter(pk=cast.a.organisation.pk).update(sla_policy=policy)
    cast.a.contact.organisation.refresh_from_db()
    config_cache.clear()
    assert critical_ticket(cast, at(2026, 11, 30, 9, 0)).sla_policy == policy
    client = client_for(cast.supervisor)
    url = reverse("sla-policy-delete", args=[cast.a.partner.pk, policy.pk])

    page = client.get(url).content.decode()
    assert "is in use and cannot be deleted" in page
    assert cast.a.organisation.name in page and "1 ticket counts" in page
    assert 'class="danger"' not in page  # nothing to confirm
    response = client.post(url)
    assert response.status_code == 400
    assert SlaPolicy.objects.filter(pk=policy.pk).exists()
    assert not AuditEvent.objects.filter(action="sla.policy_deleted").exists()


def test_the_default_policy_is_refused_until_another_is_the_default(cast, ladder):  # noqa: F811
    policy, _steps = ladder
    with pytest.raises(services.ValidationError) as refused:
        services.delete_policy(actor=cast.supervisor, partner=cast.a.partner,
                               policy=SlaPolicy.objects.get(pk=policy.pk))
    assert "default" in " ".join(refused.value.messages)


def test_an_unused_policy_is_deleted_after_a_confirmation_with_an_audit(cast, ladder):  # noqa: F811
    policy, _steps = ladder
    spare = office_policy(cast.a.partner, name="Spare", default=False)
    EscalationStep.objects.create(partner=cast.a.partner, policy=spare, priority="high",
                                  target="reaction", percent=100, roles=["lead"],
                                  channels=["email"])
    client = client_for(cast.supervisor)
    url = reverse("sla-policy-delete", args=[cast.a.partner.pk, spare.pk])

    page = client.get(url).content.decode()
    assert "Delete the policy “Spare”" in page and 'class="danger"' in page
    assert SlaPolicy.objects.filter(pk=spare.pk).exists()  # looking deletes nothing
    response = client.post(url)
    assert response.status_code == 302
    assert not SlaPolicy.objects.filter(pk=spare.pk).exists()
    assert not EscalationStep.objects.filter(policy_id=spare.pk).exists()
    event = AuditEvent.objects.get(action="sla.policy_deleted")
    assert event.actor == cast.supervisor and event.target_id == str(spare.pk)
    assert event.before["name"] == "Spare" and event.before["targets"]["critical"] == [30, 240]
    assert event.after == {}


def test_another_partners_policy_cannot_be_deleted_and_operators_cannot_delete(cast):
    beta = office_policy(cast.b.partner, name="Beta", default=False)
    url = reverse("sla-policy-delete", args=[cast.a.partner.pk, beta.pk])
    assert client_for(cast.supervisor).post(url).status_code == 404
    own = reverse("sla-policy-delete", args=[cast.b.partner.pk, beta.pk])
    assert client_for(cast.operator).post(own).status_code == 403
    assert client_for(cast.b.engineer).post(own).status_code in (302, 403)
    assert SlaPolicy.objects.filter(pk=beta.pk).exists()
