"""The outbox's settings, read when used (never at import time) with their defaults.

settings.py reads the environment; these readers only supply defaults for settings it does
not define, so the outbox works with an untouched settings module.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# How often a message is tried before it is marked failed. With the default back-off
# (1, 2, 4 … 32 minutes, then every hour) 30 attempts span about a day.
DEFAULT_MAX_ATTEMPTS = 30
DEFAULT_BACKOFF_BASE_SECONDS = 60
DEFAULT_BACKOFF_MAX_SECONDS = 3600
# A claim (of a whole batch) lasts this long. No send of a batch starts later than
# lease - 3 x the HTTP timeout after the claim (the rest is handed back), so it must exceed
# the slowest single send (HTTP and SMTP timeouts), or a second worker could take over a
# message that is still being sent (firstline.outbox.delivery).
DEFAULT_LEASE_SECONDS = 300
DEFAULT_HTTP_TIMEOUT_SECONDS = 10
# Sends in flight at once per worker process, for adapters that send a batch (webhooks):
# a receiver's latency, not the CPU, bounds one connection.
DEFAULT_SEND_THREADS = 4

SMSRU_URL = "https://sms.ru/sms/send"
DEFAULT_SMS_TEMPLATE = (
    '{"phone": "{phone}", "text": "{text}", "partner": "{partner}", "ticket": "{ticket}"}'
)
DEFAULT_VOICE_TEMPLATE = '{"phone": "{phone}", "text": "{text}"}'


def _get(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def _positive_int(name: str, default: int) -> int:
    value = _get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ImproperlyConfigured(f"{name}: expected a positive integer, got {value!r}")
    return value


def _number(name: str, default: float) -> float:
    value = _get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ImproperlyConfigured(f"{name}: expected a positive number, got {value!r}")
    return float(value)


def max_attempts() -> int:
    return _positive_int("FIRSTLINE_OUTBOX_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)


def backoff_base_seconds() -> int:
    return _positive_int("FIRSTLINE_OUTBOX_BACKOFF_BASE_SECONDS", DEFAULT_BACKOFF_BASE_SECONDS)


def backoff_max_seconds() -> int:
    return _positive_int("FIRSTLINE_OUTBOX_BACKOFF_MAX_SECONDS", DEFAULT_BACKOFF_MAX_SECONDS)


def lease_seconds() -> int:
    return _positive_int("FIRSTLINE_OUTBOX_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)


def http_timeout() -> float:
    return _number("FIRSTLINE_OUTBOX_HTTP_TIMEOUT", DEFAULT_HTTP_TIMEOUT_SECONDS)


def send_threads() -> int:
    return _positive_int("FIRSTLINE_OUTBOX_SEND_THREADS", DEFAULT_SEND_THREADS)


def mailer() -> str:
    """The MAILERS alias outgoing mail goes through."""
    return str(_get("FIRSTLINE_OUTBOX_MAILER", "default"))


def text(name: str, default: str = "") -> str:
    return str(_get(name, default) or default)


def flag(name: str, default: bool = False) -> bool:
    return bool(_get(name, default))
