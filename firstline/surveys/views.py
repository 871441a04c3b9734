"""Survey pages: the public answer and unsubscribe pages, the portal rating, and the desk's
feedback, follow-up tasks, risk list and win-back cases. Thin: parse, call, render."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from firstline.core.models import User
from firstline.surveys import risk, services, winback
from firstline.surveys.forms import CsiQuestionForm, SurveySettingsForm
from firstline.surveys.models import (
    CsiQuestion,
    FollowUpTask,
    Survey,
    SurveySettings,
    SurveyStatus,
    WinBackCase,
)
from firstline.surveys.stats import survey_facts
from firstline.tenancy import assignable_users, organisations_for, partners_for, tickets_for
from firstline.web.access import customer_required, desk_required


def _roles_required(*roles: str) -> Callable[..., Any]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if request.user.role not in roles:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


# The supervisor, the administrator and the partner manager see risks and win back.
manager_required = _roles_required(User.Role.SUPERVISOR, User.Role.ADMIN, User.Role.MANAGER)
supervisor_area = _roles_required(User.Role.SUPERVISOR, User.Role.ADMIN)


def _errors(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [message for messages_ in error.message_dict.values() for message in messages_]
    return list(error.messages)


# --- public: the answer and unsubscribe pages ---------------------------------------------

def vote_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        vote = services.vote_for_token(token)
    except services.LinkError as error:
        return render(request, "surveys/link_invalid.html", {"reason": str(error)}, status=400)
    survey = vote.survey
    context: dict[str, Any] = {
        "survey": survey, "partner": survey.partner, "chosen": vote.score,
        "questions": services.csi_questions(survey), "errors": [],
        "csi_given": {a.question_id: a.score for a in survey.csi_answers.all()},
    }
    if request.method == "POST":
        # Voting on POST only: a mail scanner fetching the link (GET) records nothing.
        csi = {q.pk: request.POST.get(f"csi_{q.pk}", "") for q in context["questions"]}
        try:
            services.record_answer(
                survey=survey, score=request.POST.get("score", ""),
                comment=request.POST.get("comment", ""), csi=csi, source="mail",
            )
        except ValidationError as error:
            context["errors"] = _errors(error)
            return render(request, "surveys/vote.html", context, status=400)
        return render(request, "surveys/thanks.html", {"partner": survey.partner})
    if survey.score is not None:
        context["chosen"] = vote.score
    return render(request, "surveys/vote.html", context)


def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        contact = services.contact_for_unsubscribe(token)
    except services.LinkError as error:
        return render(request, "surveys/link_invalid.html", {"reason": str(error)}, status=400)
    done = False
    if request.method == "POST":
        services.unsubscribe(contact)
        done = True
    return render(request, "surveys/unsubscribe.html",
                  {"partner": contact.partner, "done": done,
                   "already": not done and services.is_opted_out(contact)})


@customer_required
@require_POST
def portal_rate_view(request: HttpRequest, ticket_pk: int) -> HttpResponse:
    ticket = get_object_or_404(tickets_for(request.user), pk=ticket_pk)
    survey = services.portal_survey(ticket, request.user)
    if survey is None:
        messages.error(request, _("This ticket cannot be rated now."))
        return redirect("portal:ticket", pk=ticket.pk)
    try:
        services.record_answer(survey=survey, score=request.POST.get("score", ""),
                               comment=request.POST.get("comment", ""), source="portal",
                               actor=request.user)
    except ValidationError as error:
        for message in _errors(error):
            messages.error(request, message)
    else:
        messages.success(request, _("Thank you for your rating."))
    return redirect("portal:ticket", pk=ticket.pk)


# --- desk: feedback as is ------------------------------------------------------------------

@desk_required
def feedback_view(request: HttpRequest) -> HttpResponse:
    partners = partners_for(request.user)
    answers = (
        Survey.objects.filter(partner__in=partners, status=SurveyStatus.ANSWERED)
        .select_related("partner", "ticket", "operator", "contact", "organisation")
        .order_by("-answered_at", "-id")
    )
    kind = request.GET.get("kind", "")
    if kind in ("csat", "nps"):
        answers = answers.filter(kind=kind)
    page = Paginator(answers, 50).get_page(request.GET.get("page"))
    partner = partners.first() if request.user.is_partner_user else None
    facts = survey_facts(partner=partner)
    return render(request, "surveys/feedback.html",
                  {"page": page, "facts": facts, "kind": kind})


@supervisor_area
def tasks_view(request: HttpRequest) -> HttpResponse:
    tasks = FollowUpTask.objects.select_related(
        "survey__ticket", "survey__operator", "survey__contact", "survey__organisation",
        "partner", "done_by").order_by("status", "-created_at")
    page = Paginator(tasks, 50).get_page(request.GET.get("page"))
    return render(request, "surveys/tasks.html", {"page": page})


@supervisor_area
@require_POST
def task_done_view(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(FollowUpTask, pk=pk)
    try:
        services.close_follow_up(task=task, actor=request.user, note=request.POST.get("note", ""))
    except ValidationError as error:
        for message in _errors(error):
            messages.error(request, message)
    else:
        messages.success(request, _("The follow-up is done."))
    return redirect("surveys:tasks")


# --- desk: early warning and win-back -------------------------------------------------------

@manager_required
def risk_view(request: HttpRequest) -> HttpResponse:
    risks = risk.risk_list(partners_for(request.user))
    cases = {case.organisation_id: case for case in WinBackCase.objects.filter(
        organisation_id__in=[r.organisation.pk for r in risks], status=WinBackCase.Status.OPEN)}
    return render(request, "surveys/risk.html", {
        "risks": risks, "cases": cases, "rules": list(risk.RULES.values())})


@manager_required
def winback_list_view(request: HttpRequest) -> HttpResponse:
    cases = WinBackCase.objects.filter(partner__in=partners_for(request.user)).select_related(
        "organisation", "assignee", "partner").order_by("status", "-created_at")
    page = Paginator(cases, 50).get_page(request.GET.get("page"))
    return render(request, "surveys/winback_list.html", {"page": page})


@manager_required
def winback_new_view(request: HttpRequest, organisation_pk: int) -> HttpResponse:
    organisation = get_object_or_404(organisations_for(request.user).select_related("partner"),
                                     pk=organisation_pk)
    candidates = assignable_users(request.user, organisation.partner)
    errors: list[str] = []
    if request.method == "POST":
        assignee = candidates.filter(pk=request.POST.get("assignee") or 0).first()
        if assignee is None:
            errors = [_("Choose who will win the customer back.")]
        else:
            try:
                case = winback.open_case(
                    organisation=organisation, actor=request.user, assignee=assignee,
                    reason=request.POST.get("reason", ""), note=request.POST.get("note", ""))
            except ValidationError as error:
                errors = _errors(error)
            else:
                messages.success(request, _("The win-back case is open."))
                return redirect("surveys:winback-case", pk=case.pk)
    handled = risk.handlers_of(risk.bad_ticket_ids(organisation))
    return render(request, "surveys/winback_new.html", {
        "organisation": organisation, "candidates": candidates, "errors": errors,
        "handled": handled, "reasons": WinBackCase.Reason.choices,
        "risk": risk.risk_of(organisation), "standing": winback.standing_of(organisation),
    }, status=400 if errors else 200)


def _case_for(user: User, pk: int) -> WinBackCase:
    cases = WinBackCase.objects.filter(partner__in=partners_for(user)).select_related(
        "organisation", "assignee", "partner")
    return get_object_or_404(cases, pk=pk)


@manager_required
def winback_case_view(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case_for(request.user, pk)
    errors: list[str] = []
    if request.method == "POST":
        try:
            if request.POST.get("action") == "attempt":
                winback.log_attempt(case=case, actor=request.user,
                                    note=request.POST.get("note", ""))
            else:
                winback.close_case(case=case, actor=request.user,
                                   outcome=request.POST.get("outcome", ""))
        except ValidationError as error:
            errors = _errors(error)
        else:
            return redirect("surveys:winback-case", pk=case.pk)
    return render(request, "surveys/winback_case.html", {
        "case": case, "errors": errors, "standing": winback.standing_of(case.organisation),
        "risk": risk.risk_of(case.organisation),
    }, status=400 if errors else 200)


# --- settings: the supervisor for every partner, the partner's manager for their own --------

@manager_required
def settings_list_view(request: HttpRequest) -> HttpResponse:
    return render(request, "surveys/settings_list.html",
                  {"partners": partners_for(request.user).order_by("name")})


@manager_required
def settings_view(request: HttpRequest, partner_pk: int) -> HttpResponse:
    partner = get_object_or_404(partners_for(request.user), pk=partner_pk)
    existing = SurveySettings.objects.filter(partner=partner).first()
    form = SurveySettingsForm(instance=existing, partner_id=partner.pk)
    question_form = CsiQuestionForm(prefix="q")
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "settings":
            form = SurveySettingsForm(request.POST, instance=existing, partner_id=partner.pk)
            if form.is_valid():
                services.save_settings(partner=partner, actor=request.user, form=form)
                messages.success(request, _("Survey settings saved."))
                return redirect("surveys:settings", partner_pk=partner.pk)
        elif action == "question":
            question_form = CsiQuestionForm(request.POST, prefix="q")
            if question_form.is_valid():
                services.add_csi_question(partner=partner, actor=request.user,
                                          form=question_form)
                return redirect("surveys:settings", partner_pk=partner.pk)
        elif action in ("enable", "disable"):
            question = get_object_or_404(CsiQuestion, partner=partner,
                                         pk=request.POST.get("question") or 0)
            services.set_csi_question_active(question=question, actor=request.user,
                                             active=action == "enable")
            return redirect("surveys:settings", partner_pk=partner.pk)
    invalid = bool(form.errors or question_form.errors)
    return render(request, "surveys/settings.html", {
        "partner": partner, "form": form, "question_form": question_form,
        "questions": CsiQuestion.objects.filter(partner=partner),
    }, status=400 if invalid else 200)
