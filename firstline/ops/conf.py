"""The operations settings, read from the environment like firstline/settings.py does.

Each is looked up on django.conf.settings first (tests override them there), else in the
environment; a malformed value is an ImproperlyConfigured naming the variable.
"""

import ipaddress
import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS = {
    # Bearer token that /metrics accepts (empty: only the networks below).
    "FIRSTLINE_METRICS_TOKEN": "",
    # Client networks /metrics answers without a token.
    "FIRSTLINE_METRICS_NETWORKS": "127.0.0.0/8,::1",
    # A loop whose last beat is older than this makes /readyz unhealthy.
    "FIRSTLINE_READY_HEARTBEAT_SECONDS": "60",
    # Outbox messages due and not sent above which /readyz is unhealthy.
    "FIRSTLINE_READY_OUTBOX_MAX": "500",
}


def _raw(name: str) -> str:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, "") or DEFAULTS[name]
    return str(value) if not isinstance(value, list | tuple) else ",".join(value)


def text(name: str) -> str:
    return _raw(name).strip()


def positive_int(name: str) -> int:
    raw = _raw(name)
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: expected a whole number, got {raw!r}") from exc
    if value < 1:
        raise ImproperlyConfigured(f"{name}: expected a positive number, got {value}")
    return value


def networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    result = []
    for item in _raw(name).split(","):
        if not item.strip():
            continue
        try:
            result.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{name}: expected addresses or networks (10.0.0.0/8), got {item.strip()!r}"
            ) from exc
    return result
