"""Win-back of customers at risk or lost, with the five rules of the seed built in.

1. The sooner the better: a case shows how long it has been open, and reminders go to its
   assignee every `winback_reminder_days` while it is open.
2. The first attempt rarely works: a case is closed as lost only after two attempts.
3. Not by the employee who lost the customer: whoever handled the organisation's bad
   tickets (assignee or author of a reply) cannot be assigned; the refusal names them and
   the tickets.
4. A returned customer is more sensitive: "returned" marks the organisation sensitive; its
   tickets carry a flag and, per setting, get a higher priority.
5. Lost twice is lost for good: no new case is opened for such an organisation.
"""

from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from firstline.contacts.models import Organisation
from firstline.core import audit, config_cache
from firstline.core.clock import now
from firstline.core.models import User
from firstline.outbox import services as outbox
from firstline.outbox.models import Channel
from firstline.surveys import risk
from firstline.surveys.models import CustomerStanding, WinBackCase
from firstline.surveys.services import settings_for
from firstline.tenancy import assignable_users, organisations_for
from firstline.tickets.models import Priority

MIN_ATTEMPTS_BEFORE_LOST = 2


def may_manage(user: User) -> bool:
    return user.role in (User.Role.SUPERVISOR, User.Role.ADMIN, User.Role.MANAGER)


def standing_of(organisation: Organisation) -> CustomerStanding | None:
    return CustomerStanding.objects.filter(organisation=organisation).first()


def _check_assignee(organisation: Organisation, assignee: User, actor: User) -> None:
    if not assignable_users(actor, organisation.partner).filter(pk=assignee.pk).exists():
        raise ValidationError({"assignee": _("This person cannot be assigned to this case.")})
    handled = risk.handlers_of(risk.bad_ticket_ids(organisation))
    if assignee.pk in handled:
        raise ValidationError({"assignee": _(
            "%(name)s handled this customer's problem tickets (%(tickets)s): a customer is "
            "won back by someone else.") % {"name": assignee.display_name,
                                            "tickets": ", ".join(handled[assignee.pk])}})


@transaction.atomic
def open_case(*, organisation: Organisation, actor: User, assignee: User, reason: str,
              note: str = "") -> WinBackCase:
    if not may_manage(actor) or not organisations_for(actor).filter(pk=organisation.pk).exists():
        raise PermissionDenied(_("You cannot open win-back cases for this customer."))
    if reason not in WinBackCase.Reason.values:
        raise ValidationError({"reason": _("Choose why the customer is to be won back.")})
    standing = standing_of(organisation)
    if standing is not None and standing.lost_for_good:
        raise ValidationError({"organisation": _(
            "This customer was lost twice: lost for good, no new win-back case.")})
    _check_assignee(organisation, assignee, actor)
    moment = now()
    rules = settings_for(organisation.partner_id)
    try:
        with transaction.atomic():
            case = WinBackCase.objects.create(
                partner_id=organisation.partner_id, organisation=organisation, reason=reason,
                assignee=assignee, created_by=actor, created_at=moment, note=note.strip(),
                risk_score=risk.risk_of(organisation, at=moment).score,
                next_reminder_at=moment + timedelta(days=rules.winback_reminder_days),
            )
    except IntegrityError:
        raise ValidationError({"organisation": _(
            "This customer already has an open win-back case.")}) from None
    audit.record(actor=actor, partner=organisation.partner, action="winback.opened",
                 target=case, after={"organisation": organisation.name, "reason": reason,
                                     "assignee": assignee.display_name})
    return case


def _locked_open(case: WinBackCase, actor: User) -> WinBackCase:
    if not may_manage(actor) and case.assignee_id != actor.pk:
        raise PermissionDenied(_("You cannot change this case."))
    if not organisations_for(actor).filter(pk=case.organisation_id).exists() \
            and case.assignee_id != actor.pk:
        raise PermissionDenied(_("You cannot change this case."))
    case = WinBackCase.objects.select_for_update(of=("self",)).select_related(
        "organisation", "partner").get(pk=case.pk)
    if case.status != WinBackCase.Status.OPEN:
        raise ValidationError({"status": _("This case is closed.")})
    return case


@transaction.atomic
def log_attempt(*, case: WinBackCase, actor: User, note: str) -> WinBackCase:
    text = (note or "").strip()
    if not text:
        raise ValidationError({"note": _("Write what was tried and what the customer said.")})
    case = _locked_open(case, actor)
    moment = now()
    case.attempts += 1
    case.note = (case.note + "\n" if case.note else "") + \
        f"{moment:%d.%m.%Y %H:%M} {actor.display_name}: {text}"
    case.save(update_fields=["attempts", "note"])
    audit.record(actor=actor, partner=case.partner, action="winback.attempt", target=case,
                 after={"attempt": case.attempts, "note": text})
    return case


@transaction.atomic
def close_case(*, case: WinBackCase, actor: User, outcome: str) -> WinBackCase:
    """Returned: the organisation becomes sensitive. Lost: a second loss is for good."""
    case = _locked_open(case, actor)
    if outcome not in (WinBackCase.Status.RETURNED, WinBackCase.Status.LOST):
        raise ValidationError({"outcome": _("Choose returned or lost.")})
    if outcome == WinBackCase.Status.LOST and case.attempts < MIN_ATTEMPTS_BEFORE_LOST:
        raise ValidationError({"outcome": _(
            "A customer is rarely won back at the first attempt: log at least %(n)d attempts "
            "before closing the case as lost.") % {"n": MIN_ATTEMPTS_BEFORE_LOST}})
    moment = now()
    standing, _created = CustomerStanding.objects.select_for_update().get_or_create(
        organisation=case.organisation, defaults={"partner_id": case.partner_id})
    if outcome == WinBackCase.Status.RETURNED:
        standing.is_sensitive, standing.sensitive_since = True, standing.sensitive_since or moment
    else:
        standing.times_lost += 1
        standing.lost_for_good = standing.times_lost >= 2
    standing.save()
    case.status, case.closed_at, case.next_reminder_at = outcome, moment, None
    case.save(update_fields=["status", "closed_at", "next_reminder_at"])
    audit.record(actor=actor, partner=case.partner, action="winback.closed", target=case,
                 after={"outcome": outcome, "sensitive": standing.is_sensitive,
                        "times_lost": standing.times_lost,
                        "lost_for_good": standing.lost_for_good})
    return case


def send_reminders(*, limit: int = 200) -> int:
    """Remind the assignees of open cases that are due; one letter per case and step."""
    moment = now()
    sent = 0
    due = WinBackCase.objects.filter(
        status=WinBackCase.Status.OPEN, next_reminder_at__lte=moment).values_list(
        "pk", flat=True)[:limit]
    for pk in list(due):
        with transaction.atomic():
            case = WinBackCase.objects.select_for_update(of=("self",)).select_related(
                "assignee", "organisation", "partner").get(pk=pk)
            if case.status != WinBackCase.Status.OPEN or case.next_reminder_at is None or \
                    case.next_reminder_at > moment:
                continue
            days = (moment - case.created_at).days
            if case.assignee.email:
                outbox.enqueue(
                    partner=case.partner, channel=Channel.EMAIL, recipient=case.assignee.email,
                    subject=_("Win-back: %(org)s, open %(days)d days") % {
                        "org": case.organisation.name, "days": days},
                    body=_("The win-back case of %(org)s (%(partner)s) is open for %(days)d "
                           "days with %(attempts)d attempts. The sooner, the likelier the "
                           "customer returns.") % {
                        "org": case.organisation.name, "partner": case.partner.name,
                        "days": days, "attempts": case.attempts},
                    dedupe_key=f"winback:{case.pk}:{case.reminders_sent + 1}",
                )
            rules = settings_for(case.partner_id)
            case.reminders_sent += 1
            case.next_reminder_at = moment + timedelta(days=rules.winback_reminder_days)
            case.save(update_fields=["reminders_sent", "next_reminder_at"])
            sent += 1
    return sent


def is_sensitive(organisation_id: int | None) -> bool:
    if organisation_id is None:
        return False
    return CustomerStanding.objects.filter(organisation_id=organisation_id,
                                           is_sensitive=True).exists()


_HIGHER = {Priority.LOW: Priority.NORMAL, Priority.NORMAL: Priority.HIGH,
           Priority.HIGH: Priority.CRITICAL, Priority.CRITICAL: Priority.CRITICAL}


# Asked for every new ticket of a known customer (every letter of the mail channel); a
# standing changes when a win-back case closes: the partner's sensitive organisations are
# kept a few seconds per process (firstline.core.config_cache), dropped at once when this
# process saves a standing.
config_cache.watch(CustomerStanding)


def sensitive_organisations(partner_id: int) -> frozenset[int]:
    """The ids of the partner's returned (sensitive) organisations, cached briefly."""
    return config_cache.get(
        ("surveys.sensitive_organisations", partner_id),
        lambda: frozenset(CustomerStanding.objects.filter(
            partner_id=partner_id, is_sensitive=True).values_list("organisation_id", flat=True)),
    )


def priority_for_new_ticket(partner_id: int, organisation_id: int | None, priority: str) -> str:
    """One step higher for a returned (sensitive) customer, if the partner wants it.

    A priority rule of new tickets (firstline.tickets.hooks), registered by SurveysConfig."""
    if organisation_id is None or organisation_id not in sensitive_organisations(partner_id):
        return priority
    if not settings_for(partner_id).raise_priority_when_sensitive:
        return priority
    return _HIGHER.get(Priority(priority), priority)
