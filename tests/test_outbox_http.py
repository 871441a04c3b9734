"""A real HTTP server on 127.0.0.1 for the outbox tests, and tests of the outbox HTTP client.

`FakeServer` records every request that reaches it and answers through a responder, so a
test can play SMS.ru, a JSON webhook, a slow server or one that is down, and then assert
the exact request that went over the wire.
"""

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection

from firstline.core.models import Partner, Tariff
from firstline.outbox import httpclient
from firstline.outbox.errors import PermanentError, TemporaryError
from firstline.tickets.models import Channel as TicketChannel
from firstline.tickets.models import Ticket


@dataclass(frozen=True)
class Seen:
    """One request as it reached the server."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def form(self) -> dict[str, str]:
        pairs = parse_qs(self.body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        return {name: values[0] for name, values in pairs.items()}

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


Reply = tuple[int, Any]
Responder = Callable[[Seen], Reply]


def answer_ok(_seen: Seen) -> Reply:
    return 200, {"id": "ok-1"}


class _Server(ThreadingHTTPServer):
    # Join request threads on close, so a test ends with no thread of ours still running.
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out has hung up before the answer: expected, not noise.
        pass


class FakeServer:
    def __init__(self, responder: Responder = answer_ok, *, port: int = 0,
                 delay: float = 0.0) -> None:
        self.responder = responder
        self.delay = delay
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._port = port

    def __enter__(self) -> "FakeServer":
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer._handle(self)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", self._port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        split = urlsplit(handler.path)
        seen = Seen(
            method=handler.command,
            path=split.path,
            query=parse_qs(split.query),
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=handler.rfile.read(length),
        )
        with self._lock:
            self.requests.append(seen)
        status, payload = self.responder(seen)
        if self.delay:
            time.sleep(self.delay)
        if isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, str):
            data = payload.encode("utf-8")
        else:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        handler.send_response(status)
        if status in (301, 302, 303, 307, 308):
            handler.send_header("Location", "/elsewhere")
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def closed_port() -> int:
    """A loopback port nobody listens on: connecting to it is refused, like a server down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def skip_unless_concurrent_connections_work() -> None:
    """Tests with several connections at once run on PostgreSQL only."""
    if connection.vendor == "sqlite":
        pytest.skip(
            "SQLite's in-memory test database is shared-cache: a second connection gets "
            "'database table is locked' at once (busy_timeout does not cover shared-cache "
            "table locks), so concurrent workers are tested on PostgreSQL"
        )


# Shared test data for the outbox tests: two partners and a ticket, without user accounts.


def make_partner(slug: str) -> Partner:
    tariff, _created = Tariff.objects.get_or_create(
        code="outbox-test",
        defaults={
            "name": "Outbox test", "requests_included": 10, "minutes_included": 10,
            "monthly_fee": "1000", "first_month_fee": "1000", "overage_request_fee": "10",
            "overage_minute_fee": "1",
        },
    )
    return Partner.objects.create(
        name=f"Partner {slug}", slug=slug, support_email=f"support@{slug}.example",
        tariff=tariff,
    )


def make_ticket(partner: Partner) -> Ticket:
    return Ticket.objects.create(
        partner=partner, channel=TicketChannel.PHONE, subject="Сервер не отвечает",
        customer_words="Сервер не отвечает с утра.",
    )


# Tests of the HTTP client the adapters share -----------------------------------------------


def test_a_post_reaches_the_server_with_its_body_and_headers() -> None:
    """The client sends a POST with the given body and headers and returns the answer."""
    with FakeServer(lambda seen: (201, {"id": 7})) as server:
        answer = httpclient.post(
            server.url("/hook?a=1"), "Привет".encode(), {"X-Token": "t"}, timeout=5
        )
    assert answer.status == 201
    assert answer.json() == {"id": 7}
    (seen,) = server.requests
    assert (seen.method, seen.path, seen.query) == ("POST", "/hook", {"a": ["1"]})
    assert seen.headers["x-token"] == "t"
    assert seen.body.decode("utf-8") == "Привет"


def test_a_redirect_is_reported_not_followed() -> None:
    """urllib would turn a redirected POST into a GET without a body: it is an error instead."""
    with FakeServer(lambda seen: (302, "")) as server:
        answer = httpclient.post(server.url("/hook"), b"{}", {}, timeout=5)
    assert answer.status == 302
    assert len(server.requests) == 1
    with pytest.raises(TemporaryError, match="HTTP 302"):
        httpclient.raise_for_status(answer, "webhook")


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, PermanentError), (404, PermanentError), (408, TemporaryError),
     (429, TemporaryError), (500, TemporaryError), (503, TemporaryError)],
)
def test_client_errors_are_permanent_and_server_errors_temporary(
    status: int, error: type[Exception]
) -> None:
    with pytest.raises(error, match=f"HTTP {status}"):
        httpclient.raise_for_status(httpclient.Answer(status, b"nope"), "webhook")


def test_a_server_that_is_down_is_a_temporary_error() -> None:
    with pytest.raises(TemporaryError, match="Connection refused|ConnectionRefused"):
        httpclient.post(f"http://127.0.0.1:{closed_port()}/x", b"{}", {}, timeout=2)


def test_a_server_that_does_not_answer_in_time_is_a_temporary_error() -> None:
    with FakeServer(delay=1.0) as server, pytest.raises(TemporaryError, match="timed out"):
        httpclient.post(server.url("/slow"), b"{}", {}, timeout=0.2)


def test_only_http_urls_are_posted_to() -> None:
    with pytest.raises(PermanentError, match="not an http"):
        httpclient.post("file:///etc/passwd", b"", {}, timeout=1)


def test_error_texts_do_not_carry_query_strings_or_credentials() -> None:
    """A secret in a URL's query or user part must not end up in last_error."""
    url = "https://user:secret@gw.example:8443/send?api_id=SECRET"
    assert httpclient.printable_url(url) == "https://gw.example:8443/send"
