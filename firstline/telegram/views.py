"""The Bot API's webhook, the desk's settings page for a partner's bot, and on the ticket
page the chat's card and «ask Telegram again» for a file that did not arrive."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from firstline.core.models import Partner, User
from firstline.telegram import files, services
from firstline.telegram.forms import BotForm
from firstline.telegram.models import Bot, IncomingFile, Update
from firstline.telegram.outbound import chat_for_ticket
from firstline.tenancy import messages_for, partners_for, tickets_for
from firstline.web.access import desk_required, supervisor_required

# An update is a few kilobytes; files come by getFile, never in the body.
MAX_UPDATE_BYTES = 1024 * 1024


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Telegram's webhook call: the secret header checked before anything is stored."""
    bot = Bot.objects.filter(bot_id=bot_id, is_active=True, mode=Bot.Mode.WEBHOOK).first()
    if bot is None:
        raise Http404
    if not services.secret_ok(bot, request.headers.get(services.SECRET_HEADER, "")):
        return JsonResponse({"detail": _("Wrong or missing secret token.")}, status=403)
    body = request.body
    if len(body) > MAX_UPDATE_BYTES:
        return JsonResponse({"detail": _("The update is too large.")}, status=413)
    raw = body.decode("utf-8", errors="replace")
    update, duplicate = services.receive(bot, raw, source=Update.Source.WEBHOOK)
    # 200 whatever became of it: the update is kept (failed ones with their reason), and
    # another status would only make Telegram send it again.
    return JsonResponse({"ok": True, "status": update.status, "duplicate": duplicate})


def _partner(request: HttpRequest, pk: int) -> Partner:
    return get_object_or_404(partners_for(request.user), pk=pk)


@supervisor_required
def partner_list(request: HttpRequest) -> HttpResponse:
    partners = list(partners_for(request.user).order_by("name"))
    bots = {bot.partner_id: bot for bot in Bot.objects.filter(partner__in=partners)}
    rows = [(partner, bots.get(partner.pk)) for partner in partners]
    return render(request, "telegram/partners.html", {"rows": rows})


@supervisor_required
def bot_settings(request: HttpRequest, pk: int) -> HttpResponse:
    partner = _partner(request, pk)
    bot = Bot.objects.filter(partner=partner).first()
    form = BotForm(request.POST or None, bot=bot)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_bot(partner=partner, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("The Telegram bot is saved."))
            return redirect("telegram:settings", pk=partner.pk)
    failed = (Update.objects.filter(bot=bot, status=Update.Status.FAILED)
              .order_by("-received_at")[:20] if bot else [])
    context = {"partner": partner, "bot": bot, "form": form, "failed": failed,
               "webhook_url": services.webhook_address(bot) if bot else ""}
    return render(request, "telegram/settings.html", context, status=400 if form.errors else 200)


@supervisor_required
@require_POST
def set_webhook(request: HttpRequest, pk: int) -> HttpResponse:
    partner = _partner(request, pk)
    bot = get_object_or_404(Bot, partner=partner)
    try:
        services.set_webhook(bot=bot, actor=request.user)
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
    else:
        messages.success(request, _("Telegram now sends the bot's messages to this desk."))
    return redirect("telegram:settings", pk=partner.pk)


@supervisor_required
@require_POST
def reprocess(request: HttpRequest, pk: int, update_pk: int) -> HttpResponse:
    partner = _partner(request, pk)
    update = get_object_or_404(Update, partner=partner, pk=update_pk)
    try:
        update = services.reprocess(update=update, actor=request.user)
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
    else:
        messages.info(request, _("Processed again: %(status)s.")
                      % {"status": update.get_status_display()})
    return redirect("telegram:settings", pk=partner.pk)


@desk_required
@require_POST
def retry_file(request: HttpRequest, pk: int) -> HttpResponse:
    """«Запросить снова» on a file that could not be fetched: back to the worker."""
    item = get_object_or_404(
        IncomingFile.objects.filter(message__in=messages_for(request.user)), pk=pk)
    try:
        files.retry(item=item, actor=request.user)
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
    else:
        messages.info(request, _("The file “%(name)s” is asked from Telegram again.")
                      % {"name": item.filename})
    return redirect("ticket", pk=item.message.ticket_id)


@desk_required
def ticket_chat(request: HttpRequest, pk: int) -> HttpResponse:
    """The Telegram card of a ticket page (loaded by telegram/ticket_slot.html): who writes
    from which chat, whether they shared their phone, the bot, the files not attached yet."""
    ticket = get_object_or_404(tickets_for(request.user).filter(channel="telegram"), pk=pk)
    chat = chat_for_ticket(ticket)
    counts = {status: 0 for status in IncomingFile.Status.values}
    for status in (IncomingFile.objects.filter(message__ticket=ticket)
                   .values_list("status", flat=True)):
        counts[status] += 1
    user = request.user
    context = {
        "chat": chat, "pending": counts[IncomingFile.Status.PENDING],
        "failed": counts[IncomingFile.Status.FAILED],
        "can_configure": chat is not None and user.role in (User.Role.SUPERVISOR, User.Role.ADMIN)
        and partners_for(user).filter(pk=chat.partner_id).exists(),
    }
    return render(request, "telegram/ticket_chat.html", context)
