"""The partners' comparison computes the answered calls and CSAT with one grouped query
each, whatever the number of partners, and gives exactly what the registry's unit gives
for each partner alone (the weekly judgement of the line included)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from firstline.calls.models import Call, Direction, Outcome, Source
from firstline.core.models import Partner, Tariff
from firstline.metrics import registry, services
from firstline.metrics.facts import Scope, month_period
from firstline.surveys.models import Kind, Survey, SurveyStatus
from tests.test_metrics_registry import MONTH


def _calls(partner: Partner, outcomes: list[str], first: datetime, prefix: str) -> None:
    for index, outcome in enumerate(outcomes):
        started = first + timedelta(days=7 * (index // 50), minutes=index)
        Call.objects.create(partner=partner, source=Source.WEBHOOK,
                            external_id=f"{prefix}{index}", direction=Direction.INBOUND,
                            started_at=started, ended_at=started + timedelta(minutes=1),
                            wait_seconds=5, outcome=outcome)


def _csat(partner: Partner, scores: list[int], high: int = 5) -> None:
    for index, score in enumerate(scores):
        Survey.objects.create(partner=partner, kind=Kind.CSAT, scale_min=1, scale_max=high,
                              status=SurveyStatus.ANSWERED, score=score,
                              sent_at=datetime(2026, 3, 10, tzinfo=UTC),
                              answered_at=datetime(2026, 3, 10, 12, index % 60, tzinfo=UTC))


@pytest.fixture
def phone_and_surveys(cast, tariff):
    a, b = cast.a.partner, cast.b.partner
    monday = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    # A: week 1 49/50, week 2 3 of 5 answered (missed by more than one call).
    _calls(a, [Outcome.ANSWERED] * 49 + [Outcome.MISSED]
           + [Outcome.ANSWERED] * 3 + [Outcome.MISSED] * 2, monday, "a")
    # B: every call answered, and one on the 1st (a Sunday, before the first Monday).
    _calls(b, [Outcome.ANSWERED] * 20, monday, "b")
    _calls(b, [Outcome.ANSWERED], datetime(2026, 3, 1, 9, tzinfo=UTC), "b-early")
    # Calls in April and an outbound call do not count.
    _calls(a, [Outcome.MISSED], datetime(2026, 4, 2, tzinfo=UTC), "a-april")
    Call.objects.create(partner=a, source=Source.WEBHOOK, external_id="out",
                        direction=Direction.OUTBOUND, started_at=monday, outcome=Outcome.MISSED)
    _csat(a, [5, 5, 4, 3, 1, 5])  # 4 of 6 satisfied (4–5 of 5)
    _csat(b, [2, 5, 10], high=10)  # on 1..10: only 10 is in the top quarter
    # A third partner with neither calls nor answers.
    c = Partner.objects.create(name="Partner gamma", slug="gamma",
                               support_email="support@gamma.example",
                               tariff=Tariff.objects.get(pk=tariff.pk))
    return a, b, c


def _cells(scope: Scope) -> dict[int, dict[str, dict]]:
    found = services.compare_partners(scope)
    return {row["partner"].pk: {cell["key"]: cell for cell in row["cells"]}
            for row in found["rows"]}


def test_grouped_figures_equal_each_partner_alone(cast, phone_and_surveys):
    a, b, c = phone_and_surveys
    start, end = month_period(MONTH, "UTC")
    cells = _cells(Scope((a.pk, b.pk, c.pk), start, end, month=MONTH))
    assert cells[a.pk]["answered_calls"]["value"] == pytest.approx(52 / 55)
    assert cells[a.pk]["answered_calls"]["met"] is False
    assert cells[b.pk]["answered_calls"]["value"] == 1.0
    assert cells[b.pk]["answered_calls"]["n"] == 21
    assert cells[b.pk]["answered_calls"]["met"] is True
    assert cells[a.pk]["csat"]["value"] == pytest.approx(round(100 * 4 / 6, 1))
    assert cells[b.pk]["csat"]["value"] == pytest.approx(round(100 / 3, 1))
    assert cells[c.pk]["answered_calls"]["available"] is False
    assert cells[c.pk]["csat"]["available"] is False and cells[c.pk]["csat"]["met"] is None
    for partner in (a, b, c):
        alone = Scope((partner.pk,), start, end, month=MONTH)
        for key in ("answered_calls", "csat"):
            metric = registry.get(key)
            result = metric.compute(alone)
            cell = cells[partner.pk][key]
            assert (cell["value"], cell["n"], cell["available"]) == (
                result.value, result.n, result.available), (partner.slug, key)
            assert cell["met"] == metric.meets(result, cell["target"]), (partner.slug, key)


def test_one_query_each_for_calls_and_surveys_whatever_the_number_of_partners(
        cast, phone_and_surveys):
    a, b, c = phone_and_surveys
    start, end = month_period(MONTH, "UTC")

    def tables(scope: Scope) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            services.compare_partners(scope)
        sql = [query["sql"] for query in captured.captured_queries]
        return (sum("calls_call" in text for text in sql),
                sum("surveys_survey" in text for text in sql))

    assert tables(Scope((a.pk,), start, end, month=MONTH)) == (1, 1)
    assert tables(Scope((a.pk, b.pk, c.pk), start, end, month=MONTH)) == (1, 1)


def test_filters_the_phone_line_cannot_have_say_so_for_every_partner(cast, phone_and_surveys):
    a, b, _c = phone_and_surveys
    start, end = month_period(MONTH, "UTC")
    cells = _cells(Scope((a.pk, b.pk), start, end, priority="high", month=MONTH))
    for pk in (a.pk, b.pk):
        assert cells[pk]["answered_calls"]["available"] is False
        assert cells[pk]["csat"]["available"] is False
