"""Business calendars: wired into firstline/web/urls.py as
path("calendars/", include("firstline.web.calendar_urls"))."""

from django.urls import path

from firstline.web import calendar_views as views

app_name = "calendars"

urlpatterns = [
    path("", views.calendar_list_view, name="list"),
    path("new/", views.calendar_new_view, name="new"),
    path("production/", views.production_calendar_view, name="production"),
    path("production/days/", views.production_day_add_view, name="production-day-add"),
    path("production/days/<int:day_pk>/delete/", views.production_day_delete_view,
         name="production-day-delete"),
    path("production/import/", views.production_import_view, name="production-import"),
    path("production/recompute/", views.production_recompute_retry_view,
         name="production-recompute"),
    path("<int:pk>/", views.calendar_view, name="detail"),
    path("<int:pk>/edit/", views.calendar_edit_view, name="edit"),
    path("<int:pk>/days/", views.calendar_day_add_view, name="day-add"),
    path("<int:pk>/days/<int:day_pk>/delete/", views.calendar_day_delete_view,
         name="day-delete"),
    path("<int:pk>/import/", views.calendar_import_view, name="import"),
    path("<int:pk>/recompute/", views.calendar_recompute_retry_view, name="recompute"),
]
