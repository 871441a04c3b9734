"""Every error the API answers is JSON with a `detail`; bad input also lists its fields.

    {"detail": "Invalid input: priority, text.",
     "errors": [{"field": "priority", "message": "..."}, {"field": "text", "message": "..."}]}

Schema errors (pydantic) and the domain's ValidationError (raised by the services before
they write anything) come out in the same shape, with the field names the client sent.
"""

import logging
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
)
from django.core.exceptions import ValidationError as DomainValidationError
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as SchemaValidationError

from firstline.core.middleware import RETRY_AFTER_SECONDS, busy_message, is_lock_error

logger = logging.getLogger(__name__)

# The services speak in model fields; the API's bodies name the ids.
_API_FIELD = {
    "contact": "contact_id",
    "service": "service_id",
    "assignee": "assignee_id",
    "partner": "partner_id",
}


class StateConflict(Exception):  # noqa: N818 (named after the answer, 409 Conflict)
    """A refusal that depends on the ticket's state, not on the request: 409, not 422.

    The same request may succeed later (after the diagnostics, from another status); the
    body has the same shape as a 422 and names the fields.
    """

    def __init__(self, error: DomainValidationError) -> None:
        super().__init__(error)
        self.error = error


def field_errors_response(
    api: NinjaAPI, request: HttpRequest, errors: Sequence[tuple[str, str]], status: int = 422
) -> HttpResponse:
    fields = ", ".join(dict.fromkeys(field for field, _message in errors))
    body = {
        "detail": _("Invalid input: %(fields)s.") % {"fields": fields},
        "errors": [{"field": field, "message": message} for field, message in errors],
    }
    return api.create_response(request, body, status=status)


def _schema_field(loc: Sequence[Any]) -> str:
    source, *rest = loc
    if source == "body" and rest:
        # ninja puts the view's parameter name ("payload") first; clients never see it.
        rest = rest[1:]
    return ".".join(str(part) for part in rest) or str(source)


def _schema_message(error: Mapping[str, Any]) -> str:
    return str(error.get("msg", "")).removeprefix("Value error, ")


def schema_errors(
    request: HttpRequest, exc: SchemaValidationError, api: NinjaAPI
) -> HttpResponse:
    errors = [(_schema_field(error["loc"]), _schema_message(error)) for error in exc.errors]
    return field_errors_response(api, request, errors)


def _domain_pairs(exc: DomainValidationError) -> Iterable[tuple[str, str]]:
    if not hasattr(exc, "error_dict"):
        for message in exc.messages:
            yield NON_FIELD_ERRORS, message
        return
    for field, messages in exc.message_dict.items():
        for message in messages:
            yield _API_FIELD.get(field, field), message


def domain_errors(
    request: HttpRequest, exc: DomainValidationError, api: NinjaAPI
) -> HttpResponse:
    return field_errors_response(api, request, list(_domain_pairs(exc)))


def state_conflict(request: HttpRequest, exc: StateConflict, api: NinjaAPI) -> HttpResponse:
    return field_errors_response(api, request, list(_domain_pairs(exc.error)), status=409)


def forbidden(request: HttpRequest, exc: PermissionDenied, api: NinjaAPI) -> HttpResponse:
    detail = str(exc) or _("You do not have permission to do this.")
    return api.create_response(request, {"detail": detail}, status=403)


def not_found(request: HttpRequest, exc: Exception, api: NinjaAPI) -> HttpResponse:
    # Deliberately says nothing more: "missing" and "another partner's" must look the same.
    return api.create_response(request, {"detail": _("Not found.")}, status=404)


def unauthorized(
    request: HttpRequest, exc: AuthenticationError, api: NinjaAPI
) -> HttpResponse:
    detail = exc.message if exc.message != "Unauthorized" else _("Authentication required.")
    response = api.create_response(request, {"detail": detail}, status=401)
    response["WWW-Authenticate"] = "Bearer"
    return response


def http_error(request: HttpRequest, exc: HttpError, api: NinjaAPI) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


def too_large(request: HttpRequest, exc: RequestDataTooBig, api: NinjaAPI) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    detail = _("The request body is larger than %(limit)d bytes.") % {"limit": limit}
    return api.create_response(request, {"detail": detail, "limit": limit}, status=413)


def database_busy(request: HttpRequest, exc: OperationalError, api: NinjaAPI) -> HttpResponse:
    if not is_lock_error(exc):
        raise exc
    logger.warning("Database busy on %s %s: %s", request.method, request.path, exc)
    response = api.create_response(request, {"detail": busy_message()}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def install(api: NinjaAPI) -> None:
    """Register the handlers; the most specific exception class wins (ninja walks the MRO)."""
    handlers: list[tuple[type[Exception], Any]] = [
        (SchemaValidationError, schema_errors),
        (DomainValidationError, domain_errors),
        (StateConflict, state_conflict),
        (PermissionDenied, forbidden),
        (Http404, not_found),
        (ObjectDoesNotExist, not_found),
        (AuthenticationError, unauthorized),
        (HttpError, http_error),
        (RequestDataTooBig, too_large),
        (OperationalError, database_busy),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, partial(handler, api=api))
