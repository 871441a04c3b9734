"""Billing rules: plans, subscriptions, the usage meter and its notices, invoices.

Rules, stated once:
- A month is billed with the subscription in effect in it (a plan change takes effect on the
  first day of the next month) and the plan version in effect on the month's first day (a
  new version never rewrites a past month).
- A request is a ticket created in the month (the partner's time zone) on any channel except
  the version's `excluded_channels` (monitoring alerts by default); not counted unless the
  version says so: tickets whose contact is a desk account (staff opening one for
  themselves) and tickets linked to a mass incident that is not the incident's first ticket
  (the lowest number among its linked tickets). Never counted, under any version: spam
  and duplicates merged into another ticket (firstline.tickets.merge).
- Talk minutes are `firstline.calls.queries.talk_minutes_for`: answered calls, rounded as
  the partner's tariff says (each call up to a started minute by default).
- The first month (the month of the partner's first subscription) is billed at the plan's
  first-month price, whole or pro rata by calendar days from the start date (the
  subscription's `first_month`); the included amounts are not reduced.
- Money: `Decimal`; each line is quantity x unit price rounded once to kopecks,
  ROUND_HALF_UP; VAT is the subtotal x the rate in effect on the month's last day (the day
  the service is rendered), rounded once the same way; total = subtotal + VAT.
- Invoices are numbered per year of issue without gaps: "2026-00001" (credit notes
  "CN-2026-00001"), the year's counter row is locked while a number is taken, and the
  invoice is created in the same transaction, so a failure leaves no number used.
"""

import io
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import batched, groupby
from operator import itemgetter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from firstline.billing.models import (
    Counter,
    FirstMonth,
    Invoice,
    InvoiceLine,
    Kind,
    Plan,
    PlanVersion,
    Seller,
    Subscription,
    VatRate,
)
from firstline.calls.models import Call, Outcome
from firstline.calls.queries import month_bounds, talk_minutes_for
from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import AuditEvent, Partner, Tariff, User
from firstline.incidents.models import IncidentTicket
from firstline.outbox import services as outbox
from firstline.outbox.models import Channel as OutboxChannel
from firstline.outbox.models import OutboxMessage
from firstline.tickets.models import Channel, Ticket, format_number

logger = logging.getLogger(__name__)
KOPECK = Decimal("0.01")
THRESHOLDS = (80, 100)
STYLESHEET = Path(__file__).resolve().parent / "data" / "invoice.css"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Desk accounts: a ticket whose contact signs in as one of these was opened by staff for
# themselves.
DESK_ROLES = sorted(User.STAFF_ROLES | User.PARTNER_ROLES)
ACCOUNT_ROLES = (User.Role.ENGINEER, User.Role.MANAGER)
MONEY_FIELDS = ("monthly_fee", "first_month_fee", "overage_request_fee", "overage_minute_fee",
                "extra_account_fee")
COUNT_FIELDS = ("requests_included", "minutes_included", "accounts_included")


def money(value: Decimal) -> Decimal:
    """Round to kopecks once, half up (0.005 -> 0.01)."""
    return value.quantize(KOPECK, rounding=ROUND_HALF_UP)


def first_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (first_of(month) + timedelta(days=32)).replace(day=1)


def last_day(month: date) -> date:
    return next_month(month) - timedelta(days=1)


def local_today(partner: Partner, moment: datetime | None = None) -> date:
    return (moment or now()).astimezone(ZoneInfo(partner.time_zone)).date()


# --- Plans --------------------------------------------------------------------------------


def _clean_version(values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name in MONEY_FIELDS:
        raw = values.get(name)
        try:
            amount = Decimal(str(raw))
        except ArithmeticError:
            errors[name] = _("Give an amount in roubles, e.g. 4900.00.")
            continue
        if not amount.is_finite() or amount < 0:
            errors[name] = _("The amount must not be negative.")
        elif amount != money(amount) or amount >= Decimal("1e12"):
            errors[name] = _("At most two decimal places and less than 10^12.")
        else:
            clean[name] = amount
    for name in COUNT_FIELDS:
        raw = values.get(name)
        try:
            number = int(str(raw).strip()) if not isinstance(raw, bool) else None
        except ValueError:
            number = None
        if number is None:
            errors[name] = _("Give a whole number.")
        elif number < 0:
            errors[name] = _("The amount must not be negative.")
        elif number > 10**9:
            errors[name] = _("At most 1,000,000,000.")
        else:
            clean[name] = number
    channels = values.get("excluded_channels", ["monitoring"])
    if not isinstance(channels, list) or any(c not in Channel.values for c in channels):
        errors["excluded_channels"] = _("Unknown channel.")
    else:
        clean["excluded_channels"] = sorted(set(channels))
    clean["count_staff_own"] = bool(values.get("count_staff_own", False))
    clean["count_incident_followers"] = bool(values.get("count_incident_followers", False))
    if errors:
        raise ValidationError(errors)
    return clean


@transaction.atomic
def create_plan(*, code: str, name: str, effective_from: date, actor: User | None,
                **values: Any) -> PlanVersion:
    """A new plan with its first version."""
    code, name = (code or "").strip(), (name or "").strip()
    errors = {}
    if not code or not code.replace("-", "").replace("_", "").isalnum() or len(code) > 40:
        errors["code"] = _("Letters, digits, hyphens; at most 40.")
    elif Plan.objects.filter(code=code).exists():
        errors["code"] = _("A plan with this code exists.")
    if not name or len(name) > 100:
        errors["name"] = _("A name of at most 100 characters is required.")
    clean = _clean_version(values)
    if errors:
        raise ValidationError(errors)
    plan = Plan.objects.create(code=code, name=name)
    version = PlanVersion.objects.create(plan=plan, effective_from=effective_from,
                                         created_by=actor, **clean)
    audit.record(actor=actor, partner=None, action="billing.plan_create", target=plan,
                 after={"code": code, "name": name, "effective_from": effective_from,
                        **clean})
    return version


@transaction.atomic
def add_plan_version(*, plan: Plan, effective_from: date | None, actor: User | None,
                     **values: Any) -> PlanVersion:
    """New figures for a plan from a date. The date may not be in a month that has begun
    (which may be billed already): a change never rewrites a past month."""
    if not isinstance(effective_from, date):
        raise ValidationError({"effective_from": _("Give the date the figures take effect.")})
    clean = _clean_version(values)
    if effective_from.day != 1 or effective_from < next_month(now().date()):
        raise ValidationError({"effective_from": _(
            "New figures take effect on the first day of a month to come; a month that has "
            "begun is never rewritten.")})
    if PlanVersion.objects.filter(plan=plan, effective_from=effective_from).exists():
        raise ValidationError({"effective_from": _("The plan has a version from this date.")})
    version = PlanVersion.objects.create(plan=plan, effective_from=effective_from,
                                         created_by=actor, **clean)
    audit.record(actor=actor, partner=None, action="billing.plan_version", target=version,
                 after={"plan": plan.code, "effective_from": effective_from, **clean})
    return version


def _version_in(versions: list[PlanVersion], month: date) -> PlanVersion | None:
    """Of one plan's versions, the one that bills `month`: in effect on its first day, else
    (a plan created during the month) the first to take effect within it."""
    begun = [v for v in versions if v.effective_from <= first_of(month)]
    if begun:
        return max(begun, key=lambda v: v.effective_from)
    within = [v for v in versions if v.effective_from <= last_day(month)]
    return min(within, key=lambda v: v.effective_from) if within else None


def _no_version(plan: Plan, month: date) -> ValidationError:
    return ValidationError({"plan": _("The plan %(plan)s has no figures in effect in "
                                      "%(month)s.") % {"plan": plan, "month": f"{month:%m.%Y}"}})


def version_for(plan: Plan, month: date) -> PlanVersion:
    version = _version_in(list(PlanVersion.objects.filter(plan=plan)), month)
    if version is None:
        raise _no_version(plan, month)
    return version


def vat_percent_for(day: date) -> Decimal:
    rate = VatRate.objects.filter(effective_from__lte=day).order_by("-effective_from").first()
    if rate is None:
        raise ValidationError({"vat_rate": _("No VAT rate is set for %(day)s.") % {
            "day": f"{day:%d.%m.%Y}"}})
    return rate.percent


# --- The seller's requisites -------------------------------------------------------------

SELLER_FIELDS = ("name", "inn", "kpp", "address", "bank", "bic", "account",
                 "correspondent_account")
# name: (required, allowed lengths when digits only, or the longest text)
_SELLER_RULES: dict[str, tuple[bool, tuple[int, ...] | int]] = {
    "name": (True, 300), "inn": (True, (10, 12)), "kpp": (False, (9,)),
    "address": (True, 500), "bank": (True, 300), "bic": (True, (9,)),
    "account": (True, (20,)), "correspondent_account": (False, (20,)),
}


def seller_requisites() -> dict[str, str]:
    """The requisites in force, as an invoice keeps them; empty until the admin sets them."""
    row = Seller.objects.first()
    return {name: getattr(row, name) for name in SELLER_FIELDS} if row else {}


@transaction.atomic
def set_seller(*, actor: User | None, **values: Any) -> Seller:
    """New requisites of the provider, in force for invoices issued from now on (issued
    ones keep theirs). INN 10 or 12 digits, KPP 9, BIC 9, accounts 20."""
    clean: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, (required, rule) in _SELLER_RULES.items():
        text = " ".join(str(values.get(name) or "").split())
        if not text:
            if required:
                errors[name] = _("Required.")
        elif isinstance(rule, tuple):
            if not text.isdigit() or len(text) not in rule:
                errors[name] = _("%(count)s digits.") % {
                    "count": _(" or ").join(str(n) for n in rule)}
        elif len(text) > rule or "\x00" in text:
            errors[name] = _("At most %(count)d characters.") % {"count": rule}
        clean[name] = text
    if errors:
        raise ValidationError(errors)
    before = seller_requisites()
    row = Seller.objects.create(created_by=actor, **clean)
    audit.record(actor=actor, partner=None, action="billing.seller", target=row,
                 before=before, after=clean)
    return row


# --- Subscriptions ------------------------------------------------------------------------


def subscription_for(partner: Partner, month: date) -> Subscription | None:
    return (Subscription.objects.filter(partner=partner, starts_on__lt=next_month(month))
            .select_related("plan").order_by("-starts_on").first())


def first_subscription(partner: Partner) -> Subscription | None:
    return Subscription.objects.filter(partner=partner).order_by("starts_on").first()


def _clean_extra(extra_accounts: Any) -> int:
    if isinstance(extra_accounts, bool) or not isinstance(extra_accounts, int) \
            or not 0 <= extra_accounts <= 10_000:
        raise ValidationError({"extra_accounts": _("A whole number from 0 to 10,000.")})
    return extra_accounts


@transaction.atomic
def subscribe(*, partner: Partner, plan: Plan, starts_on: date, actor: User | None,
              extra_accounts: int = 0, first_month: str = FirstMonth.WHOLE) -> Subscription:
    """Start billing a partner on a plan from a date (its first month)."""
    extra_accounts = _clean_extra(extra_accounts)
    if first_month not in FirstMonth.values:
        raise ValidationError({"first_month": _("Choose whole or pro rata.")})
    if not isinstance(starts_on, date):
        raise ValidationError({"starts_on": _("Give the start date.")})
    Partner.objects.select_for_update().filter(pk=partner.pk).first()
    if Subscription.objects.filter(partner=partner).exists():
        raise ValidationError({"partner": _("The partner is subscribed already; change its "
                                            "plan instead.")})
    version_for(plan, starts_on)
    row = Subscription.objects.create(partner=partner, plan=plan, starts_on=starts_on,
                                      extra_accounts=extra_accounts, first_month=first_month,
                                      created_by=actor)
    audit.record(actor=actor, partner=partner, action="billing.subscribe", target=row,
                 after={"plan": plan.code, "starts_on": starts_on,
                        "extra_accounts": extra_accounts, "first_month": first_month})
    return row


@transaction.atomic
def change_plan(*, partner: Partner, plan: Plan, actor: User | None,
                extra_accounts: int | None = None) -> Subscription:
    """Change the plan (and extra accounts) from the first day of the next month."""
    Partner.objects.select_for_update().filter(pk=partner.pk).first()
    current = subscription_for(partner, next_month(local_today(partner)))
    if current is None:
        raise ValidationError({"partner": _("The partner has no subscription yet.")})
    extra = current.extra_accounts if extra_accounts is None else _clean_extra(extra_accounts)
    starts_on = next_month(local_today(partner))
    version_for(plan, starts_on)
    before = {"plan": current.plan.code, "extra_accounts": current.extra_accounts}
    if current.starts_on == starts_on:
        # A change already scheduled for next month and not yet in effect: replace it.
        Subscription.objects.filter(pk=current.pk).update(plan=plan, extra_accounts=extra)
        current.refresh_from_db()
        row = current
    else:
        row = Subscription.objects.create(partner=partner, plan=plan, starts_on=starts_on,
                                          extra_accounts=extra,
                                          first_month=current.first_month, created_by=actor)
    audit.record(actor=actor, partner=partner, action="billing.change_plan", target=row,
                 before=before, after={"plan": plan.code, "starts_on": starts_on,
                                       "extra_accounts": extra})
    return row


# --- Usage ---------------------------------------------------------------------------------


def _counted_tickets_of(partner_ids: list[int], start: datetime, end: datetime,
                        version: PlanVersion) -> QuerySet[Ticket]:
    """The partners' tickets created in [start, end) that count as requests under the
    version: the one statement of the rule, for one partner or a batch."""
    rows = Ticket.objects.filter(partner_id__in=partner_ids, created_at__gte=start,
                                 created_at__lt=end)
    # Spam and merged duplicates are never requests, whatever the version (tickets.merge).
    rows = rows.filter(is_spam=False, merged_into__isnull=True)
    if version.excluded_channels:
        rows = rows.exclude(channel__in=version.excluded_channels)
    if not version.count_staff_own:
        rows = rows.exclude(contact__user__role__in=DESK_ROLES)
    if not version.count_incident_followers:
        earlier = IncidentTicket.objects.filter(incident_id=OuterRef("incident_id"),
                                                ticket_id__lt=OuterRef("ticket_id"))
        followers = (IncidentTicket.objects.filter(partner_id__in=partner_ids)
                     .filter(Exists(earlier)).values("ticket_id"))
        rows = rows.exclude(pk__in=followers)
    return rows


def counted_tickets(partner: Partner, month: date, version: PlanVersion) -> QuerySet[Ticket]:
    """The partner's tickets of the month that count as requests under the version."""
    start, end = month_bounds(month, partner.time_zone)
    return _counted_tickets_of([partner.pk], start, end, version)


def _billable_calls_of(partner_ids: list[int], start: datetime, end: datetime
                       ) -> QuerySet[Call]:
    return Call.objects.filter(partner_id__in=partner_ids, outcome=Outcome.ANSWERED,
                               talk_seconds__gt=0, started_at__gte=start, started_at__lt=end)


def billable_calls(partner: Partner, month: date) -> QuerySet[Call]:
    start, end = month_bounds(month, partner.time_zone)
    return _billable_calls_of([partner.pk], start, end)


def accounts_used(partner: Partner) -> int:
    return User.objects.filter(partner=partner, role__in=ACCOUNT_ROLES, is_active=True).count()


@dataclass
class Usage:
    month: date
    plan: str
    requests: int
    requests_included: int
    minutes: int
    minutes_included: int
    accounts: int
    accounts_included: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    def as_rows(self) -> list[dict[str, Any]]:
        out = []
        for key, label, used, included in (
            ("requests", _("requests"), self.requests, self.requests_included),
            ("minutes", _("talk minutes"), self.minutes, self.minutes_included),
            ("accounts", _("ServiceDesk accounts"), self.accounts, self.accounts_included),
        ):
            share = round(100 * used / included) if included else (100 if used else 0)
            out.append({"key": key, "label": label, "used": used, "included": included,
                        "percent": share, "bar": min(share, 100) // 10 * 10,
                        "level": "over" if share >= 100 else "near" if share >= 80 else "ok"})
        return out


def usage(partner: Partner, month: date | None = None) -> Usage | None:
    """This month's (or a month's) usage against the plan; None without a subscription."""
    month = first_of(month or local_today(partner))
    sub = subscription_for(partner, month)
    if sub is None:
        return None
    version = version_for(sub.plan, month)
    return Usage(
        month=month, plan=sub.plan.name,
        requests=counted_tickets(partner, month, version).count(),
        requests_included=version.requests_included,
        minutes=talk_minutes_for([partner], month)[partner.pk],
        minutes_included=version.minutes_included,
        accounts=accounts_used(partner),
        accounts_included=version.accounts_included + sub.extra_accounts,
    )


def managers_of(partner: Partner) -> QuerySet[User]:
    return User.objects.filter(partner=partner, role=User.Role.MANAGER,
                               is_active=True).exclude(email="")


def notify_usage(partner: Partner, moment: datetime | None = None) -> int:
    """Tell the partner's managers when requests or talk minutes reach 80% and 100% of the
    plan: once per month, threshold and manager (the outbox's dedupe key)."""
    month = first_of(local_today(partner, moment))
    found = usage(partner, month)
    if found is None:
        return 0
    sent = 0
    for row in found.as_rows():
        if row["key"] == "accounts" or not row["included"]:
            continue
        reached = [t for t in THRESHOLDS if row["used"] * 100 >= row["included"] * t]
        if not reached:
            continue
        threshold = reached[-1]
        with translation.override(partner.language):
            label = {"requests": _("requests"), "minutes": _("talk minutes")}[row["key"]]
            subject = _("%(partner)s: %(percent)d%% of the plan's %(what)s used") % {
                "partner": partner.name, "percent": threshold, "what": label}
            body = _("In %(month)s %(used)d of %(included)d %(what)s included in the plan "
                     "%(plan)s are used. Beyond the plan each is billed at the overage "
                     "price.") % {"month": f"{month:%m.%Y}", "used": row["used"],
                                  "included": row["included"], "what": label,
                                  "plan": found.plan}
        for manager in managers_of(partner):
            key = f"billing-usage:{partner.pk}:{month:%Y-%m}:{row['key']}:{threshold}:{manager.pk}"
            if OutboxMessage.objects.filter(dedupe_key=key).exists():
                continue
            with transaction.atomic():
                outbox.enqueue(partner=partner, channel=OutboxChannel.EMAIL,
                               recipient=manager.email, subject=subject, body=body,
                               dedupe_key=key)
            sent += 1
    return sent


# --- Invoices ------------------------------------------------------------------------------


def _line(code: str, description: str, quantity: Decimal | int, unit: str,
          unit_price: Decimal, amount: Decimal | None = None) -> dict[str, Any]:
    quantity = Decimal(quantity)
    return {"code": code, "description": description, "quantity": quantity, "unit": unit,
            "unit_price": unit_price,
            "amount": money(quantity * unit_price if amount is None else amount)}


def _minutes_of(seconds: int, rounding: str) -> int | None:
    if rounding == Tariff.MinuteRounding.PER_SECOND:
        return None
    return math.ceil(seconds / 60)


def _minute(moment: datetime, tz: ZoneInfo) -> str:
    """'2025-11-20 13:00' in the partner's time zone (isoformat: faster than strftime)."""
    return moment.astimezone(tz).isoformat(" ", "minutes")[:16]


class _Minutes:
    """`_minute` for one time zone, remembered per UTC minute: a month's usage detail has
    ~1M rows over ~45,000 minutes. Exact because every zone's UTC offset has been a whole
    number of minutes since 1972, so a UTC minute is one local minute."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.known: dict[int, str] = {}

    def __call__(self, moment: datetime) -> str:
        key = int(moment.timestamp()) // 60
        text = self.known.get(key)
        if text is None:
            text = self.known[key] = _minute(moment, self.tz)
        return text


def _ticket_detail(rows: Iterable[tuple[int, datetime, str]], minute: _Minutes
                   ) -> list[dict[str, Any]]:
    """(pk, created_at, channel) ordered by time -> the usage detail's requests, the channel
    named in the active language."""
    labels = {value: str(label) for value, label in Channel.choices}  # translated once
    return [{"number": format_number(pk), "date": minute(created),
             "channel": labels.get(channel, channel)} for pk, created, channel in rows]


def _call_detail(rows: Iterable[tuple[datetime, str, str, int]], minute: _Minutes,
                 rounding: str) -> list[dict[str, Any]]:
    """(started_at, caller, dialled, talk_seconds) ordered by time -> the usage detail's
    calls."""
    return [{"date": minute(started), "number": caller or dialled, "seconds": seconds,
             "minutes": _minutes_of(seconds, rounding)}
            for started, caller, dialled, seconds in rows]


TICKET_DETAIL = ("pk", "created_at", "channel")
CALL_DETAIL = ("started_at", "caller", "dialled", "talk_seconds")


def draft(partner: Partner, month: date, *, minutes: int | None = None) -> dict[str, Any]:
    """What the month's invoice says, computed from the records; writes nothing."""
    month = first_of(month)
    sub = subscription_for(partner, month)
    if sub is None:
        raise ValidationError({"partner": _("The partner had no subscription in %(month)s.")
                               % {"month": f"{month:%m.%Y}"}})
    version = version_for(sub.plan, month)
    vat_percent = vat_percent_for(last_day(month))
    minute = _Minutes(ZoneInfo(partner.time_zone))
    tickets = _ticket_detail(counted_tickets(partner, month, version)
                             .order_by("created_at", "pk").values_list(*TICKET_DETAIL), minute)
    calls = _call_detail(billable_calls(partner, month).order_by("started_at", "pk")
                         .values_list(*CALL_DETAIL), minute, partner.tariff.minute_rounding)
    if minutes is None:
        minutes = talk_minutes_for([partner], month)[partner.pk]
    return _compose(partner=partner, month=month, sub=sub, first=first_subscription(partner),
                    version=version, vat_percent=vat_percent, tickets=tickets, calls=calls,
                    minutes=minutes)


def _compose(*, partner: Partner, month: date, sub: Subscription, first: Subscription | None,
             version: PlanVersion, vat_percent: Decimal, tickets: list[dict[str, Any]],
             calls: list[dict[str, Any]], minutes: int) -> dict[str, Any]:
    """The invoice's lines and totals from what was read: the one place the money is
    computed, for one partner (`draft`) and for a batch (`drafts_for`)."""
    lines = []
    if first is not None and first_of(first.starts_on) == month:
        fee = version.first_month_fee
        if first.first_month == FirstMonth.PRO_RATA and first.starts_on.day > 1:
            days = (last_day(month) - first.starts_on).days + 1
            total_days = last_day(month).day
            lines.append(_line("fee", _("%(plan)s, first month at the special price, "
                                        "%(days)d of %(total)d days") % {
                "plan": sub.plan.name, "days": days, "total": total_days},
                Decimal(days) / Decimal(total_days), _("month"), fee,
                amount=fee * days / total_days))
        else:
            lines.append(_line("fee", _("%(plan)s, first month at the special price") % {
                "plan": sub.plan.name}, 1, _("month"), fee))
    else:
        lines.append(_line("fee", _("%(plan)s, monthly fee") % {"plan": sub.plan.name}, 1,
                           _("month"), version.monthly_fee))
    over_requests = max(len(tickets) - version.requests_included, 0)
    if over_requests:
        lines.append(_line("requests", _("Requests over the plan (%(used)d of %(included)d)")
                           % {"used": len(tickets), "included": version.requests_included},
                           over_requests, _("pcs"), version.overage_request_fee))
    over_minutes = max(minutes - version.minutes_included, 0)
    if over_minutes:
        lines.append(_line("minutes", _("Talk minutes over the plan (%(used)d of "
                                        "%(included)d)") % {
            "used": minutes, "included": version.minutes_included},
            over_minutes, _("min"), version.overage_minute_fee))
    if sub.extra_accounts:
        lines.append(_line("accounts", _("Extra ServiceDesk accounts"), sub.extra_accounts,
                           _("pcs"), version.extra_account_fee))
    subtotal = sum((line["amount"] for line in lines), Decimal("0.00"))
    vat = money(subtotal * vat_percent / 100)
    return {
        "partner": partner, "month": month, "plan": sub.plan.name, "version": version,
        "lines": lines, "subtotal": subtotal, "vat_percent": vat_percent, "vat": vat,
        "total": subtotal + vat,
        "usage": {"requests": len(tickets), "requests_included": version.requests_included,
                  "minutes": minutes, "minutes_included": version.minutes_included,
                  "minute_rounding": partner.tariff.minute_rounding, "tickets": tickets,
                  "calls": calls},
    }


def _rule_key(version: PlanVersion) -> tuple[Any, ...]:
    """Versions with the same key count the same tickets as requests."""
    return (tuple(sorted(version.excluded_channels or [])), version.count_staff_own,
            version.count_incident_followers)


def drafts_for(partners: Sequence[Partner], month: date) -> dict[int, dict[str, Any]]:
    """`draft` for many partners at once, the same result for each: the subscriptions,
    versions and VAT read once; per time zone (and request rule) one ordered query for the
    counted tickets and one for the billable calls of all its partners, grouped in Python.
    Partners without a subscription in the month (or figures for its plan) are left out."""
    month = first_of(month)
    by_pk = {partner.pk: partner for partner in partners}
    current: dict[int, Subscription] = {}
    first: dict[int, Subscription] = {}
    for sub in (Subscription.objects.filter(partner_id__in=list(by_pk)).select_related("plan")
                .order_by("partner_id", "starts_on")):
        first.setdefault(sub.partner_id, sub)
        if sub.starts_on < next_month(month):
            current[sub.partner_id] = sub
    plan_versions: dict[int, list[PlanVersion]] = defaultdict(list)
    for version in PlanVersion.objects.filter(plan_id__in={s.plan_id for s in current.values()}):
        plan_versions[version.plan_id].append(version)
    versions: dict[int, PlanVersion] = {}
    for pk, sub in current.items():
        found = _version_in(plan_versions[sub.plan_id], month)
        if found is not None:
            versions[pk] = found
    if not versions:
        return {}
    vat_percent = vat_percent_for(last_day(month))
    billed = [by_pk[pk] for pk in versions]
    minutes = talk_minutes_for(billed, month)
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for partner in billed:
        groups[(partner.time_zone, _rule_key(versions[partner.pk]))].append(partner.pk)
    ticket_rows: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    call_rows: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for (zone, _rules), ids in groups.items():
        start, end = month_bounds(month, zone)
        rows = (_counted_tickets_of(ids, start, end, versions[ids[0]])
                .order_by("partner_id", "created_at", "pk")
                .values_list("partner_id", *TICKET_DETAIL))
        for partner_id, rows_of in groupby(rows.iterator(chunk_size=10_000), itemgetter(0)):
            ticket_rows[partner_id] = [row[1:] for row in rows_of]
        rows = (_billable_calls_of(ids, start, end).order_by("partner_id", "started_at", "pk")
                .values_list("partner_id", *CALL_DETAIL))
        for partner_id, rows_of in groupby(rows.iterator(chunk_size=10_000), itemgetter(0)):
            call_rows[partner_id] = [row[1:] for row in rows_of]
    drafts = {}
    minutes_in = {zone: _Minutes(ZoneInfo(zone)) for zone, _rules in groups}
    for partner in billed:
        minute = minutes_in[partner.time_zone]
        with translation.override(_language(partner)):
            drafts[partner.pk] = _compose(
                partner=partner, month=month, sub=current[partner.pk], first=first[partner.pk],
                version=versions[partner.pk], vat_percent=vat_percent,
                tickets=_ticket_detail(ticket_rows.pop(partner.pk, []), minute),
                calls=_call_detail(call_rows.pop(partner.pk, []), minute,
                                   partner.tariff.minute_rounding),
                minutes=minutes[partner.pk])
    return drafts


def _lock_counter(series: str, year: int) -> Counter:
    """The series' counter row for the year, locked until commit: who holds it may number."""
    Counter.objects.get_or_create(series=series, year=year)
    return Counter.objects.select_for_update().get(series=series, year=year)


def _take_number(series: str, year: int) -> int:
    """The next number in the series and year, the counter row locked until commit."""
    counter = _lock_counter(series, year)
    counter.last += 1
    Counter.objects.filter(pk=counter.pk).update(last=counter.last)
    return counter.last


def _document_data(invoice: Invoice, lines: list[dict[str, Any]]) -> dict[str, Any]:
    # The PDF lists every request and call as lines of monospaced text: WeasyPrint spends
    # ~10 ms a table row (a box per cell), a text line a fraction of that, so a 2,000-row
    # invoice renders in seconds (a table of 200 took as long).
    detail = dict(invoice.usage)
    tickets = [f"{t['number']:<12} {t['date']:<17} {t['channel']}"
               for t in detail.get("tickets", [])]
    calls = [f"{c['date']:<17} {c['number']:<16} {c['seconds']:>12} "
             f"{'' if c['minutes'] is None else c['minutes']:>14}"
             for c in detail.get("calls", [])]
    return {"invoice": invoice, "partner": invoice.partner, "lines": lines, "usage": detail,
            "seller": _seller_lines(invoice.seller),
            "ticket_head": f"{_('Ticket'):<12} {_('Created'):<17} {_('Channel')}",
            "call_head": f"{_('Date'):<17} {_('Number'):<16} {_('Talk, seconds'):>12} "
                         f"{_('Minutes billed'):>14}",
            "ticket_text": "\n".join(tickets) or "—", "call_text": "\n".join(calls) or "—"}


def render_pdf(invoice: Invoice, lines: list[dict[str, Any]]) -> bytes:
    from weasyprint import CSS, HTML  # heavy: loaded only when a PDF is made

    with translation.override(_language(invoice.partner)):
        html = render_to_string("billing/invoice_pdf.html", _document_data(invoice, lines))
    return HTML(string=html).write_pdf(stylesheets=[CSS(filename=str(STYLESHEET))])


def render_xlsx(invoice: Invoice, lines: list[dict[str, Any]]) -> bytes:
    """The invoice sheet and the usage detail; numbers stay numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    bold = Font(bold=True)
    with translation.override(_language(invoice.partner)):
        book = Workbook()
        sheet = book.active
        sheet.title = _("Invoice")[:31]
        title = _("Credit note") if invoice.kind == Kind.CREDIT_NOTE else _("Invoice")
        sheet.append([title, invoice.number])
        for label, value in _seller_lines(invoice.seller):
            sheet.append([label, value])
        sheet.append([_("Partner"), invoice.partner.legal_name or invoice.partner.name])
        sheet.append([_("Month"), f"{invoice.month:%m.%Y}"])
        sheet.append([_("Plan"), invoice.plan_name])
        sheet.append([])
        sheet.append([_("Description"), _("Quantity"), _("Unit"), _("Unit price, RUB"),
                      _("Amount, RUB")])
        for line in lines:
            sheet.append([line["description"], float(line["quantity"]), line["unit"],
                          line["unit_price"], line["amount"]])
        sheet.append([_("Subtotal excl. VAT"), None, None, None, invoice.subtotal])
        sheet.append([_("VAT %(percent)s%%") % {"percent": _percent(invoice.vat_percent)},
                      None, None, None, invoice.vat])
        sheet.append([_("Total incl. VAT"), None, None, None, invoice.total])
        heading = 6 + len(_seller_lines(invoice.seller))
        for row in sheet.iter_rows(min_row=heading + 1, min_col=4, max_col=5):
            for cell in row:
                cell.number_format = "#,##0.00"
        sheet.column_dimensions["A"].width = 60
        for cell in sheet[heading]:
            cell.font = bold
        requests = book.create_sheet(_("Requests")[:31])
        requests.append([_("Ticket"), _("Created"), _("Channel")])
        for item in invoice.usage.get("tickets", []):
            requests.append([item["number"], item["date"], item["channel"]])
        calls = book.create_sheet(_("Calls")[:31])
        calls.append([_("Date"), _("Number"), _("Talk, seconds"), _("Minutes billed")])
        for item in invoice.usage.get("calls", []):
            calls.append([item["date"], item["number"], item["seconds"], item["minutes"]])
        for each in (requests, calls):
            for cell in each[1]:
                cell.font = bold
            each.column_dimensions["A"].width = 18
            each.column_dimensions["B"].width = 18
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


def _seller_lines(seller: dict[str, str]) -> list[tuple[str, str]]:
    """The seller's requisites as (label, text) lines, in the active language."""
    if not seller:
        return []
    tax = f"{seller['inn']} / {seller['kpp']}" if seller.get("kpp") else seller["inn"]
    bank = f"{seller['bank']}, {_('BIC')} {seller['bic']}"
    if seller.get("correspondent_account"):
        bank += f", {_('corr. account')} {seller['correspondent_account']}"
    return [(_("Seller"), seller["name"]), (_("INN / KPP"), tax),
            (_("Address"), seller["address"]), (_("Bank"), bank),
            (_("Settlement account"), seller["account"])]


def _percent(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _language(partner: Partner) -> str:
    return partner.language if partner.language in ("ru", "en") else "ru"


def _number(kind: str, year: int, sequence: int) -> str:
    return f"CN-{year}-{sequence:05d}" if kind == Kind.CREDIT_NOTE else f"{year}-{sequence:05d}"


def _new_invoice(*, partner: Partner, kind: str, month: date, plan_name: str,
                 vat_percent: Decimal, lines: list[dict[str, Any]],
                 usage_detail: dict[str, Any], actor: User | None, year: int, sequence: int,
                 at: datetime, seller: dict[str, str], corrects: Invoice | None = None,
                 reason: str = "") -> Invoice:
    """The unsaved invoice row with its totals and the seller's requisites in force (the
    batch and the single path build it alike)."""
    subtotal = sum((line["amount"] for line in lines), Decimal("0.00"))
    vat = money(subtotal * vat_percent / 100)
    return Invoice(partner=partner, kind=kind, number=_number(kind, year, sequence), year=year,
                   sequence=sequence, month=month, plan_name=plan_name,
                   vat_percent=vat_percent, subtotal=subtotal, vat=vat, total=subtotal + vat,
                   usage=usage_detail, seller=seller, corrects=corrects, reason=reason,
                   issued_at=at, issued_by=actor)


def _line_rows(invoice: Invoice, lines: list[dict[str, Any]]) -> list[InvoiceLine]:
    return [InvoiceLine(invoice=invoice, position=index, code=line["code"],
                        description=line["description"][:300], quantity=line["quantity"],
                        unit=line["unit"], unit_price=line["unit_price"], amount=line["amount"])
            for index, line in enumerate(lines, start=1)]


def _audit_after(invoice: Invoice) -> dict[str, Any]:
    return {"number": invoice.number, "month": invoice.month, "subtotal": invoice.subtotal,
            "vat": invoice.vat, "total": invoice.total,
            "corrects": invoice.corrects.number if invoice.corrects else ""}


def _render_documents(invoice: Invoice, lines: list[dict[str, Any]]) -> None:
    """Render the PDF and XLSX and store them in the invoice's file fields (not the row)."""
    name = f"{invoice.partner.slug}-{invoice.number}"
    invoice.pdf.save(f"{name}.pdf", ContentFile(render_pdf(invoice, lines)), save=False)
    invoice.xlsx.save(f"{name}.xlsx", ContentFile(render_xlsx(invoice, lines)), save=False)


def _create(*, partner: Partner, kind: str, month: date, plan_name: str, vat_percent: Decimal,
            lines: list[dict[str, Any]], usage_detail: dict[str, Any], actor: User | None,
            documents: bool, corrects: Invoice | None = None, reason: str = "",
            at: datetime | None = None) -> Invoice:
    """Number and store an invoice (and its files) in the caller's transaction."""
    at = at or now()
    year = local_today(partner, at).year
    sequence = _take_number("CN" if kind == Kind.CREDIT_NOTE else "INV", year)
    invoice = _new_invoice(partner=partner, kind=kind, month=month, plan_name=plan_name,
                           vat_percent=vat_percent, lines=lines, usage_detail=usage_detail,
                           actor=actor, year=year, sequence=sequence, at=at,
                           seller=seller_requisites(), corrects=corrects, reason=reason)
    if documents:
        _render_documents(invoice, lines)
    invoice.save()
    InvoiceLine.objects.bulk_create(_line_rows(invoice, lines))
    audit.record(actor=actor, partner=partner, action=f"billing.{kind}", target=invoice,
                 after=_audit_after(invoice))
    return invoice


def _stored_lines(invoice: Invoice) -> list[dict[str, Any]]:
    return [{"code": line.code, "description": line.description, "quantity": line.quantity,
             "unit": line.unit, "unit_price": line.unit_price, "amount": line.amount}
            for line in invoice.lines.all()]


@transaction.atomic
def attach_documents(invoice_id: int, *, mail: bool = True) -> bool:
    """Render a batch-issued invoice's PDF and XLSX (the worker task's job) and mail them.
    Once: the invoice row is locked, and one that has its files already is left alone, so
    a task run twice or by two workers renders and mails once. The row's amounts are not
    touched: only the two file names are filled in."""
    invoice = (Invoice.objects.select_for_update(of=("self",)).select_related("partner")
               .filter(pk=invoice_id).first())
    if invoice is None or invoice.pdf:
        return False
    with translation.override(_language(invoice.partner)):
        _render_documents(invoice, _stored_lines(invoice))
    Invoice.objects.filter(pk=invoice.pk).update(pdf=invoice.pdf.name, xlsx=invoice.xlsx.name)
    if mail:
        mail_invoice(invoice)
    return True


def open_invoice(partner: Partner, month: date) -> Invoice | None:
    """The month's invoice that no credit note has cancelled, if any."""
    return (Invoice.objects.filter(partner=partner, month=first_of(month), kind=Kind.INVOICE,
                                   credit_note__isnull=True).first())


def issue_invoice(partner: Partner, month: date, *, actor: User | None = None,
                  at: datetime | None = None, documents: bool = True,
                  minutes: int | None = None, mail: bool = True) -> Invoice:
    """Issue the month's invoice: only for a month that is over, once (until a credit note
    cancels it). Everything (number, lines, files, letters) or nothing."""
    at = at or now()
    if not isinstance(month, date):
        raise ValidationError({"month": _("Give the month as YYYY-MM.")})
    month = first_of(month)
    if local_today(partner, at) < next_month(month):
        raise ValidationError({"month": _("The month %(month)s is not over yet.") % {
            "month": f"{month:%m.%Y}"}})
    with translation.override(_language(partner)), transaction.atomic():
        # Lock the year's counter first: two processes issuing the same month queue here,
        # and the second sees the first's invoice.
        year = local_today(partner, at).year
        Counter.objects.get_or_create(series="INV", year=year)
        Counter.objects.select_for_update().get(series="INV", year=year)
        if open_invoice(partner, month) is not None:
            raise ValidationError({"month": _("%(month)s is invoiced already; a correction "
                                              "is a credit note.") % {
                "month": f"{month:%m.%Y}"}})
        data = draft(partner, month, minutes=minutes)
        invoice = _create(partner=partner, kind=Kind.INVOICE, month=month,
                          plan_name=data["plan"], vat_percent=data["vat_percent"],
                          lines=data["lines"], usage_detail=data["usage"],
                          actor=actor, documents=documents, at=at)
        if mail and documents:
            mail_invoice(invoice)
    return invoice


@transaction.atomic
def issue_credit_note(invoice: Invoice, *, reason: str, actor: User | None,
                      at: datetime | None = None) -> Invoice:
    """Cancel an issued invoice with a credit note for its full amount; the month may then
    be invoiced again."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 500 or "\x00" in reason:
        raise ValidationError({"reason": _("Say why, in at most 500 characters.")})
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.kind != Kind.INVOICE:
        raise ValidationError({"invoice": _("Only an invoice can be corrected.")})
    if Invoice.objects.filter(corrects=locked).exists():
        raise ValidationError({"invoice": _("The invoice has a credit note already.")})
    with translation.override(_language(invoice.partner)):
        lines = [{**line, "quantity": -line["quantity"], "amount": -line["amount"]}
                 for line in _stored_lines(locked)]
        note = _create(partner=locked.partner, kind=Kind.CREDIT_NOTE, month=locked.month,
                       plan_name=locked.plan_name, vat_percent=locked.vat_percent,
                       lines=lines, usage_detail={}, actor=actor, documents=True,
                       corrects=locked, reason=reason, at=at)
        mail_invoice(note)
    return note


def mail_invoice(invoice: Invoice) -> int:
    """The invoice's PDF and XLSX to the partner's managers, once per invoice and person."""
    partner = invoice.partner
    with translation.override(_language(partner)):
        title = _("Credit note") if invoice.kind == Kind.CREDIT_NOTE else _("Invoice")
        subject = _("%(title)s %(number)s for %(month)s: %(partner)s") % {
            "title": title, "number": invoice.number, "month": f"{invoice.month:%m.%Y}",
            "partner": partner.name}
        body = _("%(title)s %(number)s for %(month)s, total %(total)s RUB incl. VAT, is "
                 "attached (PDF, and XLSX with every counted request and call).") % {
            "title": title, "number": invoice.number, "month": f"{invoice.month:%m.%Y}",
            "total": f"{invoice.total:.2f}"}
    files = [
        {"path": invoice.pdf.name, "filename": invoice.pdf.name.rsplit("/", 1)[-1],
         "content_type": "application/pdf"},
        {"path": invoice.xlsx.name, "filename": invoice.xlsx.name.rsplit("/", 1)[-1],
         "content_type": XLSX_TYPE},
    ]
    count = 0
    for manager in managers_of(partner):
        outbox.enqueue(partner=partner, channel=OutboxChannel.EMAIL, recipient=manager.email,
                       subject=subject, body=body, attachments=files,
                       dedupe_key=f"billing-invoice:{invoice.pk}:{manager.pk}")
        count += 1
    return count


def issue_due(moment: datetime | None = None, *, documents: bool = True) -> list[Invoice]:
    """The clock's step: on or after the first working day of a month (the partner's
    calendar), each subscribed partner gets last month's invoice, once; the due partners
    of a month are issued together (`issue_month`)."""
    from firstline.metrics.report import first_working_day

    moment = moment or now()
    partner_ids = Subscription.objects.values_list("partner_id", flat=True).distinct()
    partners = Partner.objects.filter(pk__in=partner_ids, is_active=True).select_related(
        "tariff").order_by("pk")
    due: dict[date, list[Partner]] = defaultdict(list)
    for partner in partners:
        today = local_today(partner, moment)
        month = first_of(today)
        if today >= first_working_day(partner, month):
            due[first_of(month - timedelta(days=1))].append(partner)
    issued = []
    for billed, group in sorted(due.items()):
        # Once: a month invoiced before is left alone (a credit note's reissue is by hand).
        done = set(Invoice.objects.filter(partner__in=group, month=billed, kind=Kind.INVOICE)
                   .values_list("partner_id", flat=True))
        try:
            issued += issue_month(billed, at=moment, documents=documents,
                                  partners=[p for p in group if p.pk not in done])
        except ValidationError as error:  # e.g. no VAT rate for the month: tell, go on
            logger.error("billing: invoices for %s not issued: %s", f"{billed:%Y-%m}",
                         error.messages)
    return issued


ISSUE_BATCH = 200  # partners per batch: one transaction, a few queries per time zone


def _invoiced(partner_ids: list[int], month: date) -> set[int]:
    """Of the partners, those with an invoice for the month no credit note cancelled."""
    return set(Invoice.objects.filter(partner_id__in=partner_ids, month=month,
                                      kind=Kind.INVOICE, credit_note__isnull=True)
               .values_list("partner_id", flat=True))


def issue_month(month: date, *, at: datetime | None = None, documents: bool = True,
                mail: bool = True, partners: Iterable[Partner] | None = None) -> list[Invoice]:
    """Invoice every partner subscribed in `month` (or those given) whose month is over and
    that has no invoice for it yet: the same invoice `issue_invoice` gives, in batches of
    ISSUE_BATCH partners. Each batch reads its records in a few queries (`drafts_for`),
    then, in one transaction, takes its gap-free numbers under the lock of the year's
    counter row, re-checks who is invoiced meanwhile (two runs at once invoice each
    partner once) and bulk-inserts the invoices, lines and audit events. The PDF and XLSX
    are rendered and mailed afterwards, one worker task per invoice (`attach_documents`).
    A batch is all or nothing; a failed run leaves whole batches, and a rerun does the
    rest."""
    at = at or now()
    month = first_of(month)
    if partners is None:
        ids = (Subscription.objects.filter(starts_on__lt=next_month(month))
               .values_list("partner_id", flat=True).distinct())
        partners = Partner.objects.filter(pk__in=ids).select_related("tariff").order_by("pk")
    due = [p for p in partners if local_today(p, at) >= next_month(month)]
    issued: list[Invoice] = []
    for batch in batched(due, ISSUE_BATCH):
        issued += _issue_batch(list(batch), month, at=at, documents=documents, mail=mail)
    return issued


def _issue_batch(partners: list[Partner], month: date, *, at: datetime, documents: bool,
                 mail: bool) -> list[Invoice]:
    invoiced = _invoiced([p.pk for p in partners], month)
    drafts = drafts_for([p for p in partners if p.pk not in invoiced], month)
    if not drafts:
        return []
    years = {partner.pk: local_today(partner, at).year for partner in partners}
    with transaction.atomic():
        # The same lock issue_invoice takes, years in order (no deadlock between batches).
        counters = {year: _lock_counter("INV", year)
                    for year in sorted({years[pk] for pk in drafts})}
        invoiced = _invoiced(list(drafts), month)  # issued meanwhile by another process
        seller = seller_requisites()
        invoices: list[Invoice] = []
        for partner in partners:
            data = drafts.get(partner.pk)
            if data is None or partner.pk in invoiced:
                continue
            counter = counters[years[partner.pk]]
            counter.last += 1
            invoices.append(_new_invoice(
                partner=partner, kind=Kind.INVOICE, month=month, plan_name=data["plan"],
                vat_percent=data["vat_percent"], lines=data["lines"],
                usage_detail=data["usage"], actor=None, year=counter.year,
                sequence=counter.last, at=at, seller=seller))
        for counter in counters.values():
            Counter.objects.filter(pk=counter.pk).update(last=counter.last)
        # One row an INSERT: a multi-row bulk insert on PostgreSQL goes through UNNEST of
        # arrays, and psycopg quotes an array of ~100 KB usage documents in Python (a
        # regex per element), 3x slower than the rows one by one.
        Invoice.objects.bulk_create(invoices, batch_size=1)
        InvoiceLine.objects.bulk_create(
            [row for invoice in invoices
             for row in _line_rows(invoice, drafts[invoice.partner_id]["lines"])],
            batch_size=1000)
        AuditEvent.objects.bulk_create(
            [AuditEvent(actor=None, partner=invoice.partner, action=f"billing.{Kind.INVOICE}",
                        target_type=Invoice._meta.model_name, target_id=str(invoice.pk),
                        before={}, after=audit.jsonable(_audit_after(invoice)))
             for invoice in invoices], batch_size=1000)
        if documents:
            ids = [invoice.pk for invoice in invoices]
            transaction.on_commit(lambda: _enqueue_documents(ids, mail))
    return invoices


def _enqueue_documents(invoice_ids: list[int], mail: bool) -> None:
    from firstline.billing.tasks import render_invoice_documents

    for invoice_id in invoice_ids:
        render_invoice_documents.enqueue(invoice_id, mail)
