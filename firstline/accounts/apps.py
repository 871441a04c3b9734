from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "firstline.accounts"
    label = "accounts"
    verbose_name = _("Sign-in protection")

    def ready(self) -> None:
        from django.contrib import admin

        from firstline.accounts.forms import AdminSignInForm

        # The admin's sign-in is throttled like the desk's, with the same counters.
        admin.site.login_form = AdminSignInForm
