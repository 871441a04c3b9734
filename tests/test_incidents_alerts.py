"""Monitoring alerts posted over real HTTP to the running server, in the documented formats
(Alertmanager webhook v4, a Zabbix webhook media type, the generic JSON), and the public
status page with its Atom feed and cache."""

import http.client
import json
from urllib.parse import urlsplit

import pytest

from firstline.incidents import services
from firstline.incidents.models import (
    Alert,
    AlertRule,
    AlertSource,
    Incident,
    IncidentStatus,
)
from firstline.tickets.models import Ticket


@pytest.fixture(autouse=True)
def closed_connections():
    """The live server's thread shares the test's SQLite connection: close it, as the other
    live-server tests do, so no connection is left for the garbage collector."""
    yield
    from django.db import connections

    connections.close_all()


def post(url: str, payload) -> tuple[int, dict]:
    """POST JSON over a real socket, as a monitoring system does."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", parts.path, body=json.dumps(payload).encode(),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def alertmanager(status: str, alert_status: str, ends_at: str, labels=None) -> dict:
    labels = labels or {"alertname": "VPSDown", "partner": "alpha", "service": "vps",
                        "instance": "vps-12:9100"}
    return {
        "version": "4", "groupKey": '{}:{alertname="VPSDown"}', "truncatedAlerts": 0,
        "status": status, "receiver": "firstline",
        "groupLabels": {"alertname": "VPSDown"}, "commonLabels": labels,
        "commonAnnotations": {"summary": "VPS hosts do not answer"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": alert_status, "labels": labels,
            "annotations": {"summary": "VPS hosts do not answer"},
            "startsAt": "2026-12-05T20:00:00.000Z", "endsAt": ends_at,
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
            "fingerprint": "5f3b0c9a1d2e4f60",
        }],
    }


@pytest.fixture
def source(cast):
    source = AlertSource.objects.create(name="Prometheus", kind="alertmanager")
    AlertRule.objects.create(source=source, match={"partner": "alpha", "service": "vps"},
                             partner=cast.a.partner, service=cast.a.service)
    return source


def test_an_alertmanager_payload_opens_then_resolves_an_incident(
        django_db_setup, live_server, cast, source):
    url = f"{live_server.url}/incidents/alerts/{source.token}/"
    code, body = post(url, alertmanager("firing", "firing", "0001-01-01T00:00:00Z"))
    assert code == 200, body
    incident = Incident.objects.get()
    assert incident.partner == cast.a.partner and incident.is_open
    assert list(incident.services.all()) == [cast.a.service]
    assert incident.title == "VPS hosts do not answer"
    # Alertmanager repeats the notification: deduplicated by the fingerprint.
    code, _body = post(url, alertmanager("firing", "firing", "0001-01-01T00:00:00Z"))
    assert code == 200
    assert Incident.objects.count() == 1
    assert Alert.objects.get().received == 2
    code, body = post(url, alertmanager("resolved", "resolved", "2026-12-05T20:40:00Z"))
    assert code == 200 and body["alerts"][0]["state"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.ended_at.isoformat() == "2026-12-05T20:40:00+00:00"


def test_unknown_labels_are_parked_with_the_reason_and_bad_payloads_named(
        django_db_setup, live_server, cast, source):
    url = f"{live_server.url}/incidents/alerts/{source.token}/"
    code, body = post(url, alertmanager("firing", "firing", "0001-01-01T00:00:00Z",
                                        labels={"alertname": "DiskFull", "partner": "zeta"}))
    assert code == 200
    assert body["alerts"][0]["state"] == "parked"
    assert "alertname=DiskFull, partner=zeta" in body["alerts"][0]["parked_reason"]
    assert not Incident.objects.exists()
    code, body = post(url, {**alertmanager("firing", "firing", ""), "version": "3"})
    assert code == 422 and body["errors"][0]["field"] == "version"
    broken = alertmanager("firing", "firing", "")
    broken["alerts"][0]["startsAt"] = "yesterday"
    code, body = post(url, broken)
    assert code == 422 and body["errors"][0]["field"] == "alerts[0].startsAt"
    code, _body = post(f"{live_server.url}/incidents/alerts/wrong-token/", {})
    assert code == 404


def test_zabbix_problem_opens_a_ticket_by_rule_and_generic_alerts_work(
        django_db_setup, live_server, cast):
    zabbix = AlertSource.objects.create(name="Zabbix", kind="zabbix")
    AlertRule.objects.create(source=zabbix, match={"partner": "beta"}, partner=cast.b.partner,
                             service=cast.b.service, action="ticket")
    problem = {
        "event_id": "20514", "event_value": "1", "event_date": "2026.12.05",
        "event_time": "23:10:00", "recovery_date": "{EVENT.RECOVERY.DATE}",
        "recovery_time": "{EVENT.RECOVERY.TIME}", "timezone": "Europe/Moscow",
        "host": "mail-01", "trigger": "Mail queue is too long", "severity": "High",
        "tags": '[{"tag":"partner","value":"beta"},{"tag":"service","value":"mail"}]',
    }
    url = f"{live_server.url}/incidents/alerts/{zabbix.token}/"
    code, body = post(url, problem)
    assert code == 200, body
    ticket = Ticket.objects.get(pk=body["alerts"][0]["ticket_id"])
    assert ticket.partner == cast.b.partner and ticket.channel == "monitoring"
    assert ticket.subject == "Mail queue is too long"
    code, body = post(url, {**problem, "event_value": "0", "recovery_date": "2026.12.05",
                            "recovery_time": "23:30:00"})
    assert code == 200 and body["alerts"][0]["state"] == "resolved"
    assert ticket.messages.filter(kind="note", body_text__contains="Monitoring").exists()
    ticket.refresh_from_db()
    assert ticket.status == "resolved"  # by the monitoring system, which opened it

    generic = AlertSource.objects.create(name="Uptime", kind="generic")
    AlertRule.objects.create(source=generic, match={"site": "alpha"}, partner=cast.a.partner,
                             service=cast.a.service, impact="partial")
    url = f"{live_server.url}/incidents/alerts/{generic.token}/"
    code, body = post(url, {"fingerprint": "site-alpha", "status": "firing",
                            "labels": {"site": "alpha"}, "starts_at": "2026-12-05T20:00:00Z"})
    assert code == 200, body
    assert Incident.objects.get().impact == "partial"
    code, body = post(url, {"status": "firing", "labels": {}})
    assert code == 422 and body["errors"][0]["field"] == "alerts[0].fingerprint"


def test_the_status_page_is_public_cached_and_fresh_after_a_change(
        client, cast, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    cache.clear()  # another test's page of partner "alpha" (the cache outlives tests)
    page = client.get("/status/alpha/", HTTP_ACCEPT_LANGUAGE="ru")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Partner alpha: состояние услуг" in text and "Работает штатно" in text
    assert "Partner beta" not in text
    from django.utils import timezone

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.open_incident(partner=cast.a.partner, actor=cast.operator,
                               title="VPS лежат", services=[cast.a.service], impact="full",
                               started_at=timezone.now(), time_zone="Europe/Moscow")
    # Until the change commits, the cached page is served.
    cached_page = client.get("/status/alpha/", HTTP_ACCEPT_LANGUAGE="ru")
    assert "VPS лежат" not in cached_page.content.decode()
    for callback in callbacks:
        callback()
    text = client.get("/status/alpha/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "VPS лежат" in text and "Полностью недоступна" in text
    assert "(Europe/Moscow)" in text  # times in the partner's own time zone
    english = client.get("/status/alpha/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "service status" in english and "Fully unavailable" in english
    feed = client.get("/status/alpha/feed.atom")
    assert feed["Content-Type"].startswith("application/atom+xml")
    assert b"VPS \xd0\xbb\xd0\xb5\xd0\xb6\xd0\xb0\xd1\x82" in feed.content
    assert client.get("/status/nobody/").status_code == 404


def test_a_resolved_alert_sends_the_recovery_and_resolves_linked_tickets_as_monitoring(
        django_db_setup, live_server, cast, source):
    from firstline.core.models import AuditEvent
    from firstline.incidents.models import Announcement
    from firstline.tickets.models import Message, Status

    source.rules.update(recovery_cause="Отказ коммутатора",
                        recovery_measures="Коммутатор заменён",
                        recovery_how_to_check="Откройте сайт на VPS")
    url = f"{live_server.url}/incidents/alerts/{source.token}/"
    assert post(url, alertmanager("firing", "firing", "0001-01-01T00:00:00Z"))[0] == 200
    incident = Incident.objects.get()
    services.link_tickets(incident=incident, actor=cast.operator, tickets=[cast.a.ticket])
    resolved = alertmanager("resolved", "resolved", "2026-12-05T20:40:00Z")
    resolved["alerts"][0]["annotations"]["cause"] = "Сбой питания в стойке 4"
    assert post(url, resolved)[0] == 200
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    recovery = Announcement.objects.get(incident=incident, kind="recovery")
    assert recovery.status == "sent" and recovery.created_by is None
    assert recovery.cause == "Сбой питания в стойке 4"  # the alert's word beats the rule's
    assert recovery.support_contacts == "support@alpha.example"
    ticket = cast.a.ticket
    ticket.refresh_from_db()
    assert ticket.status == Status.RESOLVED and ticket.resolved_at is not None
    reply = ticket.messages.get(kind=Message.Kind.REPLY)
    assert reply.is_automatic and reply.author is None
    assert "Причина: Сбой питания в стойке 4" in reply.body_text
    assert ticket.first_response_at is None  # a robot's reply is not the reaction
    change = AuditEvent.objects.get(action="ticket.status_changed", target_id=str(ticket.pk))
    assert change.actor is None and change.after == {"status": "resolved",
                                                     "by": "monitoring"}


def test_without_the_recovery_parts_the_recovery_waits_as_a_draft(
        django_db_setup, live_server, cast, source):
    from firstline.core.models import AuditEvent
    from firstline.incidents.models import Announcement

    url = f"{live_server.url}/incidents/alerts/{source.token}/"
    post(url, alertmanager("firing", "firing", "0001-01-01T00:00:00Z"))
    incident = Incident.objects.get()
    services.link_tickets(incident=incident, actor=cast.operator, tickets=[cast.a.ticket])
    assert post(url, alertmanager("resolved", "resolved", "2026-12-05T20:40:00Z"))[0] == 200
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert Announcement.objects.get(incident=incident, kind="recovery").status == "draft"
    cast.a.ticket.refresh_from_db()
    assert cast.a.ticket.status == "new"  # stays with the desk until a person tells them
    held = AuditEvent.objects.get(action="incident.recovery_held")
    assert held.after["missing"] == ["cause", "measures", "how_to_check"]
