from django.contrib import admin
from django.urls import include, path

from firstline.api.api import api

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("portal/", include("firstline.portal.urls")),
    path("mail/", include("firstline.mail.urls")),
    path("calls/", include("firstline.calls.urls")),
    path("surveys/", include("firstline.surveys.urls")),
    path("metrics/", include("firstline.metrics.urls")),
    path("billing/", include("firstline.billing.urls")),
    path("telegram/", include("firstline.telegram.urls")),
    path("webhooks/", include("firstline.webhooks.urls")),
    path("agreements/", include("firstline.agreements.urls")),
    path("", include("firstline.incidents.urls")),
    path("", include("firstline.kb.urls")),
    path("", include("firstline.web.urls")),
]
