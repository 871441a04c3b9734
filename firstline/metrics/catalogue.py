"""Every metric of the seed that stored facts allow, one unit each (see `registry`).

Names are the seed's words (the Russian catalogue holds them verbatim); each definition is
the one sentence shown in the UI and the report.
"""

from datetime import date, datetime, time, timedelta
from math import floor

from django.db.models import Count, Max, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from firstline.calls.models import LIVE_OUTCOMES, Call, Direction, Outcome
from firstline.core.clock import now
from firstline.core.models import Partner, Service
from firstline.metrics.facts import MinutesBetween, Result, Scope, percentiles, share
from firstline.metrics.models import Evidence, MetricTarget
from firstline.metrics.registry import Audience, Level, Metric, Unit, register
from firstline.quality.script_models import (
    DiagnosticParameter,
    IdentificationRule,
    ScriptSettings,
    UrgencyQuestion,
)
from firstline.sla.policy_models import UrgencyRule
from firstline.tickets.models import Channel

IN_TIME = 0.95  # «Доля выполненных обращений в срок (рекомендуется от 95% и выше)»
ANSWERED = 0.98  # «Доля принятых звонков (рекомендуется более 98% в неделю)»


def _no_data() -> str:
    return gettext("No data yet")


def _not_for_filters() -> str:
    return gettext("Does not apply to the chosen filters")


# --- Time metrics: the share done in time plus percentiles --------------------------------


def _in_time(rows, flag: str, minutes: str) -> Result:  # type: ignore[no-untyped-def]
    rows = rows.filter(**{f"{flag}__isnull": False})
    counts = rows.aggregate(n=Count("pk"), in_time=Count("pk", filter=Q(**{flag: True})))
    return Result(
        value=share(counts["in_time"], counts["n"]), n=counts["n"], in_time=counts["in_time"],
        percentiles=percentiles(rows, minutes),
    )


def reaction_time(scope: Scope) -> Result:
    return _in_time(scope.created(), "reaction_in_time", "reaction_minutes")


def resolution_time(scope: Scope) -> Result:
    return _in_time(scope.resolved(), "resolution_in_time", "resolution_minutes")


def typical_resolution_time(scope: Scope) -> Result:
    return _in_time(scope.resolved().filter(typical_request__isnull=False),
                    "resolution_in_time", "resolution_minutes")


def _timed(rows, start: str, end: str) -> Result:  # type: ignore[no-untyped-def]
    """Clock minutes from one moment to another: headline p50, with p90 and p95."""
    rows = rows.annotate(span=MinutesBetween(start, end))
    found = percentiles(rows, "span")
    n = rows.filter(span__isnull=False).count()
    return Result(value=found["p50"], n=n, percentiles=found)


def classification_time(scope: Scope) -> Result:
    rows = scope.created().filter(Q(classified_at__isnull=False) | Q(diagnosed_at__isnull=False))
    rows = rows.annotate(done_at=Greatest(Coalesce("classified_at", "diagnosed_at"),
                                          Coalesce("diagnosed_at", "classified_at")))
    return _timed(rows, "created_at", "done_at")


def routing(scope: Scope) -> Result:
    rows = scope.tickets().filter(handed_over_at__gte=scope.start, handed_over_at__lt=scope.end)
    counts = rows.aggregate(n=Count("pk"), right=Count("pk", filter=Q(routing_corrections=0)))
    timed = _timed(rows, "created_at", "handed_over_at")
    return Result(value=share(counts["right"], counts["n"]), n=counts["n"],
                  in_time=counts["right"], percentiles=timed.percentiles,
                  breakdown={"rerouted": counts["n"] - counts["right"]})


def first_line_time(scope: Scope) -> Result:
    rows = scope.resolved().annotate(left_at=Coalesce("handed_over_at", "resolved_at"))
    return _timed(rows, "created_at", "left_at")


def partner_time(scope: Scope) -> Result:
    return _timed(scope.resolved().filter(handed_over_at__isnull=False),
                  "handed_over_at", "resolved_at")


# --- Shares and counts of tickets --------------------------------------------------------


def _share_of_resolved(scope: Scope, condition: Q) -> Result:
    counts = scope.resolved().aggregate(n=Count("pk"), part=Count("pk", filter=condition))
    return Result(value=share(counts["part"], counts["n"]), n=counts["n"],
                  in_time=counts["part"])


def typical_share(scope: Scope) -> Result:
    return _share_of_resolved(scope, Q(typical_request__isnull=False))


def first_line_share(scope: Scope) -> Result:
    return _share_of_resolved(scope, Q(first_line_resolved=True))


def first_contact_share(scope: Scope) -> Result:
    return _share_of_resolved(scope, Q(first_contact_resolved=True))


def requests_count(scope: Scope) -> Result:
    by_channel = dict(scope.created().values_list("channel").annotate(n=Count("pk")))
    labels = dict(Channel.choices)
    total = sum(by_channel.values())
    return Result(value=total, n=total, breakdown={
        str(labels.get(channel, channel)): count for channel, count in sorted(by_channel.items())
    })


# --- The phone line (firstline.calls) -----------------------------------------------------


def _calls(scope: Scope):  # type: ignore[no-untyped-def]
    if scope.service_id or scope.priority or (scope.channel and scope.channel != Channel.PHONE):
        return None
    calls = Call.objects.filter(direction=Direction.INBOUND, started_at__gte=scope.start,
                                started_at__lt=scope.end).exclude(outcome__in=LIVE_OUTCOMES)
    if scope.partner_ids is not None:
        calls = calls.filter(partner_id__in=scope.partner_ids)
    return calls.order_by()


def _mondays(scope: Scope) -> list[date]:
    first, last = scope.start.date(), (scope.end - timedelta(microseconds=1)).date()
    monday = first - timedelta(days=first.weekday())
    if monday < first:
        monday += timedelta(days=7)
    weeks = []
    while monday <= last:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks or [first - timedelta(days=first.weekday())]


def answered_calls(scope: Scope) -> Result:
    calls = _calls(scope)
    if calls is None:
        return Result(None, available=False, note=_not_for_filters())
    answered = Q(outcome=Outcome.ANSWERED)
    counts = calls.aggregate(n=Count("pk"), answered=Count("pk", filter=answered))
    if not counts["n"]:
        return Result(None, available=False, note=_no_data())
    weeks = []
    for monday in _mondays(scope):
        start = datetime.combine(monday, time.min, scope.start.tzinfo)
        rows = (calls.filter(started_at__gte=start, started_at__lt=start + timedelta(days=7))
                .values("partner_id")  # each partner's line is judged on its own
                .annotate(n=Count("pk"), answered=Count("pk", filter=Q(outcome=Outcome.ANSWERED)))
                .order_by("partner_id"))
        weeks.extend({"week": monday.isoformat(), "partner_id": row["partner_id"],
                      "calls": row["n"], "answered": row["answered"]} for row in rows)
    return Result(value=share(counts["answered"], counts["n"]), n=counts["n"],
                  in_time=counts["answered"], breakdown={"weeks": weeks})


def weekly_answered_met(result: Result, target: float) -> bool | None:
    """Every week at least the target answered; with few calls, at most one call short
    («если звонков мало — то максимум на один меньше, чем общее кол-во звонков»)."""
    weeks = result.breakdown.get("weeks", [])
    if not weeks:
        return None
    for week in weeks:
        allowed = max(1, floor(week["calls"] * (1 - target) + 1e-9))
        if week["calls"] - week["answered"] > allowed:
            return False
    return True


def line_max_wait(scope: Scope) -> Result:
    calls = _calls(scope)
    if calls is None:
        return Result(None, available=False, note=_not_for_filters())
    calls = calls.filter(wait_seconds__isnull=False)
    found = calls.aggregate(n=Count("pk"), longest=Max("wait_seconds"))
    if not found["n"]:
        return Result(None, available=False, note=_no_data())
    return Result(value=found["longest"], n=found["n"],
                  percentiles=percentiles(calls, "wait_seconds"))


# --- Settings, registers, incidents, surveys ---------------------------------------------


def _partners(scope: Scope) -> list[Partner]:
    partners = Partner.objects.filter(is_active=True)
    if scope.partner_ids is not None:
        partners = Partner.objects.filter(pk__in=scope.partner_ids)
    return list(partners.order_by("pk"))


def _per_partner(scope: Scope, counts: dict[int, int]) -> Result:
    """A setting counted per partner: the figure is the smallest partner's count (all must
    have it), the breakdown names each."""
    partners = _partners(scope)
    if not partners:
        return Result(None, available=False, note=_no_data())
    each = {partner.name: counts.get(partner.pk, 0) for partner in partners}
    return Result(value=min(each.values()), n=len(each), breakdown=each)


def urgency_criteria(scope: Scope) -> Result:
    counts: dict[int, int] = {}
    for model in (UrgencyRule, UrgencyQuestion):
        for partner_id, n in model.objects.values_list("partner_id").annotate(n=Count("pk")):
            counts[partner_id] = counts.get(partner_id, 0) + n
    return _per_partner(scope, counts)


def identification_parameters(scope: Scope) -> Result:
    counts: dict[int, int] = {}
    for row in ScriptSettings.objects.values("partner_id", "contract_number", "code_word",
                                             "confirmed_email"):
        asked = [value for key, value in row.items()
                 if key != "partner_id" and value != IdentificationRule.NOT_ASKED]
        counts[row["partner_id"]] = len(asked)
    for partner_id, n in (DiagnosticParameter.objects.values_list("partner_id")
                          .annotate(n=Count("pk"))):
        counts[partner_id] = counts.get(partner_id, 0) + n
    return _per_partner(scope, counts)


def availability(scope: Scope) -> Result:
    from firstline.incidents.services import unavailability_minutes

    if scope.month is None:
        return Result(None, available=False, note=gettext("Counted for a calendar month"))
    if scope.priority or scope.channel:
        return Result(None, available=False, note=_not_for_filters())
    down = 0
    service_minutes = 0
    minutes = int((scope.end - scope.start).total_seconds() // 60)
    for partner in _partners(scope):
        services = Service.objects.filter(partner=partner, is_active=True)
        if scope.service_id:
            services = services.filter(pk=scope.service_id)
        ids = set(services.values_list("pk", flat=True))
        if not ids:
            continue
        per_service = unavailability_minutes(partner, scope.month)
        down += sum(spans["full"] for sid, spans in per_service.items() if sid in ids)
        service_minutes += len(ids) * minutes
    if not service_minutes:
        return Result(None, available=False, note=_no_data())
    return Result(value=1 - down / service_minutes, n=service_minutes,
                  breakdown={"minutes_down": down})


def _register(scope: Scope, kind: str):  # type: ignore[no-untyped-def]
    rows = Evidence.objects.filter(kind=kind)
    if scope.partner_ids is not None:
        rows = rows.filter(Q(partner_id__in=scope.partner_ids) | Q(partner__isnull=True))
    return rows


def kpi_revision(scope: Scope) -> Result:
    rows = MetricTarget.objects.all()
    if scope.partner_ids is not None:
        rows = rows.filter(Q(partner_id__in=scope.partner_ids) | Q(partner__isnull=True))
    last = rows.aggregate(last=Max("revised_at"), n=Count("pk"))
    if last["last"] is None:
        return Result(None, available=False, note=gettext("No KPI targets set"))
    days = (now().date() - last["last"]).days
    return Result(value=days, n=last["n"], breakdown={"last_revised": last["last"].isoformat()})


def control_records(scope: Scope) -> Result:
    n = _register(scope, Evidence.Kind.CONTROL).filter(
        held_on__gte=scope.start.date(), held_on__lt=scope.end.date()).count()
    return Result(value=n, n=n)


def process_owner(scope: Scope) -> Result:
    owner = _register(scope, Evidence.Kind.PROCESS_OWNER).first()
    if owner is None:
        return Result(0, n=0)
    return Result(1, n=1, breakdown={"person": owner.person, "since": owner.held_on.isoformat()})


def _surveys(scope: Scope) -> dict | None:  # type: ignore[type-arg]
    from firstline.surveys.stats import survey_facts

    if scope.priority or scope.channel:
        return None
    partner = None
    if scope.partner_ids is not None and len(scope.partner_ids) == 1:
        partner = Partner.objects.get(pk=scope.partner_ids[0])
    elif scope.partner_ids is not None and len(scope.partner_ids) != Partner.objects.count():
        return None  # survey_facts answers for one partner or all
    service = Service.objects.get(pk=scope.service_id) if scope.service_id else None
    return survey_facts(partner=partner, period=(scope.start, scope.end), service=service)


def _survey_figure(scope: Scope, key: str) -> Result:
    facts = _surveys(scope)
    if facts is None:
        return Result(None, available=False, note=_not_for_filters())
    figure = facts[key]
    if not figure["n"]:
        return Result(None, available=False, note=_no_data())
    low, high = figure["ci95"]
    return Result(value=figure["value"], n=figure["n"],
                  breakdown={"ci95_low": low, "ci95_high": high,
                             "enough_answers": figure["enough_answers"]})


def surveys_held(scope: Scope) -> Result:
    facts = _surveys(scope)
    if facts is None:
        return Result(None, available=False, note=_not_for_filters())
    n = facts["csat"]["n"] + facts["nps"]["n"]
    return Result(value=n, n=n, breakdown={"csat": facts["csat"]["n"], "nps": facts["nps"]["n"]})


def csat(scope: Scope) -> Result:
    return _survey_figure(scope, "csat")


def nps(scope: Scope) -> Result:
    return _survey_figure(scope, "nps")


def csi(scope: Scope) -> Result:
    return _survey_figure(scope, "csi")


R, S, M, IMP = Level.REPEATABLE, Level.STANDARDISED, Level.MEASURED, Level.IMPROVING
C, N = Audience.CUSTOMER, Audience.INTERNAL

register(Metric(
    "reaction_time", _("Reaction time"), R, C, Unit.SHARE,
    _("Share of tickets created in the period whose first human reply came within the SLA "
      "reaction target; percentiles of the reaction in business minutes."),
    reaction_time, target=IN_TIME,
    tickets=lambda scope: scope.created().filter(reaction_in_time__isnull=False)))
register(Metric(
    "line_max_wait", _("Maximum wait on the phone line"), R, C, Unit.SECONDS,
    _("The longest wait of an inbound call in the queue in the period, with the wait "
      "percentiles in seconds."),
    line_max_wait, source="calls", higher_is_better=False))
register(Metric(
    "resolution_time", _("Resolution time"), R, C, Unit.SHARE,
    _("Share of tickets resolved in the period within the SLA resolution target; "
      "percentiles of the resolution in business minutes."),
    resolution_time, target=IN_TIME,
    tickets=lambda scope: scope.resolved().filter(resolution_in_time__isnull=False)))
register(Metric(
    "typical_resolution_time", _("Resolution time of a typical request"), R, C, Unit.SHARE,
    _("The same for tickets resolved by a typical request, against its own norm."),
    typical_resolution_time, target=IN_TIME,
    tickets=lambda scope: scope.resolved().filter(typical_request__isnull=False)))
register(Metric(
    "answered_calls", _("Share of answered calls"), R, C, Unit.SHARE,
    _("Share of inbound calls answered; met when every week reaches 98% (with few calls, "
      "at most one unanswered)."),
    answered_calls, target=ANSWERED, source="calls", judge=weekly_answered_met))
register(Metric(
    "typical_share", _("Share of typical requests"), R, N, Unit.SHARE,
    _("Share of tickets resolved in the period that were typical requests."),
    typical_share, tickets=lambda scope: scope.resolved()))
register(Metric(
    "first_line_share", _("Share solved on the first line"), R, N, Unit.SHARE,
    _("Share of tickets resolved in the period without a hand-over to the partner."),
    first_line_share, tickets=lambda scope: scope.resolved()))
register(Metric(
    "classification_time", _("Time of classification and primary diagnostics"), R, N,
    Unit.CLOCK_MINUTES,
    _("Minutes from the ticket's creation to its classification and diagnostics being "
      "complete (median, with p90 and p95)."),
    classification_time, higher_is_better=False, tickets=lambda scope: scope.created()))
register(Metric(
    "routing", _("Time and correctness of routing"), R, N, Unit.SHARE,
    _("Share of tickets handed over in the period that needed no re-routing; percentiles "
      "of the minutes from creation to the hand-over."),
    routing, tickets=lambda scope: scope.tickets().filter(
        handed_over_at__gte=scope.start, handed_over_at__lt=scope.end)))
register(Metric(
    "first_line_time", _("Time on the first line"), R, N, Unit.CLOCK_MINUTES,
    _("Minutes the first line held a ticket resolved in the period: from intake to the "
      "hand-over or the resolution (median, with p90 and p95)."),
    first_line_time, higher_is_better=False, tickets=lambda scope: scope.resolved()))
register(Metric(
    "partner_time", _("Time at the partner"), R, N, Unit.CLOCK_MINUTES,
    _("Minutes the partner held a handed-over ticket resolved in the period: from the "
      "hand-over to the resolution (median, with p90 and p95)."),
    partner_time, higher_is_better=False,
    tickets=lambda scope: scope.resolved().filter(handed_over_at__isnull=False)))
register(Metric(
    "requests_count", _("Number of requests in the period"), R, N, Unit.COUNT,
    _("Tickets created in the period, by channel."),
    requests_count, neutral_trend=True, tickets=lambda scope: scope.created()))
register(Metric(
    "first_contact_share", _("Share of requests solved within the first contact"), S, C,
    Unit.SHARE,
    _("Share of tickets resolved in the period with one customer message and one reply, "
      "without a hand-over."),
    first_contact_share, tickets=lambda scope: scope.resolved()))
register(Metric(
    "urgency_criteria", _("Criteria for deciding a request's urgency"), S, C, Unit.COUNT,
    _("Urgency rules and questions set in the partner's script (every partner needs one)."),
    urgency_criteria, target=1, source="settings"))
register(Metric(
    "identification_parameters",
    _("Identification and diagnostic parameters asked of the customer"), S, C, Unit.COUNT,
    _("Identification methods and diagnostic parameters the partner's script asks for."),
    identification_parameters, target=1, source="settings"))
register(Metric(
    "availability", _("Service availability"), M, N, Unit.SHARE,
    _("Share of the month's service minutes without a full outage, from mass incidents."),
    availability, source="incidents"))
register(Metric(
    "kpi_revision", _("KPIs for the process and staff"), M, N, Unit.COUNT,
    _("Days since the KPI targets were last revised; they are revised at least once a "
      "year."),
    kpi_revision, target=365, higher_is_better=False, source="settings"))
register(Metric(
    "control_records", _("Records of systematic control"), M, N, Unit.COUNT,
    _("Records in the period of the control of diagnostic procedures and request "
      "handling."),
    control_records, target=1, source="settings"))
register(Metric(
    "process_owner", _("A manager responsible for the process"), M, N, Unit.COUNT,
    _("A named manager carries the overall responsibility for the process."),
    process_owner, target=1, source="settings"))
register(Metric(
    "surveys_held", _("Regular customer satisfaction surveys"), IMP, C, Unit.COUNT,
    _("Answers to satisfaction surveys (CSAT and NPS) received in the period."),
    surveys_held, target=1, source="surveys"))
register(Metric(
    "csat", _("CSAT"), IMP, C, Unit.INDEX,
    _("Share of satisfied answers to the survey after resolution, in percent, with a 95% "
      "interval."),
    csat, source="surveys"))
register(Metric(
    "nps", _("NPS"), IMP, C, Unit.INDEX,
    _("Net Promoter Score: promoters minus detractors, from −100 to 100."),
    nps, source="surveys"))
register(Metric(
    "csi", _("CSI"), IMP, C, Unit.INDEX,
    _("Customer Satisfaction Index: weighted mean of the CSI questions, 0 to 100."),
    csi, source="surveys"))
