"""The incidents API: open an incident, link tickets, send announcements (refused with each
missing part named), resolve. Thin: parse, scope by the caller, call the services."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field

from firstline.api.auth import current_user
from firstline.api.fields import NO_NUL_PATTERN, Id, NonBlankText, Text
from firstline.api.schemas import BODY_ERRORS, COMMON_ERRORS, NOT_FOUND
from firstline.core.models import User
from firstline.incidents import services
from firstline.incidents.models import Announcement, Incident
from firstline.tenancy import partners_for, services_for, tickets_for

# Which parts an announcement requires depends on its kind, so a schema-valid announcement
# (or recovery) can still be a 422 naming each missing part; tests/test_api_fuzz.py allows
# exactly that 422 for these two operations.
router = Router(tags=["incidents"])


def _bounded(value: datetime) -> datetime:
    # Years outside this range are typing mistakes, and near year 1 or 9999 a time-zone
    # conversion overflows.
    if not 2000 <= value.year <= 2200:
        raise ValueError(_("The year must be between 2000 and 2200."))
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_bounded),
                   Field(json_schema_extra={"pattern": NO_NUL_PATTERN})]
# The IANA time zones this server knows, as an enum: an unknown zone is a schema error.
TimeZoneIn = StrEnum("TimeZoneIn", {zone: zone for zone in sorted(available_timezones())})
PartText = Annotated[Text, Field("", max_length=5000)]


class ImpactIn(StrEnum):
    PARTIAL = "partial"
    FULL = "full"


class KindIn(StrEnum):
    INCIDENT = "incident"
    RECOVERY = "recovery"


class AudienceIn(StrEnum):
    LINKED = "linked"
    SUBSCRIBERS = "subscribers"
    BOTH = "both"


class _Input(Schema):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class IncidentIn(_Input):
    partner_id: Id
    title: Annotated[NonBlankText, Field(max_length=300)]
    service_ids: list[Id] = Field(min_length=1, max_length=100)
    impact: ImpactIn
    started_at: Moment = Field(description="Not in the future (a 422 naming it).")
    time_zone: TimeZoneIn


class IncidentOut(Schema):
    id: int
    partner_id: int
    title: str
    impact: str
    status: str
    started_at: datetime
    detected_at: datetime
    ended_at: datetime | None
    time_zone: str
    service_ids: list[int]
    ticket_ids: list[int]

    @staticmethod
    def resolve_service_ids(obj: Incident) -> list[int]:
        return sorted(service.pk for service in obj.services.all())

    @staticmethod
    def resolve_ticket_ids(obj: Incident) -> list[int]:
        return sorted(link.ticket_id for link in obj.links.all())


class LinksIn(_Input):
    ticket_ids: list[Id] = Field(min_length=1, max_length=1000)


class LinksOut(Schema):
    linked: int


class CandidateOut(Schema):
    id: int
    subject: str
    created_at: datetime


class PartsIn(_Input):
    """The parts of an announcement (which each kind requires: see the 422 answer)."""

    began_at: Moment | None = None
    expected_fix_at: Moment | None = None
    period_start: Moment | None = None
    period_end: Moment | None = None
    time_zone: TimeZoneIn | None = None
    impact: ImpactIn | None = None
    service_ids: list[Id] = Field(default_factory=list, max_length=100)
    workaround: PartText
    symptoms: PartText
    cause: PartText
    measures: PartText
    how_to_check: PartText
    support_contacts: PartText


class AnnouncementIn(PartsIn):
    kind: KindIn
    audience: AudienceIn = AudienceIn.BOTH


class ResolveIn(_Input):
    ended_at: Moment | None = None
    recovery: PartsIn | None = None


class AnnouncementOut(Schema):
    id: int
    kind: str
    status: str
    recipients: int

    @staticmethod
    def resolve_recipients(obj: Announcement) -> int:
        return obj.deliveries.count()


def _incidents(user: User) -> QuerySet[Incident]:
    return Incident.objects.filter(partner__in=partners_for(user)).prefetch_related(
        "services", "links")


def _incident_or_404(user: User, incident_id: int) -> Incident:
    return get_object_or_404(_incidents(user).select_related("partner"), pk=incident_id)


def _values(user: User, incident: Incident, parts: PartsIn) -> dict[str, Any]:
    values = parts.dict(exclude={"service_ids"})
    if parts.impact is not None:
        values["impact"] = str(parts.impact)
    else:
        values["impact"] = ""
    found = list(services_for(user).filter(partner=incident.partner, pk__in=parts.service_ids))
    if len(found) != len(set(parts.service_ids)):
        raise ValidationError({"service_ids": _("Unknown service.")})
    values["services"] = found or services.incident_services(incident)
    # The incident already knows when it began and its time zone.
    values["began_at"] = values.get("began_at") or incident.started_at
    values["time_zone"] = values.get("time_zone") or incident.time_zone
    return values


@router.post("/incidents", response={201: IncidentOut, **COMMON_ERRORS, **BODY_ERRORS})
def open_incident(request: HttpRequest, payload: IncidentIn) -> Status[Incident]:
    """Open a mass incident of a partner's services."""
    user = current_user(request)
    partner = partners_for(user).filter(pk=payload.partner_id).first()
    if partner is None:
        raise ValidationError({"partner_id": _("Unknown partner.")})
    found = list(services_for(user).filter(partner=partner, pk__in=payload.service_ids))
    if len(found) != len(set(payload.service_ids)):
        raise ValidationError({"service_ids": _("Unknown service.")})
    incident = services.open_incident(
        partner=partner, actor=user, title=payload.title, services=found,
        impact=str(payload.impact), started_at=payload.started_at,
        time_zone=str(payload.time_zone))
    return Status(201, _incidents(user).get(pk=incident.pk))


@router.get("/incidents/{incident_id}", response={200: IncidentOut, **COMMON_ERRORS,
                                                  **NOT_FOUND})
def get_incident(request: HttpRequest, incident_id: Id) -> Incident:
    return _incident_or_404(current_user(request), incident_id)


@router.get("/incidents/{incident_id}/candidates",
            response={200: list[CandidateOut], **COMMON_ERRORS, **NOT_FOUND})
def candidates(request: HttpRequest, incident_id: Id) -> Any:
    """Tickets that look like this incident: same partner and service, opened since it
    began, or using its words."""
    return list(services.candidate_tickets(_incident_or_404(current_user(request), incident_id)))


@router.post("/incidents/{incident_id}/links",
             response={200: LinksOut, **COMMON_ERRORS, **NOT_FOUND, **BODY_ERRORS})
def link(request: HttpRequest, incident_id: Id, payload: LinksIn) -> dict[str, int]:
    user = current_user(request)
    incident = _incident_or_404(user, incident_id)
    tickets = list(tickets_for(user).filter(pk__in=payload.ticket_ids))
    if len(tickets) != len(set(payload.ticket_ids)):
        raise ValidationError({"ticket_ids": _("Unknown ticket.")})
    return {"linked": services.link_tickets(incident=incident, actor=user, tickets=tickets)}


@router.post("/incidents/{incident_id}/announcements",
             response={201: AnnouncementOut, **COMMON_ERRORS, **NOT_FOUND, **BODY_ERRORS})
def announce(request: HttpRequest, incident_id: Id,
             payload: AnnouncementIn) -> Status[Announcement]:
    """Send an announcement; a missing required part is a 422 naming each part."""
    user = current_user(request)
    incident = _incident_or_404(user, incident_id)
    values = _values(user, incident, payload)
    announcement = services.create_announcement(
        partner=incident.partner, actor=user, kind=str(payload.kind), values=values,
        incident=incident, audience=str(payload.audience))
    return Status(201, announcement)


@router.post("/incidents/{incident_id}/resolve",
             response={200: IncidentOut, **COMMON_ERRORS, **NOT_FOUND, **BODY_ERRORS})
def resolve(request: HttpRequest, incident_id: Id, payload: ResolveIn) -> Incident:
    """Resolve; with `recovery`, the recovery announcement resolves every linked ticket."""
    user = current_user(request)
    incident = _incident_or_404(user, incident_id)
    recovery = None
    if payload.recovery is not None:
        recovery = _values(user, incident, payload.recovery)
        recovery.pop("began_at", None)
        for name in ("period_start", "period_end"):
            if recovery.get(name) is None:
                recovery.pop(name)
    services.resolve_incident(incident=incident, actor=user, ended_at=payload.ended_at,
                              recovery=recovery)
    return _incident_or_404(user, incident_id)
