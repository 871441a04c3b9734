"""Reading a queue_log file, once or following it, with the position kept in the database.

The offset is saved in the same transaction as the events read up to it, so a restart
goes on exactly where the last committed batch ended; a replayed line would change
nothing anyway (its key is its text). A rotated file (another inode) or one shorter than
the saved offset (truncated) is read from its start. While following, a last line without
its newline is still being written and is left for the next read; in a one-shot import it
is read as it is (and kept aside if it is incomplete).
"""

import json.encoder
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.db import transaction

from firstline.calls import queue_log
from firstline.calls.events import CallEvent
from firstline.calls.models import QueueLogPosition, RawCallEvent, Source
from firstline.calls.services import (
    DUPLICATE,
    Incoming,
    event_json,
    record_event,
    record_many,
)
from firstline.core.clock import now

# Lines read, recorded and committed together with the file position.
BATCH_LINES = 10000


@dataclass
class Counts:
    read: int = 0
    applied: int = 0
    waiting: int = 0
    refused: int = 0
    duplicate: int = 0
    skipped: int = 0

    def add(self, other: "Counts") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Prepared:
    """Lines read into events (parsing needs no database: done while the last batch is
    written), with what was counted on the way."""

    items: list[Incoming]
    counts: Counts


def prepare(lines: Iterable[str]) -> Prepared:
    """Read each line's event; blank lines and events about no call are skipped."""
    counts = Counts()
    items: list[Incoming] = []
    for text in lines:
        counts.read += 1
        if "\x00" in text:
            # PostgreSQL's text cannot hold NUL: replaced, as bytes that are not UTF-8 are.
            text = text.replace("\x00", "\ufffd")
        line = queue_log.Line(text)
        if not text.strip() or not line.is_call_event:
            counts.skipped += 1
            continue
        text = text.rstrip("\r\n")
        parse, event_text = _reader(line)
        # Positional (payload, dedupe_key, parse, partner, payload_json, event_json).
        items.append(Incoming({"line": text}, line.dedupe_key(), parse, None,
                              '{"line": ' + _quote(text) + "}", event_text))
    return Prepared(items, counts)


_quote = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _reader(line: queue_log.Line) -> tuple[Callable[[], CallEvent], str | None]:
    """`parse` for the line's event, read now, and the event as JSON: `parse` returns it,
    or raises what reading raised (where `record_many` reads it, so the reason is worded
    in that thread's language)."""
    try:
        event = queue_log.to_event(line)
    except Exception as exc:  # noqa: BLE001 - raised again by the returned function
        error = exc

        def fail() -> CallEvent:
            raise error

        return fail, None
    return (lambda: event), event_json(event)


def import_lines(lines: Iterable[str], *, one_by_one: bool = False,
                 expect_new: bool = False) -> Counts:
    """Record the call events among `lines`: as one batch (the default), or one by one.

    Both give the same calls and raw events; the batch needs a few statements where one by
    one needs several per line. Blank lines and events about no call are skipped.
    `expect_new`: see `record_many` (the file's lines after its saved position)."""
    return record_prepared(prepare(lines), one_by_one=one_by_one, expect_new=expect_new)


def record_prepared(prepared: Prepared, *, one_by_one: bool = False,
                    expect_new: bool = False) -> Counts:
    counts, items = prepared.counts, prepared.items
    if one_by_one:
        states = [DUPLICATE if r.duplicate else r.raw.state for r in (
            record_event(source=Source.QUEUE_LOG, payload=item.payload,
                         dedupe_key=item.dedupe_key, parse=item.parse) for item in items)]
    else:
        states = record_many(source=Source.QUEUE_LOG, items=items, expect_new=expect_new)
    for state in states:
        if state == DUPLICATE:
            counts.duplicate += 1
        elif state == RawCallEvent.State.FAILED:
            counts.refused += 1
        elif state == RawCallEvent.State.WAITING:
            counts.waiting += 1
        else:
            counts.applied += 1
    return counts


def _position(path: str, inode: int, size: int) -> QueueLogPosition:
    position, _created = QueueLogPosition.objects.get_or_create(
        path=path, defaults={"inode": inode, "offset": 0})
    if position.inode != inode or position.offset > size:
        position.inode, position.offset = inode, 0
        position.save(update_fields=["inode", "offset"])
    return position


def _read_batch(handle, follow: bool) -> tuple[list[str], int]:  # type: ignore[no-untyped-def]
    """Up to BATCH_LINES whole lines from the handle and the offset after them (counted,
    not asked of the handle line by line, which costs as much as reading the line)."""
    lines: list[str] = []
    offset = handle.tell()
    while len(lines) < BATCH_LINES:
        raw = handle.readline()
        if not raw:
            break
        if not raw.endswith(b"\n") and follow:
            handle.seek(offset)
            break
        lines.append(raw.decode("utf-8", errors="replace"))
        offset += len(raw)
    return lines, offset


class _ReadAhead:
    """Reads and prepares the next batches in a thread while this one is written: the
    database works on the other core, and psycopg lets go of the GIL while it waits.

    Iterating gives (Prepared, offset after its lines) until the file has no whole line
    more; leaving the `with` stops the thread, after which the handle is the caller's."""

    def __init__(self, handle, follow: bool) -> None:  # type: ignore[no-untyped-def]
        self._handle, self._follow = handle, follow
        self._queue: queue.Queue[tuple[Prepared, int] | BaseException | None] = (
            queue.Queue(maxsize=2))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="queue_log-read", daemon=True)

    def __enter__(self) -> "_ReadAhead":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def __iter__(self) -> Iterator[tuple[Prepared, int]]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                lines, offset = _read_batch(self._handle, self._follow)
                if not lines:
                    break
                self._put((prepare(lines), offset))
        except BaseException as exc:  # noqa: BLE001 - raised again in the reading thread
            self._put(exc)
            return
        self._put(None)

    def _put(self, item: tuple[Prepared, int] | BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue


def import_file(
    path: str, *, follow: bool = False, poll_seconds: float = 1.0,
    keep_going: Callable[[], bool] = lambda: True,
) -> Counts:
    """Import `path` from the saved position; with `follow`, keep reading as it grows."""
    path = os.path.abspath(path)
    total = Counts()
    # Lines after the saved position are new unless the position was lost: the unique key
    # is left to find replays until a batch meets one (then they are looked up first).
    expect_new = True
    while True:
        stat = os.stat(path)
        with open(path, "rb") as handle:
            position = _position(path, stat.st_ino, stat.st_size)
            handle.seek(position.offset)
            while True:
                with _ReadAhead(handle, follow) as batches:
                    for prepared, offset in batches:
                        with transaction.atomic():
                            counts = record_prepared(prepared, expect_new=expect_new)
                            QueueLogPosition.objects.filter(pk=position.pk).update(
                                offset=offset, updated_at=now())
                        total.add(counts)
                        expect_new = counts.duplicate == 0
                if not follow or not keep_going():
                    return total
                time.sleep(poll_seconds)
                try:
                    current = os.stat(path)
                except FileNotFoundError:
                    continue
                if current.st_ino != stat.st_ino or current.st_size < handle.tell():
                    break  # rotated or truncated: reopen from the start
