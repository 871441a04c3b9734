"""Password sign-in is throttled on the desk, the Django admin and the customer portal.

Failures are counted per account and per client address; a full counter locks, the lockout
grows, a right password clears the account, and an unknown account is answered exactly as a
known one.
"""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from firstline.accounts.client import client_address
from firstline.accounts.models import SignInThrottle
from firstline.core.models import AuditEvent, User

from .conftest import PASSWORD

LOCKED = "Too many failed sign-in attempts"
WRONG = "wrong-password-1"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def desk(client: Client, username: str, password: str, address: str = "127.0.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def admin(client: Client, username: str, password: str, address: str = "127.0.0.1"):
    return client.post(
        reverse("admin:login"), {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def portal(client: Client, slug: str, email: str, password: str, address: str = "127.0.0.1"):
    return client.post(
        reverse("portal:login", args=[slug]), {"pw-email": email, "pw-password": password},
        REMOTE_ADDR=address,
    )


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def error_of(response) -> str:
    assert response.status_code == 200
    form = response.context.get("form") or response.context.get("password_form")
    return " ".join(form.non_field_errors())


@pytest.fixture
def staff_admin(cast):
    return User.objects.create_user(
        username="root", password=PASSWORD, role=User.Role.ADMIN, is_staff=True,
        is_superuser=True,
    )


def test_forty_wrong_passwords_then_the_right_one_does_not_sign_in_on_the_desk(cast):
    client = Client()
    for _ in range(40):
        assert not signed_in(client) and desk(client, "operator", WRONG).status_code == 200
    response = desk(client, "operator", PASSWORD)
    assert LOCKED in error_of(response)
    assert not signed_in(client)


def test_forty_wrong_passwords_then_the_right_one_does_not_sign_in_on_the_portal(cast):
    client = Client()
    for _ in range(40):
        portal(client, "alpha", "ivan@alpha.example", WRONG)
    response = portal(client, "alpha", "ivan@alpha.example", PASSWORD)
    assert LOCKED in error_of(response)
    assert not signed_in(client)


def test_forty_wrong_passwords_then_the_right_one_does_not_sign_in_on_the_admin(staff_admin):
    client = Client()
    for _ in range(40):
        admin(client, "root", WRONG)
    response = admin(client, "root", PASSWORD)
    assert response.status_code == 200 and LOCKED in response.content.decode()
    assert not signed_in(client)


def test_the_lockout_says_when_to_try_again_and_lifts_then(cast):
    client = Client()
    with time_machine.travel(START, tick=False):
        for _ in range(4):
            assert LOCKED not in error_of(desk(client, "operator", WRONG))
        # The fifth failure locks: the answer says so at once, with the time (Moscow, 12:05).
        message = error_of(desk(client, "operator", WRONG))
        assert message == (
            "Too many failed sign-in attempts. Try again in 5 minutes, after 12:05."
        )
    with time_machine.travel(START + timedelta(minutes=4, seconds=59), tick=False):
        assert LOCKED in error_of(desk(client, "operator", PASSWORD))
    with time_machine.travel(START + timedelta(minutes=5, seconds=1), tick=False):
        assert desk(client, "operator", PASSWORD).status_code == 302
        assert signed_in(client)


def test_each_lockout_in_a_row_lasts_twice_as_long_and_a_success_ends_the_series(cast):
    client = Client()
    moment = START
    for minutes in (5, 10, 20):
        with time_machine.travel(moment, tick=False):
            for _ in range(5):
                desk(client, "operator", WRONG)
        with time_machine.travel(moment + timedelta(minutes=minutes) - timedelta(seconds=2)):
            assert LOCKED in error_of(desk(client, "operator", PASSWORD))
        moment += timedelta(minutes=minutes, seconds=1)
    with time_machine.travel(moment, tick=False):
        assert desk(client, "operator", PASSWORD).status_code == 302
    client = Client()
    with time_machine.travel(moment + timedelta(minutes=1), tick=False):
        for _ in range(5):
            desk(client, "operator", WRONG)
        assert "Try again in 5 minutes" in error_of(desk(client, "operator", PASSWORD))


@override_settings(FIRSTLINE_SIGNIN_LOCKOUT_MAX_MINUTES=12)
def test_a_lockout_never_lasts_longer_than_the_maximum(cast):
    client = Client()
    moment = START
    for expected in (5, 10, 12, 12):
        with time_machine.travel(moment, tick=False):
            for _ in range(5):
                desk(client, "operator", WRONG)
            assert f"Try again in {expected} minutes" in error_of(desk(client, "operator", WRONG))
        moment += timedelta(minutes=expected, seconds=1)


def test_a_right_password_clears_the_accounts_failures(cast):
    client = Client()
    for _ in range(4):
        desk(client, "operator", WRONG)
    assert desk(client, "operator", PASSWORD).status_code == 302
    client = Client()
    for _ in range(4):
        assert LOCKED not in error_of(desk(client, "operator", WRONG))
    assert desk(client, "operator", PASSWORD).status_code == 302


def test_failures_older_than_the_window_do_not_count(cast):
    client = Client()
    with time_machine.travel(START, tick=False):
        for _ in range(4):
            desk(client, "operator", WRONG)
    with time_machine.travel(START + timedelta(minutes=15, seconds=1), tick=False):
        for _ in range(4):
            assert LOCKED not in error_of(desk(client, "operator", WRONG))
        assert LOCKED in error_of(desk(client, "operator", WRONG))


def test_an_unknown_account_gets_the_same_answers_as_a_known_one(cast):
    def answers(username: str, address: str) -> list[str]:
        client = Client()
        with time_machine.travel(START, tick=False):
            return [error_of(desk(client, username, WRONG, address)) for _ in range(8)]

    known, unknown = answers("operator", "10.0.0.1"), answers("no-such-user", "10.0.0.2")
    assert known == unknown
    assert LOCKED not in known[3] and LOCKED in known[4] and LOCKED in known[7]
    # The portal, with an address that is nobody's.
    client, other = Client(), Client()
    with time_machine.travel(START, tick=False):
        known = [error_of(portal(client, "alpha", "ivan@alpha.example", WRONG, "10.0.0.3"))
                 for _ in range(6)]
        unknown = [error_of(portal(other, "alpha", "nobody@alpha.example", WRONG, "10.0.0.4"))
                   for _ in range(6)]
    assert known == unknown and LOCKED in known[-1]


def test_one_address_trying_many_accounts_is_locked_for_every_account(cast):
    client = Client()
    for number in range(20):
        desk(client, f"guess-{number}", WRONG, "203.0.113.7")
    assert LOCKED in error_of(desk(client, "operator", PASSWORD, "203.0.113.7"))
    assert LOCKED in error_of(
        portal(client, "alpha", "ivan@alpha.example", PASSWORD, "203.0.113.7")
    )
    # Another address is not affected, and a right password does not unlock an address.
    assert desk(Client(), "operator", PASSWORD, "198.51.100.1").status_code == 302
    assert LOCKED in error_of(desk(client, "supervisor", PASSWORD, "203.0.113.7"))


def test_one_account_tried_from_many_addresses_is_locked(cast):
    client = Client()
    for number in range(5):
        desk(client, "operator", WRONG, f"192.0.2.{number}")
    assert LOCKED in error_of(desk(client, "operator", PASSWORD, "192.0.2.200"))


def test_the_desk_and_the_admin_share_one_counter_whatever_the_letter_case(staff_admin):
    client = Client()
    for _ in range(3):
        desk(client, "ROOT", WRONG, "192.0.2.1")
    for _ in range(2):
        admin(client, "root", WRONG, "192.0.2.2")
    response = admin(client, "root", PASSWORD, "192.0.2.3")
    assert LOCKED in response.content.decode() and not signed_in(client)


def test_a_portal_lockout_is_per_partner_and_e_mail(cast):
    client = Client()
    for _ in range(5):
        portal(client, "alpha", "ivan@alpha.example", WRONG, "192.0.2.1")
    assert LOCKED in error_of(portal(client, "alpha", "ivan@alpha.example", PASSWORD, "192.0.2.2"))
    response = portal(client, "alpha", "olga@alpha.example", PASSWORD, "192.0.2.3")
    assert response.status_code == 302 and signed_in(client)


def test_a_lockout_is_audited_without_storing_what_an_unknown_login_was(cast):
    client = Client()
    for _ in range(5):
        desk(client, "operator", WRONG, "192.0.2.10")
    event = AuditEvent.objects.get(action="signin.locked", target_type="user")
    assert event.target_id == str(cast.operator.pk) and event.actor is None
    assert event.after["client_address"] == "192.0.2.10" and event.after["scope"] == "account"
    assert event.after["until"]
    # A customer's lockout belongs to their partner's audit trail.
    for _ in range(5):
        portal(client, "alpha", "ivan@alpha.example", WRONG, "192.0.2.11")
    event = AuditEvent.objects.get(action="signin.locked", target_id=str(cast.a.customer.pk))
    assert event.partner == cast.a.partner

    secret = "my-secret-password-in-the-login-box"
    for _ in range(5):
        desk(client, secret, WRONG, "192.0.2.12")
    event = AuditEvent.objects.filter(action="signin.locked").latest("id")
    assert event.target_type == "signinthrottle"
    assert event.after["account"] == "(no such account)"
    stored = [repr(row.__dict__) for row in SignInThrottle.objects.all()]
    stored += [repr(row.__dict__) for row in AuditEvent.objects.all()]
    assert not any(secret in text for text in stored)


def test_twenty_failures_from_an_address_are_audited_as_an_address_lockout(cast):
    client = Client()
    for number in range(20):
        desk(client, f"guess-{number}", WRONG, "203.0.113.9")
    event = AuditEvent.objects.get(action="signin.locked", after__scope="address")
    assert event.after["client_address"] == "203.0.113.9"


def test_counters_are_rows_in_the_database_shared_by_every_process(cast):
    """Two clients (as two worker processes would be) add to one counter row."""
    for _ in range(3):
        desk(Client(), "operator", WRONG, "192.0.2.1")
    desk(Client(), "operator", WRONG, "192.0.2.1")
    row = SignInThrottle.objects.get(scope="account", label="operator")
    assert len(row.hits) == 4 and row.locked_until is None


def test_locked_attempts_are_not_counted_and_do_not_extend_the_lockout(cast):
    client = Client()
    with time_machine.travel(START, tick=False):
        for _ in range(5):
            desk(client, "operator", WRONG)
    with time_machine.travel(START + timedelta(minutes=4), tick=False):
        for _ in range(10):
            desk(client, "operator", WRONG)
    row = SignInThrottle.objects.get(scope="account", label="operator")
    assert row.locked_until == START + timedelta(minutes=5) and row.lockouts == 1


# --- The client address -------------------------------------------------------------------


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_x_forwarded_for_is_ignored_without_a_trusted_proxy():
    assert client_address(request_from("192.0.2.1", "198.51.100.9")) == "192.0.2.1"


@override_settings(FIRSTLINE_TRUSTED_PROXIES=["10.0.0.0/8", "127.0.0.1"])
def test_x_forwarded_for_is_read_from_the_right_through_trusted_proxies_only():
    # The client wrote a fake first hop; the proxies appended the real peer and themselves.
    request = request_from("127.0.0.1", "1.1.1.1, 198.51.100.9, 10.1.2.3")
    assert client_address(request) == "198.51.100.9"
    # An untrusted peer's header is not believed at all.
    assert client_address(request_from("192.0.2.50", "198.51.100.9")) == "192.0.2.50"
    # A garbled hop stops the walk at the last address a trusted proxy vouched for.
    assert client_address(request_from("10.0.0.1", "198.51.100.9, not-an-ip")) == "10.0.0.1"
    assert client_address(request_from("10.0.0.1")) == "10.0.0.1"


@override_settings(FIRSTLINE_TRUSTED_PROXIES=["127.0.0.1"])
def test_behind_a_trusted_proxy_the_forwarded_client_is_the_one_locked(cast):
    client = Client()
    for _ in range(20):
        client.post(reverse("login"), {"username": "x", "password": WRONG},
                    REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    response = client.post(reverse("login"), {"username": "operator", "password": PASSWORD},
                           REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.5")
    assert response.status_code == 302


def test_ipv6_clients_are_counted_per_64_network_and_mapped_ipv4_as_ipv4():
    assert client_address(request_from("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::/64"
    assert client_address(request_from("2001:db8:1:2:bbbb::9")) == "2001:db8:1:2::/64"
    assert client_address(request_from("::ffff:192.0.2.4")) == "192.0.2.4"
    assert client_address(request_from("")) == "unknown"


# --- Configuration -------------------------------------------------------------------------


def start_with(**env):
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "firstline.settings", "DEBUG": "1",
                   "DATABASE_URL": "sqlite:///:memory:", **env}
    return subprocess.run([sys.executable, "-c", "import django; django.setup()"],
                          env=environment, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("variable", "value"), [
    ("FIRSTLINE_TRUSTED_PROXIES", "10.0.0.0/8, proxy.local"),
    ("FIRSTLINE_SIGNIN_ACCOUNT_MAX_FAILURES", "0"),
    ("FIRSTLINE_LOGIN_LINK_MAX_PER_EMAIL", "-1"),
])
def test_malformed_throttle_setting_names_the_variable(variable, value):
    result = start_with(**{variable: value})
    assert result.returncode != 0 and variable in result.stderr


def test_the_lockout_message_is_russian_with_the_right_plural():
    from django.utils import translation

    from firstline.accounts.throttle import lockout_message

    with time_machine.travel(START, tick=False), translation.override("ru"):
        assert lockout_message(START + timedelta(minutes=5)) == (
            "Слишком много неудачных попыток входа. Попробуйте снова через 5 минут, после 12:05."
        )
        assert "через 1 минуту" in lockout_message(START + timedelta(seconds=20))
        assert "через 2 минуты" in lockout_message(START + timedelta(minutes=2))


def test_an_administrator_lifts_a_lockout_by_deleting_its_row_in_the_admin(staff_admin):
    client = Client()
    for _ in range(5):
        desk(client, "operator", WRONG, "192.0.2.20")
    row = SignInThrottle.objects.get(scope="account", label="operator")
    root = Client()
    root.force_login(staff_admin)
    listing = root.get(reverse("admin:accounts_signinthrottle_changelist")).content.decode()
    assert "operator" in listing
    url = reverse("admin:accounts_signinthrottle_delete", args=[row.pk])
    assert root.post(url, {"post": "yes"}).status_code == 302
    assert desk(client, "operator", PASSWORD, "192.0.2.21").status_code == 302
