"""The partner's CSAT rules (services asked, their own scale), surveys that may not be
answered (not sent yet, withdrawn), and who may open the risk and win-back pages."""

from datetime import timedelta

import time_machine
from django.urls import reverse

from firstline.core.clock import now
from firstline.core.models import Service
from firstline.surveys import services
from firstline.surveys.models import Kind, Survey, SurveySettings, SurveyStatus
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Status

from .conftest import client_for


def resolve(ticket, actor):
    ticket_services.change_ticket(ticket=ticket, actor=actor,
                                  change=ticket_services.TicketChange(status=Status.RESOLVED))


def test_only_the_services_asked_and_on_the_partners_scale(cast, client):
    rules = SurveySettings.objects.create(partner=cast.a.partner, csat_scale_max=10,
                                          csat_delay_minutes=0)
    other = Service.objects.create(partner=cast.a.partner, name="Mail")
    rules.csat_services.set([other])
    resolve(cast.a.ticket, cast.operator)  # a VPS ticket: not asked
    assert not Survey.objects.filter(ticket=cast.a.ticket).exists()
    rules.csat_services.set([cast.a.service])
    ticket = ticket_services.create_ticket(
        partner=cast.a.partner, actor=cast.a.customer, channel="portal", contact=cast.a.contact,
        subject="VPS", text="VPS is down", service=cast.a.service)
    resolve(ticket, cast.operator)
    survey = Survey.objects.get(ticket=ticket)
    assert (survey.scale_min, survey.scale_max) == (1, 10)
    assert services.send_due() == 1
    path = reverse("surveys:vote", args=[services.vote_token(survey, 9)])
    assert client.post(path, {"score": "11"}).status_code == 400
    assert client.post(path, {"score": "9"}).status_code == 200
    survey.refresh_from_db()
    assert survey.score == 9 and not services.is_low(survey)


def test_a_survey_not_sent_yet_or_withdrawn_takes_no_answer(cast, client):
    resolve(cast.a.ticket, cast.operator)
    survey = Survey.objects.get(ticket=cast.a.ticket)
    path = reverse("surveys:vote", args=[services.vote_token(survey, 5)])
    response = client.post(path, {"score": "5"})
    assert response.status_code == 400 and "not been sent" in response.content.decode()
    Survey.objects.filter(pk=survey.pk).update(status=SurveyStatus.CANCELLED)
    response = client.post(path, {"score": "5"})
    assert response.status_code == 400 and "withdrawn" in response.content.decode()
    survey.refresh_from_db()
    assert survey.score is None and survey.answered_at is None


def test_portal_rating_is_offered_during_the_delay_and_the_mail_then_stays_unsent(cast):
    resolve(cast.a.ticket, cast.operator)
    customer = client_for(cast.a.customer)
    customer.post(reverse("surveys:portal-rate", args=[cast.a.ticket.pk]), {"score": "5"})
    survey = Survey.objects.get(ticket=cast.a.ticket, kind=Kind.CSAT)
    assert survey.score == 5
    with time_machine.travel(now() + timedelta(hours=2), tick=False):
        assert services.send_due() == 0
    survey.refresh_from_db()
    assert survey.sent_at is None and survey.status == SurveyStatus.ANSWERED


def test_risk_and_win_back_pages_are_for_supervisors_and_the_partners_manager(cast):
    assert client_for(cast.a.engineer).get(reverse("surveys:risk")).status_code == 403
    assert client_for(cast.operator).get(reverse("surveys:risk")).status_code == 403
    assert client_for(cast.a.customer).get(reverse("surveys:feedback")).status_code == 403
    foreign = reverse("surveys:winback-new", args=[cast.a.organisation.pk])
    assert client_for(cast.b.manager).get(foreign).status_code == 404
    assert client_for(cast.a.manager).get(foreign).status_code == 200
    assert client_for(cast.supervisor).get(foreign).status_code == 200
