"""Reading a queue_log file, once or following it, with the position kept in the database.

The offset is saved in the same transaction as the events read up to it, so a restart
goes on exactly where the last committed batch ended; a replayed line would change
nothing anyway (its key is its text). A rotated file (another inode) or one shorter than
the saved offset (truncated) is read from its start. While following, a last line without
its newline is still being written and is left for the next read; in a one-shot import it
is read as it is (and kept aside if it is incomplete).
"""

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction

from firstline.calls import queue_log
from firstline.calls.models import QueueLogPosition, RawCallEvent, Source
from firstline.calls.services import DUPLICATE, Incoming, record_event, record_many
from firstline.core.clock import now

# Lines read, recorded and committed together with the file position.
BATCH_LINES = 5000


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


def import_lines(lines: Iterable[str], *, one_by_one: bool = False) -> Counts:
    """Record the call events among `lines`: as one batch (the default), or one by one.

    Both give the same calls and raw events; the batch needs a few statements where one by
    one needs several per line. Blank lines and events about no call are skipped.
    """
    counts = Counts()
    items: list[Incoming] = []
    for text in lines:
        counts.read += 1
        if not text.strip():
            counts.skipped += 1
            continue
        line = queue_log.Line(text)
        if not line.is_call_event:
            counts.skipped += 1
            continue
        items.append(Incoming(payload={"line": text.rstrip("\r\n")},
                              dedupe_key=line.dedupe_key(),
                              parse=lambda line=line: queue_log.to_event(line)))
    if one_by_one:
        states = [DUPLICATE if r.duplicate else r.raw.state for r in (
            record_event(source=Source.QUEUE_LOG, payload=item.payload,
                         dedupe_key=item.dedupe_key, parse=item.parse) for item in items)]
    else:
        states = record_many(source=Source.QUEUE_LOG, items=items)
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
    """Up to BATCH_LINES whole lines from the handle and the offset after them."""
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
        offset = handle.tell()
    return lines, offset


def import_file(
    path: str, *, follow: bool = False, poll_seconds: float = 1.0,
    keep_going: Callable[[], bool] = lambda: True,
) -> Counts:
    """Import `path` from the saved position; with `follow`, keep reading as it grows."""
    path = os.path.abspath(path)
    total = Counts()
    while True:
        stat = os.stat(path)
        with open(path, "rb") as handle:
            position = _position(path, stat.st_ino, stat.st_size)
            handle.seek(position.offset)
            while True:
                lines, offset = _read_batch(handle, follow)
                if lines:
                    with transaction.atomic():
                        total.add(import_lines(lines))
                        QueueLogPosition.objects.filter(pk=position.pk).update(
                            offset=offset, updated_at=now())
                    continue
                if not follow or not keep_going():
                    return total
                time.sleep(poll_seconds)
                try:
                    current = os.stat(path)
                except FileNotFoundError:
                    continue
                if current.st_ino != stat.st_ino or current.st_size < handle.tell():
                    break  # rotated or truncated: reopen from the start
