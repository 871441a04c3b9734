"""SLA settings pages and the deadline board.

Supervisors and administrators change a partner's policies, escalation ladder, urgency
criteria and typical requests; every change is validated (errors on the field, nothing
saved) and audited with before and after. Operators and partner accounts cannot open the
settings; nobody reaches another partner's row through a forged URL. The board lists
breached and at-risk tickets with business-time countdowns.
"""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from firstline.core.models import AuditEvent, User
from firstline.sla.calendars import clear_schedule_cache
from firstline.sla.models import (
    BusinessCalendar,
    EscalationStep,
    SlaPolicy,
    SlaTarget,
    TypicalRequest,
    UrgencyRule,
)
from firstline.tickets.models import Channel, Priority, Status, Ticket
from firstline.tickets.services import create_ticket

from .conftest import client_for, make_user
from .test_sla_deadlines import TARGETS, office_policy

MSK = ZoneInfo("Europe/Moscow")
NEW_TARGETS = {  # reaction, resolution in business minutes
    Priority.CRITICAL: (15, 120), Priority.HIGH: (45, 480),
    Priority.NORMAL: (90, 960), Priority.LOW: (300, 2400),
}


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)


@pytest.fixture(autouse=True)
def fresh_schedules():
    # Compiled schedules are cached per process by (calendar id, version); SQLite hands a
    # rolled-back test's calendar ids out again, so a schedule cached by an earlier test
    # would be taken for this test's calendar of the same id.
    clear_schedule_cache()
    yield
    clear_schedule_cache()


@pytest.fixture
def supervisor(cast):
    return client_for(cast.supervisor)


@pytest.fixture
def policy(cast):
    return office_policy(cast.a.partner)


@pytest.fixture
def rows(cast, policy):
    """One row of every kind for partner A and for partner B."""
    made = {}
    for side, pol in ((cast.a, policy), (cast.b, office_policy(cast.b.partner, name="Beta"))):
        step = EscalationStep.objects.create(
            partner=side.partner, policy=pol, priority=Priority.CRITICAL,
            target=EscalationStep.Target.RESOLUTION, percent=80, roles=["lead"],
            channels=["email"],
        )
        rule = UrgencyRule.objects.create(partner=side.partner, name="Down", keywords="down",
                                          priority=Priority.HIGH)
        typical = TypicalRequest.objects.create(partner=side.partner, name="Password reset",
                                                resolution_minutes=30)
        made[side.partner.slug] = {"steps": step, "rules": rule, "typical": typical,
                                   "policy": pol}
    return made


def policy_data(name="Office hours", default=True, calendar=None, paused=("waiting_customer",),
                targets=NEW_TARGETS, **changes):
    data = {"name": name, "calendar": calendar.pk if calendar else "",
            "paused_statuses": list(paused)}
    if default:
        data["is_default"] = "on"
    for priority, (reaction, resolution) in targets.items():
        data[f"reaction_{priority}"] = reaction
        data[f"resolution_{priority}"] = resolution
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def targets_of(policy):
    return {t.priority: (t.reaction_minutes, t.resolution_minutes)
            for t in SlaTarget.objects.filter(policy=policy)}


def new_policy_url(side):
    return reverse("sla-policy-new", args=[side.partner.pk])


def edit_policy_url(side, policy):
    return reverse("sla-policy-edit", args=[side.partner.pk, policy.pk])


def add_url(side, kind):
    return reverse("sla-setting-add", args=[side.partner.pk, kind])


def delete_url(side, kind, pk):
    return reverse("sla-setting-delete", args=[side.partner.pk, kind, pk])


def step_data(policy, **changes):
    data = {"steps-policy": policy.pk, "steps-priority": "high", "steps-target": "resolution",
            "steps-percent": 50, "steps-roles": ["lead", "partner_engineer"],
            "steps-channels": ["email", "sms"]}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def rule_data(**changes):
    data = {"rules-position": 1, "rules-name": "Outage", "rules-keywords": "не работает",
            "rules-priority": "critical"}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def typical_data(**changes):
    data = {"typical-name": "Domain renewal", "typical-instruction": "Check the payment.",
            "typical-resolution_minutes": 240}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def form_errors(response, key="form"):
    return response.context[key].errors


# --- Policies ---------------------------------------------------------------------------


def test_a_supervisor_creates_a_policy_with_targets_for_every_priority(cast, supervisor):
    calendar = BusinessCalendar.objects.create(partner=cast.a.partner, name="Alpha office")
    response = supervisor.post(new_policy_url(cast.a), policy_data(
        calendar=calendar, paused=("waiting_customer", "waiting_partner")))
    assert response.status_code == 302
    assert response["Location"] == reverse("sla-settings", args=[cast.a.partner.pk])
    policy = SlaPolicy.objects.get(partner=cast.a.partner)
    assert policy.name == "Office hours" and policy.is_default
    assert policy.calendar == calendar
    assert policy.paused_statuses == ["waiting_customer", "waiting_partner"]
    assert targets_of(policy) == NEW_TARGETS
    assert set(SlaTarget.objects.filter(policy=policy).values_list("partner", flat=True)) == {
        cast.a.partner.pk}
    saved = AuditEvent.objects.get(action="sla.policy_saved", target_id=str(policy.pk))
    assert saved.actor == cast.supervisor and saved.partner == cast.a.partner
    assert saved.before == {}
    assert saved.after["name"] == "Office hours" and saved.after["is_default"] is True
    assert saved.after["calendar"] == "Alpha office"
    assert saved.after["paused_statuses"] == ["waiting_customer", "waiting_partner"]
    targets = AuditEvent.objects.get(action="sla.targets_changed", target_id=str(policy.pk))
    assert targets.before == {}
    assert targets.after == {p: list(v) for p, v in NEW_TARGETS.items()}


def test_the_policy_form_shows_the_saved_targets(cast, supervisor, policy):
    response = supervisor.get(edit_policy_url(cast.a, policy))
    assert response.status_code == 200
    form = response.context["form"]
    for priority, (reaction, resolution) in TARGETS.items():
        assert form[f"reaction_{priority}"].value() == reaction
        assert form[f"resolution_{priority}"].value() == resolution


def test_editing_a_policy_saves_the_targets_and_audits_before_and_after(cast, supervisor, policy):
    response = supervisor.post(edit_policy_url(cast.a, policy), policy_data(
        name="Office hours 2026", calendar=policy.calendar, paused=("waiting_partner",)))
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.name == "Office hours 2026"
    assert policy.paused_statuses == ["waiting_partner"]
    assert targets_of(policy) == NEW_TARGETS
    assert SlaTarget.objects.filter(policy=policy).count() == len(Priority.values)
    saved = AuditEvent.objects.get(action="sla.policy_saved", target_id=str(policy.pk))
    assert saved.before["name"] == "Office hours" and saved.after["name"] == "Office hours 2026"
    assert saved.before["paused_statuses"] == ["waiting_customer"]
    assert saved.after["paused_statuses"] == ["waiting_partner"]
    targets = AuditEvent.objects.get(action="sla.targets_changed", target_id=str(policy.pk))
    assert targets.before == {p: list(v) for p, v in TARGETS.items()}
    assert targets.after == {p: list(v) for p, v in NEW_TARGETS.items()}


def test_saving_unchanged_targets_records_no_target_change(cast, supervisor, policy):
    supervisor.post(edit_policy_url(cast.a, policy),
                    policy_data(calendar=policy.calendar, targets=TARGETS))
    assert not AuditEvent.objects.filter(action="sla.targets_changed").exists()


def test_making_a_second_policy_default_takes_the_flag_from_the_first(cast, supervisor, policy):
    response = supervisor.post(new_policy_url(cast.a), policy_data(name="Round the clock"))
    assert response.status_code == 302
    second = SlaPolicy.objects.get(partner=cast.a.partner, name="Round the clock")
    policy.refresh_from_db()
    assert second.is_default and not policy.is_default
    assert SlaPolicy.objects.filter(partner=cast.a.partner, is_default=True).count() == 1
    # The first policy lost its flag: that is a change of it, audited as one.
    lost = AuditEvent.objects.get(action="sla.policy_saved", target_id=str(policy.pk))
    assert lost.before == {"is_default": True} and lost.after == {"is_default": False}
    # Another partner's default is not touched.
    beta = office_policy(cast.b.partner, name="Beta")
    supervisor.post(new_policy_url(cast.a), policy_data(name="Third"))
    beta.refresh_from_db()
    assert beta.is_default


BAD_POLICIES = {
    "reaction longer than resolution": (
        {"reaction_high": 600, "resolution_high": 540}, "reaction_high"),
    "missing target": ({"resolution_low": ""}, "resolution_low"),
    "negative minutes": ({"reaction_normal": -5}, "reaction_normal"),
    "zero minutes": ({"resolution_critical": 0}, "resolution_critical"),
    "unknown pausing status": ({"paused_statuses": ["resolved"]}, "paused_statuses"),
    "no name": ({"name": ""}, "name"),
}


@pytest.mark.parametrize("case", BAD_POLICIES, ids=list(BAD_POLICIES))
def test_a_bad_policy_edit_is_refused_on_its_field_and_changes_nothing(
    cast, supervisor, policy, case
):
    changes, field = BAD_POLICIES[case]
    response = supervisor.post(edit_policy_url(cast.a, policy), policy_data(
        calendar=policy.calendar, **{"name": "Renamed", **changes}))
    assert response.status_code == 400
    assert field in form_errors(response), form_errors(response)
    policy.refresh_from_db()
    assert policy.name == "Office hours" and targets_of(policy) == TARGETS
    assert not AuditEvent.objects.filter(action__startswith="sla.").exists()


@pytest.mark.parametrize("case", BAD_POLICIES, ids=list(BAD_POLICIES))
def test_a_bad_new_policy_is_refused_on_its_field_and_nothing_is_created(cast, supervisor, case):
    changes, field = BAD_POLICIES[case]
    response = supervisor.post(new_policy_url(cast.a), policy_data(**changes))
    assert response.status_code == 400
    assert field in form_errors(response), form_errors(response)
    assert not SlaPolicy.objects.exists() and not SlaTarget.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="sla.").exists()


def test_a_calendar_of_another_partner_is_refused(cast, supervisor, policy):
    beta_calendar = BusinessCalendar.objects.create(partner=cast.b.partner, name="Beta office")
    response = supervisor.post(edit_policy_url(cast.a, policy),
                               policy_data(calendar=beta_calendar))
    assert response.status_code == 400
    assert "calendar" in form_errors(response)
    policy.refresh_from_db()
    assert policy.calendar.partner == cast.a.partner
    # A provider-wide calendar (no partner) is every partner's to use.
    shared = BusinessCalendar.objects.create(partner=None, name="Provider 24x7", is_24x7=True)
    assert supervisor.post(edit_policy_url(cast.a, policy),
                           policy_data(calendar=shared)).status_code == 302
    policy.refresh_from_db()
    assert policy.calendar == shared


def test_a_duplicate_policy_name_is_refused_on_the_name(cast, supervisor, policy):
    response = supervisor.post(new_policy_url(cast.a), policy_data(name="Office hours",
                                                                   default=False))
    assert response.status_code == 400
    assert "name" in form_errors(response)
    assert SlaPolicy.objects.filter(partner=cast.a.partner).count() == 1
    # The same name at another partner is fine.
    assert supervisor.post(new_policy_url(cast.b), policy_data()).status_code == 302


def test_a_refused_edit_keeps_the_policys_own_name_in_the_heading(cast, supervisor, policy):
    response = supervisor.post(edit_policy_url(cast.a, policy), policy_data(
        name="Typo name", calendar=policy.calendar, reaction_high=9999))
    assert response.status_code == 400
    assert "<h1>Office hours" in response.content.decode()


# --- Escalation steps, urgency rules, typical requests -----------------------------------


def test_an_escalation_step_is_added_and_deleted_with_an_audit_of_roles_users_channels(
    cast, supervisor, policy
):
    response = supervisor.post(add_url(cast.a, "steps"), step_data(
        policy, **{"steps-users": [cast.a.manager.pk, cast.supervisor.pk]}))
    assert response.status_code == 302
    step = EscalationStep.objects.get(partner=cast.a.partner)
    assert (step.policy, step.priority, step.target, step.percent) == (
        policy, "high", "resolution", 50)
    assert step.roles == ["lead", "partner_engineer"] and step.channels == ["email", "sms"]
    assert set(step.users.all()) == {cast.a.manager, cast.supervisor}
    saved = AuditEvent.objects.get(action="sla.escalation_step_saved")
    assert saved.actor == cast.supervisor and saved.partner == cast.a.partner
    assert saved.after["roles"] == ["lead", "partner_engineer"]
    assert saved.after["channels"] == ["email", "sms"]
    assert sorted(saved.after["users"]) == sorted(
        [str(cast.a.manager), str(cast.supervisor)])
    assert saved.after["policy"] == "Office hours" and saved.after["percent"] == 50

    response = supervisor.post(delete_url(cast.a, "steps", step.pk))
    assert response.status_code == 302
    assert not EscalationStep.objects.filter(pk=step.pk).exists()
    deleted = AuditEvent.objects.get(action="sla.escalation_step_deleted")
    assert deleted.target_id == str(step.pk) and deleted.after == {}
    assert deleted.before["roles"] == ["lead", "partner_engineer"]
    assert deleted.before["channels"] == ["email", "sms"]
    assert len(deleted.before["users"]) == 2


def test_a_step_for_named_people_only_needs_no_role(cast, supervisor, policy):
    response = supervisor.post(add_url(cast.a, "steps"), step_data(
        policy, **{"steps-roles": None, "steps-users": [cast.a.engineer.pk]}))
    assert response.status_code == 302
    step = EscalationStep.objects.get(partner=cast.a.partner)
    assert step.roles == [] and list(step.users.all()) == [cast.a.engineer]
    assert AuditEvent.objects.get(action="sla.escalation_step_saved").after["roles"] == []


def bad_steps(cast, rows):
    beta = rows["beta"]["policy"]
    alpha = rows["alpha"]["policy"]
    duplicate = {"steps-priority": "critical", "steps-target": "resolution",
                 "steps-percent": 80}
    return {
        "no channel": (step_data(alpha, **{"steps-channels": None}), "channels"),
        "neither roles nor users": (step_data(alpha, **{"steps-roles": None}), "roles"),
        "duplicate step": (step_data(alpha, **duplicate), "percent"),
        "zero percent": (step_data(alpha, **{"steps-percent": 0}), "percent"),
        "policy of another partner": (step_data(beta), "policy"),
        "user of another partner": (
            step_data(alpha, **{"steps-users": [cast.b.engineer.pk]}), "users"),
        "unknown channel": (step_data(alpha, **{"steps-channels": ["pigeon"]}), "channels"),
    }


STEP_CASES = ["no channel", "neither roles nor users", "duplicate step", "zero percent",
              "policy of another partner", "user of another partner", "unknown channel"]


@pytest.mark.parametrize("case", STEP_CASES)
def test_a_bad_escalation_step_is_refused_on_its_field(cast, supervisor, rows, case):
    data, field = bad_steps(cast, rows)[case]
    before = EscalationStep.objects.count()
    response = supervisor.post(add_url(cast.a, "steps"), data)
    assert response.status_code == 400
    errors = response.context["forms"]["steps"].errors
    assert field in errors, errors
    assert EscalationStep.objects.count() == before
    assert not AuditEvent.objects.filter(action__startswith="sla.").exists()
    # The page shows the error next to the open form.
    page = response.content.decode()
    assert re.search(r'<details class="add-setting" id="add-steps" open>\s*<summary>Add a step',
                     page)
    assert 'class="errorlist' in page


def test_an_urgency_rule_is_added_and_deleted_with_an_audit(cast, supervisor):
    response = supervisor.post(add_url(cast.a, "rules"), rule_data(
        **{"rules-service": cast.a.service.pk, "rules-vip_only": "on"}))
    assert response.status_code == 302
    rule = UrgencyRule.objects.get(partner=cast.a.partner)
    assert (rule.name, rule.keywords, rule.service, rule.vip_only, rule.priority) == (
        "Outage", "не работает", cast.a.service, True, "critical")
    saved = AuditEvent.objects.get(action="sla.urgency_rule_saved")
    assert saved.after["service"] == cast.a.service.name and saved.after["vip_only"] is True
    assert supervisor.post(delete_url(cast.a, "rules", rule.pk)).status_code == 302
    assert not UrgencyRule.objects.exists()
    deleted = AuditEvent.objects.get(action="sla.urgency_rule_deleted")
    assert deleted.before["name"] == "Outage" and deleted.after == {}


@pytest.mark.parametrize("changes, field", [
    ({"rules-keywords": " , "}, "keywords"),  # no service, no keyword, not VIP only
    ({"rules-keywords": "", "rules-service": "SERVICE_B"}, "service"),
    ({"rules-priority": "urgent"}, "priority"),
    ({"rules-name": ""}, "name"),
], ids=["no condition", "service of another partner", "unknown priority", "no name"])
def test_a_bad_urgency_rule_is_refused_on_its_field(cast, supervisor, changes, field):
    changes = {key: cast.b.service.pk if value == "SERVICE_B" else value
               for key, value in changes.items()}
    response = supervisor.post(add_url(cast.a, "rules"), rule_data(**changes))
    assert response.status_code == 400
    errors = response.context["forms"]["rules"].errors
    assert field in errors, errors
    assert not UrgencyRule.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="sla.").exists()


def test_a_typical_request_is_added_and_deleted_with_an_audit(cast, supervisor):
    response = supervisor.post(add_url(cast.a, "typical"), typical_data())
    assert response.status_code == 302
    item = TypicalRequest.objects.get(partner=cast.a.partner)
    assert (item.name, item.resolution_minutes) == ("Domain renewal", 240)
    saved = AuditEvent.objects.get(action="sla.typical_request_saved")
    assert saved.after["name"] == "Domain renewal" and saved.after["resolution_minutes"] == 240
    assert supervisor.post(delete_url(cast.a, "typical", item.pk)).status_code == 302
    assert not TypicalRequest.objects.exists()
    assert AuditEvent.objects.get(action="sla.typical_request_deleted").before["name"] == (
        "Domain renewal")


@pytest.mark.parametrize("changes, field", [
    ({"typical-name": "Password reset"}, "name"),
    ({"typical-resolution_minutes": 0}, "resolution_minutes"),
    ({"typical-resolution_minutes": ""}, "resolution_minutes"),
], ids=["duplicate name", "zero minutes", "no norm"])
def test_a_bad_typical_request_is_refused_on_its_field(cast, supervisor, rows, changes, field):
    response = supervisor.post(add_url(cast.a, "typical"), typical_data(**changes))
    assert response.status_code == 400
    errors = response.context["forms"]["typical"].errors
    assert field in errors, errors
    assert TypicalRequest.objects.filter(partner=cast.a.partner).count() == 1
    assert not AuditEvent.objects.filter(action__startswith="sla.").exists()


def test_the_same_typical_request_name_is_fine_at_another_partner(cast, supervisor):
    TypicalRequest.objects.create(partner=cast.a.partner, name="Password reset",
                                  resolution_minutes=30)
    response = supervisor.post(add_url(cast.b, "typical"),
                               typical_data(**{"typical-name": "Password reset"}))
    assert response.status_code == 302
    assert TypicalRequest.objects.filter(name="Password reset").count() == 2


def test_the_settings_page_shows_every_kind_of_row_with_readable_labels(cast, supervisor, rows):
    response = supervisor.get(reverse("sla-settings", args=[cast.a.partner.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Office hours" in page and "Down" in page and "Password reset" in page
    assert "Waiting for customer" in page  # labels, not the stored values
    assert "First-line lead (supervisors)" in page and "E-mail" in page
    assert "waiting_customer" not in page and "partner_engineer</td>" not in page
    assert "Beta" not in page  # partner B's policy is not on partner A's page


def test_unknown_setting_kind_is_404(cast, supervisor, rows):
    assert supervisor.post(add_url(cast.a, "calendars"), {}).status_code == 404
    assert supervisor.post(delete_url(cast.a, "calendars", 1)).status_code == 404


# --- Who may, and whose rows -------------------------------------------------------------


def settings_requests(cast, rows):
    """(method, url, data) for every settings URL, aimed at partner A's rows."""
    a, alpha = cast.a, rows["alpha"]
    return [
        ("get", reverse("sla-partners"), None),
        ("get", reverse("sla-settings", args=[a.partner.pk]), None),
        ("get", new_policy_url(a), None),
        ("post", new_policy_url(a), policy_data(name="Intruder")),
        ("get", edit_policy_url(a, alpha["policy"]), None),
        ("post", edit_policy_url(a, alpha["policy"]), policy_data(name="Intruder")),
        ("post", add_url(a, "steps"), step_data(alpha["policy"])),
        ("post", add_url(a, "rules"), rule_data()),
        ("post", add_url(a, "typical"), typical_data()),
        ("post", delete_url(a, "steps", alpha["steps"].pk), None),
        ("post", delete_url(a, "rules", alpha["rules"].pk), None),
        ("post", delete_url(a, "typical", alpha["typical"].pk), None),
    ]


def snapshot():
    return (
        list(SlaPolicy.objects.values()), list(SlaTarget.objects.values()),
        list(EscalationStep.objects.values()), list(UrgencyRule.objects.values()),
        list(TypicalRequest.objects.values()),
    )


@pytest.mark.parametrize("who", ["operator", "engineer", "manager", "customer"])
def test_operators_and_partner_accounts_get_403_on_every_settings_url(cast, rows, who):
    client = client_for(getattr(cast, who, None) or getattr(cast.a, who))
    before = snapshot()
    for method, url, data in settings_requests(cast, rows):
        response = getattr(client, method)(url, data or {})
        assert response.status_code == 403, (method, url)
    assert snapshot() == before
    assert not AuditEvent.objects.filter(action__startswith="sla.").exists()


def test_a_stranger_is_sent_to_sign_in(client, cast, rows):
    for method, url, data in settings_requests(cast, rows):
        response = getattr(client, method)(url, data or {})
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_an_administrator_may_change_settings(cast, rows):
    admin = client_for(make_user("admin", User.Role.ADMIN))
    assert admin.get(reverse("sla-settings", args=[cast.a.partner.pk])).status_code == 200
    assert admin.post(add_url(cast.a, "typical"), typical_data()).status_code == 302


@pytest.mark.parametrize("kind", ["steps", "rules", "typical"])
def test_another_partners_row_cannot_be_deleted_through_a_forged_url(
    cast, supervisor, rows, kind
):
    beta_row = rows["beta"][kind]
    response = supervisor.post(delete_url(cast.a, kind, beta_row.pk))
    assert response.status_code == 404
    assert type(beta_row).objects.filter(pk=beta_row.pk).exists()
    assert not AuditEvent.objects.filter(action__startswith="sla.").exists()


def test_another_partners_policy_cannot_be_edited_through_a_forged_url(cast, supervisor, rows):
    beta = rows["beta"]["policy"]
    url = reverse("sla-policy-edit", args=[cast.a.partner.pk, beta.pk])
    assert supervisor.get(url).status_code == 404
    assert supervisor.post(url, policy_data(name="Hijacked")).status_code == 404
    beta.refresh_from_db()
    assert beta.name == "Beta" and targets_of(beta) == TARGETS


def test_a_missing_partner_is_404(supervisor, cast):
    assert supervisor.get(reverse("sla-settings", args=[9999])).status_code == 404
    response = supervisor.post(reverse("sla-setting-add", args=[9999, "typical"]),
                               typical_data())
    assert response.status_code == 404
    assert not TypicalRequest.objects.exists()


# --- The deadline board ------------------------------------------------------------------


def quiet_cast_tickets(cast):
    """The cast's own tickets run on wall-clock fallback targets from the real now; keep
    them off the board so that it shows only this test's tickets."""
    Ticket.objects.filter(partner__in=[cast.a.partner, cast.b.partner]).update(
        status=Status.CLOSED, due_at=None)


def ticket_at(side, moment, priority, subject):
    with time_machine.travel(moment, tick=False):
        return create_ticket(partner=side.partner, actor=side.customer, channel=Channel.PORTAL,
                             contact=side.contact, subject=subject, text="Не работает",
                             priority=priority)


def test_the_board_lists_breached_and_at_risk_tickets_with_business_time_countdowns(
    cast, policy
):
    quiet_cast_tickets(cast)
    # Thursday 10:00, critical: reaction due at 10:30 the same day.
    late = ticket_at(cast.a, at(2026, 11, 26, 10, 0), Priority.CRITICAL, "Late one")
    # Friday 17:00, normal: 60 business minutes on Friday, reaction due Monday 10:00.
    soon = ticket_at(cast.a, at(2026, 11, 27, 17, 0), Priority.NORMAL, "Soon one")
    # Monday 09:00, low: reaction due at 13:00, more than two hours away.
    later = ticket_at(cast.a, at(2026, 11, 30, 9, 0), Priority.LOW, "Later one")
    with time_machine.travel(at(2026, 11, 30, 9, 30), tick=False):
        response = client_for(cast.operator).get(reverse("sla-board"))
    assert response.status_code == 200
    assert [t.pk for t in response.context["breached"]] == [late.pk]
    assert [t.pk for t in response.context["at_risk"]] == [soon.pk]
    page = response.content.decode()
    assert later.number not in page
    # Overdue since Thursday 10:30: 7.5 h on Thursday + 9 h on Friday + 0.5 h on Monday;
    # the weekend and the nights are not business time.
    assert "reaction overdue by 17 h" in page
    assert "reaction: 30 min left" in page
    assert "due-breach" in page
    assert late.number in page and soon.number in page


def test_the_board_is_for_provider_staff_only(cast):
    for user in (cast.a.engineer, cast.a.manager, cast.a.customer):
        assert client_for(user).get(reverse("sla-board")).status_code == 403
    assert client_for(cast.supervisor).get(reverse("sla-board")).status_code == 200


def test_each_board_list_pages_on_its_own(cast, policy, settings):
    settings.FIRSTLINE_PAGE_SIZE = 2
    quiet_cast_tickets(cast)
    late = [ticket_at(cast.a, at(2026, 11, 26, 10, minute), Priority.CRITICAL, f"Late {minute}")
            for minute in (0, 1, 2)]
    soon = [ticket_at(cast.a, at(2026, 11, 27, 17, minute), Priority.NORMAL, f"Soon {minute}")
            for minute in (0, 1, 2)]
    client = client_for(cast.operator)
    with time_machine.travel(at(2026, 11, 30, 9, 30), tick=False):
        first = client.get(reverse("sla-board"))
        second = client.get(reverse("sla-board"), {"breached": 2, "at_risk": 2})
        mixed = client.get(reverse("sla-board"), {"breached": 2})
    assert [t.pk for t in first.context["breached"]] == [t.pk for t in late[:2]]
    assert [t.pk for t in first.context["at_risk"]] == [t.pk for t in soon[:2]]
    page = first.content.decode()
    assert "?breached=2&amp;at_risk=1" in page or "?at_risk=1&amp;breached=2" in page
    assert "?breached=1&amp;at_risk=2" in page or "?at_risk=2&amp;breached=1" in page
    assert [t.pk for t in second.context["breached"]] == [late[2].pk]
    assert [t.pk for t in second.context["at_risk"]] == [soon[2].pk]
    # Paging one list keeps the other on its page.
    assert [t.pk for t in mixed.context["breached"]] == [late[2].pk]
    assert [t.pk for t in mixed.context["at_risk"]] == [t.pk for t in soon[:2]]
    assert "breached=1" in mixed.content.decode()


def test_bad_board_page_numbers_do_not_break_it(cast):
    response = client_for(cast.operator).get(reverse("sla-board"),
                                             {"breached": "zzz", "at_risk": "-3"})
    assert response.status_code == 200


# --- Query counts --------------------------------------------------------------------------


def add_tickets(side, count):
    for index in range(count):
        create_ticket(partner=side.partner, actor=side.customer, channel=Channel.PORTAL,
                      contact=side.contact, subject=f"Bulk {side.partner.slug} {index}",
                      text="Bulk", service=side.service)


def count_queries(client, url, **params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(queries), response


def test_queue_query_count_does_not_grow_with_tickets_under_an_sla_policy(cast, policy):
    office_policy(cast.a.partner, name="VIP", default=False)  # a second calendar in play
    client = client_for(cast.operator)
    add_tickets(cast.a, 5)
    url, params = reverse("queue"), {"partner": cast.a.partner.pk}
    count_queries(client, url, **params)  # compiles the calendar's schedule once
    few, response = count_queries(client, url, **params)
    shown = list(response.context["page"].object_list)
    assert len(shown) == 7
    assert sum(t.sla_policy_id == policy.pk for t in shown) == 5
    assert all(t.countdown is not None for t in shown)
    add_tickets(cast.a, 25)
    many, response = count_queries(client, url, **params)
    assert len(response.context["page"].object_list) == 32
    assert many == few


def test_board_query_count_does_not_grow_with_tickets(cast, policy):
    quiet_cast_tickets(cast)
    client = client_for(cast.operator)
    for minute in range(5):
        ticket_at(cast.a, at(2026, 11, 26, 10, minute), Priority.CRITICAL, "Late")
        ticket_at(cast.a, at(2026, 11, 27, 17, minute), Priority.NORMAL, "Soon")
    with time_machine.travel(at(2026, 11, 30, 9, 30), tick=False):
        count_queries(client, reverse("sla-board"))
        few, response = count_queries(client, reverse("sla-board"))
    assert len(response.context["breached"]) == 5 and len(response.context["at_risk"]) == 5
    for minute in range(5, 30):
        ticket_at(cast.a, at(2026, 11, 26, 10, minute), Priority.CRITICAL, "Late")
        ticket_at(cast.a, at(2026, 11, 27, 17, minute), Priority.NORMAL, "Soon")
    with time_machine.travel(at(2026, 11, 30, 9, 30), tick=False):
        many, response = count_queries(client, reverse("sla-board"))
    assert len(response.context["breached"]) == 30 and len(response.context["at_risk"]) == 30
    assert many == few
