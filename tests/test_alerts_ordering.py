"""One monitoring payload that both resolves a service's incident and brings a new alert on
the same service: the outcome follows the alerts' own times, not the order the payload
lists them in.

Alertmanager's webhook lists a group's alerts sorted by their `job` and `instance` labels
(types.AlertSlice), firing and resolved mixed, so the list order says nothing about which
happened first. What does: a firing alert's `startsAt` and a resolved one's `endsAt`.
- The new alert began after the old one ended: the old incident is resolved (its recovery
  sent) and the new alert opens an incident of its own.
- The new alert began while the old one still fired: it joins the old incident, which stays
  open, and no recovery is announced to customers for a service still failing.
An alert ending at the very moment another begins did not overlap it (Alertmanager's
intervals end where the next begins).
"""

from itertools import permutations

import pytest

from firstline.incidents import alerts
from firstline.incidents.models import (
    Alert,
    AlertRule,
    AlertSource,
    AlertState,
    Announcement,
    Incident,
    IncidentStatus,
)

NEVER = "0001-01-01T00:00:00Z"
OLD_START = "2026-12-05T10:00:00Z"

pytestmark = pytest.mark.django_db


def alert(fingerprint: str, *, starts: str, status: str = "firing", ends: str = NEVER,
          instance: str | None = None) -> dict:
    return {"status": status,
            "labels": {"alertname": "Down", "team": "vps", "instance": instance or fingerprint},
            "annotations": {"summary": f"{fingerprint} is down", "cause": "Power",
                            "measures": "UPS replaced", "how_to_check": "Ping it"},
            "startsAt": starts, "endsAt": ends, "fingerprint": fingerprint}


def payload(*items: dict) -> dict:
    return {"version": "4", "status": "firing", "receiver": "firstline", "groupKey": "{}",
            "alerts": list(items)}


@pytest.fixture
def source(cast) -> AlertSource:
    source = AlertSource.objects.create(name="Prometheus", kind="alertmanager")
    AlertRule.objects.create(source=source, match={"team": "vps"}, partner=cast.a.partner,
                             service=cast.a.service)
    return source


@pytest.fixture
def old_incident(source) -> Incident:
    """The service's incident, opened by alert "old" firing since 10:00."""
    alerts.receive(source, payload(alert("old", starts=OLD_START)))
    incident = Incident.objects.get()
    assert incident.is_open
    return incident


def row(fingerprint: str) -> Alert:
    return Alert.objects.get(fingerprint=fingerprint)


@pytest.mark.parametrize("listed_first", ["new", "old"])
def test_a_new_alert_after_the_old_one_ended_opens_its_own_incident(source, old_incident,
                                                                    listed_first):
    new = alert("new", starts="2026-12-05T10:10:00Z")
    ended = alert("old", starts=OLD_START, status="resolved", ends="2026-12-05T10:05:00Z")
    items = [new, ended] if listed_first == "new" else [ended, new]

    touched = alerts.receive(source, payload(*items))

    assert [item.fingerprint for item in touched] == [item["fingerprint"] for item in items]
    old_incident.refresh_from_db()
    assert old_incident.status == IncidentStatus.RESOLVED
    assert old_incident.ended_at.isoformat() == "2026-12-05T10:05:00+00:00"
    assert Announcement.objects.filter(incident=old_incident, kind="recovery",
                                       status="sent").count() == 1
    opened = Incident.objects.exclude(pk=old_incident.pk).get()
    assert opened.is_open
    assert opened.started_at.isoformat() == "2026-12-05T10:10:00+00:00"
    assert (row("old").state, row("old").incident_id) == (AlertState.RESOLVED,
                                                          old_incident.pk)
    assert (row("new").state, row("new").incident_id) == (AlertState.FIRING, opened.pk)


@pytest.mark.parametrize("listed_first", ["new", "old"])
def test_a_new_alert_that_began_before_the_old_one_ended_keeps_the_incident_open(
        source, old_incident, listed_first):
    new = alert("new", starts="2026-12-05T10:02:00Z")
    ended = alert("old", starts=OLD_START, status="resolved", ends="2026-12-05T10:05:00Z")
    items = [new, ended] if listed_first == "new" else [ended, new]

    alerts.receive(source, payload(*items))

    old_incident.refresh_from_db()
    assert old_incident.status == IncidentStatus.OPEN
    assert list(Incident.objects.values_list("pk", flat=True)) == [old_incident.pk]
    assert not Announcement.objects.filter(kind="recovery").exists()
    assert (row("old").state, row("new").state) == (AlertState.RESOLVED, AlertState.FIRING)
    assert row("new").incident_id == old_incident.pk


def test_an_alert_ending_when_the_next_begins_did_not_overlap_it(source, old_incident):
    moment = "2026-12-05T10:05:00Z"
    alerts.receive(source, payload(alert("new", starts=moment),
                                   alert("old", starts=OLD_START, status="resolved",
                                         ends=moment)))
    old_incident.refresh_from_db()
    assert old_incident.status == IncidentStatus.RESOLVED
    assert row("new").incident_id not in (None, old_incident.pk)


@pytest.mark.parametrize("listing", list(permutations(range(3))))
def test_the_listed_order_of_several_alerts_does_not_change_the_outcome(source, old_incident,
                                                                        listing):
    """Two old alerts end at 10:05 and 10:20; one new alert began at 10:10, between them:
    the service never recovered, so the one incident stays open, whatever the listing."""
    alerts.receive(source, payload(alert("old-2", starts="2026-12-05T10:01:00Z")))
    items = [alert("old", starts=OLD_START, status="resolved", ends="2026-12-05T10:05:00Z"),
             alert("new", starts="2026-12-05T10:10:00Z"),
             alert("old-2", starts="2026-12-05T10:01:00Z", status="resolved",
                   ends="2026-12-05T10:20:00Z")]
    alerts.receive(source, payload(*(items[index] for index in listing)))
    old_incident.refresh_from_db()
    assert old_incident.status == IncidentStatus.OPEN
    assert Incident.objects.count() == 1
    assert sorted(Alert.objects.values_list("fingerprint", "state")) == [
        ("new", AlertState.FIRING), ("old", AlertState.RESOLVED),
        ("old-2", AlertState.RESOLVED)]


def test_an_alert_firing_again_with_its_old_start_counts_from_its_receipt(source,
                                                                          old_incident):
    """A fingerprint cannot begin again before it ended: a source repeating the old
    `startsAt` for a new episode tells nothing of when it began, so the alert counts as
    beginning when it is received, after everything the payload says ended before that."""
    alerts.receive(source, payload(alert("old-2", starts="2026-12-05T10:01:00Z")))
    alerts.receive(source, payload(alert("old", starts=OLD_START, status="resolved",
                                         ends="2026-12-05T10:03:00Z")))
    old_incident.refresh_from_db()
    assert old_incident.is_open  # "old-2" still fires
    alerts.receive(source, payload(
        alert("old", starts=OLD_START),  # again, with the start of its first episode
        alert("old-2", starts="2026-12-05T10:01:00Z", status="resolved",
              ends="2026-12-05T10:30:00Z")))
    old_incident.refresh_from_db()
    assert old_incident.status == IncidentStatus.RESOLVED
    assert row("old").incident_id not in (None, old_incident.pk)
    assert Incident.objects.get(pk=row("old").incident_id).is_open


def test_the_generic_format_is_ordered_by_its_times_too(cast):
    source = AlertSource.objects.create(name="Scripts", kind="generic")
    AlertRule.objects.create(source=source, match={"team": "vps"}, partner=cast.a.partner,
                             service=cast.a.service)
    alerts.receive(source, {"fingerprint": "old", "status": "firing", "labels": {"team": "vps"},
                            "starts_at": OLD_START})
    old_incident = Incident.objects.get()
    alerts.receive(source, {"alerts": [
        {"fingerprint": "new", "status": "firing", "labels": {"team": "vps"},
         "starts_at": "2026-12-05T10:10:00Z"},
        {"fingerprint": "old", "status": "resolved", "labels": {"team": "vps"},
         "starts_at": OLD_START, "ends_at": "2026-12-05T10:05:00Z"}]})
    old_incident.refresh_from_db()
    assert old_incident.status == IncidentStatus.RESOLVED
    assert Incident.objects.get(pk=row("new").incident_id).is_open
