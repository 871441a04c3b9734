"""The WSGI application bench/queue_http.py serves: firstline plus one bare desk page.

`GET /bench/desk-bare/` goes through the same middleware, session and login check as the
queue and answers a few bytes: what any authenticated desk page costs on this server before
it does any work of its own. Only the benchmark loads this module.
"""

from django.contrib.auth.decorators import login_required
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import clear_url_caches, path

application = get_wsgi_application()


@login_required
def desk_bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"hello {request.user.pk}", content_type="text/plain")


from firstline import urls  # noqa: E402 (after Django is set up)

urls.urlpatterns.insert(0, path("bench/desk-bare/", desk_bare))
clear_url_caches()
