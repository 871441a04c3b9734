"""Inbound mail an operator must look at: letters that could not be processed.

Staff only (the provider reads every partner's mailboxes); partner accounts and customers
get 403 from the area check, like the other staff pages.
"""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from firstline.mail.ingest import reprocess
from firstline.mail.models import InboundMail
from firstline.mail.queries import needs_attention
from firstline.web.access import staff_required


@staff_required
def failed_list(request: HttpRequest) -> HttpResponse:
    rows = needs_attention().select_related("partner", "mailbox")
    page = Paginator(rows, settings.FIRSTLINE_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "mail/failed.html", {"page": page})


@staff_required
def raw_download(request: HttpRequest, pk: int) -> HttpResponse:
    inbound = get_object_or_404(InboundMail, pk=pk)
    response = HttpResponse(inbound.raw_bytes(), content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="inbound-{inbound.pk}.eml"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@staff_required
@require_POST
def retry(request: HttpRequest, pk: int) -> HttpResponse:
    inbound = get_object_or_404(needs_attention(), pk=pk)
    inbound = reprocess(inbound=inbound, actor=request.user)
    if inbound.status == InboundMail.Status.FAILED:
        messages.error(request, _("The letter failed again: %(error)s") % {"error": inbound.error})
    else:
        messages.success(request, _("The letter was processed."))
    return redirect("mail:failed")
