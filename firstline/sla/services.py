"""Changes to SLA settings: validated, one transaction each, audited with before and after."""

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.forms.models import model_to_dict
from django.utils.translation import gettext as _

from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import Partner, User
from firstline.sla.models import EscalationStep, SlaPolicy, SlaTarget
from firstline.tickets.models import Priority, Status


def ensure_can_configure(actor: User) -> None:
    if actor.role not in (User.Role.SUPERVISOR, User.Role.ADMIN):
        raise PermissionDenied(_("Only supervisors and administrators change SLA settings."))


def _snapshot(instance: models.Model) -> dict[str, Any]:
    if instance.pk is None:
        return {}
    data = model_to_dict(instance)
    data.pop("id", None)
    return {key: value for key, value in data.items() if not isinstance(value, list)
            or all(isinstance(item, str) for item in value)}


@transaction.atomic
def save_setting(*, actor: User, partner: Partner, instance: models.Model, action: str) -> None:
    """Save a settings row of `partner` (already validated by its form) and audit it."""
    ensure_can_configure(actor)
    if getattr(instance, "partner_id", partner.pk) != partner.pk:
        raise PermissionDenied(_("This setting belongs to another partner."))
    before = {}
    if instance.pk is not None:
        before = _snapshot(type(instance).objects.get(pk=instance.pk))
    instance.partner = partner
    instance.full_clean()
    instance.save()
    audit.record(actor=actor, partner=partner, action=action, target=instance,
                 before=before, after=_snapshot(instance))


@transaction.atomic
def delete_setting(*, actor: User, partner: Partner, instance: models.Model, action: str) -> None:
    ensure_can_configure(actor)
    if getattr(instance, "partner_id", None) != partner.pk:
        raise PermissionDenied(_("This setting belongs to another partner."))
    audit.record(actor=actor, partner=partner, action=action, target=instance,
                 before=_snapshot(instance), after={})
    instance.delete()


def validate_targets(targets: dict[str, tuple[int, int]]) -> None:
    errors = {}
    for priority, (reaction, resolution) in targets.items():
        if reaction <= 0 or resolution <= 0:
            errors[f"{priority}"] = _("Targets must be positive numbers of minutes.")
        elif reaction > resolution:
            errors[f"{priority}"] = _(
                "The reaction target (%(reaction)d min) cannot be longer than the resolution "
                "target (%(resolution)d min)."
            ) % {"reaction": reaction, "resolution": resolution}
    missing = set(Priority.values) - set(targets)
    if missing:
        errors["targets"] = _("Every priority needs targets.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def save_policy(
    *, actor: User, partner: Partner, policy: SlaPolicy, targets: dict[str, tuple[int, int]]
) -> SlaPolicy:
    """Create or update a policy and its per-priority targets (reaction, resolution)."""
    ensure_can_configure(actor)
    validate_targets(targets)
    unknown = set(policy.paused_statuses) - {Status.WAITING_CUSTOMER, Status.WAITING_PARTNER}
    if unknown:
        raise ValidationError({"paused_statuses": _("Only waiting statuses can pause.")})
    if policy.is_default:
        # One default per partner: making this one default takes it from the other.
        SlaPolicy.objects.filter(partner=partner, is_default=True).exclude(pk=policy.pk).update(
            is_default=False
        )
    old_targets = {
        t.priority: (t.reaction_minutes, t.resolution_minutes)
        for t in SlaTarget.objects.filter(policy_id=policy.pk)
    } if policy.pk else {}
    policy.updated_at = now()
    save_setting(actor=actor, partner=partner, instance=policy,
                 action="sla.policy_saved")
    for priority, (reaction, resolution) in targets.items():
        SlaTarget.objects.update_or_create(
            policy=policy, priority=priority,
            defaults={"partner": partner, "reaction_minutes": reaction,
                      "resolution_minutes": resolution},
        )
    if old_targets != targets:
        audit.record(actor=actor, partner=partner, action="sla.targets_changed", target=policy,
                     before={p: list(v) for p, v in old_targets.items()},
                     after={p: list(v) for p, v in targets.items()})
    return policy


def validate_step(step: EscalationStep) -> None:
    errors = {}
    if not step.channels:
        errors["channels"] = _("Choose at least one channel.")
    if set(step.channels) - set(EscalationStep.Channel.values):
        errors["channels"] = _("Unknown channel.")
    if set(step.roles) - set(EscalationStep.Role.values):
        errors["roles"] = _("Unknown recipient role.")
    if errors:
        raise ValidationError(errors)
