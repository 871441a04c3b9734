"""The operations middleware, first in MIDDLEWARE.

- Answers /healthz, /readyz and /metrics itself, before the host check, the HTTPS redirect
  and the session: load balancers and Prometheus call the bare address over plain HTTP.
- Gives every request its request id (X-Request-ID in and out, `firstline.ops.requestid`).
- Counts requests and their latency by view (`firstline.ops.metrics`).
- Marks the quality pages' GET requests as report reads (a replica serves them when
  DATABASE_REPLICA_URL is set, `firstline.ops.routers`).
"""

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from firstline.ops import health, metrics, requestid, routers

_OWN_PATHS = {
    "/healthz": lambda request: health.healthz(),
    "/readyz": lambda request: health.readyz(),
    "/metrics": metrics.metrics_view,
}


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class OpsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = requestid.accept(request.headers.get(requestid.HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        # Not reset on the way out: Django logs an error answer (django.request) after the
        # middleware has returned, and that line should carry the id too. Each request (each
        # thread of a web worker) sets its own.
        requestid.current.set(request_id)
        started = time.perf_counter()
        own = _OWN_PATHS.get(request.path_info)  # exact: /metrics/ is the quality pages
        if own is not None and request.method in ("GET", "HEAD"):
            response = own(request)
            view = request.path_info.strip("/")
        elif routers.is_report_request(request.path_info, request.method or ""):
            with routers.reports_from_replica():  # used only when a replica is configured
                response = self.get_response(request)
            match = getattr(request, "resolver_match", None)
            view = (match.view_name or match.route) if match else "<unresolved>"
        else:
            response = self.get_response(request)
            match = getattr(request, "resolver_match", None)
            view = (match.view_name or match.route) if match else "<unresolved>"
        method = request.method if request.method in _METHODS else "other"
        metrics.observe(view, method, response.status_code,
                        time.perf_counter() - started)
        response[requestid.HEADER] = request_id
        return response
