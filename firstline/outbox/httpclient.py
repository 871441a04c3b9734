"""HTTP for the adapters: the standard library with timeouts and bounded reads.

No dependency beyond the standard library; proxies come from the usual environment
variables (http_proxy, https_proxy, no_proxy), which is how closed networks reach out.

Two ways to POST:

- `post`: urllib, a new connection per request. For the providers' APIs (SMS, voice).
- `post_to_address`: keep-alive connections per (scheme, host, port, address) kept in
  `KEEP_ALIVE` for the worker's life, opened to an address the caller has already
  checked (the webhooks' SSRF check), never to whatever DNS answers a moment later: the
  address checked is the address connected to. A connection is reused only when its last
  answer was read to the end and the server did not ask to close it; any error closes
  it. Through a proxy (the environment names one for the URL) the request goes by `post`
  instead: the proxy resolves and connects, and is where private addresses are refused.
"""

import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
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


# Keep-alive connections to checked addresses -------------------------------------------

type Address = ipaddress.IPv4Address | ipaddress.IPv6Address
type _Key = tuple[str, str, int, str]

# A server closes an idle keep-alive connection after a while (nginx: 75 s, many 5-60 s);
# one idle longer than this is closed here rather than risked.
KEEP_ALIVE_IDLE_SECONDS = 15.0
KEEP_ALIVE_MAX_IDLE_PER_KEY = 16
# A reused connection the server had already closed fails before any answer: sent again
# once on a fresh one (the receiver dedupes by Idempotency-Key; delivery is at least once).
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
          ConnectionAbortedError)


def _pinned_connection(scheme: str, host: str, port: int, address: Address,
                       timeout: float) -> http.client.HTTPConnection:
    """A connection for `host` (Host header, TLS name and certificate check) that connects
    to `address` only, never resolving `host` again."""
    connection: http.client.HTTPConnection
    if scheme == "https":
        connection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)

    def connect_to_checked_address(_where: object, connect_timeout: float | None,
                                   source_address: object = None) -> socket.socket:
        return socket.create_connection((str(address), port), connect_timeout)

    # http.client connects through this attribute (HTTPS wraps the socket afterwards with
    # server_hostname=host, so the certificate is still checked against the name).
    connection._create_connection = connect_to_checked_address  # type: ignore[attr-defined]
    return connection


class KeepAlivePool:
    """Idle keep-alive connections of this process; thread-safe (a connection is used by one
    thread at a time: taken out of the pool while in use)."""

    def __init__(self) -> None:
        self._idle: dict[_Key, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()
        self.opened = 0  # connections opened so far (for tests and the bench)

    def _take(self, key: _Key) -> http.client.HTTPConnection | None:
        moment = time.monotonic()
        stale: list[http.client.HTTPConnection] = []
        found = None
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                connection, since = idle.pop()
                if moment - since < KEEP_ALIVE_IDLE_SECONDS:
                    found = connection
                    break
                stale.append(connection)
        for connection in stale:
            connection.close()
        return found

    def _give_back(self, key: _Key, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < KEEP_ALIVE_MAX_IDLE_PER_KEY:
                idle.append((connection, time.monotonic()))
                return
        connection.close()

    def close_all(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection, _since in connections:
                connection.close()

    def post(self, url: str, address: Address, body: bytes, headers: Mapping[str, str], *,
             timeout: float) -> Answer:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in {"http", "https"}:
            raise PermanentError(f"not an http(s) URL: {printable_url(url)!r}")
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (parts.scheme, host, port, str(address))
        while True:
            connection = self._take(key)
            reused = connection is not None
            if connection is None:
                connection = _pinned_connection(parts.scheme, host, port, address, timeout)
                with self._lock:
                    self.opened += 1
            elif connection.sock is not None:
                connection.sock.settimeout(timeout)
            try:
                connection.request("POST", target, body=body, headers=dict(headers))
                response = connection.getresponse()
                data = response.read(MAX_ANSWER_BYTES)
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                if reused and isinstance(exc, _STALE):
                    continue  # the server had closed it while idle: once more, on a new one
                raise TemporaryError(
                    f"POST {printable_url(url)}: {type(exc).__name__}: {exc}") from exc
            # Reusable only when the answer was read to its end and nobody asked to close.
            if response.isclosed() and not response.will_close:
                self._give_back(key, connection)
            else:
                connection.close()
            return Answer(response.status, data)


KEEP_ALIVE = KeepAlivePool()


def uses_proxy(url: str) -> bool:
    """Whether the environment sends requests for this URL through a proxy."""
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    return bool(proxies.get(parts.scheme)) and not urllib.request.proxy_bypass(
        parts.hostname or "")


def post_to_address(url: str, address: Address, body: bytes, headers: Mapping[str, str], *,
                    timeout: float, through_proxy: bool | None = None) -> Answer:
    """POST `body` to `url` over a kept-alive connection to `address` (already checked by
    the caller); through the configured proxy, if any, with `post`. A caller sending many
    requests to one URL may pass `through_proxy` (`uses_proxy(url)`) to skip the lookup."""
    if through_proxy is None:
        through_proxy = uses_proxy(url)
    if through_proxy:
        return post(url, body, headers, timeout=timeout)
    return KEEP_ALIVE.post(url, address, body, headers, timeout=timeout)
