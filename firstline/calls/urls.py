from django.urls import path

from firstline.calls import views

app_name = "calls"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("zadarma/", views.zadarma_notify, name="zadarma"),
    path("card/", views.card, name="card"),
    path("<int:pk>/status/", views.call_status, name="status"),
    path("<int:pk>/ticket/", views.ticket_from_call, name="ticket-new"),
    path("<int:pk>/attach/", views.attach_to_ticket, name="attach"),
]
