"""Password sign-in forms of the desk and the Django admin, both throttled.

Django's own forms do the checking; the mixin asks the throttle first (a locked account or
address gets no password check at all) and tells it how the check went.
"""

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from firstline.accounts import throttle
from firstline.accounts.client import client_address


class ThrottledSignInMixin:
    request: HttpRequest | None
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not username or not password:
            return super().clean()  # type: ignore[misc, no-any-return]
        account = throttle.staff_account(username)
        address = client_address(self.request)
        try:
            throttle.check(account, address)
        except throttle.Locked as locked:
            raise ValidationError(locked.message, code="throttled") from None
        try:
            cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        except ValidationError as error:
            if getattr(error, "code", None) != "invalid_login":
                raise
            try:
                throttle.failed(account, address)
            except throttle.Locked as locked:
                raise ValidationError(locked.message, code="throttled") from None
            raise
        throttle.succeeded(account)
        return cleaned


class DeskSignInForm(ThrottledSignInMixin, AuthenticationForm):
    """The desk's sign-in (/login/): provider staff and partner accounts."""


class AdminSignInForm(ThrottledSignInMixin, AdminAuthenticationForm):
    """The Django admin's sign-in: shares the desk's counters for the same login."""
