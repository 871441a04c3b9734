"""A text column that keeps a secret encrypted at rest (firstline.core.encryption).

In Python the value is the plain secret; in the database it is "fernet:<token>". A value
that cannot be decrypted (its key was removed) loads as `Undecryptable`: an empty string
that remembers the stored token, so loading the row still works (LMTP and the pipe need a
mailbox, not its IMAP password), saving it keeps the token unchanged, and whoever needs the
secret calls `reveal`, which raises with a message naming the key variable.
"""

from typing import Any

from django.db import models

from firstline.core import encryption


class Undecryptable(str):
    """A stored secret the configured keys cannot open."""

    token: str
    error: str

    def __new__(cls, token: str, error: str) -> "Undecryptable":
        value = super().__new__(cls, "")
        value.token = token
        value.error = error
        return value


def reveal(value: str, what: str) -> str:
    """The plain secret, or an error saying which one cannot be decrypted and why."""
    if isinstance(value, Undecryptable):
        raise encryption.UndecryptableError(f"{what}: {value.error}")
    return value


class EncryptedTextField(models.TextField):
    """Lookups on it compare tokens (each save encrypts anew), so do not filter by it."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        try:
            return encryption.unseal(value)
        except encryption.UndecryptableError as exc:
            return Undecryptable(value, str(exc))

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, Undecryptable):
            return value.token
        value = super().get_prep_value(value)
        if value is None or value == "" or encryption.is_sealed(value):
            # Already sealed: a fixture made by dumpdata (value_to_string) loads back as is.
            return value
        return encryption.seal(value)

    def value_to_string(self, obj: models.Model) -> str:
        # dumpdata writes the sealed form, never the plain secret.
        return self.get_prep_value(self.value_from_object(obj)) or ""
