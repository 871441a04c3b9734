"""CSAT, NPS and CSI as figures with their sample size and a confidence interval.

`survey_facts` is the one function the reports (the metrics issue) read. A score from a
handful of answers is shown with its interval and flagged, never as a bare number.

- CSAT: the share of satisfied answers (the top part of the scale: 4–5 of 5), with a Wilson
  95% interval, and the mean score.
- NPS: %promoters − %detractors on −100..100. Its variance per answer is
  p + d − (p − d)², so the 95% interval is NPS ± 1.96·100·√((p + d − (p − d)²) / n).
- CSI: per question the mean score (1–5) as 0–100, weighted by the partner's weights.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet

from firstline.core.models import Partner, Service, User
from firstline.surveys.models import CsiAnswer, CsiQuestion, Kind, Survey

Z95 = 1.96
# Fewer answers than this: the figure is shown, with its interval, as "too few answers".
MIN_SAMPLE = 30
SATISFIED_SHARE = 0.75


@dataclass
class Figure:
    value: float | None
    n: int
    low: float | None = None
    high: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def enough(self) -> bool:
        return self.n >= MIN_SAMPLE

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "n": self.n, "ci95": [self.low, self.high],
                "enough_answers": self.enough, **self.extra}


def wilson(successes: int, n: int) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    p = successes / n
    denom = 1 + Z95 ** 2 / n
    centre = (p + Z95 ** 2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n * n)) / denom
    return round(100 * max(0.0, centre - half), 1), round(100 * min(1.0, centre + half), 1)


def nps_figure(promoters: int, passives: int, detractors: int) -> Figure:
    n = promoters + passives + detractors
    extra = {"promoters": promoters, "passives": passives, "detractors": detractors}
    if n == 0:
        return Figure(None, 0, extra=extra)
    p, d = promoters / n, detractors / n
    score = 100 * (p - d)
    half = Z95 * 100 * math.sqrt(max(0.0, p + d - (p - d) ** 2) / n)
    return Figure(round(score, 1), n, round(max(-100.0, score - half), 1),
                  round(min(100.0, score + half), 1), extra)


def _answered(
    kind: str, partner: Partner | None, start: datetime | None, end: datetime | None,
    service: Service | None, operator: User | None,
) -> QuerySet[Survey]:
    rows = Survey.objects.filter(kind=kind, answered_at__isnull=False, score__isnull=False)
    if partner is not None:
        rows = rows.filter(partner=partner)
    if start is not None:
        rows = rows.filter(answered_at__gte=start)
    if end is not None:
        rows = rows.filter(answered_at__lt=end)
    if service is not None:
        rows = rows.filter(service=service)
    if operator is not None:
        rows = rows.filter(operator=operator)
    return rows


def csat_figure(rows: QuerySet[Survey]) -> Figure:
    satisfied = 0
    n = 0
    total_share = 0.0
    for score, low, high in rows.values_list("score", "scale_min", "scale_max"):
        share = (score - low) / (high - low) if high > low else 0.0
        n += 1
        total_share += share
        satisfied += share >= SATISFIED_SHARE
    if n == 0:
        return Figure(None, 0)
    ci_low, ci_high = wilson(satisfied, n)
    return Figure(round(100 * satisfied / n, 1), n, ci_low, ci_high,
                  {"satisfied": satisfied, "mean_share": round(100 * total_share / n, 1)})


def csi_figure(rows: QuerySet[Survey], partner: Partner | None) -> Figure:
    answers = CsiAnswer.objects.filter(survey__in=rows)
    per_question = (
        answers.values("question_id").annotate(mean=Avg("score"), n=Count("id"))
    )
    questions = {q.pk: q for q in CsiQuestion.objects.filter(
        pk__in=[row["question_id"] for row in per_question])}
    parts = []
    weight_sum = 0
    total = 0.0
    for row in per_question:
        question = questions[row["question_id"]]
        index = (float(row["mean"]) - 1) / 4 * 100
        parts.append({"question": question.text, "weight": question.weight,
                      "index": round(index, 1), "n": row["n"]})
        weight_sum += question.weight
        total += question.weight * index
    respondents = answers.values("survey_id").distinct().count()
    if not weight_sum:
        return Figure(None, 0, extra={"questions": parts})
    return Figure(round(total / weight_sum, 1), respondents, extra={"questions": parts})


def survey_facts(
    partner: Partner | None = None,
    period: tuple[datetime | None, datetime | None] = (None, None),
    service: Service | None = None,
    operator: User | None = None,
) -> dict[str, dict[str, Any]]:
    """CSAT, NPS and CSI of answers given in [start, end), for one partner or all, one
    service and/or one operator; each with n and a 95% interval (CSI: n respondents)."""
    start, end = period
    csat_rows = _answered(Kind.CSAT, partner, start, end, service, operator)
    nps_rows = _answered(Kind.NPS, partner, start, end, service, operator)
    groups = nps_rows.aggregate(
        promoters=Count("id", filter=Q(score__gte=9)),
        passives=Count("id", filter=Q(score__gte=7, score__lte=8)),
        detractors=Count("id", filter=Q(score__lte=6)),
    )
    return {
        "csat": csat_figure(csat_rows).as_dict(),
        "nps": nps_figure(groups["promoters"], groups["passives"],
                          groups["detractors"]).as_dict(),
        "csi": csi_figure(nps_rows, partner).as_dict(),
    }
