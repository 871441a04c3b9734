"""The metric registry: each metric of the seed «Параметры качества технической поддержки» is
one declared unit — its name, maturity level, customer or internal, unit, target, a
one-sentence definition and one aggregate over stored facts for a `Scope`.

Adding a metric is adding one `Metric(...)` to `firstline/metrics/catalogue.py`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from firstline.metrics.facts import Result, Scope


class Level(models.TextChoices):
    """The seed's process maturity levels, in order."""

    INITIAL = "initial", pgettext_lazy("maturity", "Initial")
    REPEATABLE = "repeatable", pgettext_lazy("maturity", "Repeatable")
    STANDARDISED = "standardised", pgettext_lazy("maturity", "Standardised")
    MEASURED = "measured", pgettext_lazy("maturity", "Measured")
    IMPROVING = "improving", pgettext_lazy("maturity", "Improving")


LEVEL_ORDER = [Level.INITIAL, Level.REPEATABLE, Level.STANDARDISED, Level.MEASURED,
               Level.IMPROVING]


class Audience(models.TextChoices):
    CUSTOMER = "customer", pgettext_lazy("metric audience", "Customer")
    INTERNAL = "internal", pgettext_lazy("metric audience", "Internal")


class Unit(models.TextChoices):
    SHARE = "share", _("share, %")
    MINUTES = "minutes", _("business minutes")
    CLOCK_MINUTES = "clock_minutes", _("minutes")
    SECONDS = "seconds", _("seconds")
    COUNT = "count", _("count")
    INDEX = "index", _("index")


@dataclass(frozen=True)
class Metric:
    key: str
    name: Promise
    level: str
    audience: str
    unit: str
    definition: Promise
    compute: Callable[[Scope], Result]
    # The seed's target, in the unit (a share as a fraction); None: the seed gives none.
    target: float | None = None
    # True: the figure must be at least the target; False: at most.
    higher_is_better: bool = True
    # Where the facts come from (tickets, calls, incidents, surveys, settings).
    source: str = "tickets"
    # A rule of its own instead of comparing the value (answered calls: every week).
    judge: Callable[[Result, float], bool | None] | None = None
    # A count whose rise or fall is neither better nor worse (the number of requests).
    neutral_trend: bool = False
    # The tickets the figure rests on, for the drill-down (ticket metrics only).
    tickets: Callable[[Scope], Any] | None = None

    def meets(self, result: Result, target: float | None = None) -> bool | None:
        """Met, missed, or None when there is no target or no figure."""
        wanted = self.target if target is None else target
        if wanted is None or result.value is None or not result.available:
            return None
        if self.judge is not None:
            return self.judge(result, wanted)
        if self.higher_is_better:
            return result.value >= wanted - 1e-9
        return result.value <= wanted + 1e-9


REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    if metric.key in REGISTRY:
        raise ValueError(f"metric {metric.key!r} is registered twice")
    REGISTRY[metric.key] = metric
    return metric


def metrics() -> list[Metric]:
    """Every metric, by maturity level then declaration order."""
    from firstline.metrics import catalogue  # noqa: F401  (declares the units)

    order = {level: index for index, level in enumerate(LEVEL_ORDER)}
    return sorted(REGISTRY.values(), key=lambda metric: order[Level(metric.level)])


def get(key: str) -> Metric:
    metrics()
    return REGISTRY[key]


@dataclass
class Figure:
    metric: Metric
    result: Result
    target: float | None
    met: bool | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.metric.key, "name": str(self.metric.name),
            "level": self.metric.level, "audience": self.metric.audience,
            "unit": self.metric.unit, "definition": str(self.metric.definition),
            "source": self.metric.source, "target": self.target,
            "higher_is_better": self.metric.higher_is_better, "met": self.met,
            **self.result.as_dict(),
        }


def compute_all(scope: Scope, targets: dict[str, float] | None = None) -> list[Figure]:
    """Every metric for the scope; `targets` are the supervisor's revised KPI targets."""
    figures = []
    for metric in metrics():
        result = metric.compute(scope)
        target = (targets or {}).get(metric.key, metric.target)
        figures.append(Figure(metric, result, target, metric.meets(result, target)))
    return figures
