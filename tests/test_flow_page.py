"""The ticket page without reloads: HTMX answers in place (422 for a refusal), plain posts
redirect, an action's address shows the ticket on a reload, reply drafts are kept per
ticket and user, and the customer's card sits above the script."""

import pytest
from django.urls import reverse

from firstline.tickets.models import Message, Status, Ticket
from firstline.web.draft_models import ReplyDraft
from tests.conftest import client_for
from tests.test_script_support import configure, contract_of

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def step_url(ticket, step):
    return reverse("script-step", args=[ticket.pk, step])


@pytest.mark.parametrize("name, args", [
    ("ticket-add-message", []), ("ticket-update", []), ("ticket-resolve", []),
    ("script-step", ["identify"]), ("script-step", ["handover"]),
])
def test_an_actions_address_opened_by_a_reload_shows_the_ticket(cast, name, args):
    ticket = cast.a.ticket
    response = client_for(cast.operator).get(reverse(name, args=[ticket.pk, *args]))
    assert response.status_code == 302
    assert response.url == reverse("ticket", args=[ticket.pk])
    assert Ticket.objects.get(pk=ticket.pk).status == Status.NEW


def test_a_step_saved_through_htmx_answers_the_page_for_an_in_place_swap(cast):
    configure(cast.a)
    ticket = cast.a.ticket
    response = client_for(cast.operator).post(
        step_url(ticket, "identify"),
        {"identify-contract_number": contract_of(ticket), "identify-confirmed_email": "on"},
        **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="step-identify"' in html and 'id="step-classify"' in html
    assert "Identification recorded." in html  # the notice, in place of a flash message


def test_a_refused_step_through_htmx_is_422_with_the_error_in_the_step(cast):
    configure(cast.a)
    response = client_for(cast.operator).post(
        step_url(cast.a.ticket, "identify"), {"identify-contract_number": "wrong"}, **HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    step = html[html.index('id="step-identify"'):html.index('id="step-classify"')]
    assert "The contract number does not match." in step
    assert 'aria-invalid="true"' in step  # ticket.js focuses the first field in error


def test_a_refused_plain_post_shows_the_page_with_the_tickets_address_for_the_script(cast):
    configure(cast.a)
    ticket = cast.a.ticket
    response = client_for(cast.operator).post(step_url(ticket, "handover"), {})
    assert response.status_code == 400
    assert f'data-ticket-url="{reverse("ticket", args=[ticket.pk])}"' in response.content.decode()


def test_the_draft_is_kept_per_ticket_and_user_and_shown_again(cast):
    ticket = cast.a.ticket
    operator = client_for(cast.operator)
    response = operator.post(reverse("ticket-draft", args=[ticket.pk]),
                             {"text": "Ivan alpha, проверяем\r\nлоги", "kind": "reply",
                              "reply_kind": "regular"})
    assert response.status_code == 204
    draft = ReplyDraft.objects.get()
    assert (draft.user, draft.partner, draft.text) == (
        cast.operator, cast.a.partner, "Ivan alpha, проверяем\nлоги")

    page = operator.get(reverse("ticket", args=[ticket.pk])).content.decode()
    assert "Ivan alpha, проверяем\nлоги</textarea>" in page
    other = client_for(cast.supervisor).get(reverse("ticket", args=[ticket.pk]))
    assert "проверяем" not in other.content.decode()  # another user's draft is theirs


def test_sending_the_reply_deletes_the_draft_and_an_empty_editor_drops_it(cast):
    ticket = cast.a.ticket
    operator = client_for(cast.operator)
    draft_url = reverse("ticket-draft", args=[ticket.pk])
    operator.post(draft_url, {"text": "черновик"})
    operator.post(draft_url, {"text": "   "})
    assert not ReplyDraft.objects.exists()
    operator.post(draft_url, {"text": "Ivan alpha, готово."})
    operator.post(reverse("ticket-add-message", args=[ticket.pk]),
                  {"kind": "reply", "text": "Ivan alpha, готово."})
    assert Message.objects.filter(ticket=ticket, kind=Message.Kind.REPLY).exists()
    assert not ReplyDraft.objects.exists()


def test_another_partners_ticket_takes_no_draft(cast):
    response = client_for(cast.a.engineer).post(
        reverse("ticket-draft", args=[cast.b.ticket.pk]), {"text": "x"})
    assert response.status_code == 404
    assert not ReplyDraft.objects.exists()


def test_the_customer_card_with_vip_and_contacts_is_above_the_script(cast):
    configure(cast.a)
    cast.a.organisation.is_vip = True
    cast.a.organisation.save()
    html = client_for(cast.operator).get(reverse("ticket", args=[cast.a.ticket.pk])).content
    html = html.decode()
    card = html[html.index('id="ticket-facts"'):html.index('id="script"')]
    for text in ("alpha customer LLC", "VIP", "ivan@alpha.example", "VPS alpha", "Customer portal"):
        assert text in card


def test_every_checklist_step_is_open_so_tab_reaches_its_controls(cast):
    configure(cast.a)
    html = client_for(cast.operator).get(reverse("ticket", args=[cast.a.ticket.pk])).content
    script = html.decode().split('id="script"')[1]
    assert "<details" not in script
    for step in ("identify", "classify", "diagnose", "prioritise", "finish"):
        assert f'id="step-{step}"' in script
