"""Who may call the API: bearer tokens of staff and partner accounts, and the UI session."""

import hashlib
import json
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils.crypto import get_random_string

from firstline.api.models import ApiToken
from firstline.api.services import issue_token, revoke_token
from firstline.core.clock import now
from firstline.core.models import AuditEvent, User
from tests.conftest import client_for
from tests.test_api_support import ApiClient, token_client

pytestmark = pytest.mark.django_db


def test_a_valid_token_acts_as_its_user(cast):
    response = token_client(cast.a.integration).get("/api/tickets")

    assert response.status_code == 200
    ids = {item["id"] for item in response.json()["items"]}
    assert ids == {cast.a.ticket.pk, cast.a.other_ticket.pk}


def test_a_request_without_credentials_gets_401_as_json(cast):
    response = ApiClient().get("/api/tickets")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["detail"]


def test_a_garbage_token_gets_401(cast):
    response = ApiClient("fl_not-a-token-anyone-issued").get("/api/tickets")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked API token."}


def test_a_revoked_token_gets_401(cast):
    token, plaintext = issue_token(cast.a.integration, "billing sync")
    client = ApiClient(plaintext)
    assert client.get("/api/tickets").status_code == 200

    revoke_token(token, actor=cast.a.manager)

    assert client.get("/api/tickets").status_code == 401
    assert AuditEvent.objects.filter(action="api_token.revoked", target_id=str(token.pk)).exists()


def test_the_token_of_a_deactivated_user_gets_401(cast):
    client = token_client(cast.a.integration)
    cast.a.integration.is_active = False
    cast.a.integration.save(update_fields=["is_active"])

    assert client.get("/api/tickets").status_code == 401


def test_a_bad_token_does_not_fall_back_to_the_session(cast):
    client = ApiClient("fl_wrong")
    client.force_login(cast.a.engineer)

    assert client.get("/api/tickets").status_code == 401


def test_the_ui_session_is_accepted(cast):
    response = client_for(cast.a.engineer).get(f"/api/tickets/{cast.a.ticket.pk}")

    assert response.status_code == 200
    assert response.json()["number"] == cast.a.ticket.number


def test_a_session_write_without_csrf_token_is_refused(cast):
    client = ApiClient(enforce_csrf_checks=True)
    client.force_login(cast.a.engineer)

    response = client.post_json(
        f"/api/tickets/{cast.a.ticket.pk}/messages", {"kind": "note", "text": "hi"}
    )

    assert response.status_code == 403
    assert cast.a.ticket.messages.count() == 1


def test_a_session_write_with_the_csrf_header_is_accepted_as_htmx_sends_it(cast):
    client = ApiClient(enforce_csrf_checks=True)
    client.force_login(cast.a.engineer)
    secret = get_random_string(32)
    client.cookies["csrftoken"] = secret

    response = client.post(
        f"/api/tickets/{cast.a.ticket.pk}/messages",
        json.dumps({"kind": "note", "text": "from the UI"}),
        content_type="application/json",
        headers={"X-CSRFToken": secret},
    )

    assert response.status_code == 201
    assert response.json()["author_name"] == cast.a.engineer.display_name


def test_a_write_with_neither_token_nor_session_is_401_not_a_csrf_error(cast):
    client = ApiClient(enforce_csrf_checks=True)

    response = client.post_json("/api/tickets", {"subject": "x", "text": "y"})

    assert response.status_code == 401


def test_customers_get_403_on_the_api(cast):
    response = client_for(cast.a.customer).get("/api/tickets")

    assert response.status_code == 403
    assert response.json()["detail"] == "This account cannot use the API."


def test_customers_cannot_be_issued_tokens(cast):
    with pytest.raises(ValidationError) as excinfo:
        issue_token(cast.a.customer, "portal")

    assert "user" in excinfo.value.message_dict
    assert not ApiToken.objects.exists()


def test_only_the_hash_of_a_token_is_stored(cast):
    token, plaintext = issue_token(cast.operator, "reports")

    assert plaintext.startswith("fl_")
    assert len(plaintext) > 40
    assert token.prefix == plaintext[:8]
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert stored["key_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in [str(value) for value in stored.values()]


def test_the_last_use_is_recorded_at_most_once_a_minute(cast):
    token, plaintext = issue_token(cast.a.integration, "sync")
    client = ApiClient(plaintext)
    start = now()

    with time_machine.travel(start, tick=False):
        client.get("/api/partners")
    token.refresh_from_db()
    assert token.last_used_at == start

    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        client.get("/api/partners")
    token.refresh_from_db()
    assert token.last_used_at == start

    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        client.get("/api/partners")
    token.refresh_from_db()
    assert token.last_used_at == start + timedelta(minutes=2)


def test_the_command_prints_a_working_token_once(cast):
    out, err = StringIO(), StringIO()

    call_command("create_api_token", "alpha-integration", "--name", "CRM", stdout=out, stderr=err)

    plaintext = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert token.user == cast.a.integration
    assert token.name == "CRM"
    assert token.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in err.getvalue()
    assert ApiClient(plaintext).get("/api/tickets").status_code == 200


def test_the_command_refuses_an_unknown_user(cast):
    with pytest.raises(CommandError):
        call_command("create_api_token", "nobody", "--name", "CRM", stdout=StringIO())

    assert not ApiToken.objects.exists()


def test_the_admin_lists_tokens_by_prefix_and_never_lets_the_hash_be_edited(cast):
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    token, _plaintext = issue_token(cast.a.integration, "CRM")
    client = client_for(admin)
    change_url = f"/admin/api/apitoken/{token.pk}/change/"

    changelist = client.get("/admin/api/apitoken/")
    client.post(change_url, {"name": "CRM renamed", "key_hash": "0" * 64})

    assert changelist.status_code == 200
    assert token.prefix in changelist.content.decode()
    token.refresh_from_db()
    assert token.name == "CRM renamed"
    assert token.key_hash != "0" * 64
    assert client.get("/admin/api/apitoken/add/").status_code == 403


def test_the_admin_action_revokes_tokens(cast):
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    token, plaintext = issue_token(cast.a.integration, "CRM")

    client_for(admin).post(
        "/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}
    )

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiClient(plaintext).get("/api/tickets").status_code == 401
