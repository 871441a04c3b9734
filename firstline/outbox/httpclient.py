"""HTTP for the adapters: the standard library's urllib with timeouts and bounded reads.

No dependency beyond the standard library; proxies come from the usual environment
variables (http_proxy, https_proxy, no_proxy), which is how closed networks reach out.
"""

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from firstline.outbox.errors import PermanentError, TemporaryError

# Providers answer with a few hundred bytes; more than this is not an answer we can use.
MAX_ANSWER_BYTES = 64 * 1024

# Not client errors in the sense of "this message is bad": the same request may pass later.
RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    def snippet(self, limit: int = 300) -> str:
        return self.body.decode("utf-8", errors="replace")[:limit].strip()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib turns a redirected POST into a GET without the body: the provider would answer
    # 200 to a request that delivered nothing. A redirect is an answer to report instead.
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def printable_url(url: str) -> str:
    """The URL without its query and credentials, which may carry secrets, for error texts."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float) -> Answer:
    """POST `body`; any HTTP answer is returned, a transport failure is a TemporaryError."""
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise PermanentError(f"not an http(s) URL: {printable_url(url)!r}")
    # S310: the scheme is checked above, so no file:// or custom scheme can be opened.
    request = urllib.request.Request(  # noqa: S310
        url, data=body, headers=dict(headers), method="POST"
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Answer(response.status, response.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        try:
            return Answer(exc.code, exc.read(MAX_ANSWER_BYTES))
        finally:
            exc.close()
    except (OSError, http.client.HTTPException) as exc:
        # Refused, reset, timed out, DNS or TLS trouble: the far end may well be back later.
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise TemporaryError(
            f"POST {printable_url(url)}: {type(reason).__name__}: {reason}"
        ) from exc


def raise_for_status(answer: Answer, what: str) -> None:
    """2xx passes; a 4xx is permanent (the request itself is refused); the rest is retried."""
    if 200 <= answer.status < 300:
        return
    detail = f"{what}: HTTP {answer.status} {answer.snippet()}".strip()
    if 400 <= answer.status < 500 and answer.status not in RETRYABLE_4XX:
        raise PermanentError(detail)
    raise TemporaryError(detail)
