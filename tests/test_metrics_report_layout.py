"""The report PDF's metric rows: a target or a fact in words (the KPI row's «revised within
365 days», «0 days ago», «no data yet») wraps inside its own column instead of running into
the next one (checked by eye on the PNG of the page: pdftoppm -png); the page footer names
the partner and the period."""

import io

from django.template.loader import render_to_string
from django.utils import translation
from pypdf import PdfReader

from firstline.metrics import report
from firstline.metrics.models import MetricTarget
from tests.test_metrics_registry import MONTH, facts  # noqa: F401  (the fixture)


def test_the_kpi_row_wraps_words_in_their_own_columns(cast, facts):  # noqa: F811
    MetricTarget.objects.create(partner=None, metric="kpi_revision", target=365,
                                revised_by=cast.supervisor)
    data = report.snapshot(cast.a.partner, MONTH, "en")
    kpi = next(row for row in data["rows"] if row["key"] == "kpi_revision")
    assert kpi["target_text"] == "revised within 365 days"
    assert kpi["value_text"] == "0 days ago"
    with translation.override("en"):
        html = render_to_string("metrics/report_pdf.html", {"r": data})
    assert '<td class="num wrap">revised within 365 days</td>' in html
    assert '<td class="num wrap">0 days ago</td>' in html
    assert '<td class="num">≥ 95 %</td>' in html  # a short target stays on one line
    css = report.STYLESHEET.read_text()
    assert "td.num.wrap { white-space: normal" in css
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(report.render_pdf(data))).pages]
    footer = f"{cast.a.partner.name} · 2026-03-01 – 2026-03-31"
    assert all(footer in text for text in pages[1:])  # every page, not only the cover
