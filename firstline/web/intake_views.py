"""The new-ticket form of the desk, with the caller search and the partner's script beside it.

The form re-renders itself (an HTMX swap of the whole form) when the partner changes or a
contact is picked, so the service list, the greeting and the identification script always
belong to the partner being served. Saving goes through web.intake.register_by_hand.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from firstline.contacts.queries import search_contacts
from firstline.core.models import Partner, User
from firstline.quality.script import METHODS, method_label, script_for
from firstline.quality.script_models import IdentificationRule
from firstline.tenancy import contacts_for
from firstline.web.access import desk_required
from firstline.web.forms import NewTicketForm, add_service_error
from firstline.web.intake import register_by_hand


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _script(partner: Partner | None, user: User) -> dict[str, Any] | None:
    """What the operator says and asks on this partner's line."""
    if partner is None:
        return None
    script = script_for(partner)
    rules = script.identification
    return {
        "greeting": partner.greeting_script(user.display_name),
        "identification": [
            (method_label(method), str(IdentificationRule(rules[method]).label))
            for method in METHODS if rules[method] != IdentificationRule.NOT_ASKED
        ],
        "questions": [question.question for question in script.questions],
    }


def _form_from_query(request: HttpRequest) -> NewTicketForm:
    """An unbound form showing what the operator has entered so far (no errors yet)."""
    user = request.user
    values = {key: request.GET.get(key, "") for key in NewTicketForm.base_fields}
    if request.GET.get("pick"):
        values["contact"] = request.GET["pick"]
    if request.GET.get("clear_contact"):
        values["contact"] = ""
    fields = NewTicketForm(user=user).fields

    def chosen(name: str) -> Any:
        raw = values[name]
        return fields[name].queryset.filter(pk=int(raw)).first() if raw.isdigit() else None

    contact, partner, service = chosen("contact"), chosen("partner"), chosen("service")
    if contact is not None and (partner is None or request.GET.get("pick")):
        # Picking a contact picks their partner too (the search may span every partner).
        partner = contact.partner
    elif contact is not None and partner is not None and contact.partner_id != partner.pk:
        contact = None  # the partner was changed: the contact is not theirs
    if service is not None and (partner is None or service.partner_id != partner.pk):
        service = None
    values.update(
        partner=partner.pk if partner else "", contact=contact.pk if contact else "",
        service=service.pk if service else "",
    )
    initial = {key: value for key, value in values.items() if value not in ("", None)}
    form = NewTicketForm(user=user, initial=initial)
    if user.is_partner_user:
        form.initial.setdefault("partner", user.partner_id)
    return form


def _context(request: HttpRequest, form: NewTicketForm, **extra: Any) -> dict[str, Any]:
    partner = form.chosen("partner")
    contact = form.chosen("contact")
    services = form.fields["service"].queryset
    form.fields["service"].queryset = (
        services.filter(partner=partner) if partner is not None else services.none()
    )
    return {
        "form": form,
        "focus": _focus(form, partner, contact),
        "partner": partner,
        "contact": contact,
        "script": _script(partner, request.user),
        "single_partner": request.user.is_partner_user,
        **extra,
    }


def _focus(form: NewTicketForm, partner: Partner | None, contact: Any) -> str:
    """Where the caret goes: the first refused field, else the next thing to fill in."""
    if form.errors:
        focus = next((name for name in form.fields if name in form.errors), "")
    elif partner is None:
        focus = "partner"
    elif contact is None:
        focus = "contact"
    else:
        focus = "text"
    if focus in ("channel", "service", "subject", "text"):
        form.fields[focus].widget.attrs["autofocus"] = True
    return focus


@desk_required
def new_ticket_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = NewTicketForm(request.POST, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                ticket = register_by_hand(
                    partner=data["partner"], actor=request.user, channel=data["channel"],
                    subject=data["subject"], text=data["text"], contact=data["contact"],
                    service=data["service"],
                )
            except ValidationError as error:
                add_service_error(form, error)
            else:
                return redirect("ticket", pk=ticket.pk)
        context = _context(request, form)
        return render(request, "web/new_ticket.html", context, status=400)
    form = _form_from_query(request)
    context = _context(request, form)
    template = "web/new_ticket.html#form" if _is_htmx(request) else "web/new_ticket.html"
    return render(request, template, context)


@desk_required
def contact_search_view(request: HttpRequest) -> HttpResponse:
    """The caller search's suggestions (an HTMX fragment)."""
    text = request.GET.get("contact_q", "")
    contacts = contacts_for(request.user)
    partner = request.GET.get("partner", "")
    if partner.isdigit():
        contacts = contacts.filter(partner_id=int(partner))
    found = search_contacts(contacts, text)
    return render(request, "web/new_ticket.html#suggestions", {
        "found": found, "searched": len(" ".join(text.split())) >= 2,
        "all_partners": not partner.isdigit(),
    })
