"""The API's error contract: every 4xx is JSON naming the field, no 500 comes from input.

Bodies over the upload limit (413), NUL characters (422 on both databases), ids beyond
64 bits (422, path ids too), and the document saying all of it.
"""

import json
import re

import pytest
from django.db import connection
from django.test import Client

from firstline.api.fields import ID_MAX, TEXT_MAX
from firstline.tickets.models import Message
from tests.test_api_support import ApiClient, db_snapshot, error_fields, token_client

pytestmark = pytest.mark.django_db

NUL = "a\x00b"
BEYOND = 2**64 + 1


def _openapi() -> dict:
    return Client().get("/api/openapi.json").json()


# --- 413 -------------------------------------------------------------------------------


def test_a_body_over_the_upload_limit_is_a_json_413_naming_the_limit(cast, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    client = token_client(cast.a.integration)
    before = db_snapshot()

    response = client.post_json(
        "/api/tickets",
        {"subject": "Big", "text": "x" * 5_000, "partner_id": cast.a.partner.pk},
    )

    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["limit"] == 2_000
    assert "2000" in response.json()["detail"]
    assert db_snapshot() == before


def test_the_longest_text_fits_in_the_default_upload_limit(settings):
    # Every character escaped as \\uXXXX (6 bytes) plus room for the other fields.
    assert TEXT_MAX * 6 + 10_000 < settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def test_text_longer_than_the_maximum_is_422_naming_it(cast):
    client = token_client(cast.a.engineer)

    response = client.post_json(
        f"/api/tickets/{cast.a.ticket.pk}/messages",
        {"kind": "note", "text": "x" * (TEXT_MAX + 1)},
    )

    assert response.status_code == 422
    assert error_fields(response) == {"text"}


def test_the_document_gives_the_maximum_text_length():
    schemas = _openapi()["components"]["schemas"]

    assert schemas["TicketCreateIn"]["properties"]["text"]["maxLength"] == TEXT_MAX
    assert schemas["MessageIn"]["properties"]["text"]["maxLength"] == TEXT_MAX
    assert schemas["ReplyCheckIn"]["properties"]["text"]["maxLength"] == TEXT_MAX


# --- NUL -------------------------------------------------------------------------------

# case: (method, path, body, the field the answer must name)
NUL_CASES = {
    "ticket subject": ("post", "/api/tickets", {"subject": NUL, "text": "t"}, "subject"),
    "ticket text": ("post", "/api/tickets", {"subject": "s", "text": NUL}, "text"),
    "message text": ("post", "/api/tickets/{ticket}/messages", {"kind": "note", "text": NUL},
                     "text"),
    "reply check text": ("post", "/api/replies/check", {"ticket_id": "{ticket}", "text": NUL},
                         "text"),
    "hand-over group": ("post", "/api/tickets/{ticket}/handover", {"group": NUL}, "group"),
    "tickets q": ("get", "/api/tickets?q=a%00b", None, "q"),
    "contacts q": ("get", "/api/contacts?q=a%00b", None, "q"),
    "cursor": ("get", "/api/tickets?cursor=v1%00", None, "cursor"),
}


@pytest.mark.parametrize("case", NUL_CASES)
def test_a_nul_character_anywhere_is_422_naming_the_field(cast, case):
    method, path, body, field = NUL_CASES[case]
    client = token_client(cast.operator)
    ticket = str(cast.a.ticket.pk)
    url = path.replace("{ticket}", ticket)
    before = db_snapshot()

    if body is None:
        response = client.get(url)
    else:
        body = {k: int(ticket) if v == "{ticket}" else v for k, v in body.items()}
        if path == "/api/tickets":
            body["partner_id"] = cast.a.partner.pk
        response = client.post_json(url, body)

    assert response.status_code == 422, response.content
    assert error_fields(response) == {field}
    if field != "cursor":  # a cursor is refused for its shape, which excludes NUL
        assert "NUL" in response.json()["errors"][0]["message"]
    assert db_snapshot() == before


def _input_schemas(document: dict):
    """(where, JSON schema) of every query/path parameter and request body property."""
    components = document["components"]["schemas"]
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                yield f"{method} {path} {parameter['name']}", parameter["schema"]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                ref = body["schema"]["$ref"].rsplit("/", 1)[-1]
                for name, prop in components[ref].get("properties", {}).items():
                    yield f"{method} {path} body.{name}", prop


def _variants(schema: dict) -> list[dict]:
    return schema.get("anyOf", [schema])


def test_every_input_string_declares_that_it_refuses_nul():
    document = _openapi()
    strings = 0
    for where, schema in _input_schemas(document):
        for variant in _variants(schema):
            if variant.get("type") == "string" and "enum" not in variant:
                strings += 1
                pattern = variant.get("pattern")
                assert pattern, f"{where}: a string without a pattern"
                assert re.search(pattern, "a\x00b") is None, where
                examples = variant.get("examples")
                if examples:  # a formatted string (a month, a day): its examples fit it
                    assert all(re.search(pattern, example) for example in examples), where
                else:
                    assert re.search(pattern, "v1abc") is not None, where

    assert strings >= 8


def test_every_input_id_declares_its_64_bit_bounds():
    document = _openapi()
    ids = 0
    for where, schema in _input_schemas(document):
        if not where.endswith("_id"):
            continue
        for variant in _variants(schema):
            if variant.get("type") == "integer":
                ids += 1
                assert (variant.get("minimum"), variant.get("maximum")) == (1, ID_MAX), where

    assert ids >= 12


def test_web_forms_refuse_nul_in_text_fields():
    from django import forms

    field = forms.CharField()
    with pytest.raises(forms.ValidationError):
        field.clean(NUL)


# --- ids beyond 64 bits ----------------------------------------------------------------

ID_PARAMETERS = {
    "tickets partner_id": ("/api/tickets?partner_id={n}", "partner_id"),
    "tickets assignee_id": ("/api/tickets?assignee_id={n}", "assignee_id"),
    "contacts partner_id": ("/api/contacts?partner_id={n}", "partner_id"),
    "services partner_id": ("/api/services?partner_id={n}", "partner_id"),
    "ticket path id": ("/api/tickets/{n}", "ticket_id"),
    "messages path id": ("/api/tickets/{n}/messages", "ticket_id"),
    "contact path id": ("/api/contacts/{n}", "contact_id"),
}


@pytest.mark.parametrize("value", [BEYOND, ID_MAX + 1, 0, -1])
@pytest.mark.parametrize("case", ID_PARAMETERS)
def test_an_id_out_of_range_is_422_naming_the_parameter(cast, case, value):
    path, parameter = ID_PARAMETERS[case]

    response = token_client(cast.operator).get(path.format(n=value))

    assert response.status_code == 422, response.content
    assert error_fields(response) == {parameter}


def test_the_largest_id_is_a_plain_miss(cast):
    client = token_client(cast.operator)

    assert client.get(f"/api/tickets/{ID_MAX}").status_code == 404
    assert client.get(f"/api/tickets?partner_id={ID_MAX}").json()["items"] == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"subject": "s", "text": "t", "partner_id": BEYOND}, "partner_id"),
        ({"subject": "s", "text": "t", "partner_id": "{a}", "contact_id": BEYOND},
         "contact_id"),
        ({"subject": "s", "text": "t", "partner_id": "{a}", "service_id": BEYOND},
         "service_id"),
    ],
)
def test_body_ids_out_of_range_are_422_naming_them(cast, body, field):
    body = {k: cast.a.partner.pk if v == "{a}" else v for k, v in body.items()}
    client = token_client(cast.operator)
    before = db_snapshot()

    response = client.post_json("/api/tickets", body)

    assert response.status_code == 422
    assert error_fields(response) == {field}
    assert db_snapshot() == before


def test_an_assignee_out_of_range_is_422_on_change_and_hand_over(cast):
    client = token_client(cast.operator)
    ticket = cast.a.ticket.pk

    change = client.patch_json(f"/api/tickets/{ticket}", {"assignee_id": BEYOND})
    hand_over = client.post_json(f"/api/tickets/{ticket}/handover", {"assignee_id": BEYOND})
    check = client.post_json("/api/replies/check", {"ticket_id": BEYOND, "text": "x"})

    assert (change.status_code, error_fields(change)) == (422, {"assignee_id"})
    assert (hand_over.status_code, error_fields(hand_over)) == (422, {"assignee_id"})
    assert (check.status_code, error_fields(check)) == (422, {"ticket_id"})


def test_a_huge_integer_literal_in_json_is_a_json_4xx(cast):
    client = token_client(cast.operator)
    raw = '{"subject": "s", "text": "t", "partner_id": 1' + "0" * 5_000 + "}"

    response = client.post("/api/tickets", raw, content_type="application/json")

    assert response.status_code in (400, 422)
    assert "detail" in response.json()


# --- cursors -----------------------------------------------------------------------------


def test_any_cursor_of_the_documented_shape_is_a_page(cast):
    client = token_client(cast.operator)
    pattern = next(
        p["schema"]["anyOf"][0]["pattern"]
        for p in _openapi()["paths"]["/api/tickets"]["get"]["parameters"]
        if p["name"] == "cursor"
    )

    for cursor in ("v10", "v1zzzzzzzzzzzzz", "v1a"):
        assert re.fullmatch(pattern, cursor)
        response = client.get(f"/api/tickets?cursor={cursor}")
        assert response.status_code == 200, cursor

    everything = client.get("/api/tickets?cursor=v1zzzzzzzzzzzzz").json()["items"]
    assert len(everything) == 4


def test_pages_follow_each_other_through_cursors(cast):
    client = token_client(cast.operator)

    first = client.get("/api/tickets?limit=3").json()
    second = client.get(f"/api/tickets?limit=3&cursor={first['next_cursor']}").json()

    ids = [item["id"] for item in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 4
    assert second["next_cursor"] is None


# --- the document names every answer -----------------------------------------------------


def test_every_operation_documents_503_and_body_operations_400_and_413():
    for path, methods in _openapi()["paths"].items():
        for method, operation in methods.items():
            codes = set(operation["responses"])
            assert {"401", "403", "422", "503"} <= codes, (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= codes, (method, path)


def test_a_partner_is_required_in_the_document_and_by_the_api(cast):
    schema = _openapi()["components"]["schemas"]["TicketCreateIn"]
    assert "partner_id" in schema["required"]

    response = token_client(cast.a.integration).post_json(
        "/api/tickets", {"subject": "s", "text": "t"}
    )

    assert response.status_code == 422
    assert error_fields(response) == {"partner_id"}


def test_state_refusals_are_documented_as_409(cast):
    paths = _openapi()["paths"]

    assert "409" in paths["/api/tickets/{ticket_id}"]["patch"]["responses"]
    assert "409" in paths["/api/tickets/{ticket_id}/handover"]["post"]["responses"]


def test_a_message_with_nul_is_not_stored_on_either_database(cast):
    client = ApiClient()
    client.force_login(cast.a.engineer)
    count = Message.objects.count()

    response = client.post(
        f"/api/tickets/{cast.a.ticket.pk}/messages",
        json.dumps({"kind": "note", "text": "before\x00after"}),
        content_type="application/json",
        headers={"X-CSRFToken": "x"},
    )

    assert response.status_code in (403, 422)  # CSRF or the NUL; never a 500
    assert Message.objects.count() == count
    assert connection.vendor in ("sqlite", "postgresql")
