from django.urls import path

from firstline.telegram import views

app_name = "telegram"

urlpatterns = [
    path("<int:bot_id>/webhook", views.webhook, name="webhook"),
    path("settings/", views.partner_list, name="partners"),
    path("settings/<int:pk>/", views.bot_settings, name="settings"),
    path("settings/<int:pk>/webhook/", views.set_webhook, name="set-webhook"),
    path("settings/<int:pk>/updates/<int:update_pk>/reprocess/", views.reprocess,
         name="reprocess"),
    path("files/<int:pk>/retry/", views.retry_file, name="file-retry"),
    path("tickets/<int:pk>/chat/", views.ticket_chat, name="ticket-chat"),
]
