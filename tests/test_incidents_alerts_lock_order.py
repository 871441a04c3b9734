"""Two Alertmanager payloads naming the same two services in opposite orders, at the same
moment (two web workers): each must finish, with one incident a service, instead of one
holding the first service and waiting for the second while the other does the reverse (a
deadlock PostgreSQL breaks by failing one of them)."""

import threading

import pytest
from django.db import connection, connections
from django.db.models.signals import post_save

from firstline.core.models import Service
from firstline.incidents import alerts
from firstline.incidents.models import Alert, AlertRule, AlertSource, AlertState, Incident

STARTS = "2026-12-05T20:00:00Z"
NEVER = "0001-01-01T00:00:00Z"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="SQLite's in-memory test database is one connection"),
]


def alert(fingerprint: str, team: str) -> dict:
    return {"status": "firing", "labels": {"alertname": "Down", "team": team,
                                           "instance": fingerprint},
            "annotations": {"summary": f"{team} {fingerprint} is down"},
            "startsAt": STARTS, "endsAt": NEVER, "fingerprint": fingerprint}


def payload(*items: dict) -> dict:
    return {"version": "4", "status": "firing", "receiver": "firstline", "groupKey": "{}",
            "alerts": list(items)}


def test_two_payloads_naming_two_services_in_opposite_orders_both_finish(cast):
    partner = cast.a.partner
    vps = cast.a.service
    mail = Service.objects.create(partner=partner, name="Mail")
    source = AlertSource.objects.create(name="Prometheus", kind="alertmanager")
    AlertRule.objects.create(source=source, match={"team": "vps"}, partner=partner,
                             service=vps, position=1)
    AlertRule.objects.create(source=source, match={"team": "mail"}, partner=partner,
                             service=mail, position=2)
    forward = payload(alert("vps-1", "vps"), alert("mail-1", "mail"))
    backward = payload(alert("mail-2", "mail"), alert("vps-2", "vps"))

    # Where a deadlock would come from: each worker, having opened the incident of the first
    # service it names, waits (up to 3 s) until the other has opened its first one too, so
    # that each then wants the service the other holds. Workers that lock in one order
    # never get there together: the second waits for the first's commit, then joins.
    opened = {"forward": threading.Event(), "backward": threading.Event()}
    other = {"forward": "backward", "backward": "forward"}

    def rendezvous(sender, instance, created, **kwargs):
        name = threading.current_thread().name
        if created and name in opened and not opened[name].is_set():
            opened[name].set()
            opened[other[name]].wait(3)

    errors: list[BaseException] = []

    def worker(body: dict) -> None:
        try:
            alerts.receive(source, body)
        except BaseException as error:  # the deadlock, as PostgreSQL reports it
            errors.append(error)
        finally:
            connections.close_all()

    post_save.connect(rendezvous, sender=Incident)
    try:
        threads = [threading.Thread(target=worker, args=(forward,), name="forward"),
                   threading.Thread(target=worker, args=(backward,), name="backward")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        post_save.disconnect(rendezvous, sender=Incident)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    incidents = {service: Incident.objects.get(partner=partner, services=service)
                 for service in (vps, mail)}  # one incident a service, not two
    rows = Alert.objects.filter(source=source).order_by("fingerprint")
    assert [(row.fingerprint, row.state, row.incident_id) for row in rows] == [
        ("mail-1", AlertState.FIRING, incidents[mail].pk),
        ("mail-2", AlertState.FIRING, incidents[mail].pk),
        ("vps-1", AlertState.FIRING, incidents[vps].pk),
        ("vps-2", AlertState.FIRING, incidents[vps].pk)]
