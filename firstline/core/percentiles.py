"""Percentiles the same way on both databases: PostgreSQL's percentile_cont in the query,
and the same linear interpolation in Python where SQLite has no such aggregate."""

from math import floor

from django.db.models import Aggregate, FloatField


class PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: str, fraction: float) -> None:
        super().__init__(expression)
        self.extra["fraction"] = float(fraction)


def percentile(values: list[float] | list[int], fraction: float) -> float | None:
    """percentile_cont in Python: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
