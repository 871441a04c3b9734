from django.urls import path

from firstline.metrics import views

app_name = "metrics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("data.json", views.data, name="data"),
    path("tickets/<slug:key>/", views.drill, name="drill"),
    path("assessment/", views.assessment, name="assessment"),
    path("reports/", views.reports, name="reports"),
    path("reports/<int:pk>/<str:kind>/", views.report_file, name="report-file"),
]
