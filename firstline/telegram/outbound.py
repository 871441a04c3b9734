"""Messages to a customer's chat: the outbox adapter (sendMessage) and the public replies.

A human public reply on a Telegram ticket goes back to the chat (the mail app leaves such
tickets alone); the acknowledgement and the bot's own notices are enqueued by services.
The outbox row's recipient is the chat id; the partner's bot sends it.
"""

import json
from typing import Any

from django.core.files.storage import default_storage
from django.db.models import Q

from firstline.contacts.models import letter_language
from firstline.mail.text import signature
from firstline.outbox import services as outbox
from firstline.outbox.adapters import NotConfigured, Sent, header
from firstline.outbox.errors import PermanentError, TemporaryError
from firstline.outbox.models import Channel as OutboxChannel
from firstline.outbox.models import OutboxMessage
from firstline.telegram import botapi, texts
from firstline.telegram.models import Bot, Chat, Update
from firstline.tickets.models import Channel, Message, Ticket

# An outbox row with this header sends the stored file it names ({"path", "filename",
# "content_type"}) with sendDocument, the row's body as the caption. (The outbox's own
# attachments are e-mail's only.)
DOCUMENT_HEADER = "X-Telegram-Document"
# sendMessage takes at most 4096 characters of text.
MESSAGE_MAX = 4096


def chunks(text: str, size: int = MESSAGE_MAX) -> list[str]:
    """The text in pieces Telegram accepts, cut at a line break or space where possible."""
    pieces: list[str] = []
    rest = text
    while len(rest) > size:
        cut = max(rest.rfind("\n", 0, size), rest.rfind(" ", 0, size))
        cut = cut if cut > size // 2 else size
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest.strip():
        pieces.append(rest)
    return pieces


class TelegramAdapter:
    """The "telegram" outbox channel: the partner's bot calls sendMessage."""

    def ready(self) -> bool:
        return Bot.objects.filter(is_active=True).exists()

    def send(self, message: OutboxMessage) -> Sent:
        bot = self._bot(message)
        chat_id = self._chat_id(message)
        document = header(message.headers, DOCUMENT_HEADER)
        if document:
            return self._send_document(bot, chat_id, document, message.body)
        return self._send_text(bot, chat_id, message)

    @staticmethod
    def _bot(message: OutboxMessage) -> Bot:
        bot = (Bot.objects.filter(partner_id=message.partner_id, is_active=True).first()
               if message.partner_id else None)
        if bot is None:
            raise NotConfigured("the partner has no active Telegram bot")
        return bot

    @staticmethod
    def _chat_id(message: OutboxMessage) -> int:
        try:
            return int(message.recipient)
        except ValueError as exc:
            raise PermanentError(f"not a Telegram chat id: {message.recipient!r}") from exc

    @staticmethod
    def _send_document(bot: Bot, chat_id: int, document: str, caption: str) -> Sent:
        try:
            item = json.loads(document)
            path, filename = str(item["path"]), str(item["filename"])
            content_type = str(item.get("content_type") or "application/octet-stream")
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentError(f"{DOCUMENT_HEADER}: not a stored file: {exc}") from exc
        try:
            with default_storage.open(path, "rb") as handle:
                content = handle.read()
        except FileNotFoundError as exc:
            raise PermanentError(f"attachment missing from the storage: {path}") from exc
        try:
            result = botapi.call_with_file(
                str(bot.token), "sendDocument", {"chat_id": str(chat_id),
                                                 "caption": caption[:1024]},
                field="document", filename=filename, content=content,
                content_type=content_type,
            )
        except botapi.ApiError as exc:
            raise _delivery_error(exc) from exc
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return Sent(str(message_id) if message_id is not None else "")

    @staticmethod
    def _send_text(bot: Bot, chat_id: int, message: OutboxMessage) -> Sent:
        # The keyboard header names the chat's language (services._automatic).
        language = header(message.headers, "X-Telegram-Keyboard")
        sent_id = ""
        pieces = chunks(message.body)
        for number, piece in enumerate(pieces, start=1):
            params: dict[str, Any] = {"chat_id": chat_id, "text": piece}
            if number == len(pieces) and language:
                button = texts.SHARE_BUTTON.get(language, texts.SHARE_BUTTON["ru"])
                params["reply_markup"] = {
                    "keyboard": [[{"text": button,
                                   "request_contact": True}]],
                    "one_time_keyboard": True, "resize_keyboard": True,
                }
            try:
                result = botapi.call(str(bot.token), "sendMessage", params)
            except botapi.ApiError as exc:
                raise _delivery_error(exc) from exc
            if isinstance(result, dict) and result.get("message_id") is not None:
                sent_id = sent_id or str(result["message_id"])
        return Sent(sent_id)


def _delivery_error(exc: botapi.ApiError) -> Exception:
    """429 (flood control, with retry_after) and 5xx are retried; 400 (chat not found)
    and 403 (the bot was blocked by the user) cannot be helped by retrying."""
    if exc.code == 429:
        wait = f" (retry after {exc.retry_after} s)" if exc.retry_after else ""
        return TemporaryError(f"{exc}{wait}")
    if exc.code in (400, 403):
        return PermanentError(str(exc))
    # 401 (a wrong token), 404, 5xx, transport: configuration or Telegram, not the message.
    return TemporaryError(str(exc))


def chat_of(message: Message) -> Chat | None:
    return chat_for_ticket(message.ticket)


def chat_for_ticket(ticket: Ticket) -> Chat | None:
    """The chat a Telegram ticket came from: the chat's current ticket, or an older one."""
    chat = Chat.objects.filter(ticket=ticket).select_related("bot").first()
    if chat is not None:
        return chat
    # The chat went on to a newer ticket: its updates still name this one.
    chat_id = (Update.objects.filter(ticket=ticket).exclude(chat_id=None)
               .values_list("chat_id", "bot_id").first())
    if chat_id is None:
        return None
    return (Chat.objects.filter(Q(chat_id=chat_id[0]) & Q(bot_id=chat_id[1]))
            .select_related("bot").first())


def telegram_public_reply(*, message: Message, **_event: Any) -> None:
    """The "message.public_reply" event: on a Telegram ticket, the reply goes to the chat."""
    ticket = message.ticket
    if ticket.channel != Channel.TELEGRAM:
        return
    chat = chat_of(message)
    if chat is None:
        return
    language = letter_language(ticket.contact, ticket.partner)
    sign = signature(ticket.partner, language)
    body = message.body_text.rstrip()
    if sign.strip():
        body = f"{body}\n\n{sign}"
    outbox.enqueue(
        partner=ticket.partner, channel=OutboxChannel.TELEGRAM, recipient=str(chat.chat_id),
        body=body, ticket=ticket, dedupe_key=f"telegram:reply:{message.pk}",
    )
    # Each file its own sendDocument, so a retry sends that file again, not the text.
    for item in message.attachments.all():
        stored = {"path": item.file.name, "filename": item.filename,
                  "content_type": item.content_type}
        outbox.enqueue(
            partner=ticket.partner, channel=OutboxChannel.TELEGRAM,
            recipient=str(chat.chat_id), body=item.filename, ticket=ticket,
            headers={DOCUMENT_HEADER: json.dumps(stored, ensure_ascii=True)},
            dedupe_key=f"telegram:reply:{message.pk}:file:{item.pk}",
        )
