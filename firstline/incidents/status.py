"""The public status page of a partner: what it shows, cached and dropped on change.

White-labelled (the partner's name only), no sign-in, Russian and English. The page is
cached per partner and language for a short time; every change to an incident, planned
works or an announcement drops the partner's entries, so the page is fresh at once and
cheap when everyone looks at it during an incident.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache

from firstline.core.clock import now
from firstline.core.models import Partner, Service
from firstline.incidents.models import Incident, IncidentStatus, PlannedWorks, WorksStatus

TTL_SECONDS = 30
HISTORY_DAYS = 90
LANGUAGES = ("ru", "en")


def cache_key(slug: str, language: str, kind: str = "page") -> str:
    return f"incidents:status:{kind}:{slug}:{language}"


def invalidate(slug: str) -> None:
    cache.delete_many([cache_key(slug, language, kind)
                       for language in LANGUAGES for kind in ("page", "feed")])


@dataclass
class ServiceState:
    service: Service
    state: str  # "ok", "partial", "full", "maintenance"


@dataclass
class StatusData:
    partner: Partner
    services: list[ServiceState] = field(default_factory=list)
    current: list[Incident] = field(default_factory=list)
    planned: list[PlannedWorks] = field(default_factory=list)
    history: list[Incident] = field(default_factory=list)


def status_of(partner: Partner, moment: datetime | None = None) -> StatusData:
    moment = moment or now()
    data = StatusData(partner=partner)
    incidents = list(
        Incident.objects.filter(partner=partner)
        .filter(started_at__gte=moment - timedelta(days=HISTORY_DAYS))
        .prefetch_related("services").order_by("-started_at")
        | Incident.objects.filter(partner=partner, status=IncidentStatus.OPEN)
        .prefetch_related("services")
    )
    data.current = [incident for incident in incidents if incident.is_open]
    data.history = [incident for incident in incidents if not incident.is_open]
    data.planned = list(PlannedWorks.objects.filter(
        partner=partner, status=WorksStatus.PLANNED, ends_at__gt=moment
    ).prefetch_related("services").order_by("starts_at")[:20])
    state: dict[int, str] = {}
    for works in data.planned:
        if works.starts_at <= moment:
            for service in works.services.all():
                state[service.pk] = "maintenance"
    for incident in data.current:
        for service in incident.services.all():
            if state.get(service.pk) != "full":
                state[service.pk] = incident.impact
    data.services = [ServiceState(service, state.get(service.pk, "ok"))
                     for service in Service.objects.filter(partner=partner, is_active=True)
                     .order_by("name")]
    return data


def cached(slug: str, language: str, kind: str, build: Any) -> Any:
    key = cache_key(slug, language, kind)
    found = cache.get(key)
    if found is None:
        found = build()
        cache.set(key, found, TTL_SECONDS)
    return found
