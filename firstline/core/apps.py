from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "firstline.core"
    label = "core"
    verbose_name = _("Partners and users")

    def ready(self) -> None:
        # Registers the `ucontains` lookup and SQLite's fold function (Cyrillic search).
        from firstline.core import textsearch  # noqa: F401
