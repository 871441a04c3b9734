"""Grouped alert payloads (issue 9, the alert webhook >= 500/s): a payload's alerts are
written together (one INSERT of the new rows, one UPDATE of the known ones), with exactly
the rows the one-alert-at-a-time path writes; and two web workers receiving the first
alerts of a service at once open one incident, not two (PostgreSQL)."""

import threading

import pytest
from django.db import connection, connections, transaction

from firstline.incidents import alerts
from firstline.incidents.models import Alert, AlertRule, AlertSource, Incident

STARTS = "2026-12-05T20:00:00Z"
NEVER = "0001-01-01T00:00:00Z"


def alert(fingerprint: str, status: str = "firing", team: str = "vps",
          ends_at: str = NEVER) -> dict:
    return {"status": status, "labels": {"alertname": "Down", "team": team,
                                         "instance": fingerprint},
            "annotations": {"summary": f"{fingerprint} is down", "cause": "Power",
                            "measures": "UPS", "how_to_check": "Ping it"},
            "startsAt": STARTS, "endsAt": ends_at, "fingerprint": fingerprint}


def payload(*items: dict) -> dict:
    return {"version": "4", "status": "firing", "receiver": "firstline", "groupKey": "{}",
            "alerts": list(items)}


# Firing alerts joining one incident, an unknown team parked, a repeat inside one payload
# and across payloads, one resolving while another still fires, then the last resolving.
PAYLOADS = [
    [alert("a"), alert("b"), alert("x", team="unknown"), alert("a")],
    [alert("a"), alert("c"), alert("b", "resolved", ends_at="2026-12-05T20:30:00Z"),
     alert("y", "resolved", ends_at="2026-12-05T20:35:00Z")],
    [alert("a", "resolved", ends_at="2026-12-05T20:40:00Z"),
     alert("c", "resolved", ends_at="2026-12-05T20:45:00Z"), alert("b")],
]


def source_for(side) -> AlertSource:
    source = AlertSource.objects.create(name=f"Prometheus {side.partner.slug}",
                                        kind="alertmanager")
    AlertRule.objects.create(source=source, match={"team": "vps"}, partner=side.partner,
                             service=side.service)
    return source


def outcome(source: AlertSource) -> list[tuple]:
    rows = Alert.objects.filter(source=source).order_by("fingerprint")
    incidents = {}
    return [(row.fingerprint, row.state, row.received, row.parked_reason, row.labels,
             row.ends_at, incidents.setdefault(row.incident_id, len(incidents))
             if row.incident_id else None)
            for row in rows]


@pytest.mark.django_db
def test_a_grouped_payload_writes_the_rows_one_alert_at_a_time_writes(cast):
    grouped, single = source_for(cast.a), source_for(cast.b)
    for items in PAYLOADS:
        touched = alerts.receive(grouped, payload(*items))
        assert [row.fingerprint for row in touched] == [item["fingerprint"] for item in items]
        assert all(row.pk for row in touched)
        for item in items:
            alerts.receive(single, payload(item))
    assert outcome(grouped) == outcome(single)
    assert [row[:3] for row in outcome(grouped)] == [
        ("a", "resolved", 4), ("b", "firing", 3), ("c", "resolved", 2),
        ("x", "parked", 1), ("y", "parked", 1)]
    # "b" fired again after its incident was resolved: a new incident, in both paths.
    for side in (cast.a, cast.b):
        assert list(Incident.objects.filter(partner=side.partner)
                    .order_by("id").values_list("status", flat=True)) == ["resolved", "open"]


@pytest.mark.django_db
def test_a_grouped_payload_costs_a_fixed_number_of_statements(cast,
                                                               django_assert_max_num_queries):
    source = source_for(cast.a)
    alerts.receive(source, payload(alert("first")))  # opens the incident
    many = [alert(f"h{number}", team="vps" if number % 2 else "unknown")
            for number in range(20)]
    # Savepoint, lookup of the known rows, the open incident, one INSERT.
    with django_assert_max_num_queries(6):
        alerts.receive(source, payload(*many))
    # The repeat: one UPDATE on PostgreSQL (SQLite: one per distinct row, as in bulk.py).
    updates = 1 if connection.vendor == "postgresql" else len(many)
    with django_assert_max_num_queries(4 + updates):
        alerts.receive(source, payload(*many))
    assert set(Alert.objects.filter(source=source, fingerprint__startswith="h")
               .values_list("received", flat=True)) == {2}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="SQLite's in-memory test database is one connection")
def test_two_workers_opening_the_same_incident_at_once_open_one(cast):
    source = source_for(cast.a)
    opened, release, errors = threading.Event(), threading.Event(), []

    def first() -> None:
        try:
            with transaction.atomic():
                alerts.receive(source, payload(alert("one")))
                opened.set()
                release.wait(10)  # holds its new incident uncommitted
        except BaseException as error:
            errors.append(error)
            opened.set()
        finally:
            connections.close_all()

    def second() -> None:
        try:
            alerts.receive(source, payload(alert("two")))
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    holder = threading.Thread(target=first)
    holder.start()
    assert opened.wait(10)
    joiner = threading.Thread(target=second)
    joiner.start()
    joiner.join(1.0)
    assert joiner.is_alive()  # waits for the first worker's incident, not opening its own
    release.set()
    holder.join(10)
    joiner.join(10)
    assert errors == []
    (incident,) = Incident.objects.filter(partner=cast.a.partner)
    assert set(Alert.objects.values_list("incident_id", flat=True)) == {incident.pk}
