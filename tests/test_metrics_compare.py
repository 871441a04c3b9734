"""The supervisor's comparison of partners side by side: each partner's key metrics from
hand-built facts (answers counted here from the lists), met or missed against that
partner's own target, one grouped query per ticket metric; a partner's manager never sees it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from firstline.metrics import services
from firstline.metrics.facts import Scope, month_period
from firstline.metrics.models import MetricTarget
from tests.conftest import client_for
from tests.test_metrics_registry import MONTH, make_ticket

MONTH_PARAM = MONTH.strftime("%Y-%m")


@pytest.fixture
def two_partners(cast):
    """A: 20 tickets; B: 10. Each spec is (reaction in time, resolution in time, first line,
    first contact); the expected shares are counted from these lists."""
    base = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
    specs = {
        cast.a.partner.pk: [(True, i % 10 != 0, i % 4 != 0, i % 2 == 0) for i in range(20)],
        cast.b.partner.pk: [(i < 7, True, True, i < 9) for i in range(10)],
    }
    partners = {cast.a.partner.pk: cast.a.partner, cast.b.partner.pk: cast.b.partner}
    for pk, rows in specs.items():
        for index, (reaction, resolution, first_line, first_contact) in enumerate(rows):
            created = base + timedelta(hours=index)
            make_ticket(partners[pk], created=created, reaction_minutes=10,
                        reaction_in_time=reaction, resolution_minutes=100,
                        resolution_in_time=resolution,
                        resolved_at=created + timedelta(hours=2),
                        first_line_resolved=first_line, first_contact_resolved=first_contact)
    # April: must not count in March.
    make_ticket(cast.b.partner, created=datetime(2026, 4, 10, tzinfo=UTC), reaction_minutes=1,
                reaction_in_time=False, resolved_at=datetime(2026, 4, 10, 5, tzinfo=UTC),
                resolution_in_time=False, first_line_resolved=False)
    return specs


def _expected(rows, column):
    return sum(row[column] for row in rows) / len(rows)


def test_each_partner_row_has_its_own_shares_and_verdicts(cast, two_partners):
    a, b = cast.a.partner, cast.b.partner
    # B's revised reaction target is 70%; A keeps the seed's 95%.
    MetricTarget.objects.create(partner=b, metric="reaction_time", target=0.7)
    start, end = month_period(MONTH, "UTC")
    scope = Scope((a.pk, b.pk), start, end, month=MONTH)
    found = services.compare_partners(scope)
    assert [metric.key for metric in found["columns"]] == list(services.COMPARED)
    by_partner = {row["partner"].pk: {cell["key"]: cell for cell in row["cells"]}
                  for row in found["rows"]}
    for pk, rows in two_partners.items():
        cells = by_partner[pk]
        for column, key in enumerate(("reaction_time", "resolution_time", "first_line_share",
                                      "first_contact_share")):
            assert cells[key]["value"] == pytest.approx(_expected(rows, column)), (pk, key)
            assert cells[key]["n"] == len(rows)
    a_cells, b_cells = by_partner[a.pk], by_partner[b.pk]
    assert a_cells["reaction_time"]["met"] is True  # 20/20 ≥ 95%
    assert a_cells["resolution_time"]["met"] is False  # 18/20 = 90% < 95%
    assert b_cells["reaction_time"]["value"] == pytest.approx(0.7)
    assert b_cells["reaction_time"]["target"] == 0.7
    assert b_cells["reaction_time"]["met"] is True  # 70% against B's own revised 70%
    assert b_cells["resolution_time"]["met"] is True
    # No calls and no surveys yet: said so, no verdict.
    assert a_cells["answered_calls"]["available"] is False
    assert a_cells["answered_calls"]["met"] is None
    assert a_cells["csat"]["met"] is None


def test_ticket_metrics_take_one_query_each_whatever_the_number_of_partners(cast,
                                                                            two_partners):
    start, end = month_period(MONTH, "UTC")
    one = Scope((cast.a.partner.pk,), start, end, month=MONTH)
    both = Scope((cast.a.partner.pk, cast.b.partner.pk), start, end, month=MONTH)
    with CaptureQueriesContext(connection) as for_one:
        services.compare_partners(one)
    with CaptureQueriesContext(connection) as for_both:
        services.compare_partners(both)
    grouped = [q["sql"] for q in for_both.captured_queries if "GROUP BY" in q["sql"]
               and "tickets_ticket" in q["sql"]]
    assert len(grouped) == 4
    # Four grouped ticket queries for one partner as for two (calls and surveys: one each,
    # tests/test_metrics_compare_grouped.py).
    assert len([q for q in for_one.captured_queries if "GROUP BY" in q["sql"]
                and "tickets_ticket" in q["sql"]]) == 4


def test_supervisor_sees_the_table_and_a_manager_never(cast, two_partners):
    page = client_for(cast.supervisor).get(reverse("metrics:dashboard"),
                                           {"month": MONTH_PARAM})
    assert page.status_code == 200
    text = page.content.decode()
    assert f'id="compare-{cast.a.partner.pk}"' in text
    assert f'id="compare-{cast.b.partner.pk}"' in text
    row_a = text.split(f'id="compare-{cast.a.partner.pk}"')[1].split("</tr>")[0]
    assert "✓" in row_a and "✗" in row_a  # in words and symbols, not colour alone
    # One partner chosen: no comparison.
    one = client_for(cast.supervisor).get(reverse("metrics:dashboard"),
                                          {"month": MONTH_PARAM, "partner": cast.a.partner.pk})
    assert 'id="compare-' not in one.content.decode()
    manager = client_for(cast.a.manager).get(reverse("metrics:dashboard"),
                                             {"month": MONTH_PARAM})
    assert manager.status_code == 200
    body = manager.content.decode()
    assert 'id="compare-' not in body and cast.b.partner.name not in body
