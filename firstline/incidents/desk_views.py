"""The desk's incident pages: list and open, link tickets, announce, resolve. Thin."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from firstline.core.models import User
from firstline.incidents import services
from firstline.incidents.forms import (
    AnnouncementTemplateForm,
    IncidentForm,
    IncidentPartsForm,
    RecoveryForm,
    add_domain_errors,
    aware,
)
from firstline.incidents.models import (
    AnnouncementKind,
    AnnouncementTemplate,
    Incident,
    TemplateLanguage,
)
from firstline.tenancy import partners_for, services_for, tickets_for
from firstline.web.access import desk_required


def _incidents(user: User) -> QuerySet[Incident]:
    return Incident.objects.filter(partner__in=partners_for(user)).select_related("partner")


@desk_required
def incident_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = IncidentForm(request.POST or None, partners=partners_for(user),
                        services=services_for(user))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = services.open_incident(
                partner=data["partner"], actor=user, title=data["title"],
                services=list(data["services"]), impact=data["impact"],
                started_at=aware(data["started_at"], data["time_zone"]) if data["time_zone"]
                in services.available_zones() else data["started_at"],
                time_zone=data["time_zone"])
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            return redirect("incidents:desk-incident", incident.pk)
    incidents = _incidents(user).prefetch_related("services")[:100]
    return render(request, "incidents/desk_list.html", {"incidents": incidents, "form": form})


def _page(request: HttpRequest, incident: Incident, **forms: object) -> HttpResponse:
    context = {
        "incident": incident,
        "links": incident.links.select_related("ticket", "ticket__contact", "linked_by"),
        "candidates": services.candidate_tickets(incident) if incident.is_open else [],
        "announcements": incident.announcements.all(),
        "parts_form": forms.get("parts_form") or IncidentPartsForm(),
        "recovery_form": forms.get("recovery_form") or RecoveryForm(),
    }
    return render(request, "incidents/desk_incident.html", context,
                  status=422 if forms else 200)


@desk_required
def incident_page(request: HttpRequest, pk: int) -> HttpResponse:
    return _page(request, get_object_or_404(_incidents(request.user), pk=pk))


@desk_required
@require_POST
def link(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(_incidents(request.user), pk=pk)
    ids = [value for value in request.POST.getlist("ticket") if value.isdigit()]
    tickets = tickets_for(request.user).filter(pk__in=ids)
    try:
        count = services.link_tickets(incident=incident, actor=request.user, tickets=tickets)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Tickets linked: %(count)d.") % {"count": count})
    return redirect("incidents:desk-incident", pk)


@desk_required
@require_POST
def announce(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(_incidents(request.user), pk=pk)
    form = IncidentPartsForm(request.POST)
    if form.is_valid():
        values = {"began_at": incident.started_at, "time_zone": incident.time_zone,
                  "services": services.incident_services(incident), "impact": incident.impact,
                  "expected_fix_at": aware(form.cleaned_data["expected_fix_at"],
                                           incident.time_zone),
                  "workaround": form.cleaned_data["workaround"]}
        try:
            services.create_announcement(partner=incident.partner, actor=request.user,
                                         kind="incident", values=values, incident=incident)
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, _("The announcement was sent."))
            return redirect("incidents:desk-incident", pk)
    return _page(request, incident, parts_form=form)


@desk_required
@require_POST
def resolve(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(_incidents(request.user), pk=pk)
    form = RecoveryForm(request.POST)
    if form.is_valid():
        try:
            services.resolve_incident(incident=incident, actor=request.user,
                                      recovery=form.cleaned_data)
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, _("The incident is resolved; linked tickets got the "
                                        "recovery announcement."))
            return redirect("incidents:desk-incident", pk)
    return _page(request, incident, recovery_form=form)


@desk_required
def templates(request: HttpRequest) -> HttpResponse:
    """A partner's wording of the three announcements in Russian and English: choose one,
    edit it, save it or go back to the default."""
    user = request.user
    partners = list(partners_for(user).order_by("name"))
    chosen = request.POST.get("partner") or request.GET.get("partner") or ""
    partner = next((item for item in partners if str(item.pk) == chosen),
                   partners[0] if partners else None)
    kind = request.POST.get("kind") or request.GET.get("kind") or AnnouncementKind.INCIDENT
    language = request.POST.get("language") or request.GET.get("language") or "ru"
    if kind not in AnnouncementKind.values:
        kind = AnnouncementKind.INCIDENT
    if language not in TemplateLanguage.values:
        language = "ru"
    own = {(item.kind, item.language): item for item in
           AnnouncementTemplate.objects.filter(partner=partner)} if partner else {}
    current = own.get((kind, language))
    initial = ({"subject": current.subject, "body": current.body, "sms": current.sms}
               if current else services.default_template(kind, language))
    form = AnnouncementTemplateForm(request.POST if request.method == "POST" else None,
                                    initial=initial)
    status = 200
    if request.method == "POST" and partner is not None:
        try:
            if "reset" in request.POST:
                services.reset_template(partner=partner, actor=user, kind=kind,
                                        language=language)
                messages.success(request, _("The default wording is used again."))
            elif form.is_valid():
                services.save_template(partner=partner, actor=user, kind=kind,
                                       language=language, **form.cleaned_data)
                messages.success(request, _("The template is saved."))
            else:
                status = 422
        except ValidationError as error:
            add_domain_errors(form, error)
            status = 422
        if status == 200:
            return redirect(f"{request.path}?partner={partner.pk}&kind={kind}"
                            f"&language={language}")
    choices = [{"kind": value, "kind_label": label, "language": code,
                "language_label": language_label, "own": (value, code) in own,
                "current": (value, code) == (kind, language)}
               for value, label in AnnouncementKind.choices
               for code, language_label in TemplateLanguage.choices]
    return render(request, "incidents/desk_templates.html", {
        "partners": partners, "partner": partner, "kind": kind, "language": language,
        "choices": choices, "form": form, "own": current is not None,
        "kind_label": AnnouncementKind(kind).label,
        "language_label": TemplateLanguage(language).label,
    }, status=status)
