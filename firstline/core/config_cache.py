"""A small per-process cache of partner configuration read on every letter or ticket.

The mail channel reads the same few rows for every letter of a partner: the default SLA
policy, the acknowledgement template, the reply rules. They change rarely (an
administrator edits them in the desk), so a worker ingesting thousands of letters keeps
them here for a short while instead of asking the database each time:

- an entry lives at most TTL_SECONDS (5 s): a change made by another process (the web
  desk, another worker) is seen by this one within that time;
- a change saved or deleted in this process (any model listed in `watch`) drops the whole
  cache at once, so this process never reads its own stale data (and the tests, which
  reuse primary keys after a rollback, never see another test's rows).

Keys name the partner (its pk) and what is cached; values must be treated as read-only.
"""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from django.db.models import Model
from django.db.models.signals import post_delete, post_save

TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000

_entries: dict[Hashable, tuple[float, Any]] = {}
_lock = threading.Lock()


def get[T](key: Hashable, load: Callable[[], T]) -> T:
    """The cached value for `key`, loaded with `load()` when missing or older than the TTL."""
    moment = time.monotonic()
    entry = _entries.get(key)
    if entry is not None and moment - entry[0] < TTL_SECONDS:
        return entry[1]  # type: ignore[no-any-return]
    value = load()
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (moment, value)
    return value


def clear(**kwargs: Any) -> None:
    """Forget everything (connected to the saves and deletes of the watched models)."""
    with _lock:
        _entries.clear()


def watch(*models: type[Model]) -> None:
    """Drop the cache whenever a row of one of these models is saved or deleted."""
    for model in models:
        label = model._meta.label
        post_save.connect(clear, sender=model, dispatch_uid=f"config-cache-save-{label}")
        post_delete.connect(clear, sender=model, dispatch_uid=f"config-cache-delete-{label}")
