"""Issuing, finding and revoking API tokens.

The plaintext exists only in the return value of `issue_token`; the database keeps its
SHA-256, so a leaked database dump does not leak working tokens. A plain hash (not a
password hasher) is enough because the secret is 256 random bits, and it lets a request
find its token with one indexed lookup.
"""

import hashlib
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import OperationalError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.translation import gettext as _

from firstline.api.models import ApiToken
from firstline.core import audit, config_cache
from firstline.core.clock import now
from firstline.core.middleware import is_lock_error
from firstline.core.models import User

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "fl_"  # noqa: S105 (a marker that makes leaked tokens greppable, not a secret)
# Recording every use would turn each read request into a write; a minute is precise
# enough to see whether a token is still in use.
LAST_USED_GRANULARITY = timedelta(minutes=1)
# A token revoked or a user changed in this process is forgotten at once.
config_cache.watch(ApiToken, User)


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


@transaction.atomic
def issue_token(user: User, name: str, *, actor: User | None = None) -> tuple[ApiToken, str]:
    """Create a token for `user`; return it with the plaintext, which is not kept anywhere."""
    label = (name or "").strip()
    errors: dict[str, str] = {}
    if not label:
        errors["name"] = _("Name the token after the system that will use it.")
    elif len(label) > ApiToken._meta.get_field("name").max_length:  # type: ignore[operator]
        errors["name"] = _("The name is too long.")
    if not (user.is_provider_staff or user.is_partner_user):
        errors["user"] = _("Only staff and partner accounts can hold API tokens.")
    if errors:
        raise ValidationError(errors)

    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=label, prefix=plaintext[:8], key_hash=hash_key(plaintext)
    )
    audit.record(
        actor=actor, partner=user.partner, action="api_token.issued", target=token,
        after={"user": user.username, "name": label, "prefix": token.prefix},
    )
    return token, plaintext


@transaction.atomic
def revoke_token(token: ApiToken, *, actor: User | None = None) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            actor=actor, partner=token.user.partner, action="api_token.revoked", target=token,
            after={"user": token.user.username, "name": token.name, "prefix": token.prefix},
        )
    return token


def user_for_key(plaintext: str) -> User | None:
    """The active user behind a live token, or None for unknown, revoked or disabled.

    The token with its user and partner is kept in the per-process configuration cache
    (firstline.core.config_cache) for at most its TTL, so an integration posting many
    requests costs no query for authentication. Revoking a token or disabling its user
    takes effect at once in the process that saved it and within the TTL (5 s) in others.
    """
    key_hash = hash_key(plaintext)
    token = config_cache.get(("api-token", key_hash), lambda: _live_token(key_hash))
    if token is None or not token.user.is_active:
        return None
    moment = now()
    due = token.last_used_at is None or moment - token.last_used_at >= LAST_USED_GRANULARITY
    if due and _record_use(token, moment):
        # The cached copy too: one write a minute, not a request. Only once written: a use
        # skipped for a busy database is recorded on the next request.
        token.last_used_at = moment
    return token.user


def _live_token(key_hash: str) -> ApiToken | None:
    return (
        ApiToken.objects.select_related("user__partner")
        .filter(key_hash=key_hash, revoked_at__isnull=True)
        .first()
    )


def _record_use(token: ApiToken, moment: datetime) -> bool:
    """Note when a token was used, unless that means waiting for someone else's lock.

    The note is a convenience; the request it rides on (often a read) must neither wait
    for nor fail on a busy database because of it: skipped now (False), written on a later use.
    """
    connection = connections[ApiToken.objects.db]
    try:
        with _without_lock_wait(connection), transaction.atomic(using=connection.alias):
            rows = ApiToken.objects.filter(pk=token.pk)
            if connection.features.has_select_for_update_skip_locked:
                # PostgreSQL: a row locked by another transaction is skipped, not waited for.
                rows = ApiToken.objects.filter(
                    pk__in=rows.select_for_update(skip_locked=True).values("pk")
                )
            return rows.update(last_used_at=moment) > 0
    except OperationalError as exc:
        if not is_lock_error(exc):
            raise
        logger.info("API token %s: use not recorded, the database is busy", token.prefix)
        return False


@contextmanager
def _without_lock_wait(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """SQLite: fail at once instead of waiting `timeout` seconds for the write lock."""
    if connection.vendor != "sqlite":
        yield
        return
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        (previous,) = cursor.fetchone()
        cursor.execute("PRAGMA busy_timeout = 0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {int(previous)}")
