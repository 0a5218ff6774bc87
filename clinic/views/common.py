"""Helpers the clinic's views share; other apps' views use them too."""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from clinic import services


def staff_view(permission: str):
    """Sign-in required (anonymous -> login page); without ``permission`` -> 403.
    Pages are read and forms sent: any other method is a 405."""

    def decorator(view):
        return login_required(
            permission_required(permission, raise_exception=True)(
                require_http_methods(["GET", "HEAD", "POST"])(view)
            )
        )

    return decorator


def form_errors_from(error: services.BookingError, form) -> None:
    """The error's messages on the form, above its fields (a PlanError too)."""
    for message in error.messages:
        form.add_error(None, message)


def safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    # A path on this site only: redirect() would take a bare word ("abc") for a
    # URL name and fail to reverse it (a 500).
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def id_from(value: str | None) -> int | None:
    """A database id given in a query string, or None for anything else: not
    isdigit(), which takes "²", and not thousands of digits, which int()
    refuses (ids are 64-bit at most)."""
    if value and value.isdecimal() and value.isascii() and len(value) <= 18:
        return int(value)
    return None
