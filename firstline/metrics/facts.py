"""What a metric reads: the scope (partners, period, filters) and aggregate helpers.

Every figure is an aggregate over facts stored elsewhere (the ticket's SLA and script facts,
calls, incidents, surveys). Time is shown as the share done in time plus percentiles (p50,
p90, p95), never as an average alone (the seed: «среднее время — не интересно»).
Percentiles are PostgreSQL's percentile_cont; on SQLite the same linear interpolation is
done in Python over the one column fetched (`firstline.core.percentiles`, shared with calls).
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import F, FloatField, Func, QuerySet

from firstline.core.percentiles import PercentileCont, percentile
from firstline.tickets.models import Ticket

FRACTIONS = {"p50": 0.5, "p90": 0.9, "p95": 0.95}


@dataclass(frozen=True)
class Scope:
    """Whose facts and which: partner ids (None: every partner), [start, end), filters.

    The partner ids must come from `firstline.tenancy.partners_for(user)` (or the worker):
    a metric never widens them."""

    partner_ids: tuple[int, ...] | None
    start: datetime
    end: datetime
    service_id: int | None = None
    priority: str | None = None
    channel: str | None = None
    # Set when [start, end) is exactly one calendar month (availability is per month).
    month: date | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.service_id or self.priority or self.channel)

    def tickets(self) -> QuerySet[Ticket]:
        tickets = Ticket.objects.all()
        if self.partner_ids is not None:
            tickets = tickets.filter(partner_id__in=self.partner_ids)
        if self.service_id:
            tickets = tickets.filter(service_id=self.service_id)
        if self.priority:
            tickets = tickets.filter(priority=self.priority)
        if self.channel:
            tickets = tickets.filter(channel=self.channel)
        return tickets.order_by()

    def created(self) -> QuerySet[Ticket]:
        return self.tickets().filter(created_at__gte=self.start, created_at__lt=self.end)

    def resolved(self) -> QuerySet[Ticket]:
        return self.tickets().filter(resolved_at__gte=self.start, resolved_at__lt=self.end)


@dataclass
class Result:
    """A metric's figure: `value` is the headline (a share 0..1, minutes, a count, an index);
    `n` the number of facts it rests on; `available` False when the source has no facts yet
    or the figure does not apply to the filters (then `note` says why)."""

    value: float | None
    n: int = 0
    in_time: int | None = None
    percentiles: dict[str, float | None] = field(default_factory=dict)
    breakdown: dict[str, Any] = field(default_factory=dict)
    available: bool = True
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value, "n": self.n, "in_time": self.in_time,
            "percentiles": self.percentiles, "breakdown": self.breakdown,
            "available": self.available, "note": self.note,
        }


def month_period(month: date, zone: str) -> tuple[datetime, datetime]:
    """[first midnight of the month, first midnight of the next) in the time zone."""
    tz = ZoneInfo(zone)
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return datetime.combine(first, time.min, tz), datetime.combine(following, time.min, tz)


def previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


class MinutesBetween(Func):
    """Minutes from one datetime column to another, as a float, on both databases."""

    output_field = FloatField()

    def __init__(self, start: str, end: str) -> None:
        super().__init__(F(start), F(end))

    def _sides(self, compiler: Any) -> tuple[str, str, list[Any]]:
        start, end = self.get_source_expressions()
        start_sql, start_params = compiler.compile(start)
        end_sql, end_params = compiler.compile(end)
        return start_sql, end_sql, [*end_params, *start_params]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        start, end, params = self._sides(compiler)
        return f"((julianday({end}) - julianday({start})) * 1440.0)", params

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        start, end, params = self._sides(compiler)
        return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 60.0)", params


def percentiles(rows: QuerySet[Any], column: str) -> dict[str, float | None]:
    """p50, p90 and p95 of a numeric column (or annotation) over the rows: one query."""
    rows = rows.filter(**{f"{column}__isnull": False})
    if connection.vendor == "postgresql":
        found = rows.aggregate(**{
            name: PercentileCont(column, fraction) for name, fraction in FRACTIONS.items()
        })
        return {name: _round(found[name]) for name in FRACTIONS}
    values = [float(value) for value in rows.values_list(column, flat=True)]
    return {name: _round(percentile(values, fraction)) for name, fraction in FRACTIONS.items()}


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None
