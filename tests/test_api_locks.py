"""A database locked by someone else: reads go on, writes answer 503 with Retry-After.

Real locks on real databases: on SQLite a second connection holds the write lock of a
file database (a copy of the test database; the in-memory one has no file locks); on
PostgreSQL a second connection holds row locks.
"""

import sqlite3
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.test import Client

from firstline.api.models import ApiToken
from firstline.api.services import issue_token
from firstline.core.clock import now
from firstline.core.models import Partner, Tariff, User
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel, Ticket
from tests.test_api_support import ApiClient

# Long enough that waiting for it could not go unnoticed; writes use a short one.
LONG_TIMEOUT_S = 30
SHORT_TIMEOUT_MS = 300


@pytest.fixture
def sqlite_file_db(transactional_db, django_db_blocker, tmp_path):
    """The default connection pointed at a file copy of the test database, autocommit."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's file locking")
    path = tmp_path / "locks.sqlite3"
    with django_db_blocker.unblock():
        connection.ensure_connection()
        copy = sqlite3.connect(path)
        connection.connection.backup(copy)
        copy.close()
        saved_settings = {**connection.settings_dict}
        # Closing an in-memory database would destroy it: set it aside instead.
        in_memory = connection.connection
        connection.connection = None
        connection.settings_dict["NAME"] = str(path)
        connection.settings_dict["OPTIONS"] = {
            **saved_settings["OPTIONS"], "timeout": LONG_TIMEOUT_S
        }
        try:
            yield path
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved_settings)
            connection.connection = in_memory


def _world() -> tuple[User, str, Ticket]:
    tariff = Tariff.objects.create(
        code="t", name="T", requests_included=1, minutes_included=1, monthly_fee="1",
        first_month_fee="1", overage_request_fee="1", overage_minute_fee="1",
    )
    partner = Partner.objects.create(name="P", slug="p", support_email="s@p.example",
                                     tariff=tariff)
    operator = User.objects.create_user(username="op", password="x", role=User.Role.OPERATOR)
    ticket = ticket_services.create_ticket(
        partner=partner, actor=operator, channel=Channel.PHONE, subject="s", text="t"
    )
    token, plaintext = issue_token(operator, "locks")
    # Last used long ago, so the next request wants to record its use.
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now() - timedelta(hours=1))
    return operator, plaintext, ticket


def _hold_write_lock(path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_a_token_read_neither_waits_for_nor_fails_on_a_sqlite_write_lock(sqlite_file_db):
    operator, plaintext, ticket = _world()
    used_before = ApiToken.objects.get().last_used_at
    other = _hold_write_lock(sqlite_file_db)
    try:
        started = time.monotonic()
        response = ApiClient(plaintext).get(f"/api/tickets/{ticket.pk}")
        elapsed = time.monotonic() - started
    finally:
        other.rollback()
        other.close()

    assert response.status_code == 200
    assert response.json()["id"] == ticket.pk
    # It skipped the write instead of waiting out the 30 s timeout.
    assert elapsed < LONG_TIMEOUT_S / 3
    assert ApiToken.objects.get().last_used_at == used_before

    # Once the lock is gone, the next use is recorded.
    assert ApiClient(plaintext).get("/api/partners").status_code == 200
    assert ApiToken.objects.get().last_used_at > used_before


def test_a_write_that_outlasts_the_lock_timeout_is_503_with_retry_after(sqlite_file_db):
    operator, plaintext, ticket = _world()
    desk = Client()
    desk.force_login(operator)
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA busy_timeout = {SHORT_TIMEOUT_MS}")
    other = _hold_write_lock(sqlite_file_db)
    try:
        api = ApiClient(plaintext).patch_json(f"/api/tickets/{ticket.pk}", {"priority": "high"})
        page = desk.post(f"/tickets/{ticket.pk}/messages/", {"kind": "note", "text": "hi"})
    finally:
        other.rollback()
        other.close()

    assert api.status_code == 503
    assert api["Retry-After"].isdigit()
    assert api.json()["detail"]
    assert page.status_code == 503
    assert page["Retry-After"].isdigit()
    assert page["Content-Type"].startswith("text/html")
    # Nothing was written, and once the lock is gone the same request goes through.
    assert Ticket.objects.get().priority != "high"
    again = ApiClient(plaintext).patch_json(f"/api/tickets/{ticket.pk}", {"priority": "high"})
    assert again.status_code == 200


# --- PostgreSQL ----------------------------------------------------------------------------


def _pg_other_connection() -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None, port=settings["PORT"] or None,
    )


@pytest.mark.django_db(transaction=True)
def test_a_token_read_skips_a_postgresql_row_lock_on_the_token(cast_free_world):
    operator, plaintext, ticket = cast_free_world
    token = ApiToken.objects.get()
    used_before = token.last_used_at
    with _pg_other_connection() as other:
        other.execute("SELECT 1 FROM api_apitoken WHERE id = %s FOR UPDATE", [token.pk])
        started = time.monotonic()
        response = ApiClient(plaintext).get(f"/api/tickets/{ticket.pk}")
        elapsed = time.monotonic() - started
        other.rollback()

    assert response.status_code == 200
    assert elapsed < 10
    assert ApiToken.objects.get().last_used_at == used_before


@pytest.mark.django_db(transaction=True)
def test_a_postgresql_lock_timeout_is_503_with_retry_after(cast_free_world):
    operator, plaintext, ticket = cast_free_world
    client = ApiClient(plaintext)
    client.get("/api/partners")  # records the token's use now, before the lock
    with _pg_other_connection() as other:
        other.execute("SELECT 1 FROM tickets_ticket WHERE id = %s FOR UPDATE", [ticket.pk])
        with connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {SHORT_TIMEOUT_MS}")
        try:
            response = client.patch_json(f"/api/tickets/{ticket.pk}", {"priority": "high"})
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
        other.rollback()

    assert response.status_code == 503
    assert response["Retry-After"].isdigit()
    assert Ticket.objects.get().priority != "high"


@pytest.fixture
def cast_free_world():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's row locks")
    return _world()
