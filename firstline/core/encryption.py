"""Secrets kept in the database (an IMAP password) are encrypted at rest.

Keys: FIRSTLINE_FIELD_KEY, one or more Fernet keys separated by commas; the first encrypts,
every one decrypts, so a key is rotated by putting the new one first, running
`firstline reencrypt_fields`, then dropping the old one. Without the variable the key is
derived from SECRET_KEY (keys derived from Django's SECRET_KEY_FALLBACKS decrypt too):
changing SECRET_KEY then makes the stored secrets unreadable until they are entered again.

`parse_keys` runs in settings.py, before Django is configured (no Django imports beyond the
exception); the rest is read when used. A stored value is "fernet:" and a Fernet token
(AES-128-CBC with HMAC-SHA256, from the `cryptography` package).
"""

import base64
import binascii
from functools import lru_cache

from django.core.exceptions import ImproperlyConfigured

PREFIX = "fernet:"
KEY_VARIABLE = "FIRSTLINE_FIELD_KEY"


def parse_keys(raw: str, name: str = KEY_VARIABLE) -> list[str]:
    """The keys in `raw` (comma-separated), each checked: a malformed one stops the start
    with an error naming the variable."""
    keys = [item.strip() for item in raw.split(",") if item.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            decoded = base64.urlsafe_b64decode(key.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            decoded = b""
        if len(decoded) != 32:
            raise ImproperlyConfigured(
                f"{name}: key {position} is not a Fernet key (32 bytes in URL-safe base64, "
                "44 characters); make one with `firstline reencrypt_fields --new-key`"
            )
    return keys


def new_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def _derived(secret: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"firstline field encryption"
    ).derive(secret.encode("utf-8"))
    return base64.urlsafe_b64encode(key)


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secrets: tuple[str, ...]):  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet, MultiFernet

    material = [key.encode("ascii") for key in keys] or [_derived(item) for item in secrets]
    return MultiFernet([Fernet(key) for key in material])


def _current():  # type: ignore[no-untyped-def]
    from django.conf import settings

    keys = tuple(getattr(settings, "FIRSTLINE_FIELD_KEYS", ()))
    secrets = (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))
    return _fernet(keys, tuple(secrets))


def key_source() -> str:
    """Where the keys come from, for error messages."""
    from django.conf import settings

    if getattr(settings, "FIRSTLINE_FIELD_KEYS", ()):
        return KEY_VARIABLE
    return f"SECRET_KEY (no {KEY_VARIABLE} is set)"


class UndecryptableError(ValueError):
    pass


def seal(plain: str) -> str:
    """The stored form of a secret: empty stays empty."""
    if not plain:
        return ""
    return PREFIX + _current().encrypt(plain.encode("utf-8")).decode("ascii")


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def unseal(stored: str) -> str:
    """The secret from its stored form; a value stored before encryption came in (no
    prefix) is returned as it is."""
    from cryptography.fernet import InvalidToken

    if not is_sealed(stored):
        return stored
    try:
        return _current().decrypt(stored[len(PREFIX):].encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as exc:
        raise UndecryptableError(
            f"a stored secret cannot be decrypted with the key from {key_source()}: the key it "
            f"was encrypted with is missing (add it after the current one in {KEY_VARIABLE})"
        ) from exc


def reseal(stored: str) -> str:
    """The same secret encrypted with the current first key (for rotation)."""
    from cryptography.fernet import InvalidToken

    if not stored:
        return ""
    if not is_sealed(stored):
        return seal(stored)
    try:
        token = _current().rotate(stored[len(PREFIX):].encode("ascii"))
    except InvalidToken as exc:
        raise UndecryptableError(
            f"a stored secret cannot be decrypted with the key from {key_source()}"
        ) from exc
    return PREFIX + token.decode("ascii")
