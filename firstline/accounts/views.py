"""Desk sign-in and sign-out for everyone.

Sign-out sends a customer back to their partner's portal sign-in page (the white label
stays on) and everyone else to the desk's.
"""

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from firstline.accounts.forms import DeskSignInForm


class DeskLoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True
    authentication_form = DeskSignInForm


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
