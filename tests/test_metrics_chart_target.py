"""The dashboard's trend chart draws each metric's current target: the supervisor's
revision for the partner (else provider-wide, else the seed's 95%), and judges bars by it."""

from django.urls import reverse

from firstline.metrics.models import MetricTarget
from tests.conftest import client_for
from tests.test_metrics_compare import MONTH_PARAM, two_partners  # noqa: F401  (fixture)


def _charts(cast):
    page = client_for(cast.supervisor).get(
        reverse("metrics:dashboard"), {"partner": cast.a.partner.pk, "month": MONTH_PARAM})
    assert page.status_code == 200
    return {chart["key"]: chart for chart in page.context["charts"]}, page.content.decode()


def test_the_seed_target_without_a_revision(cast, two_partners):  # noqa: F811
    charts, _text = _charts(cast)
    resolution = charts["resolution_time"]
    assert resolution["target_text"] == "95%"
    assert resolution["target_y"] == 100 - 95 * 0.8
    assert resolution["bars"][-1]["text"] == "90%" and resolution["bars"][-1]["missed"]


def test_a_revised_target_moves_the_line_and_the_verdict(cast, two_partners):  # noqa: F811
    MetricTarget.objects.create(metric="resolution_time", target=0.8)  # provider-wide
    MetricTarget.objects.create(partner=cast.a.partner, metric="resolution_time", target=0.9)
    MetricTarget.objects.create(partner=cast.b.partner, metric="reaction_time", target=0.5)
    charts, text = _charts(cast)
    resolution = charts["resolution_time"]
    assert resolution["target_text"] == "90%"  # A's own revision wins
    assert resolution["target_y"] == 100 - 90 * 0.8
    assert not resolution["bars"][-1]["missed"]  # 90% against 90%
    assert charts["reaction_time"]["target_text"] == "95%"  # B's revision is not A's
    assert f'y1="{100 - 90 * 0.8:.1f}"' in text and ">90%</text>" in text
