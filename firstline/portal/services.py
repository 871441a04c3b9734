"""Customer sign-in by a one-time link sent by mail.

The link carries the user's id and a fingerprint of their last sign-in time, signed with
the site's key and stamped with its creation time. Signing in changes the last sign-in
time, so a used link stops working; an old link expires after FIRSTLINE_LOGIN_LINK_MINUTES.
"""

import hashlib

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse

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


def request_login_link(partner: Partner, email: str) -> None:
    """Mail a sign-in link to a confirmed address of this partner's customer, if there is one.

    The caller shows the same answer either way, so the form does not reveal who is a
    customer.
    """
    for user in customers_with_email(partner, email):
        user_id = user.pk
        transaction.on_commit(lambda user_id=user_id: send_login_link.enqueue(user_id))
