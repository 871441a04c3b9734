from django.urls import path

from firstline.kb import views

app_name = "kb"

urlpatterns = [
    path("kb/", views.article_list, name="list"),
    path("kb/new/", views.article_new, name="new"),
    path("kb/categories/", views.categories, name="categories"),
    path("kb/<int:pk>/", views.article_page, name="article"),
    path("kb/<int:pk>/edit/", views.article_edit, name="edit"),
    path("kb/<int:pk>/submit/", views.article_submit, name="submit"),
    path("kb/<int:pk>/publish/", views.article_publish, name="publish"),
    path("kb/<int:pk>/return/", views.article_return, name="return"),
    path("kb/<int:pk>/unpublish/", views.article_unpublish, name="unpublish"),
    path("kb/<int:pk>/attach/", views.article_attach, name="attach"),
    path("kb/files/<int:pk>/", views.attachment, name="attachment"),
    path("kb/tickets/<int:pk>/suggestions/", views.ticket_suggestions, name="ticket-suggestions"),
    path("kb/portal/suggestions/", views.portal_suggestions, name="portal-suggestions"),
    path("kb/portal/<int:pk>/", views.portal_article, name="portal-article"),
    path("kb/portal/<int:pk>/solved/", views.portal_solved, name="portal-solved"),
    path("help/<slug:slug>/", views.help_page, name="help"),
    path("help/<slug:slug>/<int:pk>/", views.help_article, name="help-article"),
]
