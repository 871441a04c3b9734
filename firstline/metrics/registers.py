"""The supervisor's desk edits of what the metrics domain stores itself: KPI targets
(provider-wide or one partner's; a change is a revision, dated and signed) and the evidence
registers of the maturity assessment. Plain functions: validated (a clear error naming the
field, nothing stored), atomic, audited. Only supervisors and administrators change them;
a partner's manager reads their partner's rows and the provider-wide ones."""

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import Partner, User
from firstline.metrics import registry
from firstline.metrics.models import Evidence, MetricTarget
from firstline.metrics.registry import Unit

MAX_DOCUMENT = 10 * 1024 * 1024


def can_edit(user: User) -> bool:
    return bool(user and user.is_authenticated and user.is_active
                and user.role in (User.Role.SUPERVISOR, User.Role.ADMIN))


def visible_targets(user: User) -> QuerySet[MetricTarget]:
    rows = MetricTarget.objects.select_related("partner", "revised_by")
    if user.is_provider_staff:
        return rows
    return rows.filter(Q(partner_id=user.partner_id) | Q(partner__isnull=True))


def visible_evidence(user: User) -> QuerySet[Evidence]:
    rows = Evidence.objects.select_related("partner")
    if user.is_provider_staff:
        return rows
    return rows.filter(Q(partner_id=user.partner_id) | Q(partner__isnull=True))


def shown_value(metric_key: str, stored: float) -> float:
    """A share is typed and shown in percent; other units as they are."""
    metric = registry.REGISTRY.get(metric_key) if registry.metrics() else None
    if metric is not None and metric.unit == Unit.SHARE:
        return round(stored * 100, 4)
    return stored


def _stored_value(metric: registry.Metric, typed: float) -> float:
    if metric.unit == Unit.SHARE:
        if not 0 <= typed <= 100:
            raise ValidationError({"target": _("A share is from 0 to 100%.")})
        return typed / 100
    if typed < 0:
        raise ValidationError({"target": _("The target cannot be negative.")})
    return typed


@transaction.atomic
def set_target(actor: User, *, partner: Partner | None, metric_key: str,
               value: float) -> MetricTarget:
    """Set a KPI target, or revise the one already set for the partner (or for every
    partner): the value, the revision date and who revised it change together."""
    metric = registry.REGISTRY.get(metric_key) if registry.metrics() else None
    if metric is None:
        raise ValidationError({"metric": _("Choose a metric from the list.")})
    stored = _stored_value(metric, float(value))
    found = (MetricTarget.objects.select_for_update()
             .filter(partner=partner, metric=metric_key).first())
    before = {} if found is None else {"target": found.target,
                                       "revised_at": found.revised_at}
    if found is None:
        found = MetricTarget(partner=partner, metric=metric_key)
    found.target = stored
    found.revised_at = now().date()
    found.revised_by = actor
    found.save()
    audit.record(actor=actor, partner=partner,
                 action="metrics.target_revised" if before else "metrics.target_set",
                 target=found, before=before,
                 after={"metric": metric_key, "target": stored, "revised_at": found.revised_at})
    return found


def _check_evidence(values: dict[str, Any]) -> None:
    errors = {}
    if values.get("kind") not in Evidence.Kind.values:
        errors["kind"] = _("Choose a register from the list.")
    for field, text in (("title", _("Say what was done or agreed.")),
                        ("person", _("Say who did it or is responsible."))):
        if not str(values.get(field) or "").strip():
            errors[field] = text
    held_on, next_due = values.get("held_on"), values.get("next_due")
    if not isinstance(held_on, date):
        errors["held_on"] = _("Give the date.")
    elif next_due is not None and next_due < held_on:
        errors["next_due"] = _("The next due date cannot be before %(date)s.") % {
            "date": held_on.strftime("%d.%m.%Y")}
    document = values.get("document")
    if isinstance(document, UploadedFile) and document.size > MAX_DOCUMENT:
        errors["document"] = _("The document is larger than 10 MB.")
    if errors:
        raise ValidationError(errors)


FIELDS = ("kind", "title", "person", "held_on", "next_due")


@transaction.atomic
def add_evidence(actor: User, *, partner: Partner | None, **values: Any) -> Evidence:
    _check_evidence(values)
    record = Evidence(partner=partner, **{field: values.get(field) for field in FIELDS})
    record.title, record.person = record.title.strip(), record.person.strip()
    if values.get("document"):
        record.document = values["document"]
    record.save()
    audit.record(actor=actor, partner=partner, action="metrics.evidence_added", target=record,
                 after={field: getattr(record, field) for field in FIELDS}
                 | {"document": record.document.name})
    return record


@transaction.atomic
def revise_evidence(record: Evidence, actor: User, **values: Any) -> Evidence:
    _check_evidence(values)
    before = {field: getattr(record, field) for field in FIELDS} | {
        "document": record.document.name}
    for field in FIELDS:
        setattr(record, field, values.get(field))
    record.title, record.person = record.title.strip(), record.person.strip()
    if values.get("document"):
        record.document = values["document"]
    record.save()
    after = {field: getattr(record, field) for field in FIELDS} | {
        "document": record.document.name}
    if after != before:
        audit.record(actor=actor, partner=record.partner, action="metrics.evidence_revised",
                     target=record, before=before, after=after)
    return record
