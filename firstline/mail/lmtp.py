"""An LMTP (or SMTP) listener an MTA hands partner mail to (aiosmtpd).

Postfix, Exim or any MTA delivers to `firstline mail_lmtp` like to Dovecot's LMTP: RCPT TO
is matched to an active mailbox by its address (anything else: 550, the MTA bounces it at
once), and the DATA is stored for each accepted recipient with `ingest.receive` (the mail
workers process it). The answer is 250 only once the raw message is in the database; when
it could not be stored (database down, disk full) the answer is 451 and the MTA keeps the
message and tries again later: nothing is lost. LMTP answers per recipient (RFC 2033); in
SMTP mode one answer covers all, 451 if any could not be stored (the retry stores the
others again, and ingest recognises them by Message-ID).

The asyncio server runs in its own thread; the database work runs in a worker thread of
its own (Django's ORM is synchronous), one message at a time.
"""

import asyncio
import logging
import socket
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.conf import settings
from django.db import close_old_connections, connection, connections

from firstline.mail.ingest import receive
from firstline.mail.models import Mailbox

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024
TEMPORARY_FAILURE = "451 4.3.0 The message could not be stored now; try again later"


def max_message_bytes() -> int:
    """The largest message accepted (SIZE in LHLO/EHLO; 552 above it)."""
    return int(getattr(settings, "FIRSTLINE_MAIL_MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES))



def find_mailbox(address: str) -> Mailbox | None:
    """The active mailbox (of an active partner) that mail to `address` belongs to."""
    address = address.strip().strip("<>").strip().lower()
    if not address:
        return None
    return (
        Mailbox.objects.filter(address=address, is_active=True, partner__is_active=True)
        .select_related("partner")
        .first()
    )


def store(raw: bytes, mailbox_id: int) -> object:
    """Store one message for one mailbox; raises when it could not be stored."""
    mailbox = Mailbox.objects.select_related("partner").get(pk=mailbox_id)
    return receive(raw, mailbox=mailbox)


def _with_fresh_connection[T](function: Callable[[], T]) -> T:
    # Each message is a unit of work, as a web request is: drop stale connections around
    # it (not inside a caller's transaction, which is where tests may run it).
    if not connection.in_atomic_block:
        close_old_connections()
    try:
        return function()
    finally:
        if not connection.in_atomic_block:
            close_old_connections()


class IngestHandler:
    """aiosmtpd handler: RCPT to known mailboxes only; DATA stored before 250."""

    def __init__(self, *, lmtp: bool = True, executor: Executor | None = None) -> None:
        self.lmtp = lmtp
        self._own_executor = executor is None
        self.executor = executor or ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="firstline-lmtp-db"
        )
        # Mailboxes accepted at RCPT, per transaction (dropped with the envelope).
        self._accepted: weakref.WeakKeyDictionary[Envelope, list[tuple[str, int]]] = (
            weakref.WeakKeyDictionary()
        )

    async def _run[T](self, function: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, _with_fresh_connection, function)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:
        try:
            mailbox = await self._run(lambda: find_mailbox(address))
        except Exception:
            logger.exception("LMTP: looking up the recipient %s failed", address)
            return "451 4.3.0 Recipient lookup failed; try again later"
        if mailbox is None:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        self._accepted.setdefault(envelope, []).append((address, mailbox.pk))
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or b"")
        answers = []
        for address, mailbox_id in self._accepted.pop(envelope, []):
            try:
                await self._run(lambda mailbox_id=mailbox_id: store(raw, mailbox_id))
            except Exception:
                logger.exception("LMTP: storing a message for %s failed; answered 451",
                                 address)
                answers.append(f"451 4.3.0 <{address}> could not be stored now; try again later")
            else:
                answers.append(f"250 2.0.0 <{address}> stored")
        if not answers:  # cannot happen: aiosmtpd refuses DATA without recipients
            return "503 5.5.1 No valid recipients"
        if self.lmtp:
            # RFC 2033: one reply per accepted recipient, in RCPT order.
            return "\r\n".join(answers)
        if all(answer.startswith("250") for answer in answers):
            return "250 2.0.0 Stored"
        return TEMPORARY_FAILURE

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd would answer 500 (permanent) to an unexpected error; a bug or an
        # outage on our side must make the MTA try again, not bounce the letter.
        logger.exception("LMTP: unexpected error", exc_info=error)
        return "451 4.3.0 Local error; try again later"

    def close(self) -> None:
        if self._own_executor:
            # Close the worker thread's database connection in that thread, then end it.
            self.executor.submit(connections.close_all).result()
            self.executor.shutdown(wait=True)


class LmtpServer:
    """The listener: `start()` binds and serves in a thread, `stop()` ends it.

    `port=0` picks a free port (see `.port` after `start()`). `smtp=True` speaks SMTP
    instead of LMTP, for an MTA that can only relay by SMTP.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 2424, *, smtp: bool = False,
        max_message_bytes: int | None = None, hostname: str | None = None,
        executor: Executor | None = None, timeout: float = 300.0,
    ) -> None:
        self.host = host
        self.port = port
        self.smtp = smtp
        self.max_message_bytes = max_message_bytes
        self.hostname = hostname or socket.gethostname()
        self.timeout = timeout
        self.handler = IngestHandler(lmtp=not smtp, executor=executor)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def protocol(self) -> str:
        return "SMTP" if self.smtp else "LMTP"

    def _factory(self) -> SMTP:
        assert self._loop is not None
        protocol_class = SMTP if self.smtp else LMTP
        size = self.max_message_bytes if self.max_message_bytes is not None else max_message_bytes()
        return protocol_class(
            self.handler, data_size_limit=size, hostname=self.hostname,
            timeout=self.timeout, loop=self._loop,
            # Mail with UTF-8 addresses arrives as it is; the bytes are stored untouched.
            enable_SMTPUTF8=True,
        )

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="firstline-lmtp")
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            self._thread.join()
            self._thread = None
            self._loop = None
            self.handler.close()
            raise self._error
        if not self._ready.is_set():
            raise RuntimeError(f"the {self.protocol} listener did not start in 30 s")

    def _serve(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(self._factory, host=self.host, port=self.port)
                )
            except BaseException as exc:
                self._error = exc
                return
            self.port = int(self._server.sockets[0].getsockname()[1])
            loop.call_soon(self._ready.set)
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            self._ready.set()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        # Sessions still open are cut: a message not yet answered 250 stays with the MTA.
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    def stop(self) -> None:
        if self._thread is None:
            return
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
        self.handler.close()

    def __enter__(self) -> "LmtpServer":
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
