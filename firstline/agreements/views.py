"""The SLA document pages: the partner's settings for it (authorised persons, compensation
table, terms), generating a version, the versions with their files and what changed. For
provider supervisors and administrators (every partner) and a partner's managers (their
own partner, through `firstline.tenancy`); anyone else is refused."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from firstline.agreements import services
from firstline.agreements.forms import CompensationForm, PersonForm, TermsForm
from firstline.agreements.models import (
    AgreementTerms,
    AgreementVersion,
    AuthorisedPerson,
    CompensationRule,
)
from firstline.core.models import Partner
from firstline.tenancy import partners_for
from firstline.web.access import _area_required
from firstline.web.forms import add_service_error

agreements_required = _area_required(services.can_use)


def _partner(request: HttpRequest, partner_id: int) -> Partner:
    return get_object_or_404(partners_for(request.user), pk=partner_id)


@require_GET
@agreements_required
def index(request: HttpRequest) -> HttpResponse:
    partners = partners_for(request.user).order_by("name")
    if not request.user.is_provider_staff:
        return redirect("agreements:partner", partner_id=request.user.partner_id)
    latest = dict(AgreementVersion.objects.values_list("partner_id").annotate(v=Max("version")))
    rows = [{"partner": partner, "version": latest.get(partner.pk)} for partner in partners]
    return render(request, "agreements/index.html", {"rows": rows})


def _page(request: HttpRequest, partner: Partner, status: int = 200,
          **bound_forms: forms.Form) -> HttpResponse:
    versions = list(AgreementVersion.objects.filter(partner=partner)
                    .select_related("created_by").order_by("-version")[:50])
    shown = versions[0] if versions else None
    wanted = request.GET.get("version", "")
    if wanted.isdigit():
        shown = next((v for v in versions if v.version == int(wanted)), shown)
    changes = None
    if shown is not None:
        before = services.previous(shown)
        changes = services.changes(before.snapshot if before else None, shown.snapshot)
    problem = None
    try:
        services.policy_for(partner)
    except ValidationError as error:
        problem = " ".join(error.message_dict["policy"])
    terms = AgreementTerms.objects.filter(partner=partner).first()
    return render(request, "agreements/partner.html", {
        "partner": partner, "versions": versions, "shown": shown, "changes": changes,
        "previous": services.previous(shown) if shown else None, "problem": problem,
        "persons": AuthorisedPerson.objects.filter(partner=partner)
        .select_related("organisation").order_by("organisation__name", "name"),
        "rules": CompensationRule.objects.filter(partner=partner).order_by("breach_percent"),
        "person_form": bound_forms.get("person_form") or PersonForm(partner=partner),
        "compensation_form": bound_forms.get("compensation_form") or CompensationForm(),
        "terms_form": bound_forms.get("terms_form") or TermsForm(instance=terms),
        "tariff": partner.tariff,
    }, status=status)


@require_GET
@agreements_required
def partner_page(request: HttpRequest, partner_id: int) -> HttpResponse:
    return _page(request, _partner(request, partner_id))


@require_POST
@agreements_required
def generate(request: HttpRequest, partner_id: int) -> HttpResponse:
    partner = _partner(request, partner_id)
    language = request.POST.get("language", "ru")
    try:
        made = services.generate(partner, actor=request.user, language=language)
    except ValidationError as error:
        for texts in error.message_dict.values():
            for text in texts:
                messages.error(request, text)
        return redirect("agreements:partner", partner_id=partner.pk)
    messages.success(request, _("SLA document generated: version %(version)d.") % {
        "version": made.version})
    return redirect("agreements:partner", partner_id=partner.pk)


@dataclass(frozen=True)
class SettingsFormView:
    """One of the partner page's settings forms: what it posts, which service saves it
    (called as `save(partner, actor, **cleaned_data)`), and what the page says then."""

    context_name: str  # the form's name in the partner page's context
    build: Callable[[Partner, Any], forms.Form]  # (partner, posted data) -> bound form
    save: Callable[..., Any]
    saved_message: Promise  # gettext_lazy: in the language of the request

    def submit(self, request: HttpRequest, partner_id: int) -> HttpResponse:
        """Saved: the message, back to the partner page. Refused by the form or by the
        service: the page again with the form and its errors on their fields (400)."""
        partner = _partner(request, partner_id)
        form = self.build(partner, request.POST)
        if form.is_valid():
            try:
                self.save(partner, request.user, **form.cleaned_data)
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(request, self.saved_message)
                return redirect("agreements:partner", partner_id=partner.pk)
        return _page(request, partner, status=400, **{self.context_name: form})


PERSON_FORM = SettingsFormView(
    "person_form", lambda partner, data: PersonForm(data, partner=partner),
    services.add_person, gettext_lazy("Authorised person added."))
COMPENSATION_FORM = SettingsFormView(
    "compensation_form", lambda _partner, data: CompensationForm(data),
    services.add_compensation, gettext_lazy("Compensation row added."))
TERMS_FORM = SettingsFormView(
    "terms_form", lambda _partner, data: TermsForm(data),
    services.save_terms, gettext_lazy("Terms saved."))


@require_POST
@agreements_required
def add_person(request: HttpRequest, partner_id: int) -> HttpResponse:
    return PERSON_FORM.submit(request, partner_id)


@require_POST
@agreements_required
def remove_person(request: HttpRequest, partner_id: int, pk: int) -> HttpResponse:
    partner = _partner(request, partner_id)
    person = get_object_or_404(AuthorisedPerson.objects.filter(partner=partner), pk=pk)
    services.remove_person(person, request.user)
    messages.success(request, _("Authorised person removed."))
    return redirect("agreements:partner", partner_id=partner.pk)


@require_POST
@agreements_required
def add_compensation(request: HttpRequest, partner_id: int) -> HttpResponse:
    return COMPENSATION_FORM.submit(request, partner_id)


@require_POST
@agreements_required
def remove_compensation(request: HttpRequest, partner_id: int, pk: int) -> HttpResponse:
    partner = _partner(request, partner_id)
    rule = get_object_or_404(CompensationRule.objects.filter(partner=partner), pk=pk)
    services.remove_compensation(rule, request.user)
    messages.success(request, _("Compensation row removed."))
    return redirect("agreements:partner", partner_id=partner.pk)


@require_POST
@agreements_required
def save_terms(request: HttpRequest, partner_id: int) -> HttpResponse:
    return TERMS_FORM.submit(request, partner_id)


@require_GET
@agreements_required
def version_file(request: HttpRequest, partner_id: int, pk: int, kind: str) -> HttpResponse:
    partner = _partner(request, partner_id)
    found = get_object_or_404(AgreementVersion.objects.filter(partner=partner), pk=pk)
    stored = {"docx": found.docx, "pdf": found.pdf}.get(kind)
    if not stored:
        raise Http404
    return FileResponse(stored.open("rb"), as_attachment=True,
                        filename=stored.name.rsplit("/", 1)[-1])
