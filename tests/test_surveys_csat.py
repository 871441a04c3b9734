"""CSAT after resolution: scheduled in the resolving transaction, sent after the delay through
the outbox with signed one-click links; GET never votes, the first POST records, a later one
changes the answer; forged, expired and out-of-scale answers are refused."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.urls import reverse

from firstline.core.clock import now
from firstline.outbox.models import OutboxMessage
from firstline.surveys import services
from firstline.surveys.models import FollowUpTask, Kind, Survey, SurveySettings, SurveyStatus
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Status

from .conftest import client_for


def resolve(ticket, actor):
    return ticket_services.change_ticket(
        ticket=ticket, actor=actor, change=ticket_services.TicketChange(status=Status.RESOLVED))


def sent_survey(cast, minutes=61):
    resolve(cast.a.ticket, cast.operator)
    survey = Survey.objects.get(ticket=cast.a.ticket, kind=Kind.CSAT)
    with time_machine.travel(now() + timedelta(minutes=minutes), tick=False):
        assert services.send_due() == 1
    survey.refresh_from_db()
    return survey


def token_path(survey, score):
    return reverse("surveys:vote", args=[services.vote_token(survey, score)])


def test_resolution_schedules_one_request_sent_after_the_delay(cast):
    resolve(cast.a.ticket, cast.operator)
    survey = Survey.objects.get(ticket=cast.a.ticket)
    assert survey.status == SurveyStatus.SCHEDULED
    assert services.send_due() == 0  # the delay has not passed
    with time_machine.travel(now() + timedelta(minutes=61), tick=False):
        assert services.send_due() == 1
        assert services.send_due() == 0
    letter = OutboxMessage.objects.get(dedupe_key=f"survey:{survey.pk}")
    assert letter.recipient == "ivan@alpha.example"
    assert letter.partner == cast.a.partner
    assert "/surveys/s/" in letter.body and "/surveys/unsubscribe/" in letter.body
    assert letter.headers["List-Unsubscribe"].startswith("<http")
    assert "Ivan alpha" in letter.body


def test_letter_is_in_the_contacts_language(cast):
    cast.a.contact.language = "en"
    cast.a.contact.save()
    sent_survey(cast)
    assert "How did we do?" in OutboxMessage.objects.get(dedupe_key__startswith="survey:").subject
    cast.b.contact.language = "ru"
    cast.b.contact.save()
    resolve(cast.b.ticket, cast.operator)
    with time_machine.travel(now() + timedelta(minutes=61), tick=False):
        services.send_due()
    letter = OutboxMessage.objects.get(partner=cast.b.partner, dedupe_key__startswith="survey:")
    assert "Как мы справились" in letter.subject


def test_partner_can_switch_off_or_filter_channels(cast):
    SurveySettings.objects.create(partner=cast.a.partner, csat_channels=["email"])
    resolve(cast.a.ticket, cast.operator)  # a portal ticket
    assert not Survey.objects.filter(ticket=cast.a.ticket).exists()
    SurveySettings.objects.create(partner=cast.b.partner, csat_enabled=False)
    resolve(cast.b.ticket, cast.operator)
    assert not Survey.objects.filter(ticket=cast.b.ticket).exists()


def test_a_link_clicked_twice_and_fetched_by_a_scanner_counts_once(cast, client):
    survey = sent_survey(cast)
    path = token_path(survey, 2)
    scanner = client.get(path)
    assert scanner.status_code == 200
    survey.refresh_from_db()
    assert survey.score is None and survey.answered_at is None
    assert client.post(path, {"score": "2"}).status_code == 200
    assert client.post(path, {"score": "2", "comment": "Долго"}).status_code == 200
    assert Survey.objects.filter(ticket=cast.a.ticket, answered_at__isnull=False).count() == 1
    survey.refresh_from_db()
    assert (survey.score, survey.comment, survey.answer_source) == (2, "Долго", "mail")
    # A low rating opens one follow-up task, however often it is submitted.
    assert FollowUpTask.objects.filter(survey=survey).count() == 1


def test_a_later_click_changes_the_answer_within_the_window_only(cast, client):
    survey = sent_survey(cast)
    client.post(token_path(survey, 3), {"score": "3"})
    client.post(token_path(survey, 5), {"score": "5"})
    survey.refresh_from_db()
    assert survey.score == 5 and survey.changed_at is not None
    with time_machine.travel(now() + timedelta(hours=73), tick=False):
        response = client.post(token_path(survey, 1), {"score": "1"})
    assert response.status_code == 400
    assert "72" in response.content.decode()
    survey.refresh_from_db()
    assert survey.score == 5


def test_forged_and_foreign_links_are_refused(cast, client):
    survey = sent_survey(cast)
    token = services.vote_token(survey, 5)
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert client.get(reverse("surveys:vote", args=[forged])).status_code == 400
    assert client.post(reverse("surveys:vote", args=[forged]), {"score": "5"}).status_code == 400
    # Signed with another salt (e.g. a portal sign-in token): not a vote.
    other = signing.dumps([survey.pk, 5], salt="firstline.portal.login-link")
    assert client.post(reverse("surveys:vote", args=[other]), {"score": "5"}).status_code == 400
    survey.refresh_from_db()
    assert survey.score is None


def test_expired_link_is_refused(cast, client):
    survey = sent_survey(cast)
    with time_machine.travel(now() + timedelta(days=31), tick=False):
        response = client.post(token_path(survey, 4), {"score": "4"})
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    survey.refresh_from_db()
    assert survey.score is None


@pytest.mark.parametrize("score", ["0", "6", "-1", "five", ""])
def test_a_score_outside_the_scale_is_refused(cast, client, score):
    survey = sent_survey(cast)
    response = client.post(token_path(survey, 4), {"score": score})
    assert response.status_code == 400
    survey.refresh_from_db()
    assert survey.score is None and survey.status == SurveyStatus.SENT


def test_unsubscribe_is_honoured(cast, client):
    survey = sent_survey(cast)
    path = reverse("surveys:unsubscribe", args=[services.unsubscribe_token(cast.a.contact)])
    assert client.get(path).status_code == 200
    assert not services.is_opted_out(cast.a.contact)  # GET changes nothing
    client.post(path)
    assert services.is_opted_out(cast.a.contact)
    response = client.post(token_path(survey, 4), {"score": "4"})
    assert response.status_code == 400
    # No more survey for this contact.
    ticket = ticket_services.create_ticket(
        partner=cast.a.partner, actor=cast.a.customer, channel="portal",
        contact=cast.a.contact, subject="Again", text="Again")
    resolve(ticket, cast.operator)
    with time_machine.travel(now() + timedelta(days=10), tick=False):
        services.send_due()
    assert Survey.objects.get(ticket=ticket).status == SurveyStatus.CANCELLED


def test_deleted_contact_gets_no_survey_and_no_vote(cast, client):
    survey = sent_survey(cast)
    Survey.objects.filter(pk=survey.pk).update(contact=None)
    response = client.post(token_path(survey, 4), {"score": "4"})
    assert response.status_code == 400
    assert "deleted" in response.content.decode()
    survey.refresh_from_db()
    assert survey.score is None


def test_the_same_contact_is_not_asked_again_within_the_week(cast):
    sent_survey(cast)
    second = ticket_services.create_ticket(
        partner=cast.a.partner, actor=cast.a.customer, channel="portal",
        contact=cast.a.contact, subject="Second", text="Second")
    resolve(second, cast.operator)
    with time_machine.travel(now() + timedelta(days=2), tick=False):
        services.send_due()
    assert Survey.objects.get(ticket=second).status == SurveyStatus.CANCELLED


def test_rating_in_the_portal_is_the_same_single_answer(cast):
    survey = sent_survey(cast)
    customer = client_for(cast.a.customer)
    page = customer.get(reverse("portal:ticket", args=[cast.a.ticket.pk]))
    assert reverse("surveys:portal-rate", args=[cast.a.ticket.pk]) in page.content.decode()
    customer.post(reverse("surveys:portal-rate", args=[cast.a.ticket.pk]), {"score": "4"})
    customer.post(reverse("surveys:portal-rate", args=[cast.a.ticket.pk]), {"score": "5"})
    survey.refresh_from_db()
    assert (survey.score, survey.answer_source) == (5, "portal")
    assert Survey.objects.filter(ticket=cast.a.ticket).count() == 1
    # Another customer of the same partner cannot rate it.
    other = client_for(cast.a.other_customer)
    response = other.post(reverse("surveys:portal-rate", args=[cast.a.ticket.pk]),
                          {"score": "1"})
    assert response.status_code == 404
    survey.refresh_from_db()
    assert survey.score == 5


def test_feedback_shows_answers_verbatim_to_the_partner_and_not_to_others(cast, client):
    survey = sent_survey(cast)
    client.post(token_path(survey, 1), {"score": "1", "comment": "Никто не перезвонил!"})
    page = client_for(cast.a.manager).get(reverse("surveys:feedback")).content.decode()
    assert "Никто не перезвонил!" in page and cast.a.ticket.number in page
    other = client_for(cast.b.manager).get(reverse("surveys:feedback")).content.decode()
    assert "Никто не перезвонил!" not in other
    tasks = client_for(cast.supervisor).get(reverse("surveys:tasks")).content.decode()
    assert "Никто не перезвонил!" in tasks
    assert client_for(cast.a.manager).get(reverse("surveys:tasks")).status_code == 403


def test_portal_rating_form_carries_its_csrf_token(cast):
    sent_survey(cast)
    customer = Client(enforce_csrf_checks=True)
    customer.force_login(cast.a.customer)
    action = reverse("surveys:portal-rate", args=[cast.a.ticket.pk])
    page = customer.get(reverse("portal:ticket", args=[cast.a.ticket.pk])).content.decode()
    form = page[page.index(f'action="{action}"'):]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    response = customer.post(action, {"score": "4", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Survey.objects.get(ticket=cast.a.ticket).score == 4
