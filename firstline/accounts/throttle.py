"""Sign-in throttling: failure counters with growing lockouts, and sign-in-link rate limits.

Password sign-in (the desk, the Django admin, the customer portal) counts failures per
account and per client address over a sliding window (FIRSTLINE_SIGNIN_WINDOW_MINUTES).
When a counter reaches its limit, that account or address is locked: the first lockout
lasts FIRSTLINE_SIGNIN_LOCKOUT_MINUTES, each following one twice as long as the one before
(up to FIRSTLINE_SIGNIN_LOCKOUT_MAX_MINUTES); a day without failures forgets the series.
While locked, no password is checked at all, the right one included, and the answer says
when to try again. A successful sign-in clears the account's counter, never the address's.

An account is what the person typed (a login, or a partner and an e-mail), whether such an
account exists or not, so an unknown account is answered exactly like a known one.

Sign-in links are a plain rate limit: at most FIRSTLINE_LOGIN_LINK_MAX_PER_EMAIL letters
to one mailbox and FIRSTLINE_LOGIN_LINK_MAX_PER_CLIENT requests from one client address
per FIRSTLINE_LOGIN_LINK_WINDOW_MINUTES; the caller answers the same whether a letter went.

Counters are rows of SignInThrottle, changed under a row lock, so several web worker
processes share them. Each lockout is an audit event.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import ngettext

from firstline.accounts.models import SignInThrottle
from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import Partner, User

logger = logging.getLogger(__name__)

Scope = SignInThrottle.Scope
# A series of lockouts is forgotten after this long without a failure.
SERIES_RESET = timedelta(days=1)


class Locked(Exception):
    """Sign-in is refused until `until` (an aware datetime)."""

    def __init__(self, until: datetime) -> None:
        super().__init__(until.isoformat())
        self.until = until

    @property
    def message(self) -> str:
        return lockout_message(self.until)


@dataclass(frozen=True)
class Account:
    """What a person signs in as, whether or not such an account exists."""

    identifier: str
    user: User | None = None
    partner: Partner | None = None

    @property
    def label(self) -> str:
        # Only a real login is shown: an unknown one may be a password typed in the wrong box.
        return self.user.username if self.user is not None else ""


def staff_account(username: str) -> Account:
    """A desk or admin login; the same counter whatever the letter case."""
    folded = username.strip().casefold()
    user = User.objects.filter(username__iexact=username.strip()).first()
    return Account(f"staff:{folded}", user, user.partner if user else None)


def portal_account(partner: Partner, email: str, users: list[User]) -> Account:
    """A customer of `partner` signing in with an e-mail; `users` are the accounts behind it."""
    return Account(
        f"portal:{partner.pk}:{email.strip().lower()}", users[0] if users else None, partner
    )


def _key(scope: str, identifier: str) -> str:
    return salted_hmac(
        "firstline.accounts.throttle", f"{scope}\0{identifier}", algorithm="sha256"
    ).hexdigest()


def _minutes(name: str) -> timedelta:
    return timedelta(minutes=getattr(settings, name))


def lockout_message(until: datetime) -> str:
    minutes = max(1, -(-int((until - now()).total_seconds()) // 60))
    return ngettext(
        "Too many failed sign-in attempts. Try again in %(minutes)d minute, after %(time)s.",
        "Too many failed sign-in attempts. Try again in %(minutes)d minutes, after %(time)s.",
        minutes,
    ) % {"minutes": minutes, "time": timezone.localtime(until).strftime("%H:%M")}


def check(account: Account, address: str) -> None:
    """Raise Locked if the account or the client address may not try a password now."""
    moment = now()
    keys = models.Q(scope=Scope.ACCOUNT, key=_key(Scope.ACCOUNT, account.identifier)) | models.Q(
        scope=Scope.ADDRESS, key=_key(Scope.ADDRESS, address)
    )
    until = (
        SignInThrottle.objects.filter(keys, locked_until__gt=moment)
        .aggregate(until=models.Max("locked_until"))["until"]
    )
    if until is not None:
        raise Locked(until)


def _row(scope: str, identifier: str, label: str) -> SignInThrottle:
    row, _created = SignInThrottle.objects.select_for_update().get_or_create(
        scope=scope, key=_key(scope, identifier), defaults={"label": label[:200]}
    )
    return row


def _recent(row: SignInThrottle, moment: datetime, window: timedelta) -> list[float]:
    start = (moment - window).timestamp()
    return [stamp for stamp in row.hits if isinstance(stamp, int | float) and stamp > start]


def _count_failure(
    scope: str, identifier: str, label: str, limit: int, moment: datetime
) -> SignInThrottle | None:
    """Add a failure; return the row if this failure locks it."""
    row = _row(scope, identifier, label)
    if row.updated_at < moment - SERIES_RESET:
        row.lockouts = 0
    hits = [*_recent(row, moment, _minutes("FIRSTLINE_SIGNIN_WINDOW_MINUTES")), moment.timestamp()]
    locked = len(hits) >= limit
    if locked:
        first = _minutes("FIRSTLINE_SIGNIN_LOCKOUT_MINUTES")
        longest = _minutes("FIRSTLINE_SIGNIN_LOCKOUT_MAX_MINUTES")
        row.lockouts += 1
        row.locked_until = moment + min(first * 2 ** min(row.lockouts - 1, 20), longest)
        hits = []
    row.hits = hits[-limit:]
    row.label = label[:200] or row.label
    row.updated_at = moment
    row.save()
    return row if locked else None


def _audit_lockout(row: SignInThrottle, account: Account, address: str) -> None:
    after = {
        "scope": row.scope, "until": row.locked_until, "lockouts_in_a_row": row.lockouts,
        "client_address": address,
    }
    if row.scope == Scope.ACCOUNT and account.user is not None:
        audit.record(
            actor=None, partner=account.partner, action="signin.locked", target=account.user,
            after=after,
        )
    else:
        if row.scope == Scope.ACCOUNT:
            after["account"] = "(no such account)"
        audit.record(actor=None, partner=account.partner, action="signin.locked", target=row,
                     after=after)
    logger.warning("Sign-in locked until %s: %s", row.locked_until, row)


def failed(account: Account, address: str) -> None:
    """Count a failed sign-in; raise Locked when it locks the account or the address."""
    moment = now()
    with transaction.atomic():
        locked = [
            row
            for row in (
                _count_failure(
                    Scope.ACCOUNT, account.identifier, account.label,
                    settings.FIRSTLINE_SIGNIN_ACCOUNT_MAX_FAILURES, moment,
                ),
                _count_failure(
                    Scope.ADDRESS, address, address,
                    settings.FIRSTLINE_SIGNIN_ADDRESS_MAX_FAILURES, moment,
                ),
            )
            if row is not None
        ]
        for row in locked:
            _audit_lockout(row, account, address)
        # Old counters with no lockout running are forgotten, which keeps the table small.
        SignInThrottle.objects.filter(updated_at__lt=moment - SERIES_RESET).exclude(
            locked_until__gt=moment
        ).delete()
    if locked:
        raise Locked(max(row.locked_until for row in locked if row.locked_until))


def succeeded(account: Account) -> None:
    """A right password: the account's failures and lockout series are cleared."""
    SignInThrottle.objects.filter(
        scope=Scope.ACCOUNT, key=_key(Scope.ACCOUNT, account.identifier)
    ).delete()


def _take(scope: str, identifier: str, label: str, limit: int, moment: datetime) -> bool:
    row = _row(scope, identifier, label)
    hits = _recent(row, moment, _minutes("FIRSTLINE_LOGIN_LINK_WINDOW_MINUTES"))
    allowed = len(hits) < limit
    if allowed:
        hits.append(moment.timestamp())
    row.hits = hits[-limit:]
    row.updated_at = moment
    row.save(update_fields=["hits", "updated_at"])
    return allowed


def allow_login_link(email: str, address: str) -> bool:
    """Whether a sign-in link may be mailed to `email` for a request from `address` now.

    Counted whether or not the address belongs to a customer, so the limit says nothing
    about who is one. A refused request does not use up the allowance.
    """
    moment = now()
    mailbox = email.strip().lower()
    with transaction.atomic():
        by_client = _take(
            Scope.LINK_ADDRESS, address, address,
            settings.FIRSTLINE_LOGIN_LINK_MAX_PER_CLIENT, moment,
        )
        if not by_client:
            return False
        by_mailbox = _take(
            Scope.LINK_EMAIL, mailbox, "", settings.FIRSTLINE_LOGIN_LINK_MAX_PER_EMAIL, moment
        )
    if not by_mailbox:
        logger.info("Sign-in link not sent: the mailbox's limit is used up")
    return by_mailbox
