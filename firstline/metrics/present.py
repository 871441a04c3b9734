"""Figures as a reader sees them, the same in the page, the PDF, the XLSX and the snapshot:
plain rows of numbers and texts in the active language."""

from typing import Any

from django.utils.formats import number_format
from django.utils.translation import gettext as _

from firstline.metrics.facts import Result
from firstline.metrics.registry import Audience, Figure, Level, Unit


def _number(value: float, digits: int = 1) -> str:
    return number_format(round(value, digits), digits if value != int(value) else 0)


def value_text(unit: str, value: float | None) -> str:
    if value is None:
        return "—"
    if unit == Unit.SHARE:
        return f"{_number(value * 100)} %"
    if unit in (Unit.MINUTES, Unit.CLOCK_MINUTES):
        return _("%(n)s min") % {"n": _number(value)}
    if unit == Unit.SECONDS:
        return _("%(n)s s") % {"n": _number(value)}
    return _number(value)


def target_text(figure: Figure) -> str:
    if figure.target is None:
        return ""
    sign = "≥" if figure.metric.higher_is_better else "≤"
    if figure.metric.key == "kpi_revision":
        return _("revised within %(n)s days") % {"n": _number(figure.target)}
    return f"{sign} {value_text(figure.metric.unit, figure.target)}"


def percentiles_text(figure: Figure) -> str:
    found = figure.result.percentiles
    if not found or all(value is None for value in found.values()):
        return ""
    unit = Unit.SECONDS if figure.metric.unit == Unit.SECONDS else (
        Unit.MINUTES if figure.metric.key.endswith("resolution_time")
        or figure.metric.key == "reaction_time" else Unit.CLOCK_MINUTES)
    return ", ".join(f"{name} {value_text(unit, value)}" for name, value in found.items())


def status_text(met: bool | None) -> str:
    if met is None:
        return ""
    return _("met") if met else _("missed")


def trend(figure: Figure, before: Result | None) -> dict[str, Any]:
    """The change against the previous period: its value, a text, better or worse."""
    now_value = figure.result.value
    old = None if before is None or not before.available else before.value
    if now_value is None or old is None:
        return {"previous": old, "delta": None, "text": "", "better": None}
    delta = now_value - old
    if figure.metric.unit == Unit.SHARE:
        text = _("%(sign)s%(n)s p.p.") % {"sign": "+" if delta >= 0 else "−",
                                         "n": _number(abs(delta) * 100)}
    else:
        text = ("+" if delta >= 0 else "−") + _number(abs(delta))
    better = None if abs(delta) < 1e-9 or figure.metric.neutral_trend else (
        (delta > 0) == figure.metric.higher_is_better)
    return {"previous": old, "delta": delta, "text": text, "better": better}


def row(figure: Figure, before: Result | None = None) -> dict[str, Any]:
    """One metric as a flat row (numbers stay numbers for the XLSX)."""
    metric, result = figure.metric, figure.result
    value = result.value
    return {
        "key": metric.key,
        "name": str(metric.name),
        "level": metric.level,
        "level_label": str(Level(metric.level).label),
        "audience_label": str(Audience(metric.audience).label),
        "unit": metric.unit,
        "unit_label": str(Unit(metric.unit).label),
        "definition": str(metric.definition),
        "value": value,
        "value_text": (result.note if not result.available
                       else _("%(n)s days ago") % {"n": _number(value)}
                       if metric.key == "kpi_revision" and value is not None
                       else value_text(metric.unit, value)),
        "percent": None if value is None or metric.unit != Unit.SHARE else
        round(max(0.0, min(1.0, value)) * 100, 1),
        "target": figure.target,
        "target_text": target_text(figure),
        "target_percent": None if figure.target is None or metric.unit != Unit.SHARE else
        round(figure.target * 100, 1),
        "met": figure.met,
        "status_text": status_text(figure.met),
        "n": result.n,
        "percentiles": result.percentiles,
        "percentiles_text": percentiles_text(figure),
        "breakdown": result.breakdown,
        "available": result.available,
        "note": result.note,
        "trend": trend(figure, before),
    }


def rows(figures: list[Figure], previous: list[Figure] | None = None) -> list[dict[str, Any]]:
    before = {item.metric.key: item.result for item in previous or []}
    return [row(item, before.get(item.metric.key)) for item in figures]


def by_level(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for item in items:
        group = groups.setdefault(item["level"], {"label": item["level_label"], "rows": []})
        group["rows"].append(item)
    return list(groups.values())
