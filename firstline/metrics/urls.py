from django.urls import path

from firstline.metrics import desk_views, views

app_name = "metrics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("data.json", views.data, name="data"),
    path("tickets/<slug:key>/", views.drill, name="drill"),
    path("assessment/", views.assessment, name="assessment"),
    path("reports/", views.reports, name="reports"),
    path("reports/<int:pk>/<str:kind>/", views.report_file, name="report-file"),
    path("targets/", desk_views.targets, name="targets"),
    path("evidence/", desk_views.evidence, name="evidence"),
    path("evidence/<int:pk>/", desk_views.evidence_record, name="evidence-record"),
    path("evidence/<int:pk>/document/", desk_views.evidence_document, name="evidence-document"),
]
