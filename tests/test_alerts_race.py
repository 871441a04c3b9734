"""A firing alert joining a service's open incident while that incident is being resolved
at the same moment (two web workers, or a person on the desk): the alert must not end up
linked to a resolved incident (firing with no open incident: nobody told, the status page
all well). Whoever resolves first wins: the joiner then opens the next incident; whoever
joins first keeps the incident open, since one of its alerts still fires."""

import threading

import pytest
from django.db import connection, connections, transaction
from django.db.models.signals import post_save

from firstline.core.clock import now
from firstline.incidents import alerts, services
from firstline.incidents.models import (
    Alert,
    AlertRule,
    AlertSource,
    AlertState,
    Incident,
    IncidentStatus,
)
from tests.test_alerts_ordering import payload

STARTS = "2026-12-05T20:00:00Z"
NEVER = "0001-01-01T00:00:00Z"
ENDS = "2026-12-05T20:30:00Z"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="SQLite's in-memory test database is one connection"),
]


def alert(fingerprint: str, status: str = "firing", ends_at: str = NEVER) -> dict:
    return {"status": status, "labels": {"alertname": "Down", "team": "vps",
                                         "instance": fingerprint},
            "annotations": {"summary": f"{fingerprint} is down", "cause": "Power",
                            "measures": "UPS", "how_to_check": "Ping it"},
            "startsAt": STARTS, "endsAt": ends_at, "fingerprint": fingerprint}


@pytest.fixture
def source(cast) -> AlertSource:
    """A source whose alert "a" fires alone on the incident of alpha's service."""
    source = AlertSource.objects.create(name="Prometheus", kind="alertmanager")
    AlertRule.objects.create(source=source, match={"team": "vps"}, partner=cast.a.partner,
                             service=cast.a.service)
    alerts.receive(source, payload(alert("a")))
    return source


def run(name: str, work, errors: list) -> threading.Thread:
    def body() -> None:
        try:
            work()
        except BaseException as error:  # a deadlock or a lost update, as reported
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=body, name=name)
    thread.start()
    return thread


@pytest.mark.parametrize("resolver", ["payload", "person"])
def test_an_alert_joining_an_incident_being_resolved_opens_the_next_one(cast, source,
                                                                        resolver):
    (first,) = Incident.objects.filter(partner=cast.a.partner)

    def resolve() -> None:
        if resolver == "payload":  # the incident's last firing alert resolves
            alerts.receive(source, payload(alert("a", "resolved", ENDS)))
        else:
            with transaction.atomic():
                services.resolve_incident(incident=first, actor=cast.supervisor)

    # The resolver has resolved the incident and not yet committed when the new alert
    # arrives; it commits once the joiner is done, or after a second if the joiner waits
    # for it (the fix: the joiner waits on the incident's row, then sees it resolved).
    resolved, joined, errors = threading.Event(), threading.Event(), []

    def hold(sender, instance, created, **kwargs):
        if threading.current_thread().name == "resolver" and not created:
            resolved.set()
            joined.wait(1)

    post_save.connect(hold, sender=Incident)
    try:
        resolving = run("resolver", resolve, errors)
        assert resolved.wait(10)
        joining = run("joiner", lambda: alerts.receive(source, payload(alert("b"))), errors)
        joining.join(1)
        joined.set()
        resolving.join(30)
        joining.join(30)
    finally:
        post_save.disconnect(hold, sender=Incident)
    assert not resolving.is_alive() and not joining.is_alive()
    assert errors == []
    first.refresh_from_db()
    assert first.status == IncidentStatus.RESOLVED
    b = Alert.objects.get(source=source, fingerprint="b")
    assert b.state == AlertState.FIRING
    assert b.incident_id != first.pk
    assert b.incident.status == IncidentStatus.OPEN
    assert list(Incident.objects.filter(partner=cast.a.partner).order_by("pk")
                .values_list("status", flat=True)) == [IncidentStatus.RESOLVED,
                                                       IncidentStatus.OPEN]


def test_an_alert_that_joined_first_keeps_its_incident_open(cast, source):
    (first,) = Incident.objects.filter(partner=cast.a.partner)
    joined, release, errors = threading.Event(), threading.Event(), []

    def join() -> None:
        with transaction.atomic():
            alerts.receive(source, payload(alert("b")))
            joined.set()
            release.wait(1)  # holds its joined alert uncommitted

    joining = run("joiner", join, errors)
    assert joined.wait(10)
    resolving = run("resolver", lambda: alerts.receive(
        source, payload(alert("a", "resolved", ENDS))), errors)
    resolving.join(0.5)
    release.set()
    joining.join(30)
    resolving.join(30)
    assert not resolving.is_alive() and not joining.is_alive()
    assert errors == []
    first.refresh_from_db()
    assert first.status == IncidentStatus.OPEN  # "b" still fires on it
    rows = Alert.objects.filter(source=source).order_by("fingerprint")
    assert [(row.fingerprint, row.state, row.incident_id) for row in rows] == [
        ("a", AlertState.RESOLVED, first.pk), ("b", AlertState.FIRING, first.pk)]


def test_an_incident_opened_by_hand_meanwhile_is_joined_not_doubled(cast, source):
    """A person opens the service's incident while a new alert arrives: the alert waits for
    the person's incident and joins it, rather than opening a second one beside it."""
    alerts.receive(source, payload(alert("a", "resolved", ENDS)))
    opened, release, errors = threading.Event(), threading.Event(), []
    created: list[Incident] = []

    def open_by_hand() -> None:
        with transaction.atomic():
            created.append(services.open_incident(
                partner=cast.a.partner, actor=cast.supervisor, title="Hosting is down",
                services=[cast.a.service], impact="full", started_at=now(),
                time_zone="Europe/Moscow"))
            opened.set()
            release.wait(1)  # the incident is not committed yet

    person = run("person", open_by_hand, errors)
    assert opened.wait(10)
    joining = run("payload", lambda: alerts.receive(source, payload(alert("b"))), errors)
    joining.join(0.5)
    release.set()
    person.join(30)
    joining.join(30)
    assert not person.is_alive() and not joining.is_alive()
    assert errors == []
    assert list(Incident.objects.filter(partner=cast.a.partner, status=IncidentStatus.OPEN)
                ) == created
    assert Alert.objects.get(source=source, fingerprint="b").incident_id == created[0].pk
