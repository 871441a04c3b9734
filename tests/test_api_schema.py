"""The OpenAPI document is served and describes every endpoint."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

EXPECTED = {
    "/api/tickets": {"get", "post"},
    "/api/tickets/{ticket_id}": {"get", "patch"},
    "/api/tickets/{ticket_id}/messages": {"get", "post"},
    "/api/tickets/{ticket_id}/handover": {"post"},
    "/api/tickets/{ticket_id}/spam": {"post", "delete"},
    "/api/tickets/{ticket_id}/merge": {"post"},
    "/api/partners": {"get"},
    "/api/services": {"get"},
    "/api/contacts": {"get"},
    "/api/contacts/{contact_id}": {"get", "patch"},
    "/api/replies/check": {"post"},
    "/api/calls": {"get"},
    "/api/calls/events": {"post"},
    "/api/calls/events/{key}": {"get"},
    "/api/calls/minutes": {"get"},
    "/api/calls/{call_id}": {"get"},
    "/api/calls/{call_id}/ticket": {"post"},
    "/api/incidents": {"post"},
    "/api/incidents/{incident_id}": {"get"},
    "/api/incidents/{incident_id}/candidates": {"get"},
    "/api/incidents/{incident_id}/links": {"post"},
    "/api/incidents/{incident_id}/announcements": {"post"},
    "/api/incidents/{incident_id}/resolve": {"post"},
    "/api/metrics": {"get"},
    "/api/metrics/assessment": {"get"},
    "/api/metrics/reports": {"get"},
    "/api/metrics/reports/{report_id}/{kind}": {"get"},
    "/api/agreements": {"get"},
    "/api/agreements/{version_id}/{kind}": {"get"},
    "/api/billing/invoices": {"get"},
    "/api/billing/invoices/{invoice_id}": {"get"},
    "/api/billing/invoices/{invoice_id}/{kind}": {"get"},
    "/api/billing/usage": {"get"},
    "/api/webhooks/subscriptions": {"get", "post"},
    "/api/webhooks/subscriptions/{subscription_id}": {"get", "patch", "delete"},
    "/api/webhooks/subscriptions/{subscription_id}/rotate-secret": {"post"},
    "/api/webhooks/subscriptions/{subscription_id}/deliveries": {"get"},
    "/api/webhooks/subscriptions/{subscription_id}/deliveries/{delivery_id}/send-again": {"post"},
}


def test_the_openapi_document_lists_every_path_and_method():
    response = Client().get("/api/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {path: set(methods) for path, methods in paths.items()} == EXPECTED


def test_every_operation_requires_a_token_or_the_session():
    schema = Client().get("/api/openapi.json").json()

    # The call-event webhook also takes a PBX's HMAC signature (firstline/calls/api.py).
    assert set(schema["components"]["securitySchemes"]) == {
        "TokenAuth", "UiSessionAuth", "SignatureAuth"
    }
    for path, methods in schema["paths"].items():
        for operation in methods.values():
            expected = {"TokenAuth", "UiSessionAuth"}
            if path == "/api/calls/events":
                expected.add("SignatureAuth")
            assert {next(iter(s)) for s in operation["security"]} == expected


def test_the_documented_errors_include_the_field_list_of_422():
    schema = Client().get("/api/openapi.json").json()

    create = schema["paths"]["/api/tickets"]["post"]["responses"]
    assert {"201", "401", "403", "422"} <= set(create)
    invalid = schema["components"]["schemas"]["InvalidInputOut"]
    assert set(invalid["properties"]) == {"detail", "errors"}


def test_the_interactive_docs_page_loads():
    assert Client().get("/api/docs").status_code == 200


def test_api_docs_page_uses_local_static_files_not_a_cdn():
    page = Client().get("/api/docs").content.decode()
    assert "swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
