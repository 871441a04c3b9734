"""Fetching partner mail from IMAP mailboxes, so that no letter is lost on the way.

Per mailbox: connect with TLS (implicit, or STARTTLS — a failed STARTTLS is an error, never
a fall-back to plain text), log in, select the folder, search the unseen messages by UID and
fetch them in batches with BODY.PEEK[] (which leaves \\Seen alone). Each raw message goes to
`ingest.receive`, which stores it (the mail workers process it); only then is it marked:
moved to the processed folder when the mailbox has one (MOVE, or COPY + \\Deleted + UID
EXPUNGE on servers without MOVE), else flagged \\Seen and $FirstlineProcessed. A crash
between storing and marking fetches the message again on the next poll, and ingest
recognises it by its Message-ID (or its bytes), so the worst case is a second look, never a
lost letter.

`Poller` keeps every mailbox connected and waits in IDLE where the server supports it (new
mail arrives within a second), polling every `interval` seconds where it does not. A
mailbox that fails (server down, wrong password, TLS refused, the database away) is logged
and retried with growing back-off; the others go on. It runs in one thread: the database is
used from the thread that runs it, and the mailboxes take turns (mail volume is small; a
server that hangs delays the others by at most the socket timeout, and then backs off).
"""

import logging
import random
import select
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import batched
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from firstline.core.encryption import UndecryptableError
from firstline.core.secret_field import reveal
from firstline.mail.ingest import receive
from firstline.mail.models import Mailbox

logger = logging.getLogger(__name__)

SEEN = b"\\Seen"
DELETED = b"\\Deleted"
# Set beside \Seen on every message the desk has stored, so people reading the same
# mailbox can tell "read by the desk" from "read by a person".
PROCESSED_KEYWORD = b"$FirstlineProcessed"

DEFAULT_BATCH_SIZE = 20
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_POLL_INTERVAL_SECONDS = 60.0
# RFC 2177: re-issue IDLE well within 29 minutes; NAT boxes drop silent connections sooner.
DEFAULT_IDLE_SECONDS = 300.0
DEFAULT_BACKOFF_BASE_SECONDS = 5.0
DEFAULT_BACKOFF_MAX_SECONDS = 600.0

# What a failing mailbox usually raises; these are logged in one line, anything else with
# its traceback.
EXPECTED_ERRORS = (IMAPClientError, OSError, ssl.SSLError)


class MailboxConfigError(Exception):
    """The mailbox's IMAP settings cannot work (no host, unknown security mode…)."""



def tls_context() -> ssl.SSLContext:
    """A verifying TLS context: the system CAs, or FIRSTLINE_IMAP_CA_FILE when set.

    Name a private CA (a partner's own mail server) with FIRSTLINE_IMAP_CA_FILE; there is
    no switch to turn verification off.
    """
    ca_file = str(getattr(settings, "FIRSTLINE_IMAP_CA_FILE", "") or "")
    return ssl.create_default_context(cafile=ca_file or None)


def connect(
    mailbox: Mailbox, *, ssl_context: ssl.SSLContext | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> IMAPClient:
    """A logged-in connection to the mailbox's server (not yet in a folder)."""
    if not mailbox.imap_host:
        raise MailboxConfigError(f"mailbox {mailbox.address}: no IMAP host is set")
    security = mailbox.imap_security
    if security not in Mailbox.Security.values:
        raise MailboxConfigError(
            f"mailbox {mailbox.address}: unknown IMAP security {security!r}"
        )
    try:
        password = reveal(mailbox.imap_password, f"mailbox {mailbox.address}: IMAP password")
    except UndecryptableError as exc:
        raise MailboxConfigError(str(exc)) from exc
    context = ssl_context or tls_context()
    client = IMAPClient(
        mailbox.imap_host, port=mailbox.imap_port, ssl=security == Mailbox.Security.SSL,
        ssl_context=context, timeout=timeout,
    )
    try:
        if security == Mailbox.Security.STARTTLS:
            # Raises when the server does not offer STARTTLS or the handshake fails: the
            # password never goes out in plain text because TLS did not work.
            client.starttls(context)
        client.login(mailbox.imap_username, password)
    except BaseException:
        close_quietly(client)
        raise
    return client


def close_quietly(client: IMAPClient) -> None:
    """Log out, or at least close the socket; a dead connection raises nothing here."""
    try:
        client.logout()
    except Exception:
        try:
            client.shutdown()
        except Exception as exc:
            logger.debug("IMAP connection was already closed: %s", exc)


@dataclass
class PollResult:
    found: int = 0  # unseen messages in the folder
    stored: int = 0  # handed to ingest and marked processed


class ImapSession:
    """One logged-in connection with the mailbox's folder selected."""

    def __init__(self, mailbox: Mailbox, client: IMAPClient, select_response: dict) -> None:
        self.mailbox = mailbox
        self.client = client
        self.idling = False
        self._ensured_folder = ""
        permanent = select_response.get(b"PERMANENTFLAGS", ())
        # A server that does not keep keywords still gets \Seen.
        self.keywords_allowed = b"\\*" in permanent or PROCESSED_KEYWORD in permanent
        self.can_move = bool(client.has_capability("MOVE"))

    @classmethod
    def open(
        cls, mailbox: Mailbox, *, ssl_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> "ImapSession":
        client = connect(mailbox, ssl_context=ssl_context, timeout=timeout)
        try:
            response = client.select_folder(mailbox.imap_folder or "INBOX")
        except BaseException:
            close_quietly(client)
            raise
        return cls(mailbox, client, response)

    def __enter__(self) -> "ImapSession":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self.idling:
            try:
                self.client.idle_done()
            except Exception as exc:
                logger.debug("leaving IDLE failed: %s", exc)
            self.idling = False
        close_quietly(self.client)

    @property
    def config(self) -> tuple[Any, ...]:
        return connection_settings(self.mailbox)

    # Fetching ------------------------------------------------------------------------------

    def poll(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> PollResult:
        """Store every unseen message, then mark it processed; return the counts."""
        self._ensure_processed_folder()
        # NOOP is IMAP's "check for new mail": servers such as Dovecot bring a selected
        # folder up to date on it, while SEARCH alone may not see mail that just arrived.
        self.client.noop()
        uids = sorted(self.client.search(["UNSEEN"]))
        result = PollResult(found=len(uids))
        for batch in batched(uids, max(1, batch_size)):
            result.stored += self._store_batch(batch)
        return result

    def _store_batch(self, uids: Sequence[int]) -> int:
        response = self.client.fetch(uids, ["BODY.PEEK[]"])
        stored: list[int] = []
        try:
            for uid in uids:
                raw = (response.get(uid) or {}).get(b"BODY[]")
                if raw is None:
                    continue  # expunged by someone else between SEARCH and FETCH
                receive(bytes(raw), mailbox=self.mailbox)
                stored.append(uid)
        except BaseException:
            # Mark what is already stored, so the next poll does not fetch it again, and
            # let the failure through: the rest waits, unseen, for the next attempt.
            if stored:
                try:
                    self.mark_processed(stored)
                except Exception:
                    logger.exception("mailbox %s: marking stored messages failed",
                                     self.mailbox.address)
            raise
        if stored:
            self.mark_processed(stored)
        return len(stored)

    # Marking -------------------------------------------------------------------------------

    def mark_processed(self, uids: Sequence[int]) -> None:
        flags = [SEEN, PROCESSED_KEYWORD] if self.keywords_allowed else [SEEN]
        # Flagged first in any case, so the copy in the processed folder is marked as well.
        self.client.add_flags(uids, flags, silent=True)
        folder = self.mailbox.imap_processed_folder.strip()
        if folder:
            self.move(uids, folder, use_move=self.can_move)

    def move(self, uids: Sequence[int], folder: str, *, use_move: bool) -> None:
        """Move messages to a folder: MOVE (RFC 6851), or COPY, \\Deleted and EXPUNGE."""
        if use_move:
            self.client.move(uids, folder)
            return
        self.client.copy(uids, folder)
        self.client.add_flags(uids, [DELETED], silent=True)
        if self.client.has_capability("UIDPLUS"):
            self.client.uid_expunge(uids)
        else:
            # Without UIDPLUS, EXPUNGE also removes other messages somebody marked
            # \Deleted in this folder; that is what they asked for, only earlier.
            self.client.expunge()

    def _ensure_processed_folder(self) -> None:
        folder = self.mailbox.imap_processed_folder.strip()
        if not folder or folder == self._ensured_folder:
            return
        if not self.client.folder_exists(folder):
            try:
                self.client.create_folder(folder)
            except IMAPClientError:
                # Another poller may have created it a moment ago.
                if not self.client.folder_exists(folder):
                    raise
        self._ensured_folder = folder

    # IDLE ----------------------------------------------------------------------------------

    def supports_idle(self) -> bool:
        return bool(self.client.has_capability("IDLE"))

    def idle_start(self) -> None:
        self.client.idle()
        self.idling = True

    def has_buffered_input(self) -> bool:
        """Whether the server has already said more than we parsed.

        Mail that arrives between a poll and IDLE is announced right after the server's
        "+ idling", often in the same TLS record: the reader buffers it with the
        continuation, and select() on the socket never fires for it. So look in the buffers
        (and, without blocking, the socket) once IDLE has begun."""
        imap = self.client._imap
        sock = imap.sock
        pending = getattr(sock, "pending", None)  # bytes decrypted and kept by the TLS layer
        if pending is not None and pending() > 0:
            return True
        previous = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            # Returns what is buffered without reading; reads only when the buffer is empty.
            return bool(imap.file.peek(1))
        except (BlockingIOError, ssl.SSLWantReadError, TimeoutError):
            return False
        finally:
            sock.settimeout(previous)

    def idle_stop(self) -> None:
        self.idling = False
        self.client.idle_done()

    def idle_responses(self, timeout: float) -> list[Any]:
        """What the server said in IDLE within `timeout` seconds (may be nothing)."""
        return list(self.client.idle_check(timeout=timeout))

    def socket(self) -> Any:
        return self.client.socket()


def announces_mail(responses: Iterable[Any]) -> bool:
    """Whether IDLE responses announce new messages (`* 3 EXISTS`, `* 1 RECENT`)."""
    return any(
        isinstance(response, tuple) and len(response) >= 2
        and response[1] in (b"EXISTS", b"RECENT")
        for response in responses
    )


def connection_settings(mailbox: Mailbox) -> tuple[Any, ...]:
    """What a connection depends on: a change means reconnecting."""
    return (
        mailbox.imap_host, mailbox.imap_port, mailbox.imap_security, mailbox.imap_username,
        mailbox.imap_password, mailbox.imap_folder,
    )


def poll_mailbox(
    mailbox: Mailbox, *, ssl_context: ssl.SSLContext | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS, batch_size: int = DEFAULT_BATCH_SIZE,
) -> PollResult:
    """Connect, store and mark every unseen message, log out. Raises on any failure."""
    with ImapSession.open(mailbox, ssl_context=ssl_context, timeout=timeout) as session:
        return session.poll(batch_size=batch_size)


def pollable_mailboxes() -> Iterable[Mailbox]:
    """Active mailboxes of active partners that have an IMAP server to poll."""
    return (
        Mailbox.objects.filter(is_active=True, partner__is_active=True)
        .exclude(imap_host="")
        .select_related("partner")
        .order_by("pk")
    )


def backoff(failures: int, *, base: float = DEFAULT_BACKOFF_BASE_SECONDS,
            cap: float = DEFAULT_BACKOFF_MAX_SECONDS) -> float:
    """Seconds to wait after the n-th failure in a row: base · 2^(n-1), capped, jittered."""
    nominal = min(cap, base * 2 ** min(max(failures - 1, 0), 30))
    return nominal * random.uniform(0.75, 1.0)


# The loop ------------------------------------------------------------------------------------


@dataclass
class _Watch:
    mailbox_id: int
    address: str
    session: ImapSession | None = None
    due: float = 0.0  # time.monotonic() when the mailbox is next polled
    failures: int = 0


class Poller:
    """Keeps mailboxes polled: IDLE where possible, else every `interval` seconds.

    `mailbox_ids` limits it to those mailboxes (all pollable ones otherwise; the list is
    re-read every `refresh` seconds, so mailboxes added or switched off are picked up).
    `stop` ends `run()` within about half a second.
    """

    def __init__(
        self, *, mailbox_ids: Sequence[int] | None = None,
        interval: float = DEFAULT_POLL_INTERVAL_SECONDS,
        idle_seconds: float = DEFAULT_IDLE_SECONDS, refresh: float = 60.0,
        backoff_base: float = DEFAULT_BACKOFF_BASE_SECONDS,
        backoff_max: float = DEFAULT_BACKOFF_MAX_SECONDS,
        timeout: float = DEFAULT_TIMEOUT_SECONDS, batch_size: int = DEFAULT_BATCH_SIZE,
        ssl_context: ssl.SSLContext | None = None, stop: threading.Event | None = None,
        on_result: Callable[[Mailbox, PollResult], None] | None = None,
    ) -> None:
        self.mailbox_ids = list(mailbox_ids) if mailbox_ids is not None else None
        self.interval = max(0.05, interval)
        self.idle_seconds = max(0.05, idle_seconds)
        self.refresh = max(0.05, refresh)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.timeout = timeout
        self.batch_size = batch_size
        self.ssl_context = ssl_context
        self.stop = stop or threading.Event()
        self.on_result = on_result
        self.watches: dict[int, _Watch] = {}
        self._next_refresh = 0.0

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                if not connection.in_atomic_block:
                    # A long-running process: drop database connections that went stale.
                    close_old_connections()
                if time.monotonic() >= self._next_refresh:
                    self._refresh()
                for watch in list(self.watches.values()):
                    if self.stop.is_set():
                        break
                    if watch.due <= time.monotonic():
                        self._service(watch)
                self._wait()
        finally:
            self.close()

    def close(self) -> None:
        for watch in self.watches.values():
            self._disconnect(watch)

    # One mailbox -----------------------------------------------------------------------------

    def _refresh(self) -> None:
        self._next_refresh = time.monotonic() + self.refresh
        try:
            mailboxes = pollable_mailboxes()
            if self.mailbox_ids is not None:
                mailboxes = mailboxes.filter(pk__in=self.mailbox_ids)
            current = {mailbox.pk: mailbox.address for mailbox in mailboxes}
        except Exception:
            logger.exception("reading the mailboxes to poll failed; trying again shortly")
            self._next_refresh = time.monotonic() + min(self.refresh, 5.0)
            return
        for pk in list(self.watches):
            if pk not in current:
                logger.info("mailbox %s: no longer polled", self.watches[pk].address)
                self._disconnect(self.watches.pop(pk))
        for pk, address in current.items():
            if pk not in self.watches:
                self.watches[pk] = _Watch(mailbox_id=pk, address=address)

    def _service(self, watch: _Watch) -> None:
        try:
            mailbox = pollable_mailboxes().filter(pk=watch.mailbox_id).first()
            if mailbox is None:
                self._disconnect(self.watches.pop(watch.mailbox_id))
                return
            watch.address = mailbox.address
            session = watch.session
            if session is not None and session.config != connection_settings(mailbox):
                self._disconnect(watch)  # the settings changed: connect afresh
                session = None
            if session is not None and session.idling:
                session.idle_stop()
            if session is None:
                session = watch.session = ImapSession.open(
                    mailbox, ssl_context=self.ssl_context, timeout=self.timeout
                )
            session.mailbox = mailbox
            result = session.poll(batch_size=self.batch_size)
            if result.found:
                logger.info("mailbox %s: %s new, %s stored",
                            mailbox.address, result.found, result.stored)
            if self.on_result is not None:
                self.on_result(mailbox, result)
            if session.supports_idle():
                session.idle_start()
                watch.due = time.monotonic() + self.idle_seconds
                if session.has_buffered_input():
                    watch.due = time.monotonic()  # announced already: look again now
            else:
                watch.due = time.monotonic() + self.interval
            watch.failures = 0
        except Exception as exc:
            watch.failures += 1
            delay = backoff(watch.failures, base=self.backoff_base, cap=self.backoff_max)
            logger.warning(
                "mailbox %s: %s: %s (failure %s in a row; next try in %.0f s)",
                watch.address, type(exc).__name__, exc, watch.failures, delay,
                exc_info=not isinstance(exc, (*EXPECTED_ERRORS, MailboxConfigError)),
            )
            self._disconnect(watch)
            watch.due = time.monotonic() + delay

    def _disconnect(self, watch: _Watch) -> None:
        if watch.session is not None:
            watch.session.close()
            watch.session = None

    # Waiting -------------------------------------------------------------------------------

    def _wait(self) -> None:
        """Sleep until a mailbox is due, new mail is announced in IDLE, or stop is set."""
        now = time.monotonic()
        next_due = min([w.due for w in self.watches.values()] + [self._next_refresh])
        # In slices of at most half a second, so that `stop` is noticed promptly.
        timeout = min(max(0.0, next_due - now), 0.5)
        idling = {
            watch.session.socket(): watch
            for watch in self.watches.values()
            if watch.session is not None and watch.session.idling
        }
        if not idling:
            self.stop.wait(timeout)
            return
        try:
            readable, _w, _x = select.select(list(idling), [], [], timeout)
        except (OSError, ValueError):
            # A socket closed under us: let each idling mailbox find out on its next turn.
            readable = list(idling)
        for sock in readable:
            watch = idling[sock]
            assert watch.session is not None
            try:
                responses = watch.session.idle_responses(0)
            except Exception as exc:
                logger.info("mailbox %s: IDLE ended: %s", watch.address, exc)
                responses = []
            # A readable socket with nothing to parse is the server hanging up: look now,
            # and the poll notices the dead connection and reconnects. A keep-alive
            # ("* OK Still here") changes nothing.
            if not responses or announces_mail(responses):
                watch.due = time.monotonic()
