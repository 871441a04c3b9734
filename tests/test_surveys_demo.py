"""The demo data carries survey answers: figures with their sample size and interval, the
feedback page, follow-up tasks and a risk list with something on top."""

from django.core.management import call_command
from django.urls import reverse

from firstline.core.clock import now
from firstline.core.demo import build_demo
from firstline.core.models import Partner, User
from firstline.surveys import risk
from firstline.surveys.models import FollowUpTask, Survey, SurveyStatus
from firstline.surveys.stats import survey_facts

from .conftest import client_for


def test_demo_has_answers_figures_and_risks(db):
    build_demo(moment=now())
    facts = survey_facts()
    assert facts["csat"]["n"] >= 30 and facts["csat"]["ci95"][0] is not None
    assert facts["nps"]["n"] > 0 and facts["nps"]["ci95"][0] <= facts["nps"]["value"]
    partner_csi = survey_facts(partner=Partner.objects.order_by("id").first())["csi"]
    assert partner_csi["value"] is not None and len(partner_csi["questions"]) == 3
    assert FollowUpTask.objects.exists()
    ranked = risk.risk_list(Partner.objects.all())
    assert ranked[0].score > 0 and ranked[0].score >= ranked[-1].score
    supervisor = User.objects.get(role=User.Role.SUPERVISOR)
    client = client_for(supervisor)
    for name in ("surveys:feedback", "surveys:tasks", "surveys:risk", "surveys:winback"):
        assert client.get(reverse(name)).status_code == 200
    # The survey clock: plans NPS for contacts not asked within the interval and sends.
    before = Survey.objects.filter(status=SurveyStatus.SENT).count()
    call_command("surveys_tick")
    assert Survey.objects.filter(status=SurveyStatus.SENT).count() > before
