"""Survey settings in the desk: the supervisor for any partner, the partner's manager for
their own only; bad values refused naming the field; every change audited; CSI questions
added and switched off (their answers stay)."""

from django.urls import reverse

from firstline.core.models import AuditEvent
from firstline.surveys.models import CsiQuestion, SurveySettings

from .conftest import client_for


def form_data(**extra):
    data = {"action": "settings", "csat_enabled": "on", "csat_scale_max": "5",
            "csat_delay_minutes": "30", "csat_min_days_between": "7", "nps_enabled": "on",
            "nps_interval_days": "91", "min_days_between_surveys": "7",
            "change_window_hours": "72", "link_valid_days": "30",
            "winback_reminder_days": "3"}
    data.update(extra)
    return data


def test_manager_saves_own_partners_settings_audited(cast):
    client = client_for(cast.a.manager)
    url = reverse("surveys:settings", args=[cast.a.partner.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, form_data(csat_channels=["email", "phone"],
                                          csat_services=[str(cast.a.service.pk)]))
    assert response.status_code == 302
    rules = SurveySettings.objects.get(partner=cast.a.partner)
    assert rules.csat_delay_minutes == 30 and rules.csat_channels == ["email", "phone"]
    assert list(rules.csat_services.all()) == [cast.a.service]
    event = AuditEvent.objects.get(action="survey.settings_changed")
    assert event.actor == cast.a.manager and event.after["csat_delay_minutes"] == 30
    # Another partner's settings: not found, nothing saved.
    foreign = reverse("surveys:settings", args=[cast.b.partner.pk])
    assert client.post(foreign, form_data()).status_code == 404
    assert not SurveySettings.objects.filter(partner=cast.b.partner).exists()
    assert client_for(cast.a.engineer).get(url).status_code == 403


def test_bad_values_are_refused_naming_the_field(cast):
    client = client_for(cast.supervisor)
    url = reverse("surveys:settings", args=[cast.b.partner.pk])
    response = client.post(url, form_data(csat_scale_max="11", csat_services=[
        str(cast.a.service.pk)]))  # a scale past 10 and another partner's service
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "csat_scale_max" in errors and "csat_services" in errors
    assert not SurveySettings.objects.exists()


def test_csi_questions_are_added_and_switched_off(cast):
    client = client_for(cast.supervisor)
    url = reverse("surveys:settings", args=[cast.a.partner.pk])
    client.post(url, {"action": "question", "q-text": "Скорость", "q-weight": "3",
                      "q-order": "1"})
    question = CsiQuestion.objects.get(partner=cast.a.partner)
    assert question.weight == 3 and question.is_active
    assert client.post(url, {"action": "question", "q-text": "", "q-weight": "0",
                             "q-order": "1"}).status_code == 400
    client.post(url, {"action": "disable", "question": question.pk})
    question.refresh_from_db()
    assert not question.is_active
    assert AuditEvent.objects.filter(action="survey.csi_question_active").count() == 1
