"""Reading calls: who sees which, talk minutes for billing, line metrics for reports.

Talk minutes (what the tariff's minutes are spent on): the talk time of answered calls,
inbound and outbound (an operator's call-back), in the month the call started in the
partner's time zone. Rounded as the partner's tariff says: each call up to a started
minute (the default, as Russian operators bill) or the month's seconds summed and rounded
up once. Unanswered calls, waiting in the queue and voicemail cost no minutes.

Line metrics (per partner and week, Monday to Sunday in the partner's time zone): of the
inbound calls that ended, the share answered, and the longest and the 95th-percentile wait.
The target (seed): at least 98% answered a week, and with few calls (fewer than 50, where
2% is less than one call) at most one call unanswered.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from math import ceil, floor
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import (
    Count,
    F,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Sum,
)

from firstline.calls.models import LIVE_OUTCOMES, Call, Direction, Outcome
from firstline.core.models import Partner, Tariff, User
from firstline.core.percentiles import PercentileCont, percentile

ANSWERED_SHARE_TARGET = 0.98


def calls_for(user: User) -> QuerySet[Call]:
    """The calls a signed-in user may see: staff all, partner accounts their partner's."""
    if not (user and user.is_authenticated and user.is_active):
        return Call.objects.none()
    if user.is_provider_staff:
        return Call.objects.all()
    if user.is_partner_user:
        return Call.objects.filter(partner_id=user.partner_id)
    return Call.objects.none()


def _bounds(first: date, last: date, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    return (datetime.combine(first, time.min, tz), datetime.combine(last, time.min, tz))


def month_bounds(month: date, zone: str) -> tuple[datetime, datetime]:
    start = month.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    return _bounds(start, following, zone)


def _billable() -> Q:
    return Q(outcome=Outcome.ANSWERED, talk_seconds__gt=0)


def talk_minutes_for(partners: Iterable[Partner], month: date) -> dict[int, int]:
    """Talk minutes of each partner in the month: one aggregate query per time zone."""
    by_zone: dict[str, list[Partner]] = defaultdict(list)
    for partner in partners:
        by_zone[partner.time_zone].append(partner)
    minutes: dict[int, int] = {}
    for zone, group in by_zone.items():
        start, end = month_bounds(month, zone)
        rounding = {p.pk: p.tariff.minute_rounding for p in group}
        rows = (
            Call.objects.filter(_billable(), partner_id__in=list(rounding),
                                started_at__gte=start, started_at__lt=end)
            .values("partner_id")
            .annotate(
                # Integer division on both databases: (s + 59) / 60 is the started minutes.
                started=Sum((F("talk_seconds") + 59) / 60, output_field=IntegerField()),
                seconds=Sum("talk_seconds"),
            )
            .order_by()
        )
        for partner_id in rounding:
            minutes[partner_id] = 0
        for row in rows:
            per_second = rounding[row["partner_id"]] == Tariff.MinuteRounding.PER_SECOND
            minutes[row["partner_id"]] = (
                ceil(row["seconds"] / 60) if per_second else int(row["started"])
            )
    return minutes


def talk_minutes(partner: Partner, month: date) -> int:
    """The talk minutes a partner used in a month, rounded as its tariff says."""
    return talk_minutes_for([partner], month)[partner.pk]


@dataclass(frozen=True)
class LineWeek:
    partner_id: int
    week: date
    calls: int
    answered: int
    max_wait: int | None
    p95_wait: float | None

    @property
    def unanswered(self) -> int:
        return self.calls - self.answered

    @property
    def answered_share(self) -> float | None:
        return self.answered / self.calls if self.calls else None

    @property
    def meets_target(self) -> bool:
        allowed = max(1, floor(self.calls * (1 - ANSWERED_SHARE_TARGET) + 1e-9))
        return self.unanswered <= allowed


def _line_calls(partner_ids: list[int], start: datetime, end: datetime) -> QuerySet[Call]:
    return Call.objects.filter(
        partner_id__in=partner_ids, direction=Direction.INBOUND,
        started_at__gte=start, started_at__lt=end,
    ).exclude(outcome__in=LIVE_OUTCOMES)


def line_weeks_for(partners: Iterable[Partner], week: date) -> dict[int, LineWeek]:
    """Line metrics of each partner for the week containing `week`."""
    monday = week - timedelta(days=week.weekday())
    by_zone: dict[str, list[int]] = defaultdict(list)
    for partner in partners:
        by_zone[partner.time_zone].append(partner.pk)
    result: dict[int, LineWeek] = {}
    postgres = connection.vendor == "postgresql"
    for zone, ids in by_zone.items():
        start, end = _bounds(monday, monday + timedelta(days=7), zone)
        calls = _line_calls(ids, start, end)
        aggregates = {
            "calls": Count("id"),
            "answered": Count("id", filter=Q(outcome=Outcome.ANSWERED)),
            "max_wait": Max("wait_seconds"),
        }
        if postgres:
            aggregates["p95_wait"] = PercentileCont("wait_seconds", 0.95)
        rows = {row["partner_id"]: row for row in
                calls.values("partner_id").annotate(**aggregates).order_by()}
        waits: dict[int, list[int]] = defaultdict(list)
        if not postgres:
            for partner_id, wait in calls.filter(wait_seconds__isnull=False).values_list(
                    "partner_id", "wait_seconds"):
                waits[partner_id].append(wait)
        for partner_id in ids:
            row = rows.get(partner_id, {})
            p95 = row.get("p95_wait") if postgres else percentile(waits[partner_id], 0.95)
            result[partner_id] = LineWeek(
                partner_id=partner_id, week=monday, calls=row.get("calls", 0),
                answered=row.get("answered", 0), max_wait=row.get("max_wait"), p95_wait=p95,
            )
    return result


def line_week(partner: Partner, week: date) -> LineWeek:
    return line_weeks_for([partner], week)[partner.pk]


def live_calls_for_operator(user: User) -> QuerySet[Call]:
    """The calls ringing at or answered by this operator right now, for the call card."""
    return (
        calls_for(user).filter(operator=user, outcome__in=LIVE_OUTCOMES)
        .select_related("partner", "ticket").order_by("-started_at")
    )
