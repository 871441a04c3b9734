"""Each metric's query against hand-built facts whose answers are computed here independently
(shares by counting the list, percentiles with `statistics.quantiles`, method inclusive =
percentile_cont), with filters and per partner, on SQLite and PostgreSQL alike."""

import random
import statistics
from datetime import UTC, date, datetime, timedelta

import pytest

from firstline.calls.models import Call, Direction, Outcome, Source
from firstline.metrics import registry
from firstline.metrics.facts import Scope, month_period
from firstline.metrics.models import Evidence, MetricTarget
from firstline.sla.policy_models import TypicalRequest, UrgencyRule
from firstline.tickets.models import Channel, Priority, Status, Ticket

MONTH = date(2026, 3, 1)


def quantile(values, fraction):
    """percentile_cont by the textbook: statistics' inclusive method (R type 7)."""
    if len(values) == 1:
        return float(values[0])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[round(fraction * 100) - 1]


def month_scope(partner, **filters):
    start, end = month_period(MONTH, partner.time_zone)
    return Scope((partner.pk,), start, end, month=MONTH, **filters)


def make_ticket(partner, *, created, **facts):
    facts.setdefault("status", Status.RESOLVED if facts.get("resolved_at") else Status.OPEN)
    return Ticket.objects.create(partner=partner, channel=facts.pop("channel", Channel.EMAIL),
                                 subject="s", customer_words="w", created_at=created, **facts)


@pytest.fixture
def facts(cast):
    """Partner A: 40 tickets in March with chosen facts; a few outside March and at partner
    B that must not count. Returns the list of the March specs for the expected values."""
    rng = random.Random(15)
    a, b = cast.a.partner, cast.b.partner
    typical = TypicalRequest.objects.create(partner=a, name="Password reset",
                                            resolution_minutes=60)
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    specs = []
    for index in range(40):
        created = base + timedelta(hours=index * 7)
        spec = {
            "created": created,
            "priority": Priority.HIGH if index % 4 == 0 else Priority.NORMAL,
            "channel": Channel.PHONE if index % 5 == 0 else Channel.EMAIL,
            "service": cast.a.service if index % 2 == 0 else None,
            "reaction_minutes": rng.randint(1, 120),
            "resolution_minutes": rng.randint(10, 2000),
            "handed": index % 3 == 0,
            "corrections": 1 if index % 9 == 0 else 0,
            "typical": index % 4 == 1,
            "first_contact": index % 3 == 1,
            "classified_after": rng.randint(1, 90),
        }
        spec["reaction_in_time"] = spec["reaction_minutes"] <= 60
        spec["resolution_in_time"] = spec["resolution_minutes"] <= 1200
        spec["resolved_at"] = created + timedelta(hours=5)
        spec["handed_over_at"] = created + timedelta(minutes=30) if spec["handed"] else None
        specs.append(spec)
        make_ticket(
            a, created=created, priority=spec["priority"], channel=spec["channel"],
            service=spec["service"], reaction_minutes=spec["reaction_minutes"],
            reaction_in_time=spec["reaction_in_time"],
            resolution_minutes=spec["resolution_minutes"],
            resolution_in_time=spec["resolution_in_time"], resolved_at=spec["resolved_at"],
            handed_over_at=spec["handed_over_at"], routing_corrections=spec["corrections"],
            typical_request=typical if spec["typical"] else None,
            first_line_resolved=not spec["handed"],
            first_contact_resolved=spec["first_contact"],
            classified_at=created + timedelta(minutes=spec["classified_after"]),
        )
    # Noise: February at A, March at B — none of it may count for A in March.
    make_ticket(a, created=datetime(2026, 2, 27, tzinfo=UTC), reaction_minutes=5,
                reaction_in_time=False, resolution_minutes=5, resolution_in_time=False,
                resolved_at=datetime(2026, 2, 28, tzinfo=UTC))
    make_ticket(b, created=base, reaction_minutes=500, reaction_in_time=False,
                resolution_minutes=9999, resolution_in_time=False,
                resolved_at=base + timedelta(hours=1), first_line_resolved=False)
    return specs


def figure(scope, key):
    metric = registry.get(key)
    result = metric.compute(scope)
    return metric, result


def test_reaction_time_is_the_share_in_time_and_percentiles(facts, cast):
    metric, result = figure(month_scope(cast.a.partner), "reaction_time")
    minutes = [s["reaction_minutes"] for s in facts]
    assert result.n == 40
    assert result.value == pytest.approx(sum(s["reaction_in_time"] for s in facts) / 40)
    for name, fraction in (("p50", .5), ("p90", .9), ("p95", .95)):
        assert result.percentiles[name] == pytest.approx(quantile(minutes, fraction), abs=0.05)
    assert metric.meets(result) == (result.value >= 0.95)


def test_resolution_time_and_typical_resolution_time(facts, cast):
    _, result = figure(month_scope(cast.a.partner), "resolution_time")
    assert result.value == pytest.approx(sum(s["resolution_in_time"] for s in facts) / 40)
    assert result.percentiles["p90"] == pytest.approx(
        quantile([s["resolution_minutes"] for s in facts], .9), abs=0.05)
    _, typical = figure(month_scope(cast.a.partner), "typical_resolution_time")
    chosen = [s for s in facts if s["typical"]]
    assert typical.n == len(chosen)
    assert typical.value == pytest.approx(
        sum(s["resolution_in_time"] for s in chosen) / len(chosen))


def test_shares_of_resolved_tickets(facts, cast):
    scope = month_scope(cast.a.partner)
    for key, picked in (("typical_share", "typical"), ("first_contact_share", "first_contact")):
        _, result = figure(scope, key)
        assert result.value == pytest.approx(sum(s[picked] for s in facts) / 40), key
    _, first_line = figure(scope, "first_line_share")
    assert first_line.value == pytest.approx(sum(not s["handed"] for s in facts) / 40)


def test_routing_counts_reroutes_against_correctness(facts, cast):
    _, result = figure(month_scope(cast.a.partner), "routing")
    handed = [s for s in facts if s["handed"]]
    assert result.n == len(handed)
    assert result.value == pytest.approx(
        sum(s["corrections"] == 0 for s in handed) / len(handed))
    assert result.breakdown["rerouted"] == sum(s["corrections"] > 0 for s in handed)
    assert result.percentiles["p50"] == pytest.approx(30.0, abs=0.05)


def test_classification_time_and_time_per_line(facts, cast):
    scope = month_scope(cast.a.partner)
    _, result = figure(scope, "classification_time")
    assert result.percentiles["p90"] == pytest.approx(
        quantile([s["classified_after"] for s in facts], .9), abs=0.05)
    _, first_line = figure(scope, "first_line_time")
    held = [30 if s["handed"] else 300 for s in facts]
    assert first_line.percentiles["p50"] == pytest.approx(quantile(held, .5), abs=0.05)
    _, partner = figure(scope, "partner_time")
    assert partner.n == sum(s["handed"] for s in facts)
    assert partner.value == pytest.approx(270.0, abs=0.05)


def test_requests_count_by_channel(facts, cast):
    _, result = figure(month_scope(cast.a.partner), "requests_count")
    assert result.value == 40
    assert result.breakdown == {"E-mail": sum(s["channel"] == Channel.EMAIL for s in facts),
                                "Phone": sum(s["channel"] == Channel.PHONE for s in facts)}


@pytest.mark.parametrize("filters, keep", [
    ({"priority": Priority.HIGH}, lambda s: s["priority"] == Priority.HIGH),
    ({"channel": Channel.PHONE}, lambda s: s["channel"] == Channel.PHONE),
    ("service", lambda s: s["service"] is not None),
])
def test_filters_narrow_every_ticket_metric(facts, cast, filters, keep):
    if filters == "service":
        filters = {"service_id": cast.a.service.pk}
    chosen = [s for s in facts if keep(s)]
    _, result = figure(month_scope(cast.a.partner, **filters), "reaction_time")
    assert result.n == len(chosen)
    assert result.value == pytest.approx(
        sum(s["reaction_in_time"] for s in chosen) / len(chosen))


def test_all_partners_includes_the_other_partner(facts, cast):
    start, end = month_period(MONTH, "UTC")
    _, result = figure(Scope(None, start, end), "reaction_time")
    assert result.n == 41
    assert result.in_time == sum(s["reaction_in_time"] for s in facts)


def test_an_empty_period_gives_no_figure_and_no_error(cast):
    scope = month_scope(cast.a.partner)
    for item in registry.compute_all(scope):
        assert item.met in (True, False, None)
        if item.metric.unit == registry.Unit.SHARE and item.metric.key != "availability":
            assert item.result.value is None, item.metric.key


def test_availability_counts_full_outage_minutes_of_the_month(cast):
    from firstline.incidents.models import Impact, Incident

    a = cast.a.partner
    start = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    incident = Incident.objects.create(
        partner=a, title="DC down", impact=Impact.FULL, started_at=start, detected_at=start,
        ended_at=start + timedelta(minutes=90), time_zone="UTC")
    incident.services.add(cast.a.service)
    metric, result = figure(month_scope(a), "availability")
    assert result.breakdown["minutes_down"] == 90
    assert result.value == pytest.approx(1 - 90 / (31 * 24 * 60))
    start_w, end_w = month_period(MONTH, a.time_zone)
    _, weekly = figure(Scope((a.pk,), start_w, start_w + timedelta(days=7)), "availability")
    assert not weekly.available  # a calendar month only


def test_answered_calls_judged_week_by_week(cast):
    a = cast.a.partner
    monday = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    outcomes = [Outcome.ANSWERED] * 49 + [Outcome.MISSED]  # week 1: 49/50 = 98%
    outcomes += [Outcome.ANSWERED] * 3 + [Outcome.MISSED] * 2  # week 2: 2 of 5 missed
    for index, outcome in enumerate(outcomes):
        week = 0 if index < 50 else 7
        Call.objects.create(
            partner=a, source=Source.WEBHOOK, external_id=f"c{index}",
            direction=Direction.INBOUND, started_at=monday + timedelta(days=week, minutes=index),
            ended_at=monday + timedelta(days=week, minutes=index + 1),
            wait_seconds=index % 40, outcome=outcome,
        )
    metric, result = figure(month_scope(a), "answered_calls")
    assert result.value == pytest.approx(52 / 55)
    assert metric.meets(result) is False  # the second week misses by more than one call
    waits = [index % 40 for index in range(55)]
    _, wait = figure(month_scope(a), "line_max_wait")
    assert wait.value == max(waits)
    assert wait.percentiles["p95"] == pytest.approx(quantile(waits, .95), abs=0.05)
    Call.objects.filter(external_id__in=["c53", "c54"]).update(outcome=Outcome.ANSWERED)
    metric, result = figure(month_scope(a), "answered_calls")
    assert metric.meets(result) is True
    _, filtered = figure(month_scope(a, priority=Priority.HIGH), "answered_calls")
    assert not filtered.available


def test_calls_metrics_say_no_data_without_calls(cast):
    _, result = figure(month_scope(cast.a.partner), "answered_calls")
    assert not result.available and result.note


def test_settings_metrics_and_revised_targets(cast):
    a = cast.a.partner
    scope = month_scope(a)
    metric, result = figure(scope, "urgency_criteria")
    assert result.value == 0 and metric.meets(result) is False
    UrgencyRule.objects.create(partner=a, name="VIP", vip_only=True, priority=Priority.HIGH)
    metric, result = figure(scope, "urgency_criteria")
    assert result.value == 1 and metric.meets(result) is True
    _, owner = figure(scope, "process_owner")
    assert owner.value == 0
    Evidence.objects.create(partner=a, kind=Evidence.Kind.PROCESS_OWNER,
                            title="Order 12", person="Marina Z.")
    _, owner = figure(scope, "process_owner")
    assert owner.breakdown["person"] == "Marina Z."
    MetricTarget.objects.create(partner=a, metric="kpi_revision", target=365,
                                revised_at=date(2020, 1, 1))
    metric, result = figure(scope, "kpi_revision")
    assert metric.meets(result) is False  # older than a year


def test_every_metric_is_declared_once_with_level_and_definition():
    keys = [metric.key for metric in registry.metrics()]
    assert len(keys) == len(set(keys)) >= 20
    levels = {metric.level for metric in registry.metrics()}
    assert levels == {"repeatable", "standardised", "measured", "improving"}
    for metric in registry.metrics():
        assert str(metric.definition).endswith(".")
