"""Desk sign-in and sign-out for everyone.

A customer never lands on the provider's desk sign-in: sign-out sends them back to their
partner's portal sign-in page (the white label stays on), and so does a portal page opened
after their session ended, by a cookie naming the portal they last signed in to.
"""

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from firstline.accounts.forms import DeskSignInForm
from firstline.core.models import Partner

PORTAL_COOKIE = "firstline_portal"
PORTAL_COOKIE_MAX_AGE = 365 * 24 * 3600


def remember_portal(response: HttpResponse, partner: Partner) -> HttpResponse:
    """Mark the browser as a customer's of `partner` (only the slug, nothing secret)."""
    response.set_cookie(
        PORTAL_COOKIE, partner.slug, max_age=PORTAL_COOKIE_MAX_AGE, httponly=True,
        samesite="Lax",
    )
    return response


class DeskLoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True
    authentication_form = DeskSignInForm

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        slug = request.COOKIES.get(PORTAL_COOKIE, "")
        if (
            slug
            and self.get_redirect_url().startswith("/portal/")
            and not request.user.is_authenticated
            and Partner.objects.filter(slug=slug, is_active=True).exists()
        ):
            return redirect("portal:login", slug=slug)
        return super().get(request, *args, **kwargs)


class SignOutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        portal = (
            user.partner.slug
            if user.is_authenticated and user.is_customer and user.partner_id
            else None
        )
        response = super().post(request, *args, **kwargs)
        if portal is not None:
            return redirect("portal:login", slug=portal)
        return response
