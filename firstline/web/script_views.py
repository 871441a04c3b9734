"""Processing by script: settings per partner (supervisors, administrators) and the
checklist steps on the ticket page (the first line; the partner returns tickets).

Views parse, call firstline.quality.services, render. The partner comes from the URL only
through `partners_for(user)`, and a settings row only through its partner, so another
partner's row is a 404; a ticket only through `tickets_for(user)`.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import models
from django.forms import BaseForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from firstline.core.models import Partner, User
from firstline.quality import macros, services
from firstline.quality import script as rules
from firstline.quality.script_models import (
    MAX_CLASSIFICATION_FIELDS,
    MAX_DIAGNOSTIC_PARAMETERS,
    CannedReply,
    ClassificationField,
    DiagnosticParameter,
    RoutingRule,
    UrgencyQuestion,
)
from firstline.sla.models import TypicalRequest, UrgencyRule
from firstline.tenancy import partners_for
from firstline.tickets.models import Ticket
from firstline.web import pending_steps
from firstline.web.access import desk_required, supervisor_required
from firstline.web.confirm import confirm_delete
from firstline.web.forms import add_service_error
from firstline.web.script_forms import (
    STEP_FORMS,
    CannedReplyForm,
    ClassificationFieldForm,
    DiagnosticParameterForm,
    IdentificationForm,
    RoutingRuleForm,
    UrgencyQuestionForm,
    step_form,
)
from firstline.web.views import _get_ticket, answer

# kind in the URL -> (model, form, audit action prefix, title of the add form)
SETTINGS: dict[str, tuple[type[models.Model], type[BaseForm], str, Any]] = {
    "fields": (ClassificationField, ClassificationFieldForm, "script.classification_field",
               gettext_lazy("Add a classification field")),
    "diagnostics": (DiagnosticParameter, DiagnosticParameterForm, "script.diagnostic_parameter",
                    gettext_lazy("Add a diagnostic parameter")),
    "questions": (UrgencyQuestion, UrgencyQuestionForm, "script.urgency_question",
                  gettext_lazy("Add an urgency question")),
    "routing": (RoutingRule, RoutingRuleForm, "script.routing_rule",
                gettext_lazy("Add a routing rule")),
    "replies": (CannedReply, CannedReplyForm, "script.canned_reply",
                gettext_lazy("Add a canned reply")),
}


def _partner(request: HttpRequest, pk: int) -> Partner:
    return get_object_or_404(partners_for(request.user), pk=pk)


def _kind(kind: str) -> tuple[type[models.Model], type[BaseForm], str, Any]:
    if kind not in SETTINGS:
        raise Http404
    return SETTINGS[kind]


def _form(kind: str, partner: Partner, data: Any = None,
          instance: models.Model | None = None) -> BaseForm:
    model, form_class, _action, _title = SETTINGS[kind]
    return form_class(data, prefix=kind, partner=partner,
                      instance=instance if instance is not None else model(partner=partner))


def _settings_context(partner: Partner, **bound: BaseForm) -> dict[str, Any]:
    script = rules.script_for(partner)
    return {
        "partner": partner,
        "script": script,
        "replies": CannedReply.objects.filter(partner=partner),
        "urgency_rules": UrgencyRule.objects.filter(partner=partner).select_related("service"),
        "typical": TypicalRequest.objects.filter(partner=partner),
        "identification_form": bound.get("identification")
        or IdentificationForm(settings=script.settings, prefix="identification"),
        "forms": {kind: bound.get(kind) or _form(kind, partner) for kind in SETTINGS},
        "titles": {kind: title for kind, (_m, _f, _a, title) in SETTINGS.items()},
        "max_fields": MAX_CLASSIFICATION_FIELDS,
        "max_parameters": MAX_DIAGNOSTIC_PARAMETERS,
    }


@supervisor_required
def partner_list(request: HttpRequest) -> HttpResponse:
    partners = partners_for(request.user).select_related("tariff")
    return render(request, "web/script/partners.html", {"partners": partners})


@supervisor_required
def partner_settings(request: HttpRequest, pk: int) -> HttpResponse:
    partner = _partner(request, pk)
    return render(request, "web/script/settings.html", _settings_context(partner))


@supervisor_required
@require_POST
def identification_save(request: HttpRequest, pk: int) -> HttpResponse:
    partner = _partner(request, pk)
    script = rules.script_for(partner)
    form = IdentificationForm(request.POST, settings=script.settings, prefix="identification")
    if form.is_valid():
        try:
            services.save_identification(actor=request.user, partner=partner,
                                         rules_by_method=form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Saved."))
            return redirect("script-settings", pk=partner.pk)
    return render(request, "web/script/settings.html",
                  _settings_context(partner, identification=form), status=400)


def _save(request: HttpRequest, partner: Partner, kind: str, form: BaseForm) -> bool:
    _model, _form_class, action, _title = SETTINGS[kind]
    if not form.is_valid():
        return False
    try:
        instance = form.save(commit=False)  # type: ignore[attr-defined]
        services.save_setting(actor=request.user, partner=partner, instance=instance,
                              action=f"{action}_saved")
    except ValidationError as error:
        add_service_error(form, error)
        return False
    messages.success(request, _("Saved."))
    return True


@supervisor_required
@require_POST
def setting_add(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    partner = _partner(request, pk)
    _kind(kind)
    form = _form(kind, partner, request.POST)
    if _save(request, partner, kind, form):
        return redirect("script-settings", pk=partner.pk)
    return render(request, "web/script/settings.html",
                  _settings_context(partner, **{kind: form}), status=400)


@supervisor_required
def setting_edit(request: HttpRequest, pk: int, kind: str, item_pk: int) -> HttpResponse:
    partner = _partner(request, pk)
    model, _form_class, _action, _title = _kind(kind)
    instance = get_object_or_404(model._default_manager.filter(partner=partner), pk=item_pk)
    form = _form(kind, partner, request.POST or None, instance=instance)
    if request.method == "POST" and _save(request, partner, kind, form):
        return redirect("script-settings", pk=partner.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "web/script/edit.html",
                  {"partner": partner, "form": form, "item": instance, "kind": kind},
                  status=status)


@supervisor_required
@require_http_methods(["GET", "POST"])
def setting_delete(request: HttpRequest, pk: int, kind: str, item_pk: int) -> HttpResponse:
    """GET: the confirmation step; POST: delete."""
    partner = _partner(request, pk)
    model, _form_class, action, _title = _kind(kind)
    instance = get_object_or_404(model._default_manager.filter(partner=partner), pk=item_pk)
    if request.method == "GET":
        return confirm_delete(
            request, title=_("Delete"),
            question=_("Delete “%(item)s” (%(kind)s) from the script of %(partner)s?") % {
                "item": instance, "kind": model._meta.verbose_name, "partner": partner.name},
            cancel_url=reverse("script-settings", args=[partner.pk]),
        )
    try:
        services.delete_setting(actor=request.user, partner=partner, instance=instance,
                                action=f"{action}_deleted")
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
    else:
        messages.success(request, _("Deleted."))
    return redirect("script-settings", pk=partner.pk)


# --- The checklist --------------------------------------------------------------------------

Action = Callable[[Ticket, User, Any], object]

STEP_ACTIONS: dict[str, tuple[Action, Any]] = {
    "identify": (
        lambda ticket, user, form: services.identify(
            ticket=ticket, actor=user, contract_number=form.cleaned_data["contract_number"],
            code_word=form.cleaned_data["code_word"],
            confirmed_email=form.cleaned_data["confirmed_email"]),
        gettext_lazy("Identification recorded."),
    ),
    "classify": (
        lambda ticket, user, form: services.classify(
            ticket=ticket, actor=user, values=form.values()),
        gettext_lazy("Classification saved."),
    ),
    "diagnose": (
        lambda ticket, user, form: services.diagnose(
            ticket=ticket, actor=user, results=form.results()),
        gettext_lazy("Diagnostic results saved."),
    ),
    "prioritise": (
        lambda ticket, user, form: services.prioritise(
            ticket=ticket, actor=user, answers=form.answers()),
        gettext_lazy("Urgency answers recorded."),
    ),
    "typical": (
        lambda ticket, user, form: macros.apply(
            ticket=ticket, actor=user, choice=form.cleaned_data["typical_request"]),
        gettext_lazy("Typical request saved; the deadline follows its norm."),
    ),
    "handover": (
        lambda ticket, user, form: services.hand_over(
            ticket, user, to_user=form.cleaned_data["assignee"],
            group=form.cleaned_data["group"]),
        gettext_lazy("Handed over to the partner."),
    ),
    "handback": (
        lambda ticket, user, form: services.hand_back(
            ticket, user, form.cleaned_data["reason"]),
        gettext_lazy("Returned to the first line."),
    ),
}


@desk_required
@require_http_methods(["GET", "POST"])
def step_view(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    if request.method != "POST":
        return redirect("ticket", pk=pk)  # a reload of the address shows the ticket
    ticket = _get_ticket(request, pk)
    if step not in STEP_ACTIONS:
        raise Http404
    action, done = STEP_ACTIONS[step]
    script = rules.script_for(ticket.partner)
    bound: dict[str, Any] = {}
    if step == "handover":
        bound = pending_steps.save_pending(ticket, request.user, request.POST)
    form = step_form(step, script, ticket, request.POST)
    if not bound and form.is_valid():
        try:
            action(ticket, request.user, form)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            # The choice of a macro of its own is not kept on the ticket: the list shows it
            # still chosen, so its send button stays the default one.
            kept = {STEP_FORMS[step][1]: form} if step == "typical" else {}
            return answer(request, ticket.pk, done=str(done), **kept)
    return answer(request, ticket.pk, **{STEP_FORMS[step][1]: form, **bound})
