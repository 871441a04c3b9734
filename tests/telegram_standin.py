"""A stand-in for the Telegram Bot API: a real threaded HTTP server on loopback.

It speaks the documented shapes (https://core.telegram.org/bots/api): methods at
POST /bot<token>/<method> with JSON or form parameters, answering {"ok": true, "result": …}
or {"ok": false, "error_code": …, "description": …, "parameters": {"retry_after": …}}; files
at GET /file/bot<token>/<file_path>. It records every request, so tests check what the
desk sent. Supported: getMe, sendMessage, sendDocument (multipart), getFile, getUpdates,
setWebhook, deleteWebhook.

    with TelegramStandIn() as api:
        api.add_bot("123456789:" + "A" * 35, username="alpha_support_bot")
        api.add_file(token, "photo-1", b"...jpeg...", path="photos/file_1.jpg")
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
"""

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# What Telegram's getFile does with a file over 20 MB.
DOWNLOAD_LIMIT = 20 * 1024 * 1024


@dataclass
class Call:
    token: str
    method: str
    params: dict[str, Any]


@dataclass
class _File:
    path: str
    content: bytes
    size: int


@dataclass
class _Bot:
    bot_id: int
    username: str
    webhook: dict[str, Any] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, _File] = field(default_factory=dict)


class TelegramStandIn:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.downloads: list[str] = []
        self._bots: dict[str, _Bot] = {}
        self._failures: dict[str, list[tuple[int, str, int | None]]] = {}
        self._lock = threading.Lock()
        self._next_message_id = 1000
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # quiet: the suite fails on stray output

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = self.path.split("?", 1)[0].strip("/").split("/")
                if len(parts) != 2 or not parts[0].startswith("bot"):
                    self._answer(404, {"ok": False, "error_code": 404,
                                       "description": "Not Found"})
                    return
                token, method = parts[0][3:], parts[1]
                params = standin._params(self.headers.get("Content-Type", ""), body)
                status, answer = standin._call(token, method, params)
                self._answer(status, answer)

            def do_GET(self) -> None:  # noqa: N802
                parts = self.path.strip("/").split("/", 2)
                if len(parts) == 3 and parts[0] == "file" and parts[1].startswith("bot"):
                    content = standin._download(parts[1][3:], urllib.parse.unquote(parts[2]))
                    if content is not None:
                        self.send_response(200)
                        self.send_header("Content-Type", "application/octet-stream")
                        self.send_header("Content-Length", str(len(content)))
                        self.end_headers()
                        self.wfile.write(content)
                        return
                self._answer(404, {"ok": False, "error_code": 404, "description": "Not Found"})

            def _answer(self, status: int, data: dict[str, Any]) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # Lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "TelegramStandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # Test set-up -----------------------------------------------------------------------

    def add_bot(self, token: str, username: str) -> None:
        self._bots[token] = _Bot(int(token.split(":", 1)[0]), username)

    def add_file(self, token: str, file_id: str, content: bytes, *, path: str,
                 size: int | None = None) -> None:
        self._bots[token].files[file_id] = _File(path, content, size or len(content))

    def queue_update(self, token: str, update: dict[str, Any]) -> None:
        self._bots[token].updates.append(update)

    def fail_next(self, method: str, code: int, description: str,
                  retry_after: int | None = None) -> None:
        self._failures.setdefault(method, []).append((code, description, retry_after))

    def sent(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def webhook_of(self, token: str) -> dict[str, Any]:
        return self._bots[token].webhook

    # The protocol ----------------------------------------------------------------------

    @staticmethod
    def _params(content_type: str, body: bytes) -> dict[str, Any]:
        if not body:
            return {}
        if content_type.startswith("multipart/form-data"):
            return TelegramStandIn._multipart(content_type, body)
        if content_type.startswith("application/json"):
            data = json.loads(body.decode("utf-8"))
            return data if isinstance(data, dict) else {}
        return dict(urllib.parse.parse_qsl(body.decode("utf-8")))

    @staticmethod
    def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
        """Form fields as text; an uploaded file as {"filename", "content_type", "content"}."""
        message = BytesParser(policy=default_policy).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename() is not None:
                fields[name] = {"filename": part.get_filename(),
                                "content_type": part.get_content_type(),
                                "content": part.get_payload(decode=True)}
            else:
                fields[name] = part.get_payload(decode=True).decode("utf-8")
        return fields

    def _call(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict]:
        with self._lock:
            self.calls.append(Call(token, method, params))
            bot = self._bots.get(token)
            if bot is None:
                return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            queued = self._failures.get(method)
            if queued:
                code, description, retry_after = queued.pop(0)
                answer: dict[str, Any] = {"ok": False, "error_code": code,
                                          "description": description}
                if retry_after is not None:
                    answer["parameters"] = {"retry_after": retry_after}
                return code, answer
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                return 404, {"ok": False, "error_code": 404, "description": "Not Found: "
                             "method not found"}
            return handler(bot, params)

    def _m_getMe(self, bot: _Bot, params: dict) -> tuple[int, dict]:  # noqa: N802
        return 200, {"ok": True, "result": {"id": bot.bot_id, "is_bot": True,
                                            "first_name": "Support",
                                            "username": bot.username}}

    def _m_sendMessage(self, bot: _Bot, params: dict) -> tuple[int, dict]:  # noqa: N802
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return 400, {"ok": False, "error_code": 400,
                         "description": "Bad Request: message text is empty"}
        if len(text) > 4096:
            return 400, {"ok": False, "error_code": 400,
                         "description": "Bad Request: message is too long"}
        try:
            chat_id = int(params.get("chat_id"))
        except (TypeError, ValueError):
            return 400, {"ok": False, "error_code": 400,
                         "description": "Bad Request: chat not found"}
        self._next_message_id += 1
        return 200, {"ok": True, "result": {
            "message_id": self._next_message_id, "date": 1765000000, "text": text,
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": bot.bot_id, "is_bot": True, "first_name": "Support"}}}

    def _m_sendDocument(self, bot: _Bot, params: dict) -> tuple[int, dict]:  # noqa: N802
        document = params.get("document")
        if not isinstance(document, dict) or not document.get("content"):
            return 400, {"ok": False, "error_code": 400,
                         "description": "Bad Request: there is no document in the request"}
        self._next_message_id += 1
        return 200, {"ok": True, "result": {
            "message_id": self._next_message_id, "date": 1765000000,
            "chat": {"id": int(params.get("chat_id") or 0), "type": "private"},
            "caption": params.get("caption", ""),
            "document": {"file_id": f"sent-{self._next_message_id}",
                         "file_unique_id": f"u{self._next_message_id}",
                         "file_name": document["filename"],
                         "mime_type": document["content_type"],
                         "file_size": len(document["content"])}}}

    def _m_getFile(self, bot: _Bot, params: dict) -> tuple[int, dict]:  # noqa: N802
        found = bot.files.get(str(params.get("file_id")))
        if found is None:
            return 400, {"ok": False, "error_code": 400,
                         "description": "Bad Request: invalid file_id"}
        if found.size > DOWNLOAD_LIMIT:
            return 400, {"ok": False, "error_code": 400,
                         "description": "Bad Request: file is too big"}
        return 200, {"ok": True, "result": {
            "file_id": params["file_id"], "file_unique_id": f"u-{params['file_id']}",
            "file_size": found.size, "file_path": found.path}}

    def _m_getUpdates(self, bot: _Bot, params: dict) -> tuple[int, dict]:  # noqa: N802
        if bot.webhook.get("url"):
            return 409, {"ok": False, "error_code": 409, "description":
                         "Conflict: can't use getUpdates method while webhook is active"}
        offset = int(params.get("offset") or 0)
        # Asking from an offset confirms (forgets) every earlier update, as Telegram does.
        bot.updates = [item for item in bot.updates if item["update_id"] >= offset]
        return 200, {"ok": True, "result": list(bot.updates[:100])}

    def _m_setWebhook(self, bot: _Bot, params: dict) -> tuple[int, dict]:  # noqa: N802
        secret = str(params.get("secret_token") or "")
        if secret and (len(secret) > 256 or not all(ch.isalnum() or ch in "_-" for ch in secret)):
            return 400, {"ok": False, "error_code": 400,
                         "description": "Bad Request: secret token contains unallowed "
                                        "characters"}
        bot.webhook = dict(params)
        return 200, {"ok": True, "result": True, "description": "Webhook was set"}

    def _m_deleteWebhook(self, bot: _Bot, params: dict) -> tuple[int, dict]:  # noqa: N802
        bot.webhook = {}
        return 200, {"ok": True, "result": True, "description": "Webhook was deleted"}

    def _download(self, token: str, path: str) -> bytes | None:
        with self._lock:
            self.downloads.append(path)
            bot = self._bots.get(token)
            if bot is None:
                return None
            for item in bot.files.values():
                if item.path == path:
                    return item.content
        return None
