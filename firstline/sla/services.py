"""Changes to SLA settings: validated, one transaction each, audited with before and after.

The settings pages only parse input into unsaved rows; every rule about what a partner may
save (targets, whose calendar, whom a step notifies, duplicates) lives here, so a change
made from anywhere else is held to the same rules. A refused change raises ValidationError
keyed by field name and saves nothing.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import AuditEvent, Partner, User
from firstline.sla import deadlines, escalation
from firstline.sla.models import (
    EscalationStep,
    SlaPolicy,
    SlaTarget,
    TypicalRequest,
    UrgencyRule,
)
from firstline.tickets.models import ACTIVE_STATUSES, Priority, Status, Ticket

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


def save_policy(
    *, actor: User, partner: Partner, policy: SlaPolicy,
    targets: Mapping[str, tuple[int, int]],
) -> SlaPolicy:
    """Create or update a policy and its per-priority targets (reaction, resolution).

    Errors about targets are keyed by priority. Making the policy the default takes the
    flag from the partner's other default, audited as a change of that policy.

    When the change alters the terms (targets, calendar, pausing statuses) the deadlines of
    the policy's open tickets follow, after the policy is saved and in batches
    (`recompute_open_tickets`); `policy.recomputed` says how many tickets changed.
    """
    terms_changed = _save_policy(actor=actor, partner=partner, policy=policy, targets=targets)
    policy.recomputed = 0  # type: ignore[attr-defined]
    if terms_changed:
        policy.recomputed = recompute_open_tickets(  # type: ignore[attr-defined]
            actor=actor, partner=partner, policy=policy
        )
    return policy


def _terms(policy: SlaPolicy) -> tuple[Any, ...]:
    return (policy.calendar_id, sorted(policy.paused_statuses or []))


@transaction.atomic
def _save_policy(
    *, actor: User, partner: Partner, policy: SlaPolicy,
    targets: Mapping[str, tuple[int, int]],
) -> bool:
    """The policy's save in one transaction; True when an existing policy's terms changed."""
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
    old_terms = _terms(SlaPolicy.objects.get(pk=policy.pk)) if policy.pk else None
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
    return old_terms is not None and (
        old_targets != new_targets or old_terms != _terms(policy)
    )


# --- Open tickets follow a policy's new terms -------------------------------------------------

RECOMPUTE_BATCH = 500
_AUDITED_DEADLINES = ("reaction_due_at", "resolution_due_at", "due_at", "paused_since")


def open_tickets_on(policy: SlaPolicy) -> models.QuerySet[Ticket]:
    return Ticket.objects.filter(
        partner_id=policy.partner_id, sla_policy=policy, status__in=ACTIVE_STATUSES
    )


def recompute_open_tickets(
    *, actor: User | None, partner: Partner, policy: SlaPolicy,
    batch_size: int = RECOMPUTE_BATCH, reason: str = "sla.policy_terms_changed",
) -> int:
    """Bring the deadlines of the policy's open tickets in line with its terms now.

    From this moment on: the same derivation as every other event (created_at, the targets,
    the business time spent paused), so a tightened target may put a ticket in breach at
    once and a relaxed one gives it more time; a ticket in a status that now pauses (or no
    longer does) pauses (resumes) now. Facts already decided (reaction in time) stay.
    Unfired escalation steps are rescheduled; one made overdue by the change falls due now.

    Thousands of tickets: batches of `batch_size`, each its own transaction with its tickets
    locked, three queries for escalations and one bulk insert of audit rows per batch.
    Returns how many tickets' deadlines changed (each one audited, with `reason`: the
    policy's terms or its business calendar changed).
    """
    moment = now()
    changed_total = 0
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                open_tickets_on(policy).filter(pk__gt=last_pk)
                .select_for_update(of=("self",))
                .select_related("partner", "sla_policy__calendar", "typical_request")
                .order_by("pk")[:batch_size]
            )
            if not batch:
                return changed_total
            last_pk = batch[-1].pk
            changed_total += _recompute_batch(batch, actor=actor, partner=partner,
                                              policy=policy, moment=moment, reason=reason)


def _recompute_batch(
    batch: Sequence[Ticket], *, actor: User | None, partner: Partner, policy: SlaPolicy,
    moment: Any, reason: str,
) -> int:
    changed: list[Ticket] = []
    events: list[AuditEvent] = []
    for ticket in batch:
        before = {name: getattr(ticket, name) for name in _AUDITED_DEADLINES}
        # The status "changes" to itself: the pause follows the policy's pausing statuses
        # now, and the deadlines are derived again from the policy's targets now.
        deadlines.status_changed(ticket, ticket.status, moment)
        after = {name: getattr(ticket, name) for name in _AUDITED_DEADLINES}
        if after == before:
            continue
        ticket.updated_at = moment
        changed.append(ticket)
        events.append(AuditEvent(
            actor=actor, partner=partner, action="ticket.deadlines_recomputed",
            target_type=Ticket._meta.model_name or "", target_id=str(ticket.pk),
            created_at=moment, before=_isoformat(before),
            after={**_isoformat(after), "policy": policy.name, "reason": reason},
        ))
    if not changed:
        return 0
    _save_deadlines(changed)
    AuditEvent.objects.bulk_create(events)
    escalation.reschedule_many(changed, moment=moment)
    return len(changed)


def _save_deadlines(tickets: Sequence[Ticket]) -> None:
    """One parameterised UPDATE per ticket, sent with executemany.

    Not `bulk_update`: its CASE WHEN over eleven fields costs seconds per 500 rows to build
    (about 20 ms a ticket, measured); this is a plain statement the driver repeats."""
    fields = [Ticket._meta.get_field(name) for name in
              [*deadlines.DEADLINE_FIELDS, "updated_at"]]
    quote = connection.ops.quote_name
    # Built from the model's own table and column names only; every value is a parameter.
    sql = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608
        quote(Ticket._meta.db_table),
        ", ".join(f"{quote(field.column)} = %s" for field in fields),
        quote(Ticket._meta.pk.column),
    )
    rows = [
        [*(field.get_db_prep_value(getattr(ticket, field.attname), connection)
           for field in fields), ticket.pk]
        for ticket in tickets
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _isoformat(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if value is not None else None
            for key, value in values.items()}


# --- Deleting a policy ---------------------------------------------------------------------


def policy_usage(policy: SlaPolicy) -> list[str]:
    """Where the policy is in use, one sentence each; empty when it can go."""
    lines: list[str] = []
    if policy.is_default:
        lines.append(_("It is the partner's default policy: make another policy the default "
                       "first."))
    organisations = list(policy.organisations.order_by("name").values_list("name", flat=True))
    if organisations:
        shown = ", ".join(organisations[:10])
        if len(organisations) > 10:
            lines.append(ngettext(
                "The contracts of %(count)d organisation name it, among them: %(names)s.",
                "The contracts of %(count)d organisations name it, among them: %(names)s.",
                len(organisations),
            ) % {"count": len(organisations), "names": shown})
        else:
            lines.append(ngettext(
                "The contract of %(count)d organisation names it: %(names)s.",
                "The contracts of %(count)d organisations name it: %(names)s.",
                len(organisations),
            ) % {"count": len(organisations), "names": shown})
    tickets = Ticket.objects.filter(sla_policy=policy)
    total = tickets.count()
    if total:
        lines.append(ngettext(
            "%(count)d ticket counts its deadlines by it (%(open)d open).",
            "%(count)d tickets count their deadlines by it (%(open)d open).",
            total,
        ) % {"count": total, "open": tickets.filter(status__in=ACTIVE_STATUSES).count()})
    return lines


@transaction.atomic
def delete_policy(*, actor: User, partner: Partner, policy: SlaPolicy) -> None:
    """Delete a policy nobody uses, with its targets and escalation steps; audited.

    One in use (the default, named by a contract, or the terms of any ticket, closed ones
    included: their in-time facts were decided by it) is refused, naming where."""
    ensure_can_configure(actor)
    if policy.partner_id != partner.pk:
        raise PermissionDenied(_("This setting belongs to another partner."))
    locked = SlaPolicy.objects.select_for_update().get(pk=policy.pk)
    usage = policy_usage(locked)
    if usage:
        raise ValidationError({"policy": [
            _("The policy “%(name)s” is in use and cannot be deleted.")
            % {"name": locked.name}, *usage,
        ]})
    before = {
        **_snapshot(locked),
        "targets": {t.priority: [t.reaction_minutes, t.resolution_minutes]
                    for t in locked.targets.all()},
        "escalation_steps": [str(step) for step in locked.escalation_steps.all()],
    }
    audit.record(actor=actor, partner=partner, action="sla.policy_deleted", target=locked,
                 before=before, after={})
    locked.delete()


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
