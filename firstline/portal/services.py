"""Customer sign-in: by password, or by a one-time link sent by mail.

Both are throttled (firstline.accounts.throttle): password failures per partner and e-mail
and per client address, sign-in links per mailbox and per client address.

The link carries the user's id and a fingerprint of their last sign-in time, signed with
the site's key and stamped with its creation time. Signing in changes the last sign-in
time, so a used link stops working; an old link expires after FIRSTLINE_LOGIN_LINK_MINUTES.
"""

import hashlib

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse

from firstline.accounts import throttle
from firstline.contacts.models import ContactEmail
from firstline.core.models import Partner, User
from firstline.portal.tasks import send_login_link

_SALT = "firstline.portal.login-link"


def _fingerprint(user: User) -> str:
    stamp = user.last_login.isoformat() if user.last_login else "never"
    return hashlib.sha256(f"{user.pk}:{stamp}:{user.password}".encode()).hexdigest()[:24]


def make_login_token(user: User) -> str:
    return signing.dumps({"u": user.pk, "f": _fingerprint(user)}, salt=_SALT)


def login_url(user: User) -> str:
    return settings.SITE_URL + reverse("portal:login-link", args=[make_login_token(user)])


def user_for_login_token(token: str) -> User | None:
    """The customer the token signs in, or None if it is forged, expired or already used."""
    try:
        data = signing.loads(
            token, salt=_SALT, max_age=settings.FIRSTLINE_LOGIN_LINK_MINUTES * 60
        )
    except signing.BadSignature:
        return None
    user = User.objects.filter(pk=data.get("u"), is_active=True, role=User.Role.CUSTOMER).first()
    if user is None or data.get("f") != _fingerprint(user):
        return None
    return user


def customers_with_email(partner: Partner, email: str) -> list[User]:
    contact_ids = ContactEmail.objects.filter(
        partner=partner, address=email.strip().lower(), is_confirmed=True
    ).values("contact_id")
    return list(
        User.objects.filter(
            role=User.Role.CUSTOMER, partner=partner, is_active=True, contact__in=contact_ids
        )
    )


def authenticate_customer(
    partner: Partner, email: str, password: str, *, address: str
) -> User | None:
    """The partner's customer with this e-mail and password, or None.

    Raises throttle.Locked while the e-mail or the client address is locked, without
    checking the password. An unknown e-mail costs the same password hashing as a known one
    and is counted and locked the same way, so neither the answer nor its time tells who is
    a customer.
    """
    users = customers_with_email(partner, email)
    account = throttle.portal_account(partner, email, users)
    throttle.check(account, address)
    if not users:
        User().set_password(password)
    for user in users:
        if user.check_password(password):
            throttle.succeeded(account)
            return user
    throttle.failed(account, address)
    return None


def request_login_link(partner: Partner, email: str, *, address: str) -> None:
    """Mail a sign-in link to a confirmed address of this partner's customer, if there is one.

    At most FIRSTLINE_LOGIN_LINK_MAX_PER_EMAIL letters per mailbox per window, counted for
    every address asked for. The caller shows the same answer whatever happened, so the form
    reveals neither who is a customer nor whether a letter went.
    """
    if not throttle.allow_login_link(email, address):
        return
    for user in customers_with_email(partner, email):
        user_id = user.pk
        transaction.on_commit(lambda user_id=user_id: send_login_link.enqueue(user_id))
