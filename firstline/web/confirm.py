"""One confirmation step before a delete in the settings pages.

A delete URL answers GET with a page that says what would go (and, for something still in
use, why it cannot), and POST with the delete itself. A plain page and a form: no inline
script or `confirm()` handler, so it works under the strict Content-Security-Policy.
"""

from collections.abc import Sequence

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def confirm_delete(
    request: HttpRequest,
    *,
    title: str,
    question: str,
    cancel_url: str,
    details: Sequence[str] = (),
    refusal: Sequence[str] = (),
    button: str | None = None,
    hidden: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The confirmation page; with `refusal` it explains why there is nothing to confirm.

    `hidden` carries fields the delete needs back (the year a calendar page was showing)."""
    return render(request, "web/confirm_delete.html", {
        "title": title,
        "question": question,
        "details": details,
        "refusal": refusal,
        "cancel_url": cancel_url,
        "button": button or _("Delete"),
        "hidden": hidden or {},
    }, status=status)
