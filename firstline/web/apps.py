from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "firstline.web"
    label = "web"
