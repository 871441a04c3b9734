"""Early warning: which customer organisations are about to leave, and why.

The risk of an organisation is the sum of explainable signals over a window (90 days by
default), capped at 100. Every signal carries its weight per occurrence, its cap, and the
evidence it was computed from (tickets, answers, words), so the supervisor and the partner
manager see why a customer is on top, not just a number. The trend is the score now minus
the score 30 days earlier, computed by the same rules.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from firstline.contacts.models import Organisation
from firstline.core.clock import now
from firstline.core.models import AuditEvent, Partner
from firstline.quality.morphology import tokenize
from firstline.surveys.models import Kind, Survey
from firstline.surveys.services import DETRACTOR_MAX, LOW_SHARE
from firstline.tickets.models import Message, Status, Ticket

WINDOW_DAYS = 90
TREND_DAYS = 30
# Lemmas of words that show a customer's anger or intent to leave, not just a fault report.
NEGATIVE_LEMMAS = frozenset({
    "недовольный", "ужасный", "ужасно", "отвратительный", "отвратительно", "безобразие",
    "кошмар", "возмутительный", "возмутительно", "жалоба", "претензия", "расторгнуть",
    "расторжение", "надоесть", "бардак", "хамство", "издевательство", "позор",
    "безответственный", "конкурент", "невыносимый", "безобразный",
    "terrible", "awful", "unacceptable", "disappointed", "complaint", "ridiculous", "worst",
    "angry", "cancel", "competitor",
})


@dataclass(frozen=True)
class SignalRule:
    code: str
    label: str
    weight: int  # points per occurrence
    cap: int  # at most this many points from the signal


RULES = {
    rule.code: rule for rule in (
        SignalRule("low_csat", gettext_lazy("Low rating after resolution"), 15, 45),
        SignalRule("detractor", gettext_lazy("NPS detractor answer (0–6)"), 25, 50),
        SignalRule("breach", gettext_lazy("Deadline breached"), 10, 40),
        SignalRule("reopened", gettext_lazy("Ticket reopened"), 8, 24),
        SignalRule("repeated", gettext_lazy("Repeated tickets about the same service"), 5, 20),
        SignalRule("negative", gettext_lazy("Negative words in messages"), 4, 20),
        SignalRule("falling", gettext_lazy("Fewer requests after a bad period"), 20, 20),
    )
}


@dataclass
class Signal:
    rule: SignalRule
    count: int = 0
    evidence: list[str] = field(default_factory=list)
    ticket_ids: set[int] = field(default_factory=set)

    @property
    def points(self) -> int:
        return min(self.rule.cap, self.rule.weight * self.count)


@dataclass
class OrganisationRisk:
    organisation: Organisation
    signals: dict[str, Signal] = field(default_factory=dict)
    previous: int = 0

    @property
    def score(self) -> int:
        return min(100, sum(signal.points for signal in self.signals.values()))

    @property
    def trend(self) -> int:
        return self.score - self.previous

    @property
    def shown_signals(self) -> list[Signal]:
        return sorted((s for s in self.signals.values() if s.count),
                      key=lambda s: -s.points)

    def add(self, code: str, evidence: str, ticket_id: int | None = None, count: int = 1) -> None:
        signal = self.signals.setdefault(code, Signal(RULES[code]))
        signal.count += count
        if len(signal.evidence) < 10:
            signal.evidence.append(evidence)
        if ticket_id is not None:
            signal.ticket_ids.add(ticket_id)


def _scores(organisations: list[Organisation], at: datetime, window_days: int
            ) -> dict[int, OrganisationRisk]:
    risks = {org.pk: OrganisationRisk(org) for org in organisations}
    if not risks:
        return risks
    start = at - timedelta(days=window_days)
    org_ids = list(risks)
    surveys = Survey.objects.filter(
        organisation_id__in=org_ids, answered_at__gte=start, answered_at__lt=at,
        score__isnull=False,
    ).select_related("ticket")
    for survey in surveys:
        risk = risks[survey.organisation_id]
        quote = f" «{survey.comment[:120]}»" if survey.comment else ""
        if survey.kind == Kind.CSAT and (survey.share or 0) <= LOW_SHARE:
            risk.add("low_csat", _("%(ticket)s rated %(score)d of %(high)d") % {
                "ticket": survey.ticket.number if survey.ticket else "—",
                "score": survey.score, "high": survey.scale_max} + quote, survey.ticket_id)
        elif survey.kind == Kind.NPS and survey.score is not None and \
                survey.score <= DETRACTOR_MAX:
            risk.add("detractor", _("NPS %(score)d on %(date)s") % {
                "score": survey.score, "date": f"{survey.answered_at:%d.%m.%Y}"} + quote)

    tickets = list(
        Ticket.objects.filter(contact__organisation_id__in=org_ids, created_at__gte=start,
                              created_at__lt=at)
        .values("id", "contact__organisation_id", "service_id", "service__name",
                "reaction_in_time", "resolution_in_time", "created_at")
    )
    org_of = {row["id"]: row["contact__organisation_id"] for row in tickets}
    number = {row["id"]: Ticket(pk=row["id"]).number for row in tickets}
    for row in tickets:
        risk = risks[row["contact__organisation_id"]]
        if row["reaction_in_time"] is False or row["resolution_in_time"] is False:
            which = (_("reaction") if row["reaction_in_time"] is False else _("resolution"))
            risk.add("breach", _("%(ticket)s: %(which)s late") % {
                "ticket": number[row["id"]], "which": which}, row["id"])
    per_service: dict[tuple[int, int], list[int]] = defaultdict(list)
    names: dict[int, str] = {}
    for row in tickets:
        if row["service_id"] is not None:
            per_service[(row["contact__organisation_id"], row["service_id"])].append(row["id"])
            names[row["service_id"]] = row["service__name"]
    for (org_id, service_id), ids in per_service.items():
        if len(ids) >= 3:
            risks[org_id].add("repeated", _("%(count)d tickets about %(service)s") % {
                "count": len(ids), "service": names[service_id]}, count=len(ids) - 2)

    reopen_events = AuditEvent.objects.filter(
        target_type="ticket", target_id__in=[str(pk) for pk in org_of],
        created_at__gte=start, created_at__lt=at,
    ).filter(Q(action="ticket.reopened") | Q(action="message.inbound",
                                            before__status=Status.RESOLVED))
    for event in reopen_events.values("target_id", "created_at"):
        ticket_id = int(event["target_id"])
        risks[org_of[ticket_id]].add("reopened", _("%(ticket)s reopened on %(date)s") % {
            "ticket": number[ticket_id], "date": f"{event['created_at']:%d.%m.%Y}"}, ticket_id)

    inbound = Message.objects.filter(
        ticket_id__in=list(org_of), kind=Message.Kind.INBOUND, is_automatic=False,
        created_at__gte=start, created_at__lt=at,
    ).values_list("ticket_id", "body_text")
    for ticket_id, text in inbound:
        language = "en" if not any("а" <= ch <= "я" for ch in text.lower()[:500]) else "ru"
        words = [t.text for t in tokenize(text[:5000], language) if t.lemmas & NEGATIVE_LEMMAS]
        if words:
            risks[org_of[ticket_id]].add("negative", _("%(ticket)s: %(words)s") % {
                "ticket": number[ticket_id], "words": ", ".join(dict.fromkeys(words))},
                ticket_id)

    # Falling volume: the last 30 days under half the monthly average of the 60 before,
    # after a period with breaches, low ratings or detractors.
    recent_start = at - timedelta(days=TREND_DAYS)
    per_org: dict[int, list[datetime]] = defaultdict(list)
    for row in tickets:
        per_org[row["contact__organisation_id"]].append(row["created_at"])
    for risk in risks.values():
        created = per_org[risk.organisation.pk]
        recent = sum(1 for moment in created if moment >= recent_start)
        before = len(created) - recent
        monthly_before = before / max(1, (window_days - TREND_DAYS) / TREND_DAYS)
        bad_before = any(s.count for code, s in risk.signals.items()
                         if code in ("breach", "low_csat", "detractor"))
        if monthly_before >= 2 and recent <= monthly_before / 2 and bad_before:
            risk.add("falling", _("%(recent)d requests in the last 30 days against %(before).1f "
                                  "a month before") % {"recent": recent,
                                                        "before": monthly_before})
    return risks


def organisations_in_scope(partners: QuerySet[Partner]) -> QuerySet[Organisation]:
    return Organisation.objects.filter(partner__in=partners).select_related("partner")


def risk_list(partners: QuerySet[Partner], *, at: datetime | None = None,
              window_days: int = WINDOW_DAYS, limit: int = 500) -> list[OrganisationRisk]:
    """Organisations of these partners, riskiest first, each with its signals and trend."""
    at = at or now()
    organisations = list(organisations_in_scope(partners).order_by("id")[:limit])
    current = _scores(organisations, at, window_days)
    earlier = _scores(organisations, at - timedelta(days=TREND_DAYS), window_days)
    for org_id, risk in current.items():
        risk.previous = earlier[org_id].score
    return sorted(current.values(), key=lambda r: (-r.score, -r.trend, r.organisation.name))


def risk_of(organisation: Organisation, *, at: datetime | None = None) -> OrganisationRisk:
    at = at or now()
    risk = _scores([organisation], at, WINDOW_DAYS)[organisation.pk]
    risk.previous = _scores([organisation], at - timedelta(days=TREND_DAYS),
                            WINDOW_DAYS)[organisation.pk].score
    return risk


def bad_ticket_ids(organisation: Organisation, *, at: datetime | None = None) -> set[int]:
    """The organisation's tickets behind its risk: breached, reopened, rated low, angry."""
    risk = _scores([organisation], at or now(), WINDOW_DAYS)[organisation.pk]
    ids: set[int] = set()
    for signal in risk.signals.values():
        ids |= signal.ticket_ids
    return ids


def handlers_of(ticket_ids: set[int]) -> dict[int, list[str]]:
    """Who handled these tickets (assignee or author of a public reply): user id -> numbers."""
    handled: dict[int, list[str]] = defaultdict(list)
    for ticket_id, assignee_id in Ticket.objects.filter(pk__in=ticket_ids).values_list(
            "id", "assignee_id"):
        if assignee_id is not None:
            handled[assignee_id].append(Ticket(pk=ticket_id).number)
    replies = Message.objects.filter(
        ticket_id__in=ticket_ids, kind=Message.Kind.REPLY, author__isnull=False,
    ).values_list("author_id", "ticket_id").distinct()
    for author_id, ticket_id in replies:
        number = Ticket(pk=ticket_id).number
        if number not in handled[author_id]:
            handled[author_id].append(number)
    return {user_id: sorted(numbers) for user_id, numbers in handled.items()}

