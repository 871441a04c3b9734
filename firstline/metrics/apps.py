from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MetricsConfig(AppConfig):
    name = "firstline.metrics"
    verbose_name = _("Quality metrics and reports")
