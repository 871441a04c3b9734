from django.urls import path

from firstline.surveys import views

app_name = "surveys"
urlpatterns = [
    path("", views.feedback_view, name="feedback"),
    path("s/<str:token>/", views.vote_view, name="vote"),
    path("unsubscribe/<str:token>/", views.unsubscribe_view, name="unsubscribe"),
    path("portal/<int:ticket_pk>/", views.portal_rate_view, name="portal-rate"),
    path("tasks/", views.tasks_view, name="tasks"),
    path("tasks/<int:pk>/done/", views.task_done_view, name="task-done"),
    path("risk/", views.risk_view, name="risk"),
    path("winback/", views.winback_list_view, name="winback"),
    path("winback/new/<int:organisation_pk>/", views.winback_new_view, name="winback-new"),
    path("winback/<int:pk>/", views.winback_case_view, name="winback-case"),
    path("settings/", views.settings_list_view, name="settings-list"),
    path("settings/<int:partner_pk>/", views.settings_view, name="settings"),
]
