from django.urls import path

from firstline.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.tickets_view, name="tickets"),
    path("new/", views.new_ticket_view, name="new-ticket"),
    path("tickets/<int:pk>/", views.ticket_view, name="ticket"),
    path("link/<str:token>/", views.login_link_view, name="login-link"),
    path("<slug:slug>/login/", views.login_view, name="login"),
]
