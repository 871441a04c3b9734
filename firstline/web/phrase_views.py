"""Editing the reply rules (F17): forbidden-phrase lists and blocking findings.

Supervisors and administrators see the provider-wide list (the defaults with the
provider's changes) and each partner's (with that partner's changes on top), add or allow
phrases, undo a change, and choose which findings stop a partner's public replies. The
changes themselves are `firstline.quality.phrases` functions: validated and audited.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from firstline.core.models import Partner
from firstline.quality import phrases
from firstline.quality.phrase_models import (
    PHRASE_MAX,
    ForbiddenPhraseSetting,
    ReplyLanguage,
)
from firstline.quality.rules import DEFAULT_BLOCKING, FindingCode
from firstline.tenancy import partners_for
from firstline.web.access import supervisor_required
from firstline.web.confirm import confirm_delete
from firstline.web.forms import add_service_error

FINDING_LABELS = {
    FindingCode.FORBIDDEN_PHRASE: gettext_lazy("A forbidden phrase"),
    FindingCode.MISSING_NAME: gettext_lazy("The customer is not addressed by name"),
    FindingCode.MISSING_CUSTOMER_WORDS: gettext_lazy(
        "An acknowledgement without the customer's words"),
    FindingCode.MISSING_DEADLINE: gettext_lazy(
        "An acknowledgement without the maximum resolution time"),
    FindingCode.STATEMENT_OF_ABSENCE: gettext_lazy("A statement of what is missing"),
    FindingCode.MISSING_REQUEST: gettext_lazy("A clarifying question without a request"),
    FindingCode.MISSING_BENEFIT: gettext_lazy(
        "A clarifying question without what the customer gains"),
}


class PhraseForm(forms.Form):
    language = forms.ChoiceField(choices=ReplyLanguage.choices, widget=forms.HiddenInput)
    action = forms.ChoiceField(
        label=gettext_lazy("Action"), choices=ForbiddenPhraseSetting.Action.choices,
        initial=ForbiddenPhraseSetting.Action.ADD, widget=forms.RadioSelect,
    )
    phrase = forms.CharField(
        label=gettext_lazy("Phrase"), max_length=PHRASE_MAX,
        help_text=gettext_lazy("Words in any form: «проблема» also finds «проблемой»."),
    )
    suggestions = forms.CharField(
        label=gettext_lazy("Suggestions, one per line, the preferred first"), required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Needed when you forbid a phrase; ignored when you allow one."),
    )

    def suggestion_list(self) -> list[str]:
        return [line for line in self.cleaned_data["suggestions"].splitlines() if line.strip()]


class BlockingForm(forms.Form):
    codes = forms.MultipleChoiceField(
        label=gettext_lazy("Findings that stop a public reply"), required=False,
        choices=[(code.value, FINDING_LABELS[code]) for code in FindingCode],
        widget=forms.CheckboxSelectMultiple,
    )


def _partner(request: HttpRequest, pk: int | None) -> Partner | None:
    return None if pk is None else get_object_or_404(partners_for(request.user), pk=pk)


def _language(request: HttpRequest) -> str:
    language = request.GET.get("language") or request.POST.get("language") or "ru"
    return language if language in ReplyLanguage.values else "ru"


def _page_url(partner: Partner | None, language: str) -> str:
    url = reverse("reply-rules-partner", args=[partner.pk]) if partner else reverse("reply-rules")
    return f"{url}?language={language}"


def _render(request: HttpRequest, partner: Partner | None, language: str, status: int = 200,
            **forms_: Any) -> HttpResponse:
    lines = phrases.phrase_list(partner, language)
    context: dict[str, Any] = {
        "partner": partner,
        "language": language,
        "languages": ReplyLanguage.choices,
        "partners": partners_for(request.user).only("pk", "name"),
        "lines": lines,
        "forbidden_count": sum(1 for line in lines if not line.allowed_by),
        "phrase_form": forms_.get("phrase_form")
        or PhraseForm(initial={"language": language}),
    }
    if partner is not None:
        codes = phrases.blocking_codes(partner)
        context["blocking_form"] = forms_.get("blocking_form") or BlockingForm(
            initial={"codes": [code.value for code in FindingCode if code in codes]}
        )
        context["default_blocking"] = [FINDING_LABELS[c] for c in FindingCode
                                       if c in DEFAULT_BLOCKING]
    return render(request, "web/reply_check/rules.html", context, status=status)


@supervisor_required
def rules_page(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    return _render(request, _partner(request, pk), _language(request))


@supervisor_required
@require_POST
def phrase_save(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    partner = _partner(request, pk)
    form = PhraseForm(request.POST)
    if form.is_valid():
        try:
            phrases.save_phrase(
                actor=request.user, partner=partner, language=form.cleaned_data["language"],
                phrase=form.cleaned_data["phrase"], action=form.cleaned_data["action"],
                suggestions=form.suggestion_list(),
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("The list is saved."))
            return redirect(_page_url(partner, form.cleaned_data["language"]))
    return _render(request, partner, _language(request), status=400, phrase_form=form)


@supervisor_required
@require_http_methods(["GET", "POST"])
def phrase_delete(request: HttpRequest, setting_pk: int) -> HttpResponse:
    """GET: the confirmation step; POST: undo the change."""
    # Provider-wide rows have no partner; a partner's row is reachable through its partner.
    setting = get_object_or_404(ForbiddenPhraseSetting, pk=setting_pk)
    partner = _partner(request, setting.partner_id)
    if request.method == "GET":
        scope = partner.name if partner else _("all partners")
        if setting.action == ForbiddenPhraseSetting.Action.REMOVE:
            question = _("Forbid “%(phrase)s” again for %(scope)s?")
        else:
            question = _("Undo the change of “%(phrase)s” for %(scope)s?")
        return confirm_delete(
            request, title=_("Undo a change of the list"),
            question=question % {"phrase": setting.phrase, "scope": scope},
            details=list(setting.suggestions or []),
            cancel_url=_page_url(partner, setting.language),
            button=_("Undo the change"),
        )
    phrases.delete_phrase(actor=request.user, setting=setting)
    messages.success(request, _("The change is undone."))
    return redirect(_page_url(partner, setting.language))


@supervisor_required
@require_POST
def blocking_save(request: HttpRequest, pk: int) -> HttpResponse:
    partner = get_object_or_404(partners_for(request.user), pk=pk)
    form = BlockingForm(request.POST)
    if form.is_valid():
        try:
            phrases.set_blocking(actor=request.user, partner=partner,
                                 codes=form.cleaned_data["codes"])
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Saved."))
            return redirect(_page_url(partner, _language(request)))
    return _render(request, partner, _language(request), status=400, blocking_form=form)
