"""One-time sign-in links are rate-limited, and signing out keeps a customer in their portal."""

from datetime import UTC, datetime, timedelta

import time_machine
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from .conftest import PASSWORD, client_for

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def ask_link(client: Client, email: str, slug: str = "alpha", address: str = "127.0.0.1"):
    return client.post(
        reverse("portal:login", args=[slug]), {"link-email": email}, REMOTE_ADDR=address,
        follow=True,
    )


def answer(response) -> list[str]:
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def test_at_most_three_letters_per_mailbox_per_half_hour_with_the_same_answer(
    cast, django_capture_on_commit_callbacks
):
    client = Client()
    with time_machine.travel(START, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            answers = [answer(ask_link(client, "ivan@alpha.example", address=f"192.0.2.{n}"))
                       for n in range(10)]
        assert len(mail.outbox) == 3
        # The answer is the same whether a letter went or not, and for a stranger.
        with django_capture_on_commit_callbacks(execute=True):
            stranger = answer(ask_link(client, "nobody@alpha.example"))
        assert len(mail.outbox) == 3
        assert all(item == answers[0] for item in answers) and stranger == answers[0]
    # The mailbox's letter case and another partner's portal do not open a new allowance.
    with time_machine.travel(START + timedelta(minutes=29), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            ask_link(client, "IVAN@alpha.example")
            ask_link(client, "ivan@alpha.example", slug="beta")
        assert len(mail.outbox) == 3
    # Half an hour after the first letters, the next one goes.
    with time_machine.travel(START + timedelta(minutes=30, seconds=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            ask_link(client, "ivan@alpha.example")
        assert len(mail.outbox) == 4
        assert mail.outbox[-1].to == ["ivan@alpha.example"]


def test_the_limit_is_a_sliding_half_hour_not_a_fixed_one(cast, django_capture_on_commit_callbacks):
    client, sent_at = Client(), []
    for minute in (0, 20, 25, 29, 31, 45, 51):
        with time_machine.travel(START + timedelta(minutes=minute), tick=False):
            with django_capture_on_commit_callbacks(execute=True):
                before = len(mail.outbox)
                ask_link(client, "ivan@alpha.example")
            if len(mail.outbox) > before:
                sent_at.append(minute)
    # 29 would be the fourth within half an hour; at 31 the letter of 0 has left the window;
    # 45 would be the fourth since 15 (20, 25, 31); at 51 only 25 and 31 are within it.
    assert sent_at == [0, 20, 25, 31, 51]


def test_one_client_cannot_mail_every_customer(cast, django_capture_on_commit_callbacks):
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(20):
            ask_link(client, f"someone-{number}@alpha.example", address="203.0.113.8")
        ask_link(client, "ivan@alpha.example", address="203.0.113.8")
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        ask_link(client, "olga@alpha.example", address="198.51.100.8")
    assert [letter.to for letter in mail.outbox] == [["olga@alpha.example"]]


def test_signing_out_of_the_portal_lands_on_the_partners_portal_sign_in(cast):
    client = client_for(cast.b.customer)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:login", args=["beta"])
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"])
    assert "Partner beta support" in page.content.decode()
    assert client.get(reverse("portal:tickets")).status_code == 302


def test_a_customer_who_signed_in_with_a_password_signs_out_to_their_portal(cast):
    client = Client()
    client.post(reverse("portal:login", args=["alpha"]),
                {"pw-email": "ivan@alpha.example", "pw-password": PASSWORD})
    response = client.post(reverse("logout"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("portal:login", args=["alpha"])
    assert response.status_code == 200


def test_staff_sign_out_still_lands_on_the_desk_sign_in(cast):
    for user in (cast.operator, cast.a.engineer):
        response = client_for(user).post(reverse("logout"))
        assert response.status_code == 302 and response["Location"] == reverse("login")


def test_a_customer_whose_session_ended_is_sent_to_their_partners_portal_sign_in(cast):
    client = Client()
    client.post(reverse("portal:login", args=["beta"]),
                {"pw-email": "ivan@beta.example", "pw-password": PASSWORD})
    del client.cookies[settings.SESSION_COOKIE_NAME]  # the session ended
    response = client.get(reverse("portal:tickets"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("portal:login", args=["beta"])
    assert "Partner beta support" in response.content.decode()


def test_without_a_portal_behind_it_the_desk_sign_in_stays(cast):
    client = Client()
    response = client.get(reverse("portal:tickets"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("login"))
    client.cookies["firstline_portal"] = "no-such-partner"
    assert client.get(reverse("login") + "?next=/portal/").status_code == 200
    # Staff opening a desk page on a customer's browser still get the desk's sign-in.
    client.cookies["firstline_portal"] = "alpha"
    assert client.get(reverse("login") + "?next=/tickets/").status_code == 200
