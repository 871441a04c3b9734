"""Monitoring alerts in (F1): Prometheus Alertmanager, Zabbix and a generic JSON webhook.

Each payload is read into the same `Incoming` alerts, then `receive` applies them:
- deduplicated by the source's fingerprint (a repeat updates the row, counts it, and opens
  nothing new);
- mapped to a partner and a service by the source's label rules (first match in order,
  every label of the rule equal); no match parks the alert with the reason;
- a firing alert opens an incident on the service (or joins the open one), or a ticket,
  per rule; when the last firing alert of an incident resolves, the incident is resolved;
- applied in the order they happened, not the order the payload lists them in: a firing
  alert at its start, a resolved one at its end, an end before a start at the same moment.
  Alertmanager lists a group's alerts sorted by their labels (job, instance, then the rest),
  firing and resolved mixed, so one payload may list a service's new alert before the end
  of the alert whose incident it should not join (`_happened`);
- safe with payloads at once (several web workers) and people on the desk: a payload
  takes its row locks up front in one order (alerts, services, incidents, each by id) and
  joins only an open incident it holds locked, read after the lock. A concurrent payload
  resolving that incident's last firing alert, or a person resolving it, holds the same
  row: if the resolver commits first, the joining alert opens the next incident; if the
  joiner does, the incident stays open since its alert fires. A firing alert never ends
  up on a resolved incident (`_lock_in_order`).

Formats:
- Alertmanager webhook, version "4": {"version", "groupKey", "status", "receiver",
  "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "alerts": [{"status",
  "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}]}.
- Zabbix webhook media type: the media type's script posts its parameters as JSON (see
  README): {"event_id": "{EVENT.ID}", "event_value": "{EVENT.VALUE}" (1 problem, 0 resolved),
  "event_date": "{EVENT.DATE}", "event_time": "{EVENT.TIME}", "recovery_date":
  "{EVENT.RECOVERY.DATE}", "recovery_time": "{EVENT.RECOVERY.TIME}", "timezone": "Europe/Moscow",
  "host": "{HOST.NAME}", "trigger": "{EVENT.NAME}", "severity": "{EVENT.SEVERITY}",
  "tags": "{EVENT.TAGSJSON}"}.
- Generic: {"alerts": [{"fingerprint", "status": "firing"|"resolved", "labels",
  "annotations", "starts_at", "ends_at"}]} or one such alert alone.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from firstline.core import audit, config_cache
from firstline.core.clock import now
from firstline.core.models import Service
from firstline.incidents import bulk, services
from firstline.incidents import parts as part_rules
from firstline.incidents.models import (
    Alert,
    AlertAction,
    AlertRule,
    AlertSource,
    AlertSourceKind,
    AlertState,
    AnnouncementKind,
    Incident,
    IncidentStatus,
)
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel, Message, Priority


@dataclass
class Incoming:
    fingerprint: str
    firing: bool
    starts_at: datetime
    ends_at: datetime | None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def _strings(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError({name: _("Expected an object of strings.")})
    return {str(key): str(item) for key, item in value.items()}


def _time(value: Any, name: str, *, optional: bool = False) -> datetime | None:
    if value in (None, "") and optional:
        return None
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None or moment.tzinfo is None:
        raise ValidationError({name: _("Expected a time in RFC 3339 with its offset.")})
    # Alertmanager sends the zero time for an alert that has not ended.
    if optional and moment.year <= 1:
        return None
    return moment


def _fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:32]


def parse_alertmanager(payload: Any) -> list[Incoming]:
    if not isinstance(payload, dict):
        raise ValidationError({"body": _("Expected a JSON object.")})
    if str(payload.get("version", "")) != "4":
        raise ValidationError({"version": _("Only version 4 of the Alertmanager webhook is "
                                            "understood.")})
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise ValidationError({"alerts": _("Expected a list of alerts.")})
    found = []
    for number, item in enumerate(alerts):
        prefix = f"alerts[{number}]"
        if not isinstance(item, dict):
            raise ValidationError({prefix: _("Expected an object.")})
        status = item.get("status")
        if status not in ("firing", "resolved"):
            raise ValidationError({f"{prefix}.status": _("Expected “firing” or “resolved”.")})
        labels = _strings(item.get("labels"), f"{prefix}.labels")
        found.append(Incoming(
            fingerprint=str(item.get("fingerprint") or _fingerprint(labels)),
            firing=status == "firing",
            starts_at=_time(item.get("startsAt"), f"{prefix}.startsAt") or now(),
            ends_at=_time(item.get("endsAt"), f"{prefix}.endsAt", optional=True),
            labels=labels,
            annotations=_strings(item.get("annotations"), f"{prefix}.annotations"),
        ))
    return found


def _zabbix_time(date_text: Any, time_text: Any, zone: ZoneInfo, name: str) -> datetime:
    try:
        local = datetime.strptime(f"{date_text} {time_text}", "%Y.%m.%d %H:%M:%S")
    except (TypeError, ValueError) as exc:
        raise ValidationError({name: _("Expected Zabbix's date YYYY.MM.DD and time "
                                       "HH:MM:SS.")}) from exc
    return local.replace(tzinfo=zone)


def parse_zabbix(payload: Any) -> list[Incoming]:
    if not isinstance(payload, dict):
        raise ValidationError({"body": _("Expected a JSON object.")})
    event_id = str(payload.get("event_id") or "").strip()
    if not event_id or event_id.startswith("{"):
        raise ValidationError({"event_id": _("The event id is required ({EVENT.ID}).")})
    value = str(payload.get("event_value", ""))
    if value not in ("0", "1"):
        raise ValidationError({"event_value": _("Expected 1 (problem) or 0 (resolved).")})
    try:
        zone = ZoneInfo(str(payload.get("timezone") or "UTC"))
    except (KeyError, ValueError) as exc:
        raise ValidationError({"timezone": _("Unknown time zone.")}) from exc
    tags = payload.get("tags") or []
    if isinstance(tags, str):
        try:
            tags = json.loads(tags) if tags.strip() and not tags.startswith("{EVENT") else []
        except ValueError as exc:
            raise ValidationError({"tags": _("Expected {EVENT.TAGSJSON}.")}) from exc
    if not isinstance(tags, list):
        raise ValidationError({"tags": _("Expected {EVENT.TAGSJSON}.")})
    labels = {str(tag.get("tag")): str(tag.get("value", "")) for tag in tags
              if isinstance(tag, dict) and tag.get("tag")}
    if payload.get("host"):
        labels.setdefault("host", str(payload["host"]))
    firing = value == "1"
    ends_at = None if firing else _zabbix_time(
        payload.get("recovery_date"), payload.get("recovery_time"), zone, "recovery_date")
    return [Incoming(
        fingerprint=f"zabbix:{event_id}", firing=firing,
        starts_at=_zabbix_time(payload.get("event_date"), payload.get("event_time"), zone,
                               "event_date"),
        ends_at=ends_at, labels=labels,
        annotations={"summary": str(payload.get("trigger") or ""),
                     "severity": str(payload.get("severity") or "")},
    )]


def parse_generic(payload: Any) -> list[Incoming]:
    if isinstance(payload, dict) and "alerts" not in payload:
        payload = {"alerts": [payload]}
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise ValidationError({"alerts": _("Expected a list of alerts.")})
    found = []
    for number, item in enumerate(payload["alerts"]):
        prefix = f"alerts[{number}]"
        if not isinstance(item, dict):
            raise ValidationError({prefix: _("Expected an object.")})
        if not str(item.get("fingerprint") or "").strip():
            raise ValidationError({f"{prefix}.fingerprint": _("A fingerprint is required.")})
        if item.get("status") not in ("firing", "resolved"):
            raise ValidationError({f"{prefix}.status": _("Expected “firing” or “resolved”.")})
        found.append(Incoming(
            fingerprint=str(item["fingerprint"]), firing=item["status"] == "firing",
            starts_at=_time(item.get("starts_at"), f"{prefix}.starts_at") or now(),
            ends_at=_time(item.get("ends_at"), f"{prefix}.ends_at", optional=True),
            labels=_strings(item.get("labels"), f"{prefix}.labels"),
            annotations=_strings(item.get("annotations"), f"{prefix}.annotations"),
        ))
    return found


PARSERS = {
    AlertSourceKind.ALERTMANAGER: parse_alertmanager,
    AlertSourceKind.ZABBIX: parse_zabbix,
    AlertSourceKind.GENERIC: parse_generic,
}


def rules_of(source: AlertSource) -> list[AlertRule]:
    """The source's label rules in order, read once per payload and cached per process for
    a few seconds (firstline.core.config_cache; a rule saved here drops the cache)."""
    return config_cache.get(
        ("incidents.alert_rules", source.pk),
        lambda: list(source.rules.select_related("partner", "service")
                     .order_by("position", "id")))


def rule_for(source: AlertSource, labels: dict[str, str],
             rules: list[AlertRule] | None = None) -> AlertRule | None:
    for rule in rules if rules is not None else rules_of(source):
        if rule.match and all(labels.get(key) == str(value) for key, value in rule.match.items()):
            return rule
    return None


def source_for(token: str) -> AlertSource | None:
    """The active source with this token (cached like the rules: one per webhook call)."""
    return config_cache.get(
        ("incidents.alert_source", token),
        lambda: AlertSource.objects.filter(token=token, is_active=True).first())


config_cache.watch(AlertSource, AlertRule)


def _title(item: Incoming) -> str:
    return (item.annotations.get("summary") or item.labels.get("alertname")
            or item.annotations.get("description") or item.fingerprint)[:300]


@dataclass
class _Payload:
    """What one payload's alerts share: the rules, the rows of their fingerprints (read
    and locked in one query), the open incidents found so far, and the rows whose writes
    wait for `flush` (a grouped payload's new and repeated alerts: one INSERT and one
    UPDATE for all of them instead of one statement per alert)."""

    rules: list[AlertRule]
    alerts: dict[str, Alert]
    incidents: dict[tuple[int, int], Incident] = field(default_factory=dict)
    locked_services: set[int] = field(default_factory=set)
    new: dict[str, Alert] = field(default_factory=dict)
    changed: dict[str, Alert] = field(default_factory=dict)

    def known(self, alert: Alert) -> bool:
        """The fingerprint was stored before, or earlier in this payload."""
        return alert.pk is not None or alert.fingerprint in self.new

    def save(self, alert: Alert) -> None:
        """Write the row at the next flush (the last write of a fingerprint wins)."""
        if alert.pk is None:
            self.new[alert.fingerprint] = alert
        else:
            self.changed[alert.fingerprint] = alert

    def flush(self) -> None:
        """Write the waiting rows: before anything reads alerts back from the database
        (an incident's resolution asks which of its alerts still fire), and at the end."""
        if self.new:
            # In fingerprint order: two payloads bringing the same new fingerprints in
            # opposite orders would each wait on the other's row of the unique index.
            Alert.objects.bulk_create(sorted(self.new.values(), key=lambda a: a.fingerprint))
            self.new.clear()
        if self.changed:
            bulk.save_fields(Alert, list(self.changed.values()), _ALERT_FIELDS)
            self.changed.clear()


# Everything `apply` may change on a known row.
_ALERT_FIELDS = ["state", "labels", "annotations", "starts_at", "ends_at", "rule", "partner",
                 "incident", "ticket", "parked_reason", "received", "updated_at"]


@transaction.atomic
def receive(source: AlertSource, payload: Any) -> list[Alert]:
    """Parse the payload of the source's kind and apply each alert; the rows touched.

    One transaction and a fixed number of queries for the payload's bookkeeping: the rules
    (cached), the known alerts of all its fingerprints in one locked query, the open
    incidents of the services its new alerts name in one query.

    Every row lock the payload may take is taken here, at the start, in one order (alerts,
    services, incidents, each by id), whatever order the payload names them in: two
    payloads at once naming the same services in opposite orders then queue behind each
    other instead of deadlocking."""
    incoming = PARSERS[AlertSourceKind(source.kind)](payload)
    if not incoming:
        return []
    fingerprints = {item.fingerprint[:200] for item in incoming}
    known = {alert.fingerprint: alert for alert in Alert.objects.select_for_update()
             .filter(source=source, fingerprint__in=fingerprints).order_by("pk")}
    shared = _Payload(rules=rules_of(source), alerts=known)
    _lock_in_order(source, incoming, shared)
    moment = now()
    order = sorted(range(len(incoming)),
                   key=lambda index: _happened(incoming[index], known, moment))
    touched = {index: apply(source, incoming[index], shared) for index in order}
    shared.flush()
    return [touched[index] for index in range(len(incoming))]


def _happened(item: Incoming, known: dict[str, Alert], moment: datetime) -> tuple[datetime, int]:
    """When the alert's change happened, to apply a payload's alerts in that order.

    A firing alert began at its start and a resolved one ended at its end (at `moment`, the
    payload's receipt, when the source does not say). An end and a start at the same moment
    did not overlap: the end goes first. A fingerprint that ended here and fires again
    cannot have begun again before that end: a start that says so is its first episode's
    (a source repeating it), and the new one is known to have begun by its receipt only."""
    if not item.firing:
        return item.ends_at or moment, 0
    alert = known.get(item.fingerprint[:200])
    if (alert is not None and alert.state != AlertState.FIRING and alert.ends_at is not None
            and item.starts_at <= alert.ends_at):
        return moment, 1
    return item.starts_at, 1


def _open_incidents(keys: set[tuple[int, int]],
                    resolving: set[int] | None = None) -> dict[tuple[int, int], Incident]:
    """The open incident of each (partner, service), the earliest when several, each row
    locked, with the incidents of `resolving` (which the payload may resolve), in one
    statement in id order. The lock waits for whoever holds the row (a payload or a person
    resolving it) and PostgreSQL then reads the row again: an incident resolved meanwhile
    no longer matches and is not joined."""
    match = Q(pk__in=resolving or set())
    if keys:
        match |= Q(status=IncidentStatus.OPEN, partner_id__in={partner for partner, _s in keys},
                   services__in={service for _p, service in keys})
    rows = list(Incident.objects.select_for_update(no_key=True, of=("self",)).filter(match)
                .annotate(service_pk=F("services")).order_by("pk"))
    found: dict[tuple[int, int], Incident] = {}
    for incident in sorted(rows, key=lambda row: (row.started_at, row.pk)):
        key = (incident.partner_id, incident.service_pk)
        if incident.status == IncidentStatus.OPEN and key in keys:
            found.setdefault(key, incident)
    return found


def _lock_in_order(source: AlertSource, incoming: list[Incoming], shared: _Payload) -> None:
    """Take up front, by id, the locks applying the payload needs further on: services,
    then incidents, each in one statement in id order.

    Services: every service a new firing alert names. Whoever finds no open incident opens
    one holding the service row (`_open_incident_of`), and so may a payload whose joined
    incident turns out resolved, or which resolves it earlier in the same payload: holding
    the service already, it takes no lock out of order.
    Incidents: every open incident of those services (the one a new alert joins) and every
    incident a resolving alert of the payload may resolve. The rule for joining: a payload
    joins only an incident it holds locked, read after the lock. A payload resolving the
    incident's last firing alert (or a person resolving it) holds its row too, so either
    the resolver commits first and the joiner, seeing it resolved, opens the next incident;
    or the joiner commits first and the resolver finds the joined alert firing and leaves
    the incident open. Never an alert firing on a resolved incident.
    FOR NO KEY UPDATE: the locks exclude each other, and a plain FOR UPDATE (a person
    resolving), but not the key share a row referencing the service takes (the resolver's
    recovery announcement names the service): a joiner holding the service and waiting
    for the incident must not block the incident's resolver, which would deadlock."""
    wanted: set[tuple[int, int]] = set()
    resolving: set[int] = set()
    for item in incoming:
        alert = shared.alerts.get(item.fingerprint[:200])
        fires = alert is not None and alert.state == AlertState.FIRING
        if item.firing and not fires:
            rule = rule_for(source, item.labels, shared.rules)
            if rule is not None and rule.action == AlertAction.INCIDENT:
                wanted.add((rule.partner_id, rule.service_id))
        elif not item.firing and fires and alert is not None and alert.incident_id:
            resolving.add(alert.incident_id)
    if wanted:
        ids = sorted({service for _partner, service in wanted})
        list(Service.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
             .values_list("pk", flat=True))
        shared.locked_services.update(ids)
    if wanted or resolving:
        shared.incidents.update(_open_incidents(wanted, resolving))


def apply(source: AlertSource, item: Incoming, shared: _Payload | None = None) -> Alert:
    """Apply one alert of a payload; its row is written by `shared.flush()` (the caller's,
    at the end of the payload), or at once without `shared`."""
    if shared is None:
        return receive_one(source, item)
    fingerprint = item.fingerprint[:200]
    alert = shared.alerts.get(fingerprint)
    moment = now()
    if alert is None:
        alert = Alert(source=source, fingerprint=fingerprint, received=0,
                      state=AlertState.PARKED, starts_at=item.starts_at)
        shared.alerts[fingerprint] = alert
    known = shared.known(alert)
    repeat = known and alert.state == AlertState.FIRING and item.firing
    reopened = known and item.firing and alert.state != AlertState.FIRING
    alert.received += 1
    alert.labels, alert.annotations, alert.updated_at = item.labels, item.annotations, moment
    if repeat:
        shared.save(alert)
        return alert
    if not item.firing:
        alert.ends_at = item.ends_at or moment
        if alert.state == AlertState.FIRING:
            alert.state = AlertState.RESOLVED
            shared.save(alert)
            shared.flush()  # the incident's other alerts are read back from the table
            _resolved(alert)
            shared.incidents.clear()  # the incident may be resolved now
        else:
            if not known:
                alert.parked_reason = _("A resolved alert that never fired here.")
            shared.save(alert)
        return alert
    if reopened:
        alert.incident, alert.ticket, alert.ends_at = None, None, None
    alert.starts_at = item.starts_at
    rule = rule_for(source, item.labels, shared.rules)
    if rule is None:
        labels = ", ".join(f"{key}={value}" for key, value in sorted(item.labels.items()))
        alert.state, alert.rule, alert.partner = AlertState.PARKED, None, None
        alert.parked_reason = _("No rule matches the labels: %(labels)s.") % {
            "labels": labels or "—"}
        shared.save(alert)
        return alert
    alert.rule, alert.partner, alert.parked_reason = rule, rule.partner, ""
    alert.state = AlertState.FIRING
    if rule.action == AlertAction.TICKET:
        alert.ticket = ticket_services.create_ticket(
            partner=rule.partner, actor=None, channel=Channel.MONITORING,
            subject=_title(item), text=_alert_text(item), service=rule.service,
            priority=Priority.HIGH)
    else:
        key = (rule.partner_id, rule.service_id)
        alert.incident = shared.incidents.get(key) or _open_incident_of(
            rule, item, moment, locked=rule.service_id in shared.locked_services)
        shared.incidents[key] = alert.incident
    shared.save(alert)
    return alert


def _open_incident_of(rule: AlertRule, item: Incoming, moment: datetime, *,
                      locked: bool = False) -> Incident:
    """The rule's service's open incident, or a new one. Two payloads about the same
    service at once (two web workers) must not open two incidents: whoever finds none
    locks the service row and looks again, so the second waits for the first's commit
    and then joins its incident. `locked`: the payload holds the service row already
    (`_lock_in_order`)."""

    def open_one() -> Incident | None:
        return (Incident.objects.filter(partner=rule.partner, status=IncidentStatus.OPEN,
                                        services=rule.service)
                .order_by("started_at").first())

    found = open_one()
    if found is not None:
        return found
    if not locked:  # its incident, open at the start, resolved earlier in this payload
        list(Service.objects.select_for_update(no_key=True).filter(pk=rule.service_id)
             .values_list("pk"))
        found = open_one()
    return found or services.open_incident(
        partner=rule.partner, actor=None, title=_title(item), services=[rule.service],
        impact=rule.impact, started_at=min(item.starts_at, moment),
        time_zone=rule.partner.time_zone, detected_at=moment)


def receive_one(source: AlertSource, item: Incoming) -> Alert:
    """Apply one parsed alert on its own (its own transaction and lookups), taking the
    locks a payload of it would (`_lock_in_order`)."""
    with transaction.atomic():
        alert = (Alert.objects.select_for_update()
                 .filter(source=source, fingerprint=item.fingerprint[:200]).first())
        shared = _Payload(rules=rules_of(source),
                          alerts={alert.fingerprint: alert} if alert else {})
        _lock_in_order(source, [item], shared)
        applied = apply(source, item, shared)
        shared.flush()
        return applied


def _alert_text(item: Incoming) -> str:
    lines = [f"{key}: {value}" for key, value in sorted(item.annotations.items()) if value]
    lines += [f"{key}={value}" for key, value in sorted(item.labels.items())]
    return "\n".join(lines) or item.fingerprint


def _resolved(alert: Alert) -> None:
    """The alert resolved: the ticket it opened is resolved, or its incident (when no other
    alert of it still fires) with the recovery announcement, all as the monitoring system."""
    if alert.ticket_id is not None:
        ticket = alert.ticket
        ticket_services.add_message(
            ticket=ticket, actor=None, kind=Message.Kind.NOTE,
            text=_("Monitoring: the alert resolved at %(moment)s.") % {
                "moment": (alert.ends_at or now()).isoformat()})
        bulk.resolve_as_system(partner=ticket.partner, tickets=[ticket])
        return
    incident = alert.incident
    if incident is None or not incident.is_open:
        return
    if Alert.objects.filter(incident=incident, state=AlertState.FIRING).exists():
        return  # another alert of the incident still fires
    ended = max(alert.ends_at or now(), incident.started_at)
    recovery = recovery_parts(alert, incident)
    values = {**recovery, "period_start": incident.started_at, "period_end": ended,
              "time_zone": incident.time_zone,
              "services": services.incident_services(incident)}
    missing = part_rules.missing_parts(AnnouncementKind.RECOVERY, values)
    if not missing:
        # Sent to everyone; the reply that resolves each linked ticket.
        services.resolve_incident(incident=incident, actor=None, ended_at=ended,
                                  recovery=recovery)
        return
    # The rule does not say what the cause was, or what was done: the recovery waits as a
    # draft for a person to complete and send; the linked tickets stay with the desk.
    services.resolve_incident(incident=incident, actor=None, ended_at=ended)
    services.create_announcement(partner=incident.partner, actor=None,
                                 kind=AnnouncementKind.RECOVERY, values=values,
                                 incident=incident, send=False)
    audit.record(actor=None, partner=incident.partner, action="incident.recovery_held",
                 target=incident, after={"by": bulk.SYSTEM,
                                         "missing": [part.key for part in missing]})


def recovery_parts(alert: Alert, incident: Incident) -> dict[str, str]:
    """The recovery announcement's parts the monitoring system can give: the symptoms from
    the alert, the cause, measures and how to check from its annotations or else its
    rule, the partner's support contacts."""
    notes, rule, partner = alert.annotations or {}, alert.rule, incident.partner

    def part(name: str) -> str:
        given = str(notes.get(name) or "").strip()
        return given or (getattr(rule, f"recovery_{name}", "") if rule else "")

    return {
        "symptoms": (notes.get("description") or notes.get("summary") or incident.title),
        "cause": part("cause"),
        "measures": part("measures"),
        "how_to_check": part("how_to_check"),
        "support_contacts": ", ".join(
            value for value in (partner.support_phone, partner.support_email) if value),
    }
