from django.urls import include, path

from firstline.accounts.views import DeskLoginView, SignOutView
from firstline.web import (
    intake_views,
    phrase_views,
    reply_check_views,
    script_views,
    sla_views,
    views,
)

urlpatterns = [
    path("", views.home, name="home"),
    # Sign-in is throttled (firstline/accounts); sign-out keeps a customer in their portal.
    path("login/", DeskLoginView.as_view(), name="login"),
    path("logout/", SignOutView.as_view(), name="logout"),
    path("tickets/", views.queue_view, name="queue"),
    path("tickets/next/", views.next_ticket_view, name="ticket-next"),
    path("tickets/new/", intake_views.new_ticket_view, name="ticket-new"),
    path("tickets/new/contacts/", intake_views.contact_search_view, name="ticket-new-contacts"),
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
    path(
        "settings/sla/<int:pk>/policies/<int:policy_pk>/delete/", sla_views.policy_delete,
        name="sla-policy-delete",
    ),
    path("settings/sla/<int:pk>/<str:kind>/add/", sla_views.setting_add, name="sla-setting-add"),
    path(
        "settings/sla/<int:pk>/<str:kind>/<int:item_pk>/delete/", sla_views.setting_delete,
        name="sla-setting-delete",
    ),
    path("tickets/<int:pk>/reply-check/", reply_check_views.reply_check,
         name="ticket-reply-check"),
    path("settings/reply-rules/", phrase_views.rules_page, name="reply-rules"),
    path("settings/reply-rules/phrases/", phrase_views.phrase_save, name="reply-rules-phrase"),
    path("settings/reply-rules/phrases/<int:setting_pk>/delete/", phrase_views.phrase_delete,
         name="reply-rules-phrase-delete"),
    path("settings/reply-rules/<int:pk>/", phrase_views.rules_page, name="reply-rules-partner"),
    path("settings/reply-rules/<int:pk>/phrases/", phrase_views.phrase_save,
         name="reply-rules-partner-phrase"),
    path("settings/reply-rules/<int:pk>/blocking/", phrase_views.blocking_save,
         name="reply-rules-blocking"),
    # Processing by script: the checklist steps and the script settings per partner.
    path("tickets/<int:pk>/script/<str:step>/", script_views.step_view, name="script-step"),
    path("settings/script/", script_views.partner_list, name="script-partners"),
    path("settings/script/<int:pk>/", script_views.partner_settings, name="script-settings"),
    path("settings/script/<int:pk>/identification/", script_views.identification_save,
         name="script-identification"),
    path("settings/script/<int:pk>/<str:kind>/add/", script_views.setting_add,
         name="script-setting-add"),
    path("settings/script/<int:pk>/<str:kind>/<int:item_pk>/", script_views.setting_edit,
         name="script-setting-edit"),
    path("settings/script/<int:pk>/<str:kind>/<int:item_pk>/delete/",
         script_views.setting_delete, name="script-setting-delete"),
]
