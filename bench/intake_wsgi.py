"""The WSGI application bench/intake.py serves: firstline plus one bare view for the baseline.

`POST /bench/bare/` inserts one row with one statement and answers 201 with its id: the
least a Django view that writes can cost on this server, its middleware and its connection.
Only the benchmark loads this module; the product's URLs do not include it.
"""

import json

from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import clear_url_caches, path
from django.views.decorators.csrf import csrf_exempt

application = get_wsgi_application()


@csrf_exempt
def bare(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body or b"{}")
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_bare (subject, created_at) VALUES (%s, now()) "
                       "RETURNING id", [str(body.get("subject", ""))[:200]])
        (row_id,) = cursor.fetchone()
    return JsonResponse({"id": row_id}, status=201)


from firstline import urls  # noqa: E402 (after Django is set up)

urls.urlpatterns.insert(0, path("bench/bare/", bare))
clear_url_caches()
