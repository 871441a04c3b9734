"""Telegram in the demo data (called by core.demo): one partner's bot, its chats and tickets.

«Облакотека» (the 24x7 partner) gets @oblakoteka_support_bot. Its token is made up, and the
bot is left inactive: the poller never asks Telegram for its updates and its webhook answers
404, so the demo token never reaches Telegram. (A supervisor who switches it on sees
Telegram refuse the token on the bot's page; a real token from @BotFather replaces it.)

Four chats, each with its ticket, as the channel would have left them: a new one with a
screenshot (a photo fetched into an attachment) from a customer not identified yet; an open
one from a customer who shared their phone number and sent a log file; one waiting for the
customer after a screen recording over Telegram's 20 MB for bots was refused (the file kept
as failed, with the reason, a note for the operator and a line to the customer); a resolved
one. Every update is stored as received, in the Bot API's documented shape.
"""

import json
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.core.files.base import ContentFile
from django.utils import translation

from firstline.calls.phones import try_e164
from firstline.contacts.models import Contact, ContactPhone
from firstline.core import demo_sla
from firstline.core.audit import AuditEvent
from firstline.core.models import Partner, Service, User
from firstline.mail import autoreply
from firstline.mail.text import signature
from firstline.telegram import botapi
from firstline.telegram.models import Bot, Chat, IncomingFile, Update
from firstline.telegram.services import refused_line, subject_of
from firstline.telegram.texts import (
    ACK_BODY,
    ASK_PHONE,
    FILE_REFUSED,
    REASON_TOO_BIG,
    size_text,
)
from firstline.tickets import filenames
from firstline.tickets.html import text_to_html
from firstline.tickets.models import (
    Attachment,
    Channel,
    IdentifiedBy,
    Message,
    Priority,
    Status,
    Ticket,
)

PARTNER_SLUG = "oblakoteka"
BOT_USERNAME = "oblakoteka_support_bot"
DEMO_BOT_ID = 7_000_000_001
# The shape @BotFather gives (digits, a colon, 35 characters), plainly not a real one.
DEMO_TOKEN = "{bot_id}:DEMO-not-a-real-token-Telegram-refuses"  # noqa: S105
Kind = Message.Kind


@dataclass
class Said:
    """One message of a demo conversation."""

    after: timedelta  # since the ticket was opened
    kind: str
    text: str
    automatic: bool = False
    status: str | None = None  # the ticket's status after it
    files: list[dict[str, Any]] = field(default_factory=list)  # the update's file objects
    operator: bool = False


@dataclass
class DemoChat:
    chat_id: int
    first_name: str
    last_name: str
    username: str
    age: timedelta  # how long ago the ticket was opened
    service: str
    priority: str
    status: str
    conversation: list[Said]
    known_contact: bool = False  # shared their phone: the partner's contact


@cache
def _png(width: int = 480, height: int = 320) -> bytes:
    """A small «screenshot»: a window with a title bar and a red error banner (no library)."""

    def colour(x: int, y: int) -> bytes:
        if y < 24:
            return b"\x2b\x3a\x55"
        if 60 <= y < 110 and 40 <= x < width - 40:
            return b"\xd9\x3b\x3b"
        if 140 <= y < 150 and 40 <= x < width - 120:
            return b"\xc8\xcd\xd6"
        return b"\xf4\xf6\xfa"

    rows = b"".join(b"\x00" + b"".join(colour(x, y) for x in range(width))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def _backup_log(day: str) -> bytes:
    """The backup agent's log the customer sends, of the night before the ticket."""
    return (
        f"{day} 02:00:01 backup-agent: job vm-prod-db nightly started\n"
        f"{day} 02:14:37 backup-agent: snapshot created (84.2 GB)\n"
        f"{day} 02:41:09 backup-agent: upload to s3://backup-obl/vm-prod-db failed: "
        "No space left on device (quota 100 GB)\n"
        f"{day} 02:41:09 backup-agent: job vm-prod-db nightly FAILED\n"
    ).encode()


LOG_SIZE = len(_backup_log("2026-01-01"))


def _chats() -> list[DemoChat]:
    screenshot = {"photo": [
        {"file_id": "demo-photo-small", "file_unique_id": "demo-ps", "width": 90,
         "height": 60, "file_size": 310},
        {"file_id": "demo-photo", "file_unique_id": "demo-p", "width": 480, "height": 320,
         "file_size": len(_png())},
    ]}
    log = {"document": {"file_id": "demo-log", "file_unique_id": "demo-l",
                        "file_name": "backup-vm-prod-db.log", "mime_type": "text/plain",
                        "file_size": LOG_SIZE}}
    video = {"video": {"file_id": "demo-video", "file_unique_id": "demo-v",
                       "file_name": "запись экрана.mp4", "mime_type": "video/mp4",
                       "file_size": 36_700_000, "width": 1920, "height": 1080,
                       "duration": 94}}
    return [
        DemoChat(
            chat_id=5_201_001, first_name="Алексей", last_name="Смирнов",
            username="alex_smirnov_it", age=timedelta(minutes=18), service="vm",
            priority=Priority.HIGH, status=Status.NEW,
            conversation=[Said(timedelta(0), Kind.INBOUND,
                               "Не могу зайти в панель управления ВМ: после входа пишет "
                               "«Ошибка 403». Скриншот прилагаю.", files=[screenshot])],
        ),
        DemoChat(
            chat_id=5_201_002, first_name="", last_name="", username="", known_contact=True,
            age=timedelta(hours=2, minutes=40), service="backup", priority=Priority.NORMAL,
            status=Status.OPEN,
            conversation=[
                Said(timedelta(0), Kind.INBOUND,
                     "Ночной бэкап vm-prod-db не завершился, в панели статус «Ошибка». "
                     "Лог во вложении.", files=[log]),
                Said(timedelta(minutes=12), Kind.REPLY,
                     "Здравствуйте! Видим в логе, что при выгрузке кончилось место в "
                     "хранилище бэкапов (квота 100 ГБ). Подскажите, можно ли удалить копии "
                     "старше 30 дней или лучше увеличить квоту?", operator=True,
                     status=Status.WAITING_CUSTOMER),
                Said(timedelta(minutes=41), Kind.INBOUND,
                     "Старые копии удалять не хотим, увеличьте, пожалуйста, квоту до 200 ГБ.",
                     status=Status.OPEN),
            ],
        ),
        DemoChat(
            chat_id=5_201_003, first_name="Марина", last_name="Ковалёва",
            username="marina_kov", age=timedelta(hours=20), service="dns",
            priority=Priority.NORMAL, status=Status.WAITING_CUSTOMER,
            conversation=[
                Said(timedelta(0), Kind.INBOUND,
                     "После смены NS-записей сайт открывается через раз. Записала видео, "
                     "как это выглядит.", files=[video]),
                Said(timedelta(minutes=25), Kind.REPLY,
                     "Здравствуйте, Марина! Видео до нас не дошло: Telegram не отдаёт ботам "
                     "файлы больше 20 МБ. Пришлите, пожалуйста, имя домена и время, когда "
                     "сайт не открылся, — проверим зону по журналам.", operator=True,
                     status=Status.WAITING_CUSTOMER),
            ],
        ),
        DemoChat(
            chat_id=5_201_004, first_name="Игорь", last_name="Лебедев",
            username="ilebedev", age=timedelta(days=2, hours=3), service="dns",
            priority=Priority.LOW, status=Status.RESOLVED,
            conversation=[
                Said(timedelta(0), Kind.INBOUND,
                     "Как добавить CNAME-запись для поддомена shop?"),
                Said(timedelta(minutes=9), Kind.REPLY,
                     "Здравствуйте, Игорь! В панели: DNS → зона домена → «Добавить запись», "
                     "тип CNAME, имя shop, значение — адрес магазина с точкой в конце. Запись "
                     "начнёт работать в течение часа.", operator=True,
                     status=Status.OPEN),
                Said(timedelta(minutes=50), Kind.INBOUND, "Получилось, спасибо!"),
                Said(timedelta(minutes=58), Kind.NOTE,
                     "Клиент подтвердил: запись работает. Решено.", operator=True,
                     status=Status.RESOLVED),
            ],
        ),
    ]


class _Builder:
    def __init__(self, partner: Partner, moment: datetime, operator: User | None) -> None:
        self.partner = partner
        self.moment = moment
        self.operator = operator
        self.update_id = 880_000_000
        self.message_id = 100
        self.services = {service.name: service for service in
                         Service.objects.filter(partner=partner)}

    def bot(self) -> Bot:
        bot_id = DEMO_BOT_ID
        while Bot.objects.filter(bot_id=bot_id).exists():
            bot_id += 1
        return Bot.objects.create(
            partner=self.partner, bot_id=bot_id, username=BOT_USERNAME,
            token=DEMO_TOKEN.format(bot_id=bot_id),
            secret_token=f"demo-secret-{bot_id}", mode=Bot.Mode.POLLING, is_active=False,
            created_at=self.moment - timedelta(days=30),
        )

    def service(self, tag: str) -> Service | None:
        names = {"vm": "ВМ / VPS", "backup": "Резервное копирование", "dns": "DNS"}
        return self.services.get(names[tag])

    def update(self, bot: Bot, chat: Chat, at: datetime, body: dict[str, Any],
               ticket: Ticket, message: Message | None, problems: str = "") -> Update:
        self.update_id += 1
        self.message_id += 1
        sender = {"id": chat.user_id, "is_bot": False, "first_name": chat.name.split(" ")[0]
                  or "Клиент", "language_code": "ru"}
        if chat.username:
            sender["username"] = chat.username
        raw = {"update_id": self.update_id, "message": {
            "message_id": self.message_id, "date": int(at.timestamp()), "from": sender,
            "chat": {"id": chat.chat_id, "type": "private"}, **body}}
        return Update.objects.create(
            partner=self.partner, bot=bot, update_id=self.update_id,
            raw=json.dumps(raw, ensure_ascii=False), source=Update.Source.POLLING,
            received_at=at, processed_at=at, status=Update.Status.PROCESSED,
            chat_id=chat.chat_id, ticket=ticket, ticket_message=message, problems=problems)

    def contact(self, spec: DemoChat) -> tuple[Contact, str]:
        if spec.known_contact:
            phone = (ContactPhone.objects.filter(partner=self.partner)
                     .select_related("contact").order_by("id").first())
            if phone is not None:
                return phone.contact, try_e164(phone.number) or ""
        name = f"{spec.first_name} {spec.last_name}".strip() or f"Telegram {spec.chat_id}"
        return Contact.objects.create(partner=self.partner, name=name,
                                      created_at=self.moment - spec.age), ""

    def chat(self, bot: Bot, spec: DemoChat) -> None:
        opened = self.moment - spec.age
        contact, phone = self.contact(spec)
        name = f"{spec.first_name} {spec.last_name}".strip() or contact.name
        chat = Chat.objects.create(
            partner=self.partner, bot=bot, chat_id=spec.chat_id, user_id=spec.chat_id,
            name=name, username=spec.username, phone=phone, contact=contact,
            created_at=opened - timedelta(minutes=1))
        first = spec.conversation[0]
        ticket = Ticket(
            partner=self.partner, contact=contact, channel=Channel.TELEGRAM,
            # The subject as the channel makes it from a message: its first sentence.
            identified_by=IdentifiedBy.NONE, subject=subject_of(first.text),
            customer_words=first.text, status=spec.status, priority=spec.priority,
            service=self.service(spec.service), created_at=opened,
            assignee=None if spec.status == Status.NEW else self.operator)
        timeline: list[tuple[datetime, bool, str | None]] = [
            (opened + said.after, said.kind == Kind.REPLY and not said.automatic, said.status)
            for said in spec.conversation]
        demo_sla.replay(ticket, timeline)
        ticket.updated_at = timeline[-1][0]
        ticket.save()
        chat.ticket = ticket if spec.status != Status.CLOSED else None
        chat.save(update_fields=["ticket"])
        self.audit(ticket, spec, opened)
        if phone:
            # The «share my phone number» button, pressed before the first question.
            with translation.override("ru"):
                found = translation.gettext(
                    "The customer shared the phone number %(phone)s: it is %(name)s's.") % {
                    "phone": phone, "name": contact.name}
            self.update(bot, chat, opened - timedelta(seconds=30), {"contact": {
                "phone_number": phone.lstrip("+"), "first_name": contact.name.split(" ")[0],
                "user_id": spec.chat_id}}, ticket, None, problems=found)
        for index, said in enumerate(spec.conversation):
            at = opened + said.after
            message = self.message(ticket, contact, said, at)
            if said.kind == Kind.INBOUND:
                body: dict[str, Any] = {}
                for item in said.files:
                    body.update(item)
                body["caption" if said.files else "text"] = said.text
                update = self.update(bot, chat, at, body, ticket, message)
                self.files(bot, chat, update, message, said, ticket, at)
            if index == 0:
                self.acknowledge(ticket, chat, contact, spec, at, bool(phone))

    def message(self, ticket: Ticket, contact: Contact | None, said: Said,
                at: datetime) -> Message:
        return Message.objects.create(
            partner=self.partner, ticket=ticket, kind=said.kind,
            author=self.operator if said.operator else None,
            author_contact=contact if said.kind == Kind.INBOUND else None,
            is_automatic=said.automatic, body_text=said.text,
            body_html=text_to_html(said.text), created_at=at)

    def acknowledge(self, ticket: Ticket, chat: Chat, contact: Contact, spec: DemoChat,
                    at: datetime, identified: bool) -> None:
        """The bot's acknowledgement, rendered as services._acknowledge renders it."""
        request = autoreply.request_words("", spec.conversation[0].text) or ticket.subject
        sentence, _when = autoreply.deadline_text(ticket, "ru")
        _title, text = autoreply.render(
            subject="{number}", body=ACK_BODY["ru"], signature=signature(self.partner, "ru"),
            values={"name": contact.name, "request": request, "number": ticket.number,
                    "deadline": sentence, "partner": self.partner.name})
        if not identified:
            text = f"{text}\n\n{ASK_PHONE['ru']}"
        self.message(ticket, None, Said(timedelta(0), Kind.REPLY, text, automatic=True),
                     at + timedelta(seconds=2))

    def files(self, bot: Bot, chat: Chat, update: Update, message: Message, said: Said,
              ticket: Ticket, at: datetime) -> None:
        for item in said.files:
            if "photo" in item:
                best = item["photo"][-1]
                name, kind, size = f"photo_{self.message_id}.png", "image/png", best["file_size"]
                file_id, content = best["file_id"], _png()
            else:
                document = item.get("document") or item.get("video") or {}
                name, kind = document["file_name"], document["mime_type"]
                size, file_id = document["file_size"], document["file_id"]
                night = at - timedelta(hours=3)  # the 02:41 failure before the message
                content = _backup_log(f"{night:%Y-%m-%d}") if kind == "text/plain" else b""
            row = IncomingFile(
                partner=self.partner, bot=bot, chat=chat, update=update, message=message,
                file_id=file_id, filename=name, content_type=kind, size=size, attempts=1,
                created_at=at, next_attempt_at=at, finished_at=at + timedelta(seconds=3))
            if content:
                attachment = Attachment(partner=self.partner, message=message, filename=name,
                                        content_type=kind, size=len(content))
                attachment.file.save(filenames.storage_name(name), ContentFile(content),
                                     save=False)
                attachment.save()
                row.status, row.attachment = IncomingFile.Status.FETCHED, attachment
                row.size = len(content)
            else:
                # Over Telegram's 20 MB for bots: refused, named for the operator and the
                # customer, as files.py leaves such a file.
                row.status, row.reason = IncomingFile.Status.FAILED, IncomingFile.Reason.TOO_BIG
                row.attempts = 0
                with translation.override("ru"):
                    line = refused_line(name, size, IncomingFile.Reason.TOO_BIG, "")
                self.message(ticket, None, Said(timedelta(0), Kind.NOTE, line),
                             at + timedelta(seconds=1))
                told = FILE_REFUSED["ru"].format(
                    name=name, size=size_text(size, "ru"), number=ticket.number,
                    reason=REASON_TOO_BIG["ru"].format(
                        limit=size_text(botapi.BOT_DOWNLOAD_LIMIT, "ru")))
                self.message(ticket, None, Said(timedelta(0), Kind.REPLY, told, automatic=True),
                             at + timedelta(seconds=3))
            row.save()

    def audit(self, ticket: Ticket, spec: DemoChat, opened: datetime) -> None:
        rows = [AuditEvent(
            created_at=opened, actor=None, partner=self.partner, action="ticket.created",
            target_type=Ticket._meta.model_name, target_id=str(ticket.pk), before={},
            after={"subject": ticket.subject, "channel": ticket.channel, "status": Status.NEW,
                   "priority": ticket.priority, "contact": ticket.contact.name
                   if ticket.contact else None,
                   "service": ticket.service.name if ticket.service else None})]
        status: str = Status.NEW
        for said in spec.conversation:
            if said.status and said.status != status:
                rows.append(AuditEvent(
                    created_at=opened + said.after,
                    actor=self.operator if said.operator else None, partner=self.partner,
                    action="ticket.status_changed", target_type=Ticket._meta.model_name,
                    target_id=str(ticket.pk), before={"status": status},
                    after={"status": said.status}))
                status = said.status
        AuditEvent.objects.bulk_create(rows)


def create_telegram(moment: datetime, operator: User | None) -> Bot | None:
    """The demo partner's bot (inactive, a made-up token) and its chats and tickets."""
    partner = Partner.objects.filter(slug=PARTNER_SLUG).first()
    if partner is None:
        return None
    builder = _Builder(partner, moment, operator)
    bot = builder.bot()
    for spec in _chats():
        builder.chat(bot, spec)
    tickets = list(Ticket.objects.filter(partner=partner, channel=Channel.TELEGRAM))
    demo_sla.schedule_escalations(tickets, moment)
    Bot.objects.filter(pk=bot.pk).update(last_update_id=builder.update_id,
                                         last_update_at=moment - timedelta(minutes=18))
    return bot
