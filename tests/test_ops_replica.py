"""The optional read replica: DATABASE_REPLICA_URL adds it, report reads go there, nothing
else does (issue 14)."""

import os
import subprocess
import sys
from contextlib import contextmanager

from firstline.contacts.models import Contact
from firstline.core.models import User
from firstline.ops import routers
from firstline.tickets.models import Ticket
from tests.conftest import client_for


def settings_with(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE")}
    environment.update(SECRET_KEY="x" * 50, **env)
    code = ("import firstline.settings as s; print(sorted(s.DATABASES), "
            "s.DATABASES.get('replica', {}).get('HOST'), getattr(s, 'DATABASE_ROUTERS', []))")
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True,
                          text=True, check=True, timeout=60).stdout.strip()


def test_the_replica_is_configured_only_when_named():
    assert settings_with(DATABASE_URL="postgres://desk@db1:5432/firstline") == (
        "['default'] None []")
    assert settings_with(DATABASE_URL="postgres://desk@db1:5432/firstline",
                         DATABASE_REPLICA_URL="postgres://reader@db2:5432/firstline") == (
        "['default', 'replica'] db2 ['firstline.ops.routers.ReportsToReplica']")


def test_report_reads_go_to_the_replica_and_nothing_else(monkeypatch):
    monkeypatch.setattr(routers, "replica_configured", lambda: True)
    router = routers.ReportsToReplica()
    assert router.db_for_read(Ticket) is None
    with routers.reports_from_replica():
        assert router.db_for_read(Ticket) == "replica"
        assert router.db_for_read(Contact) == "replica"
        assert router.db_for_read(User) is None  # accounts and sessions stay on the primary
        assert router.db_for_write(Ticket) == "default"
    assert router.db_for_read(Ticket) is None
    assert router.allow_migrate("default", "tickets") is True
    assert router.allow_migrate("replica", "tickets") is False


def test_without_a_replica_nothing_is_routed():
    with routers.reports_from_replica():
        assert routers.ReportsToReplica().db_for_read(Ticket) is None


def test_the_quality_pages_are_report_reads_and_the_desk_is_not(cast, monkeypatch):
    marked: list[str] = []
    original = routers.reports_from_replica

    @contextmanager
    def spy():
        marked.append("report")
        with original():
            yield

    monkeypatch.setattr(routers, "reports_from_replica", spy)
    client = client_for(cast.supervisor)
    assert client.get("/metrics/").status_code == 200
    assert marked == ["report"]
    assert client.get("/tickets/").status_code == 200
    assert client.post("/metrics/", {}).status_code in (200, 302, 403, 405)
    assert marked == ["report"]
    assert routers.is_report_request("/api/metrics", "GET")
    assert not routers.is_report_request("/metrics", "GET")  # Prometheus' endpoint
