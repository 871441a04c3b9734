"""Desk pages for the KPI targets and the evidence registers (until now only in Django
admin, which a supervisor cannot reach): lists with add and revise forms, reachable from
the metrics dashboard's tabs. Supervisors and administrators edit; a partner's manager
reads their partner's rows and the provider-wide ones."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from firstline.core.clock import now
from firstline.metrics import registers, registry
from firstline.metrics.desk_forms import EvidenceForm, TargetForm
from firstline.metrics.models import Evidence
from firstline.metrics.services import STALE_AFTER
from firstline.metrics.views import metrics_required
from firstline.tenancy import partners_for


def _errors_to(form: Any, error: ValidationError) -> None:
    for field, texts in error.message_dict.items():
        for text in texts:
            form.add_error(field if field in form.fields else None, text)


def _require_edit(request: HttpRequest) -> None:
    if not registers.can_edit(request.user):
        raise PermissionDenied


@metrics_required
def targets(request: HttpRequest) -> HttpResponse:
    partners = partners_for(request.user).order_by("name")
    form = TargetForm(partners=partners)
    status = 200
    if request.method == "POST":
        _require_edit(request)
        form = TargetForm(request.POST, partners=partners)
        if form.is_valid():
            data = form.cleaned_data
            try:
                registers.set_target(request.user, partner=data["partner"],
                                     metric_key=data["metric"], value=data["target"])
            except ValidationError as error:
                _errors_to(form, error)
            else:
                messages.success(request, _("KPI target saved."))
                return redirect("metrics:targets")
        status = 400
    names = {metric.key: metric for metric in registry.metrics()}
    today = now().date()
    rows = [{
        "row": row, "metric": names.get(row.metric),
        "value": registers.shown_value(row.metric, row.target),
        "share": row.metric in names and names[row.metric].unit == "share",
        "stale": today - row.revised_at > STALE_AFTER,
    } for row in registers.visible_targets(request.user).order_by("metric", "partner__name")]
    return render(request, "metrics/targets.html", {
        "rows": rows, "form": form, "can_edit": registers.can_edit(request.user),
    }, status=status)


@metrics_required
def evidence(request: HttpRequest) -> HttpResponse:
    partners = partners_for(request.user).order_by("name")
    form = EvidenceForm(partners=partners, initial={"held_on": now().date()})
    status = 200
    if request.method == "POST":
        _require_edit(request)
        form = EvidenceForm(request.POST, request.FILES, partners=partners)
        if form.is_valid():
            data = form.cleaned_data
            try:
                registers.add_evidence(request.user, **data)
            except ValidationError as error:
                _errors_to(form, error)
            else:
                messages.success(request, _("Record added."))
                return redirect("metrics:evidence")
        status = 400
    rows = registers.visible_evidence(request.user)
    kind = request.GET.get("kind", "")
    if kind in Evidence.Kind.values:
        rows = rows.filter(kind=kind)
    today = now().date()
    return render(request, "metrics/evidence.html", {
        "rows": [{"row": row, "overdue": row.next_due is not None and row.next_due < today}
                 for row in rows[:300]],
        "form": form, "kinds": Evidence.Kind.choices, "kind": kind,
        "can_edit": registers.can_edit(request.user),
    }, status=status)


@metrics_required
def evidence_record(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(registers.visible_evidence(request.user), pk=pk)
    partners = partners_for(request.user).order_by("name")
    if request.method == "POST":
        _require_edit(request)
        form = EvidenceForm(request.POST, request.FILES, instance=record, partners=partners)
        # Validate on a copy: a refused revision leaves the stored record as it was.
        if form.is_valid():
            data = form.cleaned_data
            partner = data.pop("partner")
            record.refresh_from_db()
            try:
                if partner != record.partner:
                    raise ValidationError({"partner": _(
                        "A record's partner cannot change; add a new record instead.")})
                registers.revise_evidence(record, request.user, **data)
            except ValidationError as error:
                _errors_to(form, error)
            else:
                messages.success(request, _("Record revised."))
                return redirect("metrics:evidence")
        record.refresh_from_db()
        return render(request, "metrics/evidence_record.html",
                      {"record": record, "form": form, "can_edit": True}, status=400)
    form = EvidenceForm(instance=record, partners=partners)
    return render(request, "metrics/evidence_record.html", {
        "record": record, "form": form, "can_edit": registers.can_edit(request.user)})


@require_GET
@metrics_required
def evidence_document(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(registers.visible_evidence(request.user), pk=pk)
    if not record.document:
        raise Http404
    return FileResponse(record.document.open("rb"), as_attachment=True,
                        filename=record.document.name.rsplit("/", 1)[-1])
