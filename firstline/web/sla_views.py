"""SLA settings per partner (supervisors, administrators) and the deadline board (staff)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from firstline.core.clock import now
from firstline.core.models import Partner
from firstline.sla import countdown, services
from firstline.sla.models import EscalationStep, SlaPolicy, TypicalRequest, UrgencyRule
from firstline.tenancy import partners_for, tickets_for
from firstline.tickets.models import ACTIVE_STATUSES, Priority, Status
from firstline.web.access import staff_required, supervisor_required
from firstline.web.confirm import confirm_delete
from firstline.web.forms import add_service_error
from firstline.web.sla_forms import (
    EscalationStepForm,
    PolicyForm,
    SettingForm,
    TypicalRequestForm,
    UrgencyRuleForm,
)
from firstline.web.templatetags.desk import business_time

# On the board, a ticket is at risk when its next deadline is this close.
AT_RISK_WITHIN = timedelta(hours=2)


@dataclass(frozen=True)
class SettingKind:
    model: type[models.Model]
    form: type[SettingForm]
    action: str  # audit action prefix: "<action>_saved", "<action>_deleted"


SETTINGS = {
    "steps": SettingKind(EscalationStep, EscalationStepForm, "sla.escalation_step"),
    "rules": SettingKind(UrgencyRule, UrgencyRuleForm, "sla.urgency_rule"),
    "typical": SettingKind(TypicalRequest, TypicalRequestForm, "sla.typical_request"),
}


def _partner(request: HttpRequest, pk: int) -> Partner:
    return get_object_or_404(partners_for(request.user), pk=pk)


def _kind(kind: str) -> SettingKind:
    if kind not in SETTINGS:
        raise Http404
    return SETTINGS[kind]


def _labels(values: Iterable[str], choices: Iterable[tuple[str, Any]]) -> list[str]:
    names = dict(choices)
    return [str(names.get(value, value)) for value in values]


def _policies(partner: Partner) -> list[SlaPolicy]:
    policies = list(
        partner.sla_policies.select_related("calendar").prefetch_related("targets")
    )
    for policy in policies:
        targets = {target.priority: target for target in policy.targets.all()}
        policy.paused_labels = _labels(policy.paused_statuses, Status.choices)
        policy.target_cells = [
            (business_time(targets[p].reaction_minutes),
             business_time(targets[p].resolution_minutes)) if p in targets else None
            for p in Priority.values
        ]
    return policies


def _steps(partner: Partner) -> list[tuple[SlaPolicy, list[EscalationStep]]]:
    """The ladder of each policy, in priority order, then deadline, then share."""
    rank = {value: index for index, value in enumerate(Priority.values)}
    steps = sorted(
        EscalationStep.objects.filter(partner=partner).select_related("policy")
        .prefetch_related("users"),
        key=lambda s: (s.policy.name, s.policy_id, rank.get(s.priority, 99), s.target,
                       s.percent),
    )
    ladders: dict[int, tuple[SlaPolicy, list[EscalationStep]]] = {}
    for step in steps:
        step.whom = _labels(step.roles, EscalationStep.Role.choices) + [
            user.display_name for user in step.users.all()
        ]
        step.channel_labels = _labels(step.channels, EscalationStep.Channel.choices)
        ladders.setdefault(step.policy_id, (step.policy, []))[1].append(step)
    return list(ladders.values())


def _rules(partner: Partner) -> list[UrgencyRule]:
    rules = list(UrgencyRule.objects.filter(partner=partner).select_related("service"))
    for rule in rules:
        conditions = [rule.service.name] if rule.service else []
        if rule.keyword_list():
            conditions.append(_("words: %(words)s") % {"words": ", ".join(rule.keyword_list())})
        if rule.vip_only:
            conditions.append(_("VIP customers only"))
        rule.conditions = conditions
    return rules


def _typical(partner: Partner) -> list[TypicalRequest]:
    items = list(TypicalRequest.objects.filter(partner=partner))
    for item in items:
        item.norm = business_time(item.resolution_minutes)
    return items


def _settings_context(partner: Partner, **forms: SettingForm) -> dict[str, Any]:
    return {
        "partner": partner,
        "priorities": Priority.choices,
        "policies": _policies(partner),
        "ladders": _steps(partner),
        "rules": _rules(partner),
        "typical": _typical(partner),
        "forms": {
            kind: forms.get(kind) or setting.form(partner=partner, prefix=kind)
            for kind, setting in SETTINGS.items()
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
    title = policy.name  # the form writes the posted name onto the instance
    form = PolicyForm(request.POST or None, instance=policy, partner=partner)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_policy(actor=request.user, partner=partner,
                                         policy=form.instance, targets=form.targets())
        except ValidationError as error:
            _add_target_errors(form, error)
        else:
            messages.success(request, _("SLA policy saved."))
            if saved.recomputed:
                messages.info(request, ngettext(
                    "The deadlines of %(count)d open ticket now follow the new terms.",
                    "The deadlines of %(count)d open tickets now follow the new terms.",
                    saved.recomputed) % {"count": saved.recomputed})
            return redirect("sla-settings", pk=partner.pk)
    status = 400 if request.method == "POST" else 200
    open_count = services.open_tickets_on(policy).count() if policy.pk else 0
    return render(request, "web/sla/policy.html",
                  {"partner": partner, "form": form, "policy": policy, "title": title,
                   "open_count": open_count},
                  status=status)


@supervisor_required
@require_http_methods(["GET", "POST"])
def policy_delete(request: HttpRequest, pk: int, policy_pk: int) -> HttpResponse:
    """GET: confirm (or say where the policy is in use); POST: delete."""
    partner = _partner(request, pk)
    policy = get_object_or_404(SlaPolicy, pk=policy_pk, partner=partner)
    back = reverse("sla-settings", args=[partner.pk])
    usage = services.policy_usage(policy)
    title = _("Delete the policy “%(name)s”") % {"name": policy.name}
    if request.method == "POST":
        try:
            services.delete_policy(actor=request.user, partner=partner, policy=policy)
        except ValidationError as error:
            return confirm_delete(request, title=title, question="", cancel_url=back,
                                  refusal=error.messages, status=400)
        messages.success(request, _("Policy “%(name)s” deleted.") % {"name": policy.name})
        return redirect(back)
    if usage:
        return confirm_delete(
            request, title=title, question="", cancel_url=back,
            refusal=[_("The policy “%(name)s” is in use and cannot be deleted.")
                     % {"name": policy.name}, *usage])
    return confirm_delete(
        request, title=title, cancel_url=back,
        question=_("Delete the policy “%(name)s” with its targets and escalation steps? "
                   "No organisation or ticket uses it.") % {"name": policy.name},
        details=[str(step) for step in policy.escalation_steps.all()],
    )


def _add_target_errors(form: PolicyForm, error: ValidationError) -> None:
    """Target errors come keyed by priority: show them on that priority's reaction field."""
    for key, texts in error.message_dict.items():
        field = f"reaction_{key}" if f"reaction_{key}" in form.fields else key
        form.add_error(field if field in form.fields else None, texts)


@supervisor_required
@require_POST
def setting_add(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    partner = _partner(request, pk)
    setting = _kind(kind)
    form = setting.form(request.POST, prefix=kind, instance=setting.model(partner=partner),
                        partner=partner)
    if form.is_valid():
        try:
            services.save_setting(actor=request.user, partner=partner,
                                  instance=form.save(commit=False),
                                  action=f"{setting.action}_saved", related=form.related())
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Saved."))
            return _back_to(partner, kind)
    return render(request, "web/sla/settings.html",
                  _settings_context(partner, **{kind: form}), status=400)


DELETE_QUESTIONS = {
    "steps": gettext_lazy("Delete the escalation step “%(item)s” of the policy “%(policy)s”?"),
    "rules": gettext_lazy("Delete the urgency rule “%(item)s”?"),
    "typical": gettext_lazy("Delete the typical request “%(item)s”?"),
}


@supervisor_required
@require_http_methods(["GET", "POST"])
def setting_delete(request: HttpRequest, pk: int, kind: str, item_pk: int) -> HttpResponse:
    """GET: the confirmation step; POST: delete."""
    partner = _partner(request, pk)
    setting = _kind(kind)
    instance = get_object_or_404(setting.model, pk=item_pk, partner=partner)
    if request.method == "GET":
        policy = getattr(instance, "policy", None)
        return confirm_delete(
            request, title=_("Delete"),
            question=str(DELETE_QUESTIONS[kind]) % {"item": instance, "policy": policy},
            cancel_url=f"{reverse('sla-settings', args=[partner.pk])}#{kind}",
        )
    services.delete_setting(actor=request.user, partner=partner, instance=instance,
                            action=f"{setting.action}_deleted")
    messages.success(request, _("Deleted."))
    return _back_to(partner, kind)


def _back_to(partner: Partner, kind: str) -> HttpResponse:
    """The settings page, scrolled to the list just changed (it is below the fold)."""
    return redirect(f"{reverse('sla-settings', args=[partner.pk])}#{kind}")


BOARD_LISTS = ("breached", "at_risk")


def _pager(pages: dict[str, Page], name: str) -> dict[str, str]:
    """Links to the previous and next page of one board list; the other keeps its page."""
    page = pages[name]

    def url(number: int) -> str:
        query = QueryDict(mutable=True)
        for key in BOARD_LISTS:
            query[key] = str(number if key == name else pages[key].number)
        return f"?{query.urlencode()}#{name}"

    return {
        "previous": url(page.previous_page_number()) if page.has_previous() else "",
        "next": url(page.next_page_number()) if page.has_next() else "",
    }


@staff_required
def board(request: HttpRequest) -> HttpResponse:
    """Tickets whose deadline has passed, and those that will breach soon."""
    moment = now()
    active = tickets_for(request.user).filter(status__in=ACTIVE_STATUSES, due_at__isnull=False)
    active = active.select_related("partner", "contact", "assignee", "typical_request").order_by(
        "due_at", "id"
    )
    lists = {
        "breached": active.filter(due_at__lte=moment),
        "at_risk": active.filter(due_at__gt=moment, due_at__lte=moment + AT_RISK_WITHIN),
    }
    pages = {
        name: Paginator(rows, settings.FIRSTLINE_PAGE_SIZE).get_page(request.GET.get(name))
        for name, rows in lists.items()
    }
    countdown.attach([ticket for page in pages.values() for ticket in page.object_list], moment)
    context = {
        **pages,
        "pagers": {name: _pager(pages, name) for name in BOARD_LISTS},
        "within_hours": int(AT_RISK_WITHIN.total_seconds() // 3600),
    }
    return render(request, "web/sla/board.html", context)
