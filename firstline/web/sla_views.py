"""SLA settings per partner (supervisors, administrators) and the deadline board (staff)."""

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from firstline.core.clock import now
from firstline.core.models import Partner, User
from firstline.sla import countdown, services
from firstline.sla.models import EscalationStep, SlaPolicy, TypicalRequest, UrgencyRule
from firstline.tenancy import partners_for, tickets_for
from firstline.tickets.models import ACTIVE_STATUSES
from firstline.web.access import _area_required
from firstline.web.forms import add_service_error
from firstline.web.sla_forms import (
    EscalationStepForm,
    PolicyForm,
    TypicalRequestForm,
    UrgencyRuleForm,
)

supervisor_required = _area_required(
    lambda user: user.role in (User.Role.SUPERVISOR, User.Role.ADMIN)
)
staff_required = _area_required(lambda user: user.is_provider_staff)

# On the board, a ticket is at risk when its next deadline is this close.
AT_RISK_WITHIN = timedelta(hours=2)

SETTINGS = {
    "steps": (EscalationStep, EscalationStepForm, "sla.escalation_step"),
    "rules": (UrgencyRule, UrgencyRuleForm, "sla.urgency_rule"),
    "typical": (TypicalRequest, TypicalRequestForm, "sla.typical_request"),
}


def _partner(request: HttpRequest, pk: int) -> Partner:
    return get_object_or_404(partners_for(request.user), pk=pk)


def _settings_context(partner: Partner, **forms: Any) -> dict[str, Any]:
    return {
        "partner": partner,
        "policies": partner.sla_policies.select_related("calendar").prefetch_related("targets"),
        "steps": EscalationStep.objects.filter(partner=partner).select_related("policy")
        .prefetch_related("users"),
        "rules": UrgencyRule.objects.filter(partner=partner).select_related("service"),
        "typical": TypicalRequest.objects.filter(partner=partner),
        "forms": {
            "steps": forms.get("steps") or EscalationStepForm(partner=partner, prefix="steps"),
            "rules": forms.get("rules") or UrgencyRuleForm(partner=partner, prefix="rules"),
            "typical": forms.get("typical") or TypicalRequestForm(prefix="typical"),
        },
    }


@supervisor_required
def partner_list(request: HttpRequest) -> HttpResponse:
    partners = partners_for(request.user).select_related("tariff")
    return render(request, "web/sla/partners.html", {"partners": partners})


@supervisor_required
def partner_settings(request: HttpRequest, pk: int) -> HttpResponse:
    partner = _partner(request, pk)
    return render(request, "web/sla/settings.html", _settings_context(partner))


@supervisor_required
def policy_edit(request: HttpRequest, pk: int, policy_pk: int | None = None) -> HttpResponse:
    partner = _partner(request, pk)
    policy = (
        get_object_or_404(SlaPolicy, pk=policy_pk, partner=partner) if policy_pk
        else SlaPolicy(partner=partner)
    )
    form = PolicyForm(request.POST or None, instance=policy, partner=partner)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_policy(actor=request.user, partner=partner, policy=form.instance,
                                 targets=form.targets())
        except ValidationError as error:
            _add_target_errors(form, error)
        else:
            messages.success(request, _("SLA policy saved."))
            return redirect("sla-settings", pk=partner.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "web/sla/policy.html",
                  {"partner": partner, "form": form, "policy": policy}, status=status)


def _add_target_errors(form: PolicyForm, error: ValidationError) -> None:
    for key, texts in error.message_dict.items():
        field = f"reaction_{key}" if f"reaction_{key}" in form.fields else key
        form.add_error(field if field in form.fields else None, texts)


@supervisor_required
@require_POST
def setting_add(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    partner = _partner(request, pk)
    if kind not in SETTINGS:
        return HttpResponse(status=404)
    model, form_class, action = SETTINGS[kind]
    kwargs: dict[str, Any] = {"prefix": kind, "instance": model(partner=partner)}
    if form_class is not TypicalRequestForm:
        kwargs["partner"] = partner
    form = form_class(request.POST, **kwargs)
    if form.is_valid():
        try:
            instance = form.save(commit=False)
            if isinstance(instance, EscalationStep):
                services.validate_step(instance)
            services.save_setting(actor=request.user, partner=partner, instance=instance,
                                  action=f"{action}_saved")
            form.save_m2m()
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Saved."))
            return redirect("sla-settings", pk=partner.pk)
    return render(request, "web/sla/settings.html",
                  _settings_context(partner, **{kind: form}), status=400)


@supervisor_required
@require_POST
def setting_delete(request: HttpRequest, pk: int, kind: str, item_pk: int) -> HttpResponse:
    partner = _partner(request, pk)
    if kind not in SETTINGS:
        return HttpResponse(status=404)
    model, _form, action = SETTINGS[kind]
    instance = get_object_or_404(model, pk=item_pk, partner=partner)
    services.delete_setting(actor=request.user, partner=partner, instance=instance,
                            action=f"{action}_deleted")
    messages.success(request, _("Deleted."))
    return redirect("sla-settings", pk=partner.pk)


@staff_required
def board(request: HttpRequest) -> HttpResponse:
    """Tickets whose deadline has passed, and those that will breach soon."""
    moment = now()
    active = tickets_for(request.user).filter(status__in=ACTIVE_STATUSES, due_at__isnull=False)
    active = active.select_related("partner", "contact", "assignee", "typical_request").order_by(
        "due_at", "id"
    )
    breached = active.filter(due_at__lte=moment)
    at_risk = active.filter(Q(due_at__gt=moment) & Q(due_at__lte=moment + AT_RISK_WITHIN))
    breached_page = Paginator(breached, 50).get_page(request.GET.get("breached"))
    at_risk_page = Paginator(at_risk, 50).get_page(request.GET.get("at_risk"))
    countdown.attach([*breached_page.object_list, *at_risk_page.object_list], moment)
    context = {
        "breached": breached_page,
        "at_risk": at_risk_page,
        "within_hours": int(AT_RISK_WITHIN.total_seconds() // 3600),
    }
    return render(request, "web/sla/board.html", context)
