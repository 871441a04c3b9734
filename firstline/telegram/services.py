"""Telegram as a customer channel: what an update does, and the partner's bot settings.

    update, duplicate = receive(bot, raw_json, source=Update.Source.WEBHOOK)

1. The raw update is stored first, in its own transaction; the same update_id twice is
   one row (Telegram redelivers until it is acknowledged) and the second call does nothing.
2. In one transaction, with no call to Telegram: the chat is threaded to its open ticket
   (a resolved one reopens, a closed one gives a new ticket), or a new ticket is opened
   with an acknowledgement in the outbox. The customer is found by the phone number they
   share (the contact's phones, compared in E.164) and identified by a contract number or
   code word in the text. Bots' messages are never answered (the loop guard); automatic
   replies to a chat are rate-limited like mail's. Whatever goes wrong, the row stays
   `failed` with the reason.
3. Files (photos, documents) are kept by their Telegram file_id (IncomingFile, pending) with
   the message; a background task fetches them after the commit (firstline.telegram.files).
   One the update already declares too big is refused at once, by name and reason.
"""

import hmac
import json
import logging
import re
import secrets
import traceback

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from firstline.calls.phones import try_e164
from firstline.calls.services import contact_for_number
from firstline.contacts.models import Contact, ContactPhone, letter_language
from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import Partner, User
from firstline.mail import autoreply
from firstline.mail.identify import identify_by_text
from firstline.mail.models import AutoReplyLog
from firstline.mail.text import signature
from firstline.outbox import services as outbox
from firstline.outbox.models import Channel as OutboxChannel
from firstline.telegram import botapi, files, texts
from firstline.telegram.models import Bot, Chat, IncomingFile, Update
from firstline.telegram.parsing import FileRef, Incoming, NotAnUpdate, parse, update_id_of
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel, IdentifiedBy, Message, Status, Ticket

logger = logging.getLogger(__name__)

UpdateStatus = Update.Status
# The header Telegram sends with every webhook call when setWebhook had a secret_token.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
# An outbox header: the adapter adds the "share my phone number" keyboard to the message,
# its button in the header's language.
KEYBOARD_HEADER = "X-Telegram-Keyboard"
_TOKEN = re.compile(r"^(\d{1,20}):[A-Za-z0-9_-]{30,100}$")
NAME_MAX = Contact._meta.get_field("name").max_length or 200


# Storing ---------------------------------------------------------------------------------


def store(bot: Bot, raw: str, *, source: str) -> tuple[Update, bool]:
    """Keep the update as received; (the row, True) when it was stored before."""
    update_id = update_id_of(raw)
    row = Update(partner_id=bot.partner_id, bot=bot, update_id=update_id, raw=raw,
                 source=source, received_at=now())
    try:
        with transaction.atomic():
            row.save()
            Bot.objects.filter(pk=bot.pk).update(last_update_at=row.received_at)
    except IntegrityError:
        existing = Update.objects.filter(bot=bot, update_id=update_id).first()
        if existing is None:
            raise
        return existing, True
    return row, False


def receive(bot: Bot, raw: str, *, source: str) -> tuple[Update, bool]:
    """Store an update, then process it; safe to call twice with the same update."""
    row, duplicate = store(bot, raw, source=source)
    if not duplicate and row.status == UpdateStatus.STORED:
        row = process(row)
    return row, duplicate


def secret_ok(bot: Bot, given: str) -> bool:
    """The webhook's secret header, compared in constant time."""
    expected = str(bot.secret_token or "")
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


# Processing ------------------------------------------------------------------------------


# (file name, size, reason key, detail for the operator): a file that is not kept.
Refusal = tuple[str, int | None, str, str]


def attachment_limit() -> int:
    return int(settings.FIRSTLINE_MAX_ATTACHMENT_BYTES)


def _split_files(incoming: Incoming) -> tuple[list[FileRef], list[tuple[FileRef, str]]]:
    """The files to fetch, and those the update itself says are over a limit (with which)."""
    limit = attachment_limit()
    wanted, refused = [], []
    for ref in incoming.files:
        reason = size_refusal(ref.size, limit)
        if reason:
            refused.append((ref, reason))
        else:
            wanted.append(ref)
    return wanted, refused


def size_refusal(size: int | None, limit: int, known_big: bool = False) -> str:
    """"" when the file may be fetched; else which limit it is over: Telegram's own (bots
    get files of at most 20 MB) or the desk's attachment limit."""
    if known_big:
        return "over_limit" if limit < botapi.BOT_DOWNLOAD_LIMIT else "too_big"
    if size is None:
        return ""
    if size > botapi.BOT_DOWNLOAD_LIMIT:
        return "too_big"
    return "over_limit" if size > limit else ""


def process(update: Update) -> Update:
    """Act on a stored update; return the row as it is now. Never raises for a bad update."""
    bot = Bot.objects.select_related("partner").get(pk=update.bot_id)
    try:
        incoming = parse(update.raw)
    except NotAnUpdate as exc:
        return _finish_early(update, UpdateStatus.FAILED, error=str(exc))
    if incoming.kind != "message":
        return _finish_early(update, UpdateStatus.IGNORED,
                             problems=_("Not a message (%(kind)s): nothing to do.")
                             % {"kind": incoming.kind}, chat_id=incoming.chat_id)
    if incoming.from_bot or incoming.from_id == bot.bot_id:
        # The loop guard: a bot (ours included) is never answered and opens no ticket.
        return _finish_early(update, UpdateStatus.IGNORED,
                             problems=_("Sent by a bot: never answered."),
                             chat_id=incoming.chat_id)
    if incoming.chat_type and incoming.chat_type != "private":
        return _finish_early(update, UpdateStatus.IGNORED,
                             problems=_("A group chat: only private chats open tickets."),
                             chat_id=incoming.chat_id)
    try:
        with transaction.atomic():
            locked = Update.objects.select_for_update().get(pk=update.pk)
            if locked.status != UpdateStatus.STORED:
                return locked  # another worker got it first
            _handle(locked, bot, incoming)
            locked.processed_at = now()
            locked.save(update_fields=["status", "problems", "error", "chat_id", "ticket",
                                       "ticket_message", "processed_at"])
            return locked
    except Exception as exc:  # noqa: BLE001 — the update stays, failed, for an operator
        logger.exception("telegram update %s: processing failed", update.pk)
        error = "".join(traceback.format_exception_only(exc)).strip()
        return _finish_early(update, UpdateStatus.FAILED, error=error,
                             chat_id=incoming.chat_id)


def _finish_early(update: Update, status: str, *, error: str = "", problems: str = "",
                  chat_id: int | None = None) -> Update:
    with transaction.atomic():
        Update.objects.filter(pk=update.pk, status=UpdateStatus.STORED).update(
            status=status, error=error[:10000], problems=problems, chat_id=chat_id,
            processed_at=now(),
        )
    return Update.objects.get(pk=update.pk)


def reprocess(*, update: Update, actor: User | None) -> Update:
    """Process a failed update again (after the cause was put right)."""
    with transaction.atomic():
        changed = Update.objects.filter(pk=update.pk, status=UpdateStatus.FAILED).update(
            status=UpdateStatus.STORED, error="", problems=""
        )
        if changed:
            audit.record(actor=actor, partner=update.partner, action="telegram.reprocess",
                         target=update, before={"status": update.status, "error": update.error},
                         after={"status": UpdateStatus.STORED})
    if not changed:
        raise ValidationError({"status": _("Only a failed update can be processed again.")})
    return process(Update.objects.get(pk=update.pk))


# Inside the processing transaction --------------------------------------------------------


def _handle(update: Update, bot: Bot, incoming: Incoming) -> None:
    partner = bot.partner
    problems: list[str] = []
    chat = _chat(bot, incoming)
    update.chat_id = incoming.chat_id
    if incoming.contact is not None:
        problems += _shared_phone(chat, incoming)
    language = letter_language(chat.contact, partner)
    wanted, too_big = _split_files(incoming)
    refusals: list[Refusal] = [(ref.filename, ref.size, reason, "") for ref, reason in too_big]
    refused_lines = [refused_line(*refusal) for refusal in refusals]
    # A file without a caption: its name stands for the text, and shows where it will be.
    text = incoming.text or "\n".join(f"[{ref.filename}]" for ref in incoming.files)
    ticket = chat.ticket
    if ticket is not None and ticket.status == Status.CLOSED:
        problems.append(_("%(number)s is closed: a new ticket was opened.")
                        % {"number": ticket.number})
        ticket = None
    if not text:
        # Only a phone number (or a sticker): nothing to open a ticket with.
        if ticket is not None and incoming.contact is not None and problems:
            update.ticket = ticket
            update.ticket_message = note(ticket, "\n".join(problems))
        update.status = UpdateStatus.PROCESSED if incoming.contact else UpdateStatus.IGNORED
        update.problems = "\n".join(problems or [_("No text and no file: nothing to do.")])
        return
    if ticket is not None:
        message = ticket_services.add_message(
            ticket=ticket, actor=None, kind=Message.Kind.INBOUND, text=text,
            contact=chat.contact,
        )
        if problems and incoming.contact is not None:
            note(ticket, "\n".join(problems))
        created = False
    else:
        contact = chat.contact
        how = identify_by_text(partner, contact, text) if contact is not None else IdentifiedBy.NONE
        # A chat message has no subject: its first sentence (not the whole first line of
        # a long message), as the acknowledgement names the request.
        ticket = ticket_services.create_ticket(
            partner=partner, actor=None, channel=Channel.TELEGRAM,
            subject=subject_of(text), text=text, contact=contact,
            identified_by=how,
        )
        message = getattr(ticket, "opening_message", None) or ticket.messages.order_by(
            "id").first()
        chat.ticket = ticket
        chat.save(update_fields=["ticket"])
        created = True
        if problems and incoming.contact is not None:
            note(ticket, "\n".join(problems))
    _keep_files(update, chat, message, wanted, too_big)
    if refused_lines:
        note(ticket, "\n".join(refused_lines))
        problems += refused_lines
    if created:
        problems += _acknowledge(ticket, chat, incoming.text or text, language)
    if refusals:
        problems += tell_refused(ticket, chat, refusals, language)
    update.ticket = ticket
    update.ticket_message = message
    update.status = UpdateStatus.PROCESSED
    update.problems = "\n".join(problems)


def _keep_files(update: Update, chat: Chat, message: Message, wanted: list[FileRef],
                too_big: list[tuple[FileRef, str]]) -> None:
    """The message's files by their file_id: to fetch after the commit, or refused now."""
    if not wanted and not too_big:
        return
    moment = now()

    def row(ref: FileRef, **fields: object) -> IncomingFile:
        return IncomingFile(
            partner_id=update.partner_id, bot_id=update.bot_id, chat=chat, update=update,
            message=message, file_id=ref.file_id[:255], filename=ref.filename[:255],
            content_type=ref.content_type[:200], size=ref.size, created_at=moment, **fields)

    rows = [row(ref, next_attempt_at=moment + files.LEASE) for ref in wanted]
    rows += [row(ref, status=IncomingFile.Status.FAILED, reason=reason, finished_at=moment,
                 next_attempt_at=moment) for ref, reason in too_big]
    IncomingFile.objects.bulk_create(rows)
    ids = [item.pk for item in rows[:len(wanted)]]
    if ids:
        # The worker fetches them once the message is committed; if this task is lost,
        # the poller's sweep hands them to another after files.LEASE.
        transaction.on_commit(lambda: files.enqueue(ids), robust=True)


SUBJECT_WORDS = 150


def subject_of(text: str) -> str:
    """A chat message's first sentence («Здравствуйте!» and the like skipped), cut at a word
    past SUBJECT_WORDS characters; quotes are kept as written («Ошибка 403»)."""
    sentence = " ".join((autoreply.first_sentence(text) or text).split())
    if len(sentence) <= SUBJECT_WORDS:
        return sentence
    return sentence[:SUBJECT_WORDS].rsplit(" ", 1)[0].rstrip(",;:—-") + "…"


def _chat(bot: Bot, incoming: Incoming) -> Chat:
    # Only the chat row is locked: its contact and ticket are read along (nullable joins).
    chat = (Chat.objects.select_for_update(of=("self",)).select_related("contact", "ticket")
            .filter(bot=bot, chat_id=incoming.chat_id).first())
    if chat is None:
        try:
            with transaction.atomic():
                chat = Chat.objects.create(
                    partner_id=bot.partner_id, bot=bot, chat_id=incoming.chat_id,
                    user_id=incoming.from_id, name=incoming.name,
                    username=incoming.username,
                )
        except IntegrityError:
            chat = Chat.objects.select_for_update().get(bot=bot, chat_id=incoming.chat_id)
    if chat.contact is None:
        # An unknown customer still gets a ticket: a new contact named as in Telegram,
        # unidentified until they share their phone or name their contract.
        name = incoming.name or (f"@{incoming.username}" if incoming.username else "")
        chat.contact = Contact.objects.create(
            partner_id=bot.partner_id, name=(name or f"Telegram {incoming.chat_id}")[:NAME_MAX]
        )
        chat.save(update_fields=["contact"])
    return chat


def _shared_phone(chat: Chat, incoming: Incoming) -> list[str]:
    """A phone number the customer shared: theirs (Telegram's user_id) finds their contact."""
    shared = incoming.contact
    assert shared is not None
    if shared.user_id is None or shared.user_id != incoming.from_id:
        return [_("A phone number that is not the sender's own was shared (%(phone)s): not "
                  "used to identify them.") % {"phone": shared.phone}]
    e164 = try_e164(shared.phone if shared.phone.startswith("+") else f"+{shared.phone}")
    if e164 is None:
        return [_("The shared phone number %(phone)s is not a phone number.")
                % {"phone": shared.phone}]
    chat.phone = e164
    known = contact_for_number(chat.partner_id, e164)
    before = chat.contact
    lines: list[str] = []
    if known is not None and (before is None or known.pk != before.pk):
        chat.contact = known
        ticket = chat.ticket
        if ticket is not None and ticket.is_active and before is not None \
                and ticket.contact_id == before.pk:
            Ticket.objects.filter(pk=ticket.pk).update(contact=known, updated_at=now())
            ticket.contact = known
            # What they wrote before sharing it was theirs too: the desk and the portal show
            # the ticket's messages under the contact they now know ("Вы" to the customer).
            Message.objects.filter(ticket=ticket, author_contact=before).update(
                author_contact=known)
            audit.record(actor=None, partner=chat.partner, action="telegram.contact_found",
                         target=ticket, before={"contact": before.name},
                         after={"contact": known.name, "phone": e164})
        lines.append(_("The customer shared the phone number %(phone)s: it is %(name)s's.")
                     % {"phone": e164, "name": known.name})
    elif known is None and before is not None:
        ContactPhone.objects.create(partner_id=chat.partner_id, contact=before, number=e164)
        lines.append(_("The customer shared the phone number %(phone)s; no contact of the "
                       "partner has it: kept on the new contact.") % {"phone": e164})
    chat.save(update_fields=["phone", "contact"])
    return lines


def note(ticket: Ticket, text: str) -> Message:
    return ticket_services.add_message(ticket=ticket, actor=None, kind=Message.Kind.NOTE,
                                       text=text)


def refused_line(name: str, size: int | None, reason: str, detail: str) -> str:
    """The operator's line about a file that was not kept: its name, size and why."""
    limit = min(attachment_limit(), botapi.BOT_DOWNLOAD_LIMIT)
    language = get_language() or settings.LANGUAGE_CODE
    why = {
        "too_big": _("Telegram gives bots files of at most %(limit)s.")
        % {"limit": texts.size_text(botapi.BOT_DOWNLOAD_LIMIT, language)},
        "over_limit": _("over the attachment limit of %(limit)s.")
        % {"limit": texts.size_text(limit, language)},
        "gone": _("Telegram no longer has it (%(detail)s).") % {"detail": detail},
    }.get(reason, _("it could not be fetched: %(detail)s") % {"detail": detail})
    return _("The file “%(name)s” (%(size)s) was not kept: %(why)s") % {
        "name": name, "size": texts.size_text(size, language), "why": why}


def autoreply_key(chat: Chat) -> str:
    return f"telegram:{chat.bot.bot_id}:{chat.chat_id}"


def _automatic(ticket: Ticket, chat: Chat, body: str, *, keyboard: str = "",
               dedupe_key: str | None = None) -> list[str]:
    """An automatic message to the chat, recorded on the ticket, within the rate limit."""
    key = autoreply_key(chat)
    if not autoreply.allowed(key):
        return [_("No automatic reply: the chat got the most automatic replies allowed for "
                  "now.")]
    message = ticket_services.add_message(ticket=ticket, actor=None, kind=Message.Kind.REPLY,
                                          text=body, automatic=True)
    outbox.enqueue(
        partner=ticket.partner, channel=OutboxChannel.TELEGRAM, recipient=str(chat.chat_id),
        body=body, ticket=ticket, headers={KEYBOARD_HEADER: keyboard} if keyboard else {},
        dedupe_key=dedupe_key or f"telegram:auto:{message.pk}",
    )
    AutoReplyLog.objects.create(partner_id=ticket.partner_id, address=key)
    return []


def _acknowledge(ticket: Ticket, chat: Chat, text: str, language: str) -> list[str]:
    name = chat.contact.name if chat.contact is not None else texts.NAMELESS[language]
    request = autoreply.request_words("", text) or ticket.subject
    sentence, deadline = autoreply.deadline_text(ticket, language)
    values = {"name": name, "request": request, "number": ticket.number,
              "deadline": sentence, "partner": ticket.partner.name}
    _title, body = autoreply.render(subject="{number}", body=texts.ACK_BODY[language],
                                    signature=signature(ticket.partner, language),
                                    values=values)
    ask = ticket.identified_by == IdentifiedBy.NONE and not chat.phone
    if ask:
        body = f"{body}\n\n{texts.ASK_PHONE[language]}"
    findings = autoreply.check(body, partner=ticket.partner, language=language, name=name,
                               request=request, deadline=deadline)
    problems = [_("Acknowledgement: %(finding)s") % {"finding": finding.message}
                for finding in findings]
    return problems + _automatic(ticket, chat, body, keyboard=language if ask else "",
                                 dedupe_key=f"telegram:ack:{ticket.pk}")


def tell_refused(ticket: Ticket, chat: Chat, refusals: list[Refusal],
                 language: str) -> list[str]:
    """Tell the customer in the chat which of their files were not accepted, and why."""
    lines = []
    for name, size, reason, _detail in refusals:
        limit = min(attachment_limit(), botapi.BOT_DOWNLOAD_LIMIT)
        why = {
            "too_big": texts.REASON_TOO_BIG[language].format(
                limit=texts.size_text(botapi.BOT_DOWNLOAD_LIMIT, language)),
            "over_limit": texts.REASON_OVER_LIMIT[language].format(
                limit=texts.size_text(limit, language)),
        }.get(reason, texts.REASON_FAILED[language])
        lines.append(texts.FILE_REFUSED[language].format(
            name=name, size=texts.size_text(size, language), reason=why,
            number=ticket.number))
    return _automatic(ticket, chat, "\n\n".join(lines))


# The partner's bot -----------------------------------------------------------------------


def _check_token(token: str) -> int:
    match = _TOKEN.match(token)
    if match is None:
        raise ValidationError({"token": _(
            "Not a bot token: it looks like 123456789:AAE… (the bot's number, a colon and "
            "at least 30 letters, digits, - or _), as @BotFather gives it.")})
    return int(match.group(1))


@transaction.atomic
def save_bot(*, partner: Partner, actor: User, token: str, mode: str,
             is_active: bool) -> Bot:
    """Create or change the partner's bot; an empty token keeps the stored one."""
    errors: dict[str, str] = {}
    bot = Bot.objects.select_for_update().filter(partner=partner).first()
    token = (token or "").strip()
    bot_id: int | None = None
    if token:
        try:
            bot_id = _check_token(token)
        except ValidationError as exc:
            errors.update({key: value[0] for key, value in exc.message_dict.items()})
    elif bot is None:
        errors["token"] = _("Enter the bot's token from @BotFather.")
    if mode not in Bot.Mode.values:
        errors["mode"] = _("Unknown mode “%(value)s”.") % {"value": mode}
    if bot_id is not None and Bot.objects.filter(bot_id=bot_id).exclude(partner=partner).exists():
        errors["token"] = _("This bot already serves another partner.")
    if errors:
        raise ValidationError(errors)
    before = {"mode": bot.mode, "is_active": bot.is_active, "bot_id": bot.bot_id} if bot else {}
    if bot is None:
        bot = Bot(partner=partner, secret_token=secrets.token_urlsafe(32))
    if token:
        if bot.bot_id != bot_id:
            # Another bot: its updates are counted from the start again.
            bot.last_update_id = 0
            bot.webhook_set_at = None
            bot.webhook_url = ""
            bot.username = ""
        bot.token = token
        bot.bot_id = bot_id or bot.bot_id
    bot.mode = mode
    bot.is_active = is_active
    bot.save()
    # The token itself is never written to the audit log.
    audit.record(actor=actor, partner=partner, action="telegram.bot_saved", target=bot,
                 before=before, after={"mode": bot.mode, "is_active": bot.is_active,
                                       "bot_id": bot.bot_id, "token_changed": bool(token)})
    return bot


def webhook_address(bot: Bot) -> str:
    from django.urls import reverse

    return f"{settings.SITE_URL}{reverse('telegram:webhook', args=[bot.bot_id])}"


def _record_error(bot: Bot, error: str) -> None:
    Bot.objects.filter(pk=bot.pk).update(last_error=error[:2000], last_error_at=now())


def set_webhook(*, bot: Bot, actor: User) -> Bot:
    """Tell Telegram where to send the bot's updates (setWebhook with the secret), and who
    the bot is (getMe). A refusal is recorded on the bot and raised naming the field."""
    if bot.mode != Bot.Mode.WEBHOOK:
        raise ValidationError({"mode": _("The bot is in long-polling mode: switch to webhook "
                                         "mode first.")})
    url = webhook_address(bot)
    # Telegram only calls HTTPS addresses; a test installation may say otherwise.
    if not url.startswith("https://") and not getattr(
        settings, "FIRSTLINE_TELEGRAM_ALLOW_HTTP_WEBHOOK", False
    ):
        raise ValidationError({"mode": _(
            "Telegram only sends updates to an https:// address; this site is %(url)s. "
            "Set SITE_URL to the public HTTPS address, or use long polling.")
            % {"url": settings.SITE_URL}})
    token = str(bot.token)
    secret = str(bot.secret_token)
    try:
        me = botapi.call(token, "getMe")
        botapi.call(token, "setWebhook", {
            "url": url, "secret_token": secret, "allowed_updates": ["message"],
        })
    except botapi.ApiError as exc:
        _record_error(bot, str(exc))
        raise ValidationError(
            {"token": _("Telegram refused: %(error)s") % {"error": exc}}
        ) from exc
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot.pk)
        before = {"webhook_url": bot.webhook_url}
        bot.username = str((me or {}).get("username") or "")[:100]
        bot.webhook_url = url
        bot.webhook_set_at = now()
        bot.last_error = ""
        bot.save(update_fields=["username", "webhook_url", "webhook_set_at", "last_error"])
        audit.record(actor=actor, partner=bot.partner, action="telegram.webhook_set",
                     target=bot, before=before, after={"webhook_url": url})
    return bot


# Long polling ----------------------------------------------------------------------------


def poll(bot: Bot, *, wait: int = 0) -> int:
    """One getUpdates for a polling bot: store and process what came; how many did."""
    try:
        if bot.webhook_set_at is not None:
            # getUpdates is refused while a webhook is set (409): drop it first.
            botapi.call(str(bot.token), "deleteWebhook")
            Bot.objects.filter(pk=bot.pk).update(webhook_set_at=None, webhook_url="")
            bot.webhook_set_at = None
        updates = botapi.call(str(bot.token), "getUpdates", {
            "offset": bot.last_update_id + 1, "timeout": wait, "allowed_updates": ["message"],
        }, wait=botapi.timeout() + wait)
    except botapi.ApiError as exc:
        _record_error(bot, str(exc))
        return 0
    count = 0
    for item in updates if isinstance(updates, list) else []:
        if not isinstance(item, dict):
            continue
        receive(bot, json.dumps(item, ensure_ascii=False), source=Update.Source.POLLING)
        update_id = item.get("update_id")
        if isinstance(update_id, int) and update_id > bot.last_update_id:
            # Confirmed to Telegram by the next getUpdates' offset: only once it is stored.
            bot.last_update_id = update_id
            Bot.objects.filter(pk=bot.pk).update(last_update_id=update_id)
        count += 1
    return count


def poll_all(*, wait: int = 0) -> int:
    bots = list(Bot.objects.filter(is_active=True, mode=Bot.Mode.POLLING)
                .select_related("partner"))
    # One bot may wait at Telegram (long polling proper); several are asked in turn.
    return sum(poll(bot, wait=wait if len(bots) == 1 else 0) for bot in bots)
