"""Audit trail: every state change records who, when, what, and the values before and after.

Called inside the service function's transaction, so the audit row exists exactly when the
change does.
"""

from typing import Any

from django.db import models

from firstline.core.models import AuditEvent, Partner, User


def jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def record(
    *,
    actor: User | None,
    partner: Partner | None,
    action: str,
    target: models.Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor,
        partner=partner,
        action=action,
        target_type=target._meta.model_name or "",
        target_id=str(target.pk),
        before=jsonable(before or {}),
        after=jsonable(after or {}),
    )


def events_for(target: models.Model) -> models.QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        target_type=target._meta.model_name, target_id=str(target.pk)
    ).select_related("actor")
