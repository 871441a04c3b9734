"""Every error the API answers is JSON with a `detail`; bad input also lists its fields.

    {"detail": "Invalid input: priority, text.",
     "errors": [{"field": "priority", "message": "..."}, {"field": "text", "message": "..."}]}

Schema errors (pydantic) and the domain's ValidationError (raised by the services before
they write anything) come out in the same shape, with the field names the client sent.
"""

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DomainValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as SchemaValidationError

# The services speak in model fields; the API's bodies name the ids.
_API_FIELD = {
    "contact": "contact_id",
    "service": "service_id",
    "assignee": "assignee_id",
    "partner": "partner_id",
}


def field_errors_response(
    api: NinjaAPI, request: HttpRequest, errors: Sequence[tuple[str, str]]
) -> HttpResponse:
    fields = ", ".join(dict.fromkeys(field for field, _message in errors))
    body = {
        "detail": _("Invalid input: %(fields)s.") % {"fields": fields},
        "errors": [{"field": field, "message": message} for field, message in errors],
    }
    return api.create_response(request, body, status=422)


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


def install(api: NinjaAPI) -> None:
    """Register the handlers; the most specific exception class wins (ninja walks the MRO)."""
    handlers: list[tuple[type[Exception], Any]] = [
        (SchemaValidationError, schema_errors),
        (DomainValidationError, domain_errors),
        (PermissionDenied, forbidden),
        (Http404, not_found),
        (ObjectDoesNotExist, not_found),
        (AuthenticationError, unauthorized),
        (HttpError, http_error),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, partial(handler, api=api))
