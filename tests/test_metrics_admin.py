"""KPI targets and evidence registers are kept in the Django admin; a revised target is
what the metrics judge by, and records who revised it."""

from datetime import date

from django.urls import reverse

from firstline.core.models import User
from firstline.metrics import services
from firstline.metrics.models import Evidence, MetricTarget
from tests.conftest import PASSWORD, client_for


def test_admin_sets_a_target_the_metrics_use(cast):
    root = User.objects.create_user(username="root", password=PASSWORD, role=User.Role.ADMIN,
                                    is_staff=True, is_superuser=True)
    client = client_for(root)
    for model in ("metrictarget", "evidence", "monthlyreport"):
        assert client.get(reverse(f"admin:metrics_{model}_changelist")).status_code == 200
    answer = client.post(reverse("admin:metrics_metrictarget_add"), {
        "partner": cast.a.partner.pk, "metric": "first_line_share", "target": "0.7",
        "revised_at": "2026-03-01"})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    target = MetricTarget.objects.get()
    assert target.revised_by == root
    assert services.targets_for(cast.a.partner) == {"first_line_share": 0.7}
    assert services.targets_for(cast.b.partner) == {}
    refused = client.post(reverse("admin:metrics_metrictarget_add"), {
        "metric": "no_such_metric", "target": "1", "revised_at": "2026-03-01"})
    assert refused.status_code == 200 and MetricTarget.objects.count() == 1


def test_a_partners_own_target_wins_over_the_provider_wide_one(cast):
    MetricTarget.objects.create(metric="reaction_time", target=0.9, revised_at=date(2026, 1, 1))
    MetricTarget.objects.create(partner=cast.a.partner, metric="reaction_time", target=0.99,
                                revised_at=date(2026, 1, 1))
    assert services.targets_for(cast.a.partner)["reaction_time"] == 0.99
    assert services.targets_for(cast.b.partner)["reaction_time"] == 0.9
    Evidence.objects.create(kind=Evidence.Kind.TRAINING, title="Course", person="HR")
    assert Evidence.objects.count() == 1
