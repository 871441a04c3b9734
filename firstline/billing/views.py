"""The billing pages: the usage meters and invoices of every partner (supervisors and
administrators), one partner's page with its subscription and invoices (a partner's own
managers and engineers see theirs, read-only), the plans. Thin: parse, call `services`,
render; a ValidationError is shown next to its field."""

from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from firstline.billing import services
from firstline.billing.models import FirstMonth, Invoice, Plan, PlanVersion, Subscription
from firstline.core.models import Partner, User
from firstline.tenancy import partners_for
from firstline.tickets.models import Channel
from firstline.web.access import _area_required

MANAGERS = (User.Role.SUPERVISOR, User.Role.ADMIN)
billing_required = _area_required(
    lambda user: user.role in MANAGERS
    or user.role in (User.Role.MANAGER, User.Role.ENGINEER)
)


def _can_manage(user: User) -> bool:
    return user.role in MANAGERS


def _month(text: str) -> date:
    try:
        return date.fromisoformat(f"{text.strip()}-01")
    except ValueError:
        raise ValidationError({"month": _("Give the month as YYYY-MM.")}) from None


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError({name: _("Give a date as YYYY-MM-DD.")}) from None


def _int(name: str, text: str) -> int:
    text = (text or "0").strip()
    if not text.isdigit():
        raise ValidationError({name: _("Give a whole number.")})
    return int(text)


def _errors(error: ValidationError) -> dict[str, str]:
    return {key: " ".join(value) for key, value in error.message_dict.items()}


@billing_required
def overview(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not _can_manage(user):
        return redirect("billing:partner", pk=user.partner_id)
    subscribed = set(Subscription.objects.values_list("partner_id", flat=True))
    rows = []
    for partner in Partner.objects.filter(pk__in=subscribed).select_related("tariff"):
        rows.append({"partner": partner, "usage": services.usage(partner)})
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            partner = get_object_or_404(Partner, pk=_int("partner", request.POST.get("partner")))
            plan = get_object_or_404(Plan, pk=_int("plan", request.POST.get("plan")))
            services.subscribe(
                partner=partner, plan=plan,
                starts_on=_day("starts_on", request.POST.get("starts_on", "")),
                extra_accounts=_int("extra_accounts", request.POST.get("extra_accounts")),
                first_month=request.POST.get("first_month", ""), actor=user)
        except ValidationError as error:
            errors = _errors(error)
        else:
            messages.success(request, _("Subscription saved."))
            return redirect("billing:partner", pk=partner.pk)
    return render(request, "billing/overview.html", {
        "rows": rows, "errors": errors,
        "unsubscribed": Partner.objects.exclude(pk__in=subscribed).order_by("name"),
        "plans": Plan.objects.all(), "first_months": FirstMonth.choices,
        "invoices": Invoice.objects.select_related("partner")[:50],
        "values": request.POST if request.method == "POST" else {},
    }, status=422 if errors else 200)


def _partner_post(request: HttpRequest, partner: Partner) -> dict[str, str]:
    action = request.POST.get("action", "")
    user = request.user
    try:
        if action == "change":
            plan = get_object_or_404(Plan, pk=_int("plan", request.POST.get("plan")))
            row = services.change_plan(
                partner=partner, plan=plan, actor=user,
                extra_accounts=_int("extra_accounts", request.POST.get("extra_accounts")))
            messages.success(request, _("From %(day)s the plan is %(plan)s.") % {
                "day": f"{row.starts_on:%d.%m.%Y}", "plan": row.plan.name})
        elif action == "issue":
            invoice = services.issue_invoice(
                partner, _month(request.POST.get("month", "")), actor=user)
            messages.success(request, _("Invoice %(number)s issued.") % {
                "number": invoice.number})
        elif action == "credit":
            invoice = get_object_or_404(Invoice, pk=_int("invoice", request.POST.get("invoice")),
                                        partner=partner)
            note = services.issue_credit_note(invoice, reason=request.POST.get("reason", ""),
                                              actor=user)
            messages.success(request, _("Credit note %(number)s issued.") % {
                "number": note.number})
        else:
            return {"action": _("Unknown action.")}
    except ValidationError as error:
        return _errors(error)
    return {}


@billing_required
def partner(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(partners_for(request.user).select_related("tariff"), pk=pk)
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not _can_manage(request.user):
            raise PermissionDenied
        errors = _partner_post(request, found)
        if not errors:
            return redirect("billing:partner", pk=found.pk)
    today = services.local_today(found)
    usage = services.usage(found)
    return render(request, "billing/partner.html", {
        "partner": found, "usage": usage, "rows": usage.as_rows() if usage else [],
        "subscriptions": Subscription.objects.filter(partner=found).select_related("plan"),
        "invoices": Invoice.objects.filter(partner=found).select_related("corrects"),
        "plans": Plan.objects.all(), "can_manage": _can_manage(request.user),
        "errors": errors, "last_month": f"{today.replace(day=1) - timedelta(days=1):%Y-%m}",
        "values": request.POST if request.method == "POST" else {},
    }, status=422 if errors else 200)


@billing_required
def plans(request: HttpRequest) -> HttpResponse:
    if not _can_manage(request.user):
        raise PermissionDenied
    errors: dict[str, str] = {}
    seller_errors: dict[str, str] = {}
    if request.method == "POST" and request.POST.get("action") == "seller":
        # The provider's requisites: the administrator's (printed on every invoice).
        if request.user.role != User.Role.ADMIN:
            raise PermissionDenied
        try:
            services.set_seller(actor=request.user, **{
                name: request.POST.get(name, "") for name in services.SELLER_FIELDS})
        except ValidationError as error:
            seller_errors = _errors(error)
        else:
            messages.success(request, _("The seller's requisites are saved; invoices issued "
                                        "from now on carry them."))
            return redirect("billing:plans")
    elif request.method == "POST":
        values: dict[str, Any] = {
            name: request.POST.get(name, "").strip()
            for name in (*services.MONEY_FIELDS, *services.COUNT_FIELDS)
        }
        values["excluded_channels"] = request.POST.getlist("excluded_channels")
        values["count_staff_own"] = request.POST.get("count_staff_own") == "on"
        values["count_incident_followers"] = request.POST.get("count_incident_followers") == "on"
        try:
            plan = get_object_or_404(Plan, pk=_int("plan", request.POST.get("plan")))
            version = services.add_plan_version(
                plan=plan, effective_from=_day("effective_from",
                                               request.POST.get("effective_from", "")),
                actor=request.user, **values)
        except ValidationError as error:
            errors = _errors(error)
        else:
            messages.success(request, _("New figures of %(plan)s from %(day)s saved.") % {
                "plan": version.plan.name, "day": f"{version.effective_from:%d.%m.%Y}"})
            return redirect("billing:plans")
    return render(request, "billing/plans.html", {
        "versions": PlanVersion.objects.select_related("plan").order_by(
            "plan__code", "-effective_from"),
        "plans": Plan.objects.all(), "channels": Channel.choices, "errors": errors,
        "values": request.POST if request.method == "POST" else {},
        "next_month": f"{services.next_month(date.today()):%Y-%m-%d}",
        "can_edit_seller": request.user.role == User.Role.ADMIN,
        "seller": (request.POST if seller_errors else services.seller_requisites()),
        "seller_errors": seller_errors,
    }, status=422 if errors or seller_errors else 200)


@require_GET
@billing_required
def invoice_file(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    found = get_object_or_404(
        Invoice.objects.filter(partner__in=partners_for(request.user)), pk=pk)
    stored = found.pdf if kind == "pdf" else found.xlsx if kind == "xlsx" else None
    if not stored:
        raise Http404
    return FileResponse(stored.open("rb"), as_attachment=True,
                        filename=stored.name.rsplit("/", 1)[-1])
