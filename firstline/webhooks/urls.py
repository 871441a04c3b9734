from django.urls import path

from firstline.webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.subscription_list, name="list"),
    path("<int:pk>/", views.subscription_page, name="subscription"),
    path("<int:pk>/rotate/", views.rotate, name="rotate"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/deliveries/<int:delivery_pk>/again/", views.send_again, name="send-again"),
]
