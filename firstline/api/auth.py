"""Who is calling: a bearer token or the UI's session, resolved to a user who may use the API.

Both end in `request.auth` being a `User`; every endpoint scopes its data by that user
through `firstline.tenancy`, so a token can do exactly what its user can.
"""

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.errors import AuthenticationError, AuthorizationError
from ninja.security import HttpBearer, SessionAuth

from firstline.api.services import user_for_key
from firstline.core.models import User


def _api_user(user: User) -> User:
    # Customers have the portal; the API is for staff and partner systems (for now).
    if not (user.is_provider_staff or user.is_partner_user):
        raise AuthorizationError(message=_("This account cannot use the API."))
    return user


class TokenAuth(HttpBearer):
    """`Authorization: Bearer fl_...`."""

    def authenticate(self, request: HttpRequest, token: str) -> User:
        user = user_for_key(token.strip())
        if user is None:
            # Fail here rather than fall through to the session: a client that sent a
            # token meant to be that token's user, and should learn that the token is bad.
            raise AuthenticationError(message=_("Invalid or revoked API token."))
        return _api_user(user)


class UiSessionAuth(SessionAuth):
    """Django's session (ninja's `django_auth`), so the UI's HTMX can call the API."""

    def __call__(self, request: HttpRequest) -> Any:
        # Without a session there is nothing to protect from CSRF; answering 401 instead
        # of ninja's "CSRF check failed" 403 tells an integration it forgot its token.
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = super().authenticate(request, key)
        return _api_user(user) if user is not None else None


api_auth = [TokenAuth(), UiSessionAuth()]


def current_user(request: HttpRequest) -> User:
    """The user the request acts as; set by one of `api_auth` before any endpoint runs."""
    user: User = request.auth  # type: ignore[attr-defined]
    return user
