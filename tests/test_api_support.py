"""Helpers for the API tests (no tests here): clients that act as a user, and DB snapshots.

Kept in a test_api* module because the API work may only add files matching that name.
"""

import json
from typing import Any

from django.test import Client

from firstline.api.services import issue_token
from firstline.core.models import AuditEvent, User
from firstline.tickets.models import Message, Ticket


class ApiClient(Client):
    """A test client that sends JSON bodies and, when given a token, the bearer header."""

    def __init__(self, token: str | None = None, **kwargs: Any) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        super().__init__(headers=headers, **kwargs)

    def post_json(self, path: str, body: Any) -> Any:
        return self.post(path, json.dumps(body), content_type="application/json")

    def patch_json(self, path: str, body: Any) -> Any:
        return self.patch(path, json.dumps(body), content_type="application/json")


def token_client(user: User) -> ApiClient:
    _token, plaintext = issue_token(user, "tests")
    return ApiClient(plaintext)


def error_fields(response: Any) -> set[str]:
    return {error["field"] for error in response.json()["errors"]}


def db_snapshot() -> dict[str, Any]:
    """Everything an API write could touch, to prove a refused request wrote nothing."""
    return {
        "tickets": list(Ticket.objects.order_by("pk").values()),
        "messages": Message.objects.count(),
        "audit": AuditEvent.objects.count(),
    }

