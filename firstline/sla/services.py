"""Changes to SLA settings: validated, one transaction each, audited with before and after.

The settings pages only parse input into unsaved rows; every rule about what a partner may
save (targets, whose calendar, whom a step notifies, duplicates) lives here, so a change
made from anywhere else is held to the same rules. A refused change raises ValidationError
keyed by field name and saves nothing.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _

from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import Partner, User
from firstline.sla.models import (
    EscalationStep,
    SlaPolicy,
    SlaTarget,
    TypicalRequest,
    UrgencyRule,
)
from firstline.tickets.models import Priority, Status

PAUSABLE_STATUSES = frozenset({Status.WAITING_CUSTOMER, Status.WAITING_PARTNER})
# Whom an escalation step may name: the provider's staff and the partner's own people.
ESCALATION_ROLES = frozenset({
    User.Role.SUPERVISOR, User.Role.ADMIN, User.Role.OPERATOR, User.Role.ENGINEER,
    User.Role.MANAGER,
})
# Not what was configured but bookkeeping: left out of audit snapshots.
_NOT_AUDITED = frozenset({"id", "partner", "created_at", "updated_at"})

Errors = dict[str, str]
Related = Mapping[str, Sequence[models.Model]]


def ensure_can_configure(actor: User) -> None:
    if actor.role not in (User.Role.SUPERVISOR, User.Role.ADMIN):
        raise PermissionDenied(_("Only supervisors and administrators change SLA settings."))


def _snapshot(instance: models.Model) -> dict[str, Any]:
    """What a settings row says, for the audit log: every configured field, lists included.

    JSON lists (roles, channels, paused statuses) are kept as they are; a related row is
    recorded by its name and many-to-many recipients by theirs, so the log stays readable
    after the related rows change or go.
    """
    if instance.pk is None:
        return {}
    data: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.name in _NOT_AUDITED:
            continue
        if field.is_relation:
            related = getattr(instance, field.name)
            data[field.name] = None if related is None else str(related)
        else:
            data[field.name] = field.value_from_object(instance)
    for field in instance._meta.many_to_many:
        data[field.name] = sorted(str(item) for item in getattr(instance, field.name).all())
    return data


# --- Rules per kind of row ------------------------------------------------------------------


def _foreign(row: models.Model | None, partner: Partner) -> bool:
    """True when `row` belongs to a partner other than `partner` (shared rows have none)."""
    return row is not None and getattr(row, "partner_id", None) not in (None, partner.pk)


def _duplicate(instance: models.Model, partner: Partner, **fields: Any) -> bool:
    return (
        type(instance)._default_manager.filter(partner=partner, **fields)
        .exclude(pk=instance.pk).exists()
    )


def _policy_problems(policy: SlaPolicy, partner: Partner, related: Related) -> Errors:
    errors: Errors = {}
    if policy.calendar_id is not None and _foreign(policy.calendar, partner):
        errors["calendar"] = _("This calendar belongs to another partner.")
    if set(policy.paused_statuses) - PAUSABLE_STATUSES:
        errors["paused_statuses"] = _("Only waiting statuses can pause.")
    if policy.name and _duplicate(policy, partner, name=policy.name):
        errors["name"] = _("This partner already has a policy with this name.")
    return errors


def _step_problems(step: EscalationStep, partner: Partner, related: Related) -> Errors:
    errors: Errors = {}
    users = related.get("users", [])
    if not step.channels:
        errors["channels"] = _("Choose at least one channel.")
    elif set(step.channels) - set(EscalationStep.Channel.values):
        errors["channels"] = _("Unknown channel.")
    if set(step.roles) - set(EscalationStep.Role.values):
        errors["roles"] = _("Unknown recipient role.")
    elif not step.roles and not users:
        errors["roles"] = _("Choose whom to notify: a role or a named person.")
    if any(_foreign(user, partner) for user in users):
        errors["users"] = _("This person works for another partner.")
    elif any(user.role not in ESCALATION_ROLES or not user.is_active for user in users):
        errors["users"] = _("Only active staff and partner engineers or managers can be "
                            "notified.")
    if step.policy_id is not None:
        if _foreign(step.policy, partner):
            errors["policy"] = _("This policy belongs to another partner.")
        elif _duplicate(step, partner, policy=step.policy_id, priority=step.priority,
                        target=step.target, percent=step.percent):
            errors["percent"] = _(
                "The policy already has a step at this share of this deadline for this "
                "priority."
            )
    return errors


def _rule_problems(rule: UrgencyRule, partner: Partner, related: Related) -> Errors:
    errors: Errors = {}
    if rule.service_id is not None and _foreign(rule.service, partner):
        errors["service"] = _("This service belongs to another partner.")
    if rule.service_id is None and not rule.keyword_list() and not rule.vip_only:
        errors["keywords"] = _("A rule needs a condition: a service, keywords or VIP only.")
    return errors


def _typical_problems(item: TypicalRequest, partner: Partner, related: Related) -> Errors:
    errors: Errors = {}
    if item.name and _duplicate(item, partner, name=item.name):
        errors["name"] = _("This partner already has a typical request with this name.")
    return errors


_RULES: dict[type[models.Model], Callable[[Any, Partner, Related], Errors]] = {
    SlaPolicy: _policy_problems,
    EscalationStep: _step_problems,
    UrgencyRule: _rule_problems,
    TypicalRequest: _typical_problems,
}


def _check(instance: models.Model, partner: Partner, related: Related,
           extra: Errors | None = None) -> None:
    """The rules of this module; their messages name the field. The model's own
    validators (full_clean) run just before the save."""
    errors = {**(extra or {}), **_RULES[type(instance)](instance, partner, related)}
    if errors:
        raise ValidationError(errors)


# --- Saving and deleting ---------------------------------------------------------------------


@transaction.atomic
def save_setting(
    *,
    actor: User,
    partner: Partner,
    instance: models.Model,
    action: str,
    related: Related | None = None,
) -> None:
    """Validate, save and audit a settings row of `partner`.

    `related` holds many-to-many values (an escalation step's named recipients): they are
    checked with the row, saved with it and recorded in the same audit event.
    """
    ensure_can_configure(actor)
    if type(instance) not in _RULES:
        raise TypeError(f"{type(instance).__name__} is not an SLA setting")
    if getattr(instance, "partner_id", None) not in (None, partner.pk):
        raise PermissionDenied(_("This setting belongs to another partner."))
    related = related or {}
    before = {}
    if instance.pk is not None:
        before = _snapshot(type(instance)._default_manager.get(pk=instance.pk))
    instance.partner = partner
    _check(instance, partner, related)
    instance.full_clean()
    instance.save()
    for name, values in related.items():
        getattr(instance, name).set(values)
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


def target_problems(targets: Mapping[str, tuple[int, int]]) -> Errors:
    """Errors keyed by priority ("targets" when priorities are missing)."""
    errors: Errors = {}
    for priority, (reaction, resolution) in targets.items():
        if priority not in Priority.values:
            errors["targets"] = _("Unknown priority “%(value)s”.") % {"value": priority}
        elif reaction <= 0 or resolution <= 0:
            errors[priority] = _("Targets must be positive numbers of minutes.")
        elif reaction > resolution:
            errors[priority] = _(
                "The reaction target (%(reaction)d min) cannot be longer than the resolution "
                "target (%(resolution)d min)."
            ) % {"reaction": reaction, "resolution": resolution}
    if set(Priority.values) - set(targets):
        errors["targets"] = _("Every priority needs targets.")
    return errors


@transaction.atomic
def save_policy(
    *, actor: User, partner: Partner, policy: SlaPolicy,
    targets: Mapping[str, tuple[int, int]],
) -> SlaPolicy:
    """Create or update a policy and its per-priority targets (reaction, resolution).

    Errors about targets are keyed by priority. Making the policy the default takes the
    flag from the partner's other default, audited as a change of that policy.
    """
    ensure_can_configure(actor)
    if policy.partner_id not in (None, partner.pk):
        raise PermissionDenied(_("This setting belongs to another partner."))
    policy.partner = partner
    _check(policy, partner, {}, extra=target_problems(targets))
    if policy.is_default:
        for other in _without_default(partner, policy):
            audit.record(actor=actor, partner=partner, action="sla.policy_saved", target=other,
                         before={"is_default": True}, after={"is_default": False})
    old_targets = {
        t.priority: (t.reaction_minutes, t.resolution_minutes)
        for t in SlaTarget.objects.filter(policy_id=policy.pk)
    } if policy.pk else {}
    policy.updated_at = now()
    save_setting(actor=actor, partner=partner, instance=policy, action="sla.policy_saved")
    for priority, (reaction, resolution) in targets.items():
        SlaTarget.objects.update_or_create(
            policy=policy, priority=priority,
            defaults={"partner": partner, "reaction_minutes": reaction,
                      "resolution_minutes": resolution},
        )
    new_targets = {priority: tuple(pair) for priority, pair in targets.items()}
    if old_targets != new_targets:
        audit.record(actor=actor, partner=partner, action="sla.targets_changed", target=policy,
                     before={p: list(v) for p, v in old_targets.items()},
                     after={p: list(v) for p, v in new_targets.items()})
    return policy


def _without_default(partner: Partner, policy: SlaPolicy) -> Iterable[SlaPolicy]:
    """Take the default flag from the partner's other policies (one default per partner)."""
    others = list(
        SlaPolicy.objects.select_for_update()
        .filter(partner=partner, is_default=True).exclude(pk=policy.pk)
    )
    SlaPolicy.objects.filter(pk__in=[other.pk for other in others]).update(
        is_default=False, updated_at=now()
    )
    return others
