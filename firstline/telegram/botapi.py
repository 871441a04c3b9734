"""The Telegram Bot API over HTTPS: methods as JSON POSTs, file downloads as GETs.

    https://api.telegram.org/bot<token>/<method>       {"ok": true, "result": ...}
    https://api.telegram.org/file/bot<token>/<path>     the file's bytes (bots: up to 20 MB)

The base URL is FIRSTLINE_TELEGRAM_API_URL (tests point it at a stand-in). A failed call
raises ApiError with Telegram's error_code, description and retry_after; a transport failure
is an ApiError with code 0. The token is never written into an error text.
"""

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings

DEFAULT_API_URL = "https://api.telegram.org"
# Bots may download files of up to 20 MB (getFile); larger ones Telegram does not serve.
BOT_DOWNLOAD_LIMIT = 20 * 1024 * 1024
MAX_ANSWER_BYTES = 4 * 1024 * 1024
DEFAULT_TIMEOUT = 15.0


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(f"Telegram {code or 'transport'}: {description}")
        self.code = code
        self.description = description
        self.retry_after = retry_after


def api_url() -> str:
    return str(getattr(settings, "FIRSTLINE_TELEGRAM_API_URL", "") or DEFAULT_API_URL).rstrip("/")


def timeout() -> float:
    return float(getattr(settings, "FIRSTLINE_TELEGRAM_TIMEOUT", DEFAULT_TIMEOUT))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _open(request: urllib.request.Request, limit: int, wait: float) -> tuple[int, bytes, bool]:
    """(status, body, whether the body was longer than `limit`)."""
    if urllib.parse.urlsplit(request.full_url).scheme not in {"http", "https"}:
        raise ApiError(0, "the Bot API address is not an http(s) URL")
    try:
        with _opener.open(request, timeout=wait) as response:
            body = response.read(limit + 1)
            return response.status, body[:limit], len(body) > limit
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(MAX_ANSWER_BYTES)
        finally:
            exc.close()
        return exc.code, body, False
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise ApiError(0, f"{type(reason).__name__}: {reason}") from exc


def call(token: str, method: str, params: dict[str, Any] | None = None,
         *, wait: float | None = None) -> Any:
    """Call a Bot API method; return its `result` or raise ApiError."""
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked in _open
        f"{api_url()}/bot{token}/{method}",
        data=json.dumps(params or {}, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8",
                 "Accept": "application/json"},
        method="POST",
    )
    status, body, _long = _open(request, MAX_ANSWER_BYTES, wait or timeout())
    return _result(method, status, body)


def _result(method: str, status: int, body: bytes) -> Any:
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ApiError(status if status >= 400 else 502,
                       f"{method}: not a Bot API answer (HTTP {status})")
    if data.get("ok") is True and 200 <= status < 300:
        return data.get("result")
    parameters = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
    retry_after = parameters.get("retry_after")
    code = data.get("error_code") if isinstance(data.get("error_code"), int) else status
    raise ApiError(code, f"{method}: {str(data.get('description') or '')[:300]}",
                   retry_after if isinstance(retry_after, int) else None)


def call_with_file(token: str, method: str, params: dict[str, Any], *, field: str,
                   filename: str, content: bytes, content_type: str) -> Any:
    """A method that uploads a file (sendDocument): multipart/form-data, as the API wants."""
    boundary = f"firstline-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in params.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            .encode() + text.encode("utf-8") + b"\r\n"
        )
    # RFC 7578: the file name as UTF-8 in the quoted string; quotes and breaks taken out.
    safe = filename.replace('"', "'").replace("\r", " ").replace("\n", " ")
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{safe}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
        + content + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked in _open
        f"{api_url()}/bot{token}/{method}", data=b"".join(parts),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                 "Accept": "application/json"},
        method="POST",
    )
    return _result(method, *_open(request, MAX_ANSWER_BYTES, timeout())[:2])


@dataclass(frozen=True)
class Download:
    content: bytes
    too_big: bool


def download(token: str, file_path: str, limit: int) -> Download:
    """The file's bytes, or too_big when it has more than `limit` bytes (not read past it)."""
    path = urllib.parse.quote(file_path.lstrip("/"), safe="/")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked in _open
        f"{api_url()}/file/bot{token}/{path}", method="GET"
    )
    status, body, too_big = _open(request, limit, timeout())
    if status != 200:
        raise ApiError(status, f"file download: HTTP {status}")
    return Download(b"" if too_big else body, too_big)
