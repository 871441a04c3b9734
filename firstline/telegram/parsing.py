"""What an update says, read from its documented JSON shape (core.telegram.org/bots/api).

Update{update_id, message?} · Message{message_id, from: User{id, is_bot, first_name,
last_name?, username?}, chat: Chat{id, type}, date, text?, caption?, photo?: [PhotoSize
{file_id, file_unique_id, width, height, file_size?}], document?: Document{file_id,
file_name?, mime_type?, file_size?}, contact?: Contact{phone_number, first_name, user_id?}}.
Pure functions: no database, no network.
"""

import json
from dataclasses import dataclass, field
from typing import Any


class NotAnUpdate(ValueError):
    """The body is not an update in the documented shape; the message says why."""


@dataclass(frozen=True)
class FileRef:
    file_id: str
    filename: str
    content_type: str
    size: int | None


@dataclass(frozen=True)
class SharedContact:
    phone: str
    user_id: int | None


@dataclass
class Incoming:
    update_id: int
    kind: str  # "message", or the other update kind that is ignored
    chat_id: int | None = None
    chat_type: str = ""
    message_id: int | None = None
    from_id: int | None = None
    from_bot: bool = False
    name: str = ""
    username: str = ""
    text: str = ""
    contact: SharedContact | None = None
    files: list[FileRef] = field(default_factory=list)


def update_id_of(raw: str) -> int | None:
    """The update_id, if the body is a JSON object that has an integer one."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    value = data.get("update_id") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse(raw: str) -> Incoming:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise NotAnUpdate(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or _int(data.get("update_id")) is None:
        raise NotAnUpdate("no integer update_id")
    update_id = data["update_id"]
    message = data.get("message")
    if message is None:
        kinds = [key for key in data if key != "update_id"]
        return Incoming(update_id=update_id, kind=kinds[0] if kinds else "empty")
    if not isinstance(message, dict):
        raise NotAnUpdate("message is not an object")
    chat = message.get("chat")
    if not isinstance(chat, dict) or _int(chat.get("id")) is None:
        raise NotAnUpdate("message.chat.id is missing")
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    name = " ".join(
        part for part in (_str(sender.get("first_name")), _str(sender.get("last_name"))) if part
    )
    incoming = Incoming(
        update_id=update_id, kind="message", chat_id=chat["id"],
        chat_type=_str(chat.get("type")), message_id=_int(message.get("message_id")),
        from_id=_int(sender.get("id")), from_bot=sender.get("is_bot") is True,
        name=" ".join(name.split())[:200], username=_str(sender.get("username"))[:100],
        text=(_str(message.get("text")) or _str(message.get("caption"))).strip(),
    )
    contact = message.get("contact")
    if isinstance(contact, dict) and _str(contact.get("phone_number")):
        incoming.contact = SharedContact(_str(contact["phone_number"])[:40],
                                         _int(contact.get("user_id")))
    photos = message.get("photo")
    if isinstance(photos, list):
        sizes = [item for item in photos if isinstance(item, dict) and _str(item.get("file_id"))]
        if sizes:
            # The sizes of one photo, smallest first: the last is the original.
            best = max(sizes, key=lambda item: (_int(item.get("file_size")) or 0,
                                                _int(item.get("width")) or 0))
            incoming.files.append(FileRef(
                best["file_id"], f"photo_{incoming.message_id or update_id}.jpg", "image/jpeg",
                _int(best.get("file_size")),
            ))
    for key in ("document", "video", "audio", "voice"):
        item = message.get(key)
        if isinstance(item, dict) and _str(item.get("file_id")):
            default = {"document": "document", "video": "video.mp4", "audio": "audio.mp3",
                       "voice": "voice.ogg"}[key]
            incoming.files.append(FileRef(
                item["file_id"], _str(item.get("file_name")) or default,
                _str(item.get("mime_type")) or "application/octet-stream",
                _int(item.get("file_size")),
            ))
    return incoming
