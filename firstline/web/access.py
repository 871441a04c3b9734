"""Which kind of signed-in user may open which area.

These only pick the area; what a user sees inside it is decided by firstline.tenancy.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from firstline.core.models import User


def _area_required(check: Callable[[Any], bool]) -> Callable[..., Any]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not check(user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


# Provider staff and partner accounts share the desk (queue, ticket page); tenancy scopes it.
desk_required = _area_required(lambda user: user.is_provider_staff or user.is_partner_user)
customer_required = _area_required(lambda user: user.is_customer)
# Provider staff only: the deadline board, unprocessed mail.
staff_required = _area_required(lambda user: user.is_provider_staff)
# Settings (SLA, calendars, scripts, reply rules): supervisors and administrators.
supervisor_required = _area_required(
    lambda user: user.role in (User.Role.SUPERVISOR, User.Role.ADMIN)
)
