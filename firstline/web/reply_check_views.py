"""The live reply check on the ticket page (F3, F16, F17).

The reply editor posts its text here as the operator types (HTMX); the answer is the
findings panel: the offending words marked in a preview with their suggestions, and the
criteria of the chosen reply kind as a checklist. Sending checks again, in
`tickets.services.add_message`; this view only shows what sending would say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from firstline.quality.checking import check_for_ticket
from firstline.quality.rules import CODES_BY_KIND, Finding, FindingCode, ReplyKind
from firstline.tenancy import tickets_for
from firstline.tickets.models import Message
from firstline.web.access import desk_required

CHECKLIST_LABELS = {
    FindingCode.FORBIDDEN_PHRASE: _("No forbidden words"),
    FindingCode.MISSING_NAME: _("The customer is addressed by name"),
    FindingCode.MISSING_CUSTOMER_WORDS: _("The request in the customer's own words"),
    FindingCode.MISSING_DEADLINE: _("The maximum resolution time"),
    FindingCode.STATEMENT_OF_ABSENCE: _("No statement of what is missing"),
    FindingCode.MISSING_REQUEST: _("A request, not a statement"),
    FindingCode.MISSING_BENEFIT: _("What the customer gains"),
}


class ReplyCheckForm(forms.Form):
    # Not stripped: the spans of the findings must point into the text as the editor has it.
    text = forms.CharField(required=False, strip=False)
    kind = forms.ChoiceField(choices=Message.Kind.choices, required=False)
    reply_kind = forms.ChoiceField(choices=[(k.value, k.value) for k in ReplyKind],
                                   required=False)


def utf16_offset(text: str, index: int) -> int:
    """`index` (code points, Python) as the browser counts (UTF-16 units, textarea.value)."""
    return len(text[:index].encode("utf-16-le")) // 2


@dataclass(frozen=True)
class ShownFinding:
    number: int
    finding: Finding
    found: str
    """The marked text, empty for something missing."""
    start: int | None
    end: int | None
    """The span in UTF-16 units, for the script that puts a suggestion in."""

    @property
    def options(self) -> tuple[str, ...]:
        first = (self.finding.suggestion,) if self.finding.suggestion else ()
        return (*first, *self.finding.alternatives)

    @property
    def where(self) -> str:
        """Where an insertion goes: the name starts the reply, the rest goes at the cursor."""
        return "start" if self.finding.code is FindingCode.MISSING_NAME else "cursor"


@dataclass(frozen=True)
class ChecklistItem:
    code: FindingCode
    label: str
    state: str
    """"ok", "missing" or "unchecked" (the desk lacks what the criterion needs)."""
    findings: tuple[ShownFinding, ...]


def _segments(text: str, shown: list[ShownFinding]) -> list[tuple[str, ShownFinding | None]]:
    """The text cut into plain pieces and marked findings, for the preview."""
    pieces: list[tuple[str, ShownFinding | None]] = []
    position = 0
    for item in sorted((s for s in shown if s.finding.span), key=lambda s: s.finding.span):
        start, end = item.finding.span  # type: ignore[misc]
        if start < position:  # overlaps a mark already made
            continue
        if start > position:
            pieces.append((text[position:start], None))
        pieces.append((text[start:end], item))
        position = end
    if position < len(text):
        pieces.append((text[position:], None))
    return pieces


def findings_context(text: str, findings: list[Finding], kind: ReplyKind,
                     name_known: bool) -> dict[str, Any]:
    shown = []
    for number, finding in enumerate(findings, start=1):
        if finding.span is None:
            shown.append(ShownFinding(number, finding, "", None, None))
            continue
        start, end = finding.span
        shown.append(ShownFinding(number, finding, text[start:end],
                                  utf16_offset(text, start), utf16_offset(text, end)))
    checklist = []
    for code in CODES_BY_KIND[kind]:
        mine = tuple(s for s in shown if s.finding.code is code)
        state = "missing" if mine else "ok"
        if code is FindingCode.MISSING_NAME and not name_known:
            state = "unchecked"
        checklist.append(ChecklistItem(code, str(CHECKLIST_LABELS[code]), state, mine))
    return {
        "checked": True,
        "reply_kind": kind,
        "findings": shown,
        "marked": [s for s in shown if s.finding.span is not None],
        "segments": _segments(text, shown),
        "checklist": checklist,
        "blocked": any(f.blocking for f in findings),
    }


@desk_required
@require_POST
def reply_check(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = get_object_or_404(tickets_for(request.user).select_related("partner", "contact"),
                               pk=pk)
    form = ReplyCheckForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    # A form post sends line breaks as CRLF, the editor counts them as one character.
    text = (data.get("text") or "").replace("\r\n", "\n")
    template = "web/reply_check/panel.html#findings"
    if data.get("kind") == Message.Kind.NOTE:
        return render(request, template, {"note": True})
    if not text.strip():
        return render(request, template, {})
    kind = ReplyKind(data.get("reply_kind") or ReplyKind.REGULAR)
    findings = check_for_ticket(text, ticket, kind)
    name_known = bool(ticket.contact and ticket.contact.name.strip())
    return render(request, template, findings_context(text, findings, kind, name_known))
