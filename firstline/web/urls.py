from django.contrib.auth import views as auth_views
from django.urls import include, path

from firstline.web import sla_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="web/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tickets/", views.queue_view, name="queue"),
    path("tickets/<int:pk>/", views.ticket_view, name="ticket"),
    path("tickets/<int:pk>/messages/", views.add_message_view, name="ticket-add-message"),
    path("tickets/<int:pk>/update/", views.update_ticket_view, name="ticket-update"),
    path("tickets/<int:pk>/take-over/", views.take_over_view, name="ticket-take-over"),
    path("tickets/<int:pk>/resolve/", views.resolve_view, name="ticket-resolve"),
    path("attachments/<int:pk>/", views.attachment_view, name="attachment"),
    path("board/", sla_views.board, name="sla-board"),
    path("calendars/", include("firstline.web.calendar_urls")),
    path("settings/sla/", sla_views.partner_list, name="sla-partners"),
    path("settings/sla/<int:pk>/", sla_views.partner_settings, name="sla-settings"),
    path("settings/sla/<int:pk>/policies/new/", sla_views.policy_edit, name="sla-policy-new"),
    path(
        "settings/sla/<int:pk>/policies/<int:policy_pk>/", sla_views.policy_edit,
        name="sla-policy-edit",
    ),
    path("settings/sla/<int:pk>/<str:kind>/add/", sla_views.setting_add, name="sla-setting-add"),
    path(
        "settings/sla/<int:pk>/<str:kind>/<int:item_pk>/delete/", sla_views.setting_delete,
        name="sla-setting-delete",
    ),
]
