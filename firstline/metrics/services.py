"""Metrics for a signed-in user or the worker: the scope from a request's parameters (with
clear errors for bad ones), figures with the supervisor's revised targets, the trend against
the previous period, and the maturity assessment.

Tenancy: the partner comes from `firstline.tenancy.partners_for(user)`; another partner's id
is "not found", as everywhere.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _

from firstline.core.clock import now
from firstline.core.models import Partner, Service, User
from firstline.metrics import present, registry
from firstline.metrics.facts import Result, Scope, month_period, previous_month, share
from firstline.metrics.models import Evidence, MetricTarget
from firstline.metrics.registry import LEVEL_ORDER, Figure, Level
from firstline.quality.script_models import ClassificationField
from firstline.sla.policy_models import SlaPolicy
from firstline.tenancy import partners_for
from firstline.tickets.models import Channel, Priority

STALE_AFTER = timedelta(days=365)


class NotFound(Exception):
    """A partner or service the user may not see: shown as 404."""


@dataclass
class Request:
    partner: Partner | None
    month: date | None
    scope: Scope
    filters: dict[str, str] = field(default_factory=dict)


def _month(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ValidationError({"month": _("Give the month as YYYY-MM.")}) from None


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError({name: _("Give the date as YYYY-MM-DD.")}) from None


def current_month() -> date:
    return now().date().replace(day=1)


def build_request(user: User, params: dict[str, str]) -> Request:
    """Partner, period and filters from query parameters, checked; raises ValidationError
    naming the field, or NotFound for a partner or service the user cannot see."""
    partners = partners_for(user)
    partner: Partner | None = None
    raw_partner = params.get("partner", "")
    if user.is_partner_user:
        partner = partners.first()
    elif raw_partner:
        if not raw_partner.isdigit():
            raise ValidationError({"partner": _("Choose a partner from the list.")})
        partner = partners.filter(pk=int(raw_partner)).first()
        if partner is None:
            raise NotFound
    zone = partner.time_zone if partner else settings.TIME_ZONE
    month: date | None = None
    if params.get("start") or params.get("end"):
        first = _day("start", params.get("start", ""))
        last = _day("end", params.get("end", ""))
        if last < first:
            raise ValidationError({"end": _("The end of the period is before its start.")})
        start, _unused = month_period(first, zone)
        start = start.replace(day=first.day)
        end = start + timedelta(days=(last - first).days + 1)
    else:
        month = _month(params["month"]) if params.get("month") else current_month()
        start, end = month_period(month, zone)
    filters: dict[str, Any] = {}
    if params.get("service"):
        services = Service.objects.filter(partner__in=partners)
        if partner is not None:
            services = services.filter(partner=partner)
        if not params["service"].isdigit() or not services.filter(pk=params["service"]).exists():
            raise ValidationError({"service": _("Choose a service of the partner.")})
        filters["service_id"] = int(params["service"])
    if params.get("priority"):
        if params["priority"] not in Priority.values:
            raise ValidationError({"priority": _("Choose a priority from the list.")})
        filters["priority"] = params["priority"]
    if params.get("channel"):
        if params["channel"] not in Channel.values:
            raise ValidationError({"channel": _("Choose a channel from the list.")})
        filters["channel"] = params["channel"]
    # All partners as an explicit list: the partner-leading indexes then serve the period.
    ids = (partner.pk,) if partner else tuple(partners.order_by("pk").values_list("pk", flat=True))
    scope = Scope(ids, start, end, month=month, **filters)
    return Request(partner, month, scope, {k: str(v) for k, v in filters.items()})


def targets_for(partner: Partner | None) -> dict[str, float]:
    """The supervisor's revised targets: the partner's own win over the provider-wide ones."""
    rows = MetricTarget.objects.filter(partner__isnull=True)
    if partner is not None:
        rows = MetricTarget.objects.filter(Q(partner=partner) | Q(partner__isnull=True))
    found: dict[str, float] = {}
    for row in rows.order_by("partner_id"):  # NULLs first on SQLite; sorted below anyway
        if row.partner_id is None and row.metric in found:
            continue
        found[row.metric] = row.target
    return found


def figures(scope: Scope, partner: Partner | None) -> list[Figure]:
    return registry.compute_all(scope, targets_for(partner))


def previous_scope(scope: Scope, partner: Partner | None) -> Scope:
    """The month before (for a month), else the period of the same length just before."""
    if scope.month is not None:
        month = previous_month(scope.month)
        start, end = month_period(month, partner.time_zone if partner else settings.TIME_ZONE)
        return Scope(scope.partner_ids, start, end, scope.service_id, scope.priority,
                     scope.channel, month)
    length = scope.end - scope.start
    return Scope(scope.partner_ids, scope.start - length, scope.start, scope.service_id,
                 scope.priority, scope.channel)


# --- The maturity assessment -------------------------------------------------------------


@dataclass
class Criterion:
    level: str
    text: str
    met: bool
    evidence: str

    @property
    def level_label(self) -> str:
        return str(Level(self.level).label)


@dataclass
class Assessment:
    level: str
    criteria: list[Criterion]
    next_steps: list[str]

    @property
    def level_label(self) -> str:
        return str(Level(self.level).label)

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level, "level_label": self.level_label,
            "criteria": [{**vars(item), "level_label": str(Level(item.level).label)}
                         for item in self.criteria],
            "next_steps": self.next_steps,
        }


def _measured(items: dict[str, Figure], *keys: str) -> tuple[bool, str]:
    """Measured (there are facts) and, where a target exists, met."""
    parts = []
    ok = True
    for key in keys:
        item = items[key]
        if item.result.value is None or not item.result.available:
            ok = False
            parts.append(_("%(metric)s: not measured") % {"metric": item.metric.name})
        elif item.met is False:
            ok = False
            parts.append(_("%(metric)s: target missed") % {"metric": item.metric.name})
        else:
            parts.append(_("%(metric)s: measured") % {"metric": item.metric.name})
    return ok, "; ".join(parts)


def _register(partner: Partner, kind: str, within: timedelta | None = None) -> tuple[bool, str]:
    rows = Evidence.objects.filter(Q(partner=partner) | Q(partner__isnull=True), kind=kind)
    if within is not None:
        rows = rows.filter(held_on__gte=now().date() - within)
    last = rows.first()
    if last is None:
        return False, _("No record")
    return True, _("%(title)s, %(person)s, %(date)s") % {
        "title": last.title, "person": last.person, "date": last.held_on.isoformat()}


def assess(partner: Partner, items: list[Figure]) -> Assessment:
    """Which level the partner's process reaches: each level's criteria (configured and
    measured, targets met) must hold, and those of every level below it."""
    by_key = {item.metric.key: item for item in items}
    criteria: list[Criterion] = []

    def add(level: str, text: str, result: tuple[bool, str]) -> None:
        criteria.append(Criterion(level, text, result[0], result[1]))

    policies = SlaPolicy.objects.filter(partner=partner).count()
    add(Level.REPEATABLE, _("Deadlines (SLA) agreed"),
        (policies > 0, _("%(n)d SLA policies") % {"n": policies}))
    add(Level.REPEATABLE, _("Reaction and resolution time in time at least 95%"),
        _measured(by_key, "reaction_time", "resolution_time"))
    add(Level.REPEATABLE, _("Share of typical requests and share solved on the first line "
                            "measured"), _measured(by_key, "typical_share", "first_line_share"))
    fields = ClassificationField.objects.filter(partner=partner).count()
    ident = by_key["identification_parameters"]
    add(Level.STANDARDISED, _("Identification and prioritisation scripts written"),
        (fields > 0 and ident.met is True,
         _("%(fields)d classification fields, %(params)s identification and diagnostic "
           "parameters") % {"fields": fields, "params": ident.result.value or 0}))
    add(Level.STANDARDISED, _("Criteria for deciding a request's urgency"),
        (bool(by_key["urgency_criteria"].met),
         _("%(n)s criteria") % {"n": by_key["urgency_criteria"].result.value}))
    add(Level.STANDARDISED, _("Share of requests solved within the first contact measured"),
        _measured(by_key, "first_contact_share"))
    add(Level.STANDARDISED, _("Staff competence requirements written"),
        _register(partner, Evidence.Kind.COMPETENCE))
    add(Level.STANDARDISED, _("Regular staff training and certification"),
        _register(partner, Evidence.Kind.TRAINING, STALE_AFTER))
    add(Level.MEASURED, _("Regular reporting"), (True, _("The monthly report is issued")))
    add(Level.MEASURED, _("Service availability measured"), _measured(by_key, "availability"))
    kpi = by_key["kpi_revision"]
    add(Level.MEASURED, _("KPIs for the process and staff, revised at least once a year"),
        (kpi.met is True, kpi.result.note or _("last revised %(date)s") % {
            "date": kpi.result.breakdown.get("last_revised", "")}))
    add(Level.MEASURED, _("Records of systematic control"),
        _register(partner, Evidence.Kind.CONTROL, timedelta(days=92)))
    add(Level.MEASURED, _("A manager responsible for the process"),
        _register(partner, Evidence.Kind.PROCESS_OWNER))
    add(Level.IMPROVING, _("Regular customer satisfaction surveys"),
        _measured(by_key, "surveys_held"))
    add(Level.IMPROVING, _("Information security risks agreed with the customer"),
        _register(partner, Evidence.Kind.SECURITY_RISKS, STALE_AFTER))
    add(Level.IMPROVING, _("Resources spent assessed against results"),
        _register(partner, Evidence.Kind.RESOURCES, STALE_AFTER))
    add(Level.IMPROVING, _("A service management plan written and carried out"),
        _register(partner, Evidence.Kind.SERVICE_PLAN, STALE_AFTER))
    reached = Level.INITIAL
    for level in LEVEL_ORDER[1:]:
        if all(item.met for item in criteria if item.level == level):
            reached = level
        else:
            break
    following = LEVEL_ORDER.index(Level(reached)) + 1
    steps = []
    if following < len(LEVEL_ORDER):
        steps = [item.text for item in criteria
                 if item.level == LEVEL_ORDER[following] and not item.met]
    return Assessment(reached, criteria, steps)


# --- The trend by month ------------------------------------------------------------------

TREND_MONTHS = 6


def monthly_trend(scope: Scope, partner: Partner | None) -> list[dict[str, Any]]:
    """Share of reaction and of resolution in time for the months up to the scope's (or its
    start's) month: one grouped query each, with the filters of the scope."""
    from zoneinfo import ZoneInfo

    from django.db.models import Count
    from django.db.models.functions import TruncMonth

    zone = partner.time_zone if partner else settings.TIME_ZONE
    last = (scope.month or scope.start.astimezone(ZoneInfo(zone)).date()).replace(day=1)
    months = [last]
    for _step in range(TREND_MONTHS - 1):
        months.insert(0, previous_month(months[0]))
    start, _first_end = month_period(months[0], zone)
    _last_start, end = month_period(last, zone)
    base = Scope(scope.partner_ids, start, end, scope.service_id, scope.priority, scope.channel)
    tz = ZoneInfo(zone)
    series: dict[str, dict[date, tuple[int, int]]] = {}
    for key, rows, field_name, flag in (
        ("reaction_time", base.created(), "created_at", "reaction_in_time"),
        ("resolution_time", base.resolved(), "resolved_at", "resolution_in_time"),
    ):
        grouped = (rows.filter(**{f"{flag}__isnull": False})
                   .annotate(month=TruncMonth(field_name, tzinfo=tz)).values("month")
                   .annotate(n=Count("pk"), ok=Count("pk", filter=Q(**{flag: True})))
                   .order_by("month"))
        series[key] = {_as_date(row["month"]): (row["ok"], row["n"]) for row in grouped}
    result = []
    for month in months:
        item: dict[str, Any] = {"month": month}
        for key, found in series.items():
            ok, n = found.get(month, (0, 0))
            item[key] = {"n": n, "percent": round(100 * ok / n, 1) if n else None}
        result.append(item)
    return result


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def trend_charts(trend: list[dict[str, Any]],
                 targets: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Bar geometry for the server-drawn SVG charts (viewBox 0 0 300 120: bars of 0..100 %,
    the metric's current target as a line: the supervisor's revision, else the seed's),
    labelled with their values so colour is not needed."""
    from firstline.metrics.registry import get

    charts = []
    for key in ("reaction_time", "resolution_time"):
        wanted = (targets or {}).get(key, get(key).target)
        goal = round(100 * (wanted if wanted is not None else 0.95), 1)
        bars = []
        for index, item in enumerate(trend):
            figure = item[key]
            percent = figure["percent"]
            height = 0.0 if percent is None else percent * 0.8
            bars.append({
                "x": 20 + index * 46, "y": round(100 - height, 1), "height": round(height, 1),
                "label_y": round(96 - height, 1),
                "text": "—" if percent is None else f"{percent:g}%",
                "month": item["month"].strftime("%m.%y"), "n": figure["n"],
                "missed": percent is not None and percent < goal - 1e-9,
            })
        charts.append({"key": key, "name": get(key).name, "bars": bars,
                       "target_y": round(100 - goal * 0.8, 1), "target_text": f"{goal:g}%"})
    return charts


# --- Partners side by side (the supervisor's comparison) ----------------------------------

COMPARED = ("reaction_time", "resolution_time", "first_line_share", "first_contact_share",
            "answered_calls", "csat")


def _grouped(rows: Any, flag: str | None, condition: Q) -> dict[int, Result]:
    """One query: per partner, the facts counted and the part meeting the condition."""
    from django.db.models import Count

    if flag is not None:
        rows = rows.filter(**{f"{flag}__isnull": False})
    found = (rows.values("partner_id").annotate(n=Count("pk"), ok=Count("pk", filter=condition))
             .order_by("partner_id"))
    return {row["partner_id"]: Result(value=share(row["ok"], row["n"]), n=row["n"],
                                      in_time=row["ok"]) for row in found}


def _grouped_calls(scope: Scope) -> dict[int, Result] | Result:
    """The share of answered calls for every partner of the scope in one query: inbound
    calls grouped by partner and by the week (of the period's Mondays) they began in, the
    same facts and weekly judgement as the registry's `answered_calls` for one partner.
    Filters the phone line cannot have give one "does not apply" result for all."""
    from django.db.models import Case, Count, IntegerField, Value, When

    from firstline.calls.models import Outcome
    from firstline.metrics import catalogue

    calls = catalogue._calls(scope)
    if calls is None:
        return Result(None, available=False, note=catalogue._not_for_filters())
    mondays = catalogue._mondays(scope)
    starts = [datetime.combine(monday, datetime.min.time(), scope.start.tzinfo)
              for monday in mondays]
    week = Case(*[When(started_at__gte=start, started_at__lt=start + timedelta(days=7),
                       then=Value(index)) for index, start in enumerate(starts)],
                default=Value(-1), output_field=IntegerField())
    rows = (calls.annotate(week=week).values("partner_id", "week")
            .annotate(n=Count("pk"), answered=Count("pk", filter=Q(outcome=Outcome.ANSWERED)))
            .order_by("partner_id", "week"))
    totals: dict[int, list[int]] = {}
    weeks: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        total = totals.setdefault(row["partner_id"], [0, 0])
        total[0] += row["n"]
        total[1] += row["answered"]
        if row["week"] >= 0:
            weeks.setdefault(row["partner_id"], []).append({
                "week": mondays[row["week"]].isoformat(), "partner_id": row["partner_id"],
                "calls": row["n"], "answered": row["answered"]})
    return {partner_id: Result(value=share(answered, n), n=n, in_time=answered,
                               breakdown={"weeks": weeks.get(partner_id, [])})
            for partner_id, (n, answered) in totals.items() if n}


def _grouped_csat(scope: Scope) -> dict[int, Result] | Result:
    """CSAT for every partner of the scope from one query over the answered surveys, by the
    surveys' own rule (satisfied: the top quarter of the scale; a Wilson 95% interval)."""
    from firstline.metrics import catalogue
    from firstline.surveys.models import Kind, Survey
    from firstline.surveys.stats import MIN_SAMPLE, SATISFIED_SHARE, wilson

    if scope.priority or scope.channel:
        return Result(None, available=False, note=catalogue._not_for_filters())
    rows = Survey.objects.filter(kind=Kind.CSAT, answered_at__isnull=False,
                                 score__isnull=False, answered_at__gte=scope.start,
                                 answered_at__lt=scope.end)
    if scope.partner_ids is not None:
        rows = rows.filter(partner_id__in=scope.partner_ids)
    if scope.service_id:
        rows = rows.filter(service_id=scope.service_id)
    counts: dict[int, list[int]] = {}
    for partner_id, score, low, high in rows.order_by().values_list(
            "partner_id", "score", "scale_min", "scale_max"):
        part = (score - low) / (high - low) if high > low else 0.0
        tally = counts.setdefault(partner_id, [0, 0])
        tally[0] += 1
        tally[1] += part >= SATISFIED_SHARE
    found = {}
    for partner_id, (n, satisfied) in counts.items():
        ci_low, ci_high = wilson(satisfied, n)
        found[partner_id] = Result(value=round(100 * satisfied / n, 1), n=n, breakdown={
            "ci95_low": ci_low, "ci95_high": ci_high, "enough_answers": n >= MIN_SAMPLE})
    return found


def compare_partners(scope: Scope) -> dict[str, Any]:
    """The key metrics for each partner of the scope, met or missed against each partner's
    target. One query each grouped by partner: the ticket metrics, the answered calls (by
    partner and week, judged week by week as the registry's unit does) and CSAT."""
    from firstline.metrics import catalogue

    ids = scope.partner_ids or ()
    partners = list(Partner.objects.filter(pk__in=ids).order_by("name"))
    grouped = {
        "reaction_time": _grouped(scope.created(), "reaction_in_time", Q(reaction_in_time=True)),
        "resolution_time": _grouped(scope.resolved(), "resolution_in_time",
                                    Q(resolution_in_time=True)),
        "first_line_share": _grouped(scope.resolved(), None, Q(first_line_resolved=True)),
        "first_contact_share": _grouped(scope.resolved(), None, Q(first_contact_resolved=True)),
        "answered_calls": _grouped_calls(scope),
        "csat": _grouped_csat(scope),
    }
    overrides: dict[int | None, dict[str, float]] = {}
    for target in MetricTarget.objects.filter(metric__in=COMPARED):
        overrides.setdefault(target.partner_id, {})[target.metric] = target.target
    columns = [registry.get(key) for key in COMPARED]
    rows = []
    for partner in partners:
        own = Scope((partner.pk,), scope.start, scope.end, scope.service_id, scope.priority,
                    scope.channel, scope.month)
        cells = []
        for metric in columns:
            found = grouped.get(metric.key)
            if isinstance(found, Result):  # the filters rule the metric out for everyone
                result = found
            elif found is not None:
                result = found.get(partner.pk) or (
                    Result(None) if metric.source == "tickets"
                    else Result(None, available=False, note=catalogue._no_data()))
            else:
                result = metric.compute(own)
            target = overrides.get(partner.pk, {}).get(
                metric.key, overrides.get(None, {}).get(metric.key, metric.target))
            met = metric.meets(result, target)
            cells.append({
                "key": metric.key, "value": result.value, "n": result.n, "met": met,
                "target": target, "available": result.available,
                "value_text": (present.value_text(metric.unit, result.value)
                               if result.available else result.note),
                "status_text": present.status_text(met),
            })
        rows.append({"partner": partner, "cells": cells})
    return {"columns": columns, "rows": rows}
