"""The REST API: token or session auth, JSON errors, tenancy-scoped routers.

Mounted at /api/ by firstline.urls; OpenAPI at /api/openapi.json, docs at /api/docs.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotAllowed
from django.urls import URLPattern, URLResolver, re_path
from django.utils.translation import gettext as _
from ninja import NinjaAPI

from firstline.agreements.api import router as agreements_router
from firstline.api import directory, errors, ticket_actions, tickets
from firstline.api.auth import api_auth
from firstline.billing.api import router as billing_router
from firstline.calls.api import router as calls_router
from firstline.incidents import api as incidents_api
from firstline.metrics.api import router as metrics_router
from firstline.webhooks import api as webhooks_api
from firstline.webhooks import endpoints as webhooks_endpoints

_View = Callable[..., HttpResponseBase]


class FirstlineAPI(NinjaAPI):
    """NinjaAPI whose answers outside the endpoints (405, unknown path) are JSON too.

    ninja answers a wrong method with a plain-text 405 and leaves unknown paths to
    Django's HTML 404; an API client should get the same `{"detail": ...}` everywhere.
    """

    @property
    def urls(self) -> tuple[list[URLResolver | URLPattern], str, str]:
        patterns, app_name, namespace = super().urls
        for pattern in patterns:
            if isinstance(pattern, URLPattern):
                pattern.callback = self._json_method_not_allowed(pattern.callback)
        patterns.append(re_path(r"^.*$", self._unknown_path, name="unknown-path"))
        return patterns, app_name, namespace

    def _json_method_not_allowed(self, view: _View) -> _View:
        @wraps(view)  # keeps csrf_exempt: ninja checks CSRF itself, for session auth only
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            response = view(request, *args, **kwargs)
            if isinstance(response, HttpResponseNotAllowed):
                detail = {"detail": _("Method not allowed.")}
                json_response = self.create_response(request, detail, status=405)
                json_response["Allow"] = response["Allow"]
                return json_response
            return response

        return wrapper

    def _unknown_path(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.create_response(request, {"detail": _("Not found.")}, status=404)

    _unknown_path.csrf_exempt = True  # type: ignore[attr-defined]


api = FirstlineAPI(
    title="firstline API",
    version="1",
    description=(
        "Tickets, messages and the directory of a firstline service desk. Authenticate "
        "with `Authorization: Bearer fl_...` (a token issued with `create_api_token`) or "
        "with the web UI's session."
    ),
    auth=api_auth,
)
errors.install(api)
api.add_router("", tickets.router)
api.add_router("", ticket_actions.router)
api.add_router("", directory.router)
api.add_router("", incidents_api.router)
api.add_router("", metrics_router)
api.add_router("", calls_router)
api.add_router("", agreements_router)
api.add_router("", billing_router)
api.add_router("", webhooks_endpoints.router)
webhooks_api.document(api)
