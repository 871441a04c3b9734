from django.urls import path

from firstline.billing import views

app_name = "billing"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("plans/", views.plans, name="plans"),
    path("partners/<int:pk>/", views.partner, name="partner"),
    path("invoices/<int:pk>/<str:kind>/", views.invoice_file, name="invoice-file"),
]
