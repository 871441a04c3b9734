from django.urls import path

from firstline.incidents import desk_views, views

app_name = "incidents"

urlpatterns = [
    path("incidents/", desk_views.incident_list, name="desk-list"),
    path("incidents/templates/", desk_views.templates, name="desk-templates"),
    path("incidents/<int:pk>/", desk_views.incident_page, name="desk-incident"),
    path("incidents/<int:pk>/link/", desk_views.link, name="desk-link"),
    path("incidents/<int:pk>/announce/", desk_views.announce, name="desk-announce"),
    path("incidents/<int:pk>/resolve/", desk_views.resolve, name="desk-resolve"),
    path("incidents/alerts/<str:token>/", views.alert_webhook, name="alert-webhook"),
    path("incidents/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("status/<slug:slug>/", views.status_page, name="status"),
    path("status/<slug:slug>/feed.atom", views.status_feed, name="status-feed"),
    path("status/<slug:slug>/subscribe/", views.subscribe, name="subscribe"),
    path("status/subscribe/<str:token>/", views.subscribe_confirm, name="subscribe-confirm"),
]
