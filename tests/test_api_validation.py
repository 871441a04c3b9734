"""Bad input gets a 4xx JSON answer naming every bad field, and changes nothing."""

import pytest

from tests.test_api_support import ApiClient, db_snapshot, error_fields, token_client

pytestmark = pytest.mark.django_db


NEW = "/api/tickets"
TICKET = "/api/tickets/{ticket}"
MESSAGES = "/api/tickets/{ticket}/messages"
VALID_NEW = {"subject": "Subject", "text": "Text", "partner_id": "{a_partner}"}

# case: (who, method, path, body, the fields the answer must name)
CASES = {
    "missing text": (
        "integration", "post", NEW, {"subject": "Subject", "partner_id": "{a_partner}"}, {"text"}
    ),
    "missing partner": ("integration", "post", NEW, {"subject": "S", "text": "T"}, {"partner_id"}),
    "blank text": ("integration", "post", NEW, {**VALID_NEW, "text": "   "}, {"text"}),
    "unknown priority": (
        "integration", "post", NEW, {**VALID_NEW, "priority": "urgent"}, {"priority"}
    ),
    "too long subject": (
        "integration", "post", NEW, {**VALID_NEW, "subject": "x" * 301}, {"subject"}
    ),
    "unknown contact": (
        "integration", "post", NEW, {**VALID_NEW, "contact_id": 999_999}, {"contact_id"}
    ),
    "a field tickets do not have": (
        "integration", "post", NEW, {**VALID_NEW, "assignee_id": 1}, {"assignee_id"}
    ),
    "unknown status": ("manager", "patch", TICKET, {"status": "done"}, {"status"}),
    "status of the wrong type": ("manager", "patch", TICKET, {"status": 3}, {"status"}),
    "unknown priority on change": ("manager", "patch", TICKET, {"priority": "p1"},
                                   {"priority"}),
    "assignee from another partner": (
        "manager", "patch", TICKET, {"assignee_id": "{b_engineer}"}, {"assignee_id"}
    ),
    "a customer as assignee": (
        "manager", "patch", TICKET, {"assignee_id": "{a_customer}"}, {"assignee_id"}
    ),
    "inbound message from staff": (
        "engineer", "post", MESSAGES, {"kind": "inbound", "text": "hi"}, {"kind"}
    ),
    "empty message": ("engineer", "post", MESSAGES, {"kind": "note", "text": ""}, {"text"}),
    "limit=0": ("engineer", "get", "/api/tickets?limit=0", None, {"limit"}),
    "limit=201": ("engineer", "get", "/api/contacts?limit=201", None, {"limit"}),
    "forged cursor": ("engineer", "get", "/api/tickets?cursor=bm9wZQ", None, {"cursor"}),
    "unknown status filter": ("engineer", "get", "/api/tickets?status=later", None,
                              {"status"}),
}


def _fill(value, cast):
    ids = {"{b_engineer}": cast.b.engineer.pk, "{a_customer}": cast.a.customer.pk,
           "{a_partner}": cast.a.partner.pk}
    return ids.get(value, value) if isinstance(value, str) else value


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_422_naming_the_field_and_writes_nothing(cast, case):
    who, method, path, body, fields = CASES[case]
    client = token_client(getattr(cast.a, who))
    url = path.format(ticket=cast.a.ticket.pk)
    before = db_snapshot()

    if body is None:
        response = client.get(url)
    else:
        body = {key: _fill(value, cast) for key, value in body.items()}
        response = getattr(client, f"{method}_json")(url, body)

    assert response.status_code == 422, response.content
    answer = response.json()
    assert set(answer) == {"detail", "errors"}
    assert error_fields(response) == fields
    assert all(error["message"] for error in answer["errors"])
    for field in fields:
        assert field in answer["detail"]
    assert db_snapshot() == before


def test_every_bad_field_of_a_new_ticket_is_named_at_once(cast):
    client = token_client(cast.a.integration)
    before = db_snapshot()

    response = client.post_json(
        "/api/tickets", {"subject": "x" * 301, "priority": "urgent", "contact_id": "abc"}
    )

    assert response.status_code == 422
    assert error_fields(response) == {"subject", "priority", "text", "contact_id", "partner_id"}
    assert db_snapshot() == before


def test_every_bad_reference_of_a_new_ticket_is_named_at_once(cast):
    response = token_client(cast.operator).post_json(
        "/api/tickets",
        {"subject": "x", "text": "y", "partner_id": 999_999, "contact_id": 999_999,
         "service_id": 999_999},
    )

    assert response.status_code == 422
    assert error_fields(response) == {"partner_id", "contact_id", "service_id"}


def test_an_illegal_transition_is_a_409_naming_the_status_and_writes_nothing(cast):
    client = token_client(cast.a.manager)
    before = db_snapshot()

    response = client.patch_json(f"/api/tickets/{cast.a.ticket.pk}", {"status": "closed"})

    assert response.status_code == 409
    assert error_fields(response) == {"status"}
    assert "status" in response.json()["detail"]
    assert db_snapshot() == before


def test_a_refused_change_names_both_the_assignee_and_the_status(cast):
    client = token_client(cast.a.manager)
    before = db_snapshot()

    response = client.patch_json(
        f"/api/tickets/{cast.a.ticket.pk}",
        {"status": "closed", "priority": "high", "assignee_id": cast.b.engineer.pk},
    )

    assert response.status_code == 422
    assert error_fields(response) == {"status", "assignee_id"}
    # The valid part (priority) is not applied either: all or nothing.
    assert db_snapshot() == before


def test_a_body_that_is_not_json_is_a_json_400(cast):
    response = token_client(cast.a.integration).post(
        "/api/tickets", "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert "detail" in response.json()


def test_a_wrong_method_is_a_json_405(cast):
    response = token_client(cast.a.integration).delete(f"/api/tickets/{cast.a.ticket.pk}")

    assert response.status_code == 405
    assert response.json() == {"detail": "Method not allowed."}
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "PATCH"}


def test_an_unknown_api_path_is_a_json_404(cast):
    response = ApiClient().post_json("/api/no-such-thing", {})

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_bad_limit_and_a_bad_cursor_are_named_in_one_answer(cast):
    response = token_client(cast.a.engineer).get("/api/tickets?limit=0&cursor=zz")

    assert response.status_code == 422
    assert error_fields(response) == {"limit", "cursor"}
