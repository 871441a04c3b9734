"""Checklist values typed but not saved yet, sent along with a hand-over.

A hand-over (the checklist's «Hand over» or the editor's «Send and hand over») includes the
classification and diagnostics forms, so the operator types the tracert and hands over in
one click instead of three. What changed is saved first, each as its own step, through the
same services as the step's own «Save».
"""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from firstline.core.models import User
from firstline.quality import script as rules
from firstline.quality import services
from firstline.tickets.models import Ticket
from firstline.web.forms import add_service_error
from firstline.web.script_forms import STEP_FORMS, ClassifyForm, DiagnoseForm, step_form


def _save(form: forms.Form, ticket: Ticket, user: User) -> None:
    if isinstance(form, ClassifyForm):
        services.classify(ticket=ticket, actor=user, values=form.values())
    elif isinstance(form, DiagnoseForm):
        services.diagnose(ticket=ticket, actor=user, results=form.results())


def save_pending(ticket: Ticket, user: User, data: Any) -> dict[str, forms.Form]:
    """Save the classification and diagnostics in `data` that differ from the ticket's.

    Returns the refused forms by their context key (web/script/checklist.html shows them),
    empty when everything was saved or nothing was pending.
    """
    if not user.is_provider_staff:
        return {}
    script = rules.script_for(ticket.partner)
    refused: dict[str, forms.Form] = {}
    for step in ("classify", "diagnose"):
        if not any(key.startswith(f"{step}-") for key in data):
            continue
        form = step_form(step, script, ticket, data)
        key = STEP_FORMS[step][1]
        if not form.is_valid():
            refused[key] = form
            continue
        typed = {name: form.cleaned_data.get(name) or "" for name in form.fields}
        if typed == {name: form.initial.get(name) or "" for name in form.fields}:
            continue
        try:
            _save(form, ticket, user)
        except ValidationError as error:
            add_service_error(form, error)
            refused[key] = form
    return refused
