"""Helpers the clinic's views share; other apps' views use them too."""

from datetime import date, datetime

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.utils import formats, timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
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


def posted_as_seen_now(request: HttpRequest, seen: str) -> QueryDict:
    """What a refused form sent, as if sent from the page as it is now: shown
    again with what was typed, to be sent again (a confirmation given was for
    what the page showed then, so it is asked again)."""
    again = request.POST.copy()
    again["seen"] = seen
    again.pop("confirmed", None)
    return again


def id_from(value: str | None) -> int | None:
    """A database id given in a query string, or None for anything else: not
    isdigit(), which takes "²", and not thousands of digits, which int()
    refuses (ids are 64-bit at most)."""
    if value and value.isdecimal() and value.isascii() and len(value) <= 18:
        return int(value)
    return None


def unsaved_values(
    typed: forms.Form, fresh: forms.Form, changed: str | None = None
) -> list[tuple[str, str]]:
    """What a refused form held that differs from the row as saved now, as
    (label, text): shown beside the fresh form, so that nothing typed is lost
    when a colleague's save came first.

    ``changed``: the names of the fields typed in, comma-separated, as the
    page's script sends them; then only those are shown, not the ones the
    colleague changed (which the page sent as it showed them). Without the
    script, every field that differs."""
    typed_in = None if changed is None else set(changed.split(","))
    rows = []
    for name, field in typed.fields.items():
        if field.widget.is_hidden or name not in typed.cleaned_data:
            continue
        if typed_in is not None and typed.add_prefix(name) not in typed_in:
            continue
        if not field.has_changed(fresh[name].initial, typed[name].data):
            continue
        value = typed.cleaned_data[name]
        rows.append((str(field.label or name), _as_text(field, value)))
    return rows


def _as_text(field: forms.Field, value) -> str:
    if value in (None, "", [], ()):
        return _("(empty)")
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, QuerySet):
        return ", ".join(str(item) for item in value) or _("(empty)")
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value), "j M Y, H:i")
    if isinstance(value, date):
        return formats.date_format(value, "j M Y")
    if isinstance(field, forms.ChoiceField) and not isinstance(
        field, forms.ModelChoiceField
    ):
        labels = {str(key): str(label) for key, label in field.choices}
        values = value if isinstance(value, list | tuple) else [value]
        return ", ".join(labels.get(str(v), str(v)) for v in values)
    return str(value)
