from django.urls import path

from firstline.agreements import views

app_name = "agreements"

urlpatterns = [
    path("", views.index, name="index"),
    path("<int:partner_id>/", views.partner_page, name="partner"),
    path("<int:partner_id>/generate/", views.generate, name="generate"),
    path("<int:partner_id>/persons/", views.add_person, name="person-add"),
    path("<int:partner_id>/persons/<int:pk>/delete/", views.remove_person,
         name="person-remove"),
    path("<int:partner_id>/compensation/", views.add_compensation, name="compensation-add"),
    path("<int:partner_id>/compensation/<int:pk>/delete/", views.remove_compensation,
         name="compensation-remove"),
    path("<int:partner_id>/terms/", views.save_terms, name="terms"),
    path("<int:partner_id>/versions/<int:pk>/<str:kind>/", views.version_file, name="file"),
]
