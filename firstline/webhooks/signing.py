"""The signature on every delivery, and how a receiver checks it.

    X-Firstline-Signature: t=1765000000,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

`t` is the Unix time of this very attempt (a retry carries a fresh one), `<body>` the raw
request body as sent (UTF-8 JSON). A receiver recomputes the HMAC with the subscription's
secret over `t`, a dot and the raw body, compares in constant time, and refuses a `t` older
than a few minutes (a replayed request). During a secret rotation there is one secret at a
time: the new one signs every send from the moment it is made.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Firstline-Signature"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},v1={signature(secret, moment, body)}"


def verify(secret: str, value: str, body: bytes, *, tolerance: int = TOLERANCE_SECONDS,
           at: float | None = None) -> bool:
    """What a receiver does: True if `value` (the header) signs `body` recently enough."""
    parts = dict(item.split("=", 1) for item in value.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if at is None else at) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return hmac.compare_digest(expected, parts.get("v1", ""))
