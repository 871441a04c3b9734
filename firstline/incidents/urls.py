from django.urls import path

from firstline.incidents import views

app_name = "incidents"

urlpatterns = [
    path("incidents/alerts/<str:token>/", views.alert_webhook, name="alert-webhook"),
    path("incidents/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("status/<slug:slug>/", views.status_page, name="status"),
    path("status/<slug:slug>/feed.atom", views.status_feed, name="status-feed"),
]
