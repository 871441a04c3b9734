from django.urls import path

from firstline.mail import views

app_name = "mail"

urlpatterns = [
    path("failed/", views.failed_list, name="failed"),
    path("<int:pk>/raw/", views.raw_download, name="raw"),
    path("<int:pk>/retry/", views.retry, name="retry"),
]
