"""Helpers the clinic's views share; other apps' views use them too."""

from datetime import date, datetime
from functools import wraps
from urllib.parse import urlencode, urlsplit

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.views import redirect_to_login
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from clinic import services


def staff_view(permission: str):
    """Sign-in required (anonymous -> login page); without ``permission`` -> 403.
    Pages are read and forms sent: any other method is a 405. A form sent
    after the sign-in ended is answered with what was typed (signed_out_post)."""

    def decorator(view):
        protected = login_required(
            permission_required(permission, raise_exception=True)(
                require_http_methods(["GET", "HEAD", "POST"])(view)
            )
        )

        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "POST" and not request.user.is_authenticated:
                return signed_out_post(request)
            return protected(request, *args, **kwargs)

        return checked

    return decorator


# Fields a page sends that nobody typed: versions, buttons, counts.
NOT_TYPED = {
    "csrfmiddlewaretoken",
    "seen",
    "ahead",
    "action",
    "changed_fields",
    "next",
    "course",
    "consent_shown",
    "times_checked_for",
    "previewed",
}
# ... and the same in a formset's rows (their ids, versions and stamps).
NOT_TYPED_IN_ROWS = ("-id", "-seen", "-proposed", "-previewed")
FORMSET_COUNTS = ("-TOTAL_FORMS", "-INITIAL_FORMS", "-MIN_NUM_FORMS", "-MAX_NUM_FORMS")


def signed_out_post(request: HttpRequest) -> HttpResponse:
    """A form sent once the sign-in had ended (its 12 hours, a sign-out or a
    new password elsewhere): nothing is saved, and what was typed is shown to
    copy, rather than lost behind the sign-in page."""
    # The page's script names the fields typed in (none, when it ran and
    # nothing was typed); without it, every field the page sent.
    typed_in = (
        set(filter(None, request.POST["changed_fields"].split(",")))
        if "changed_fields" in request.POST
        else None
    )
    typed = []
    for name, values in request.POST.lists():
        if name in NOT_TYPED or name.endswith(FORMSET_COUNTS + NOT_TYPED_IN_ROWS):
            continue
        if typed_in is not None and name not in typed_in:
            continue
        text = ", ".join(v.strip() for v in values if v.strip())
        if text:
            typed.append((name.replace("_", " ").replace("-", " ").capitalize(), text))
    if not typed:
        # Nothing of their own to lose (a button): the sign-in page, as for a page.
        return redirect_to_login(_came_from(request))
    response = render(
        request,
        "clinic/not_saved.html",
        {
            "reason": _(
                "Your sign-in had ended (it lasts a working day, and ends with a "
                "sign-out or a new password on another device), so nothing you "
                "sent was saved."
            ),
            "hint": _("Copy what you need, sign in again, and enter it again."),
            "unsaved": typed,
            "back": f"{reverse('login')}?{urlencode({'next': _came_from(request)})}",
            "back_label": _("Sign in again"),
        },
    )
    # What was typed (clinical notes, say) is not kept by the browser or a proxy.
    add_never_cache_headers(response)
    return response


def _came_from(request: HttpRequest) -> str:
    """The page the form was on, to go back to once signed in again."""
    referer = request.headers.get("referer", "")
    if url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        path = urlsplit(referer).path
        if path.startswith("/"):
            return path
    return reverse("clinic:dashboard")


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


def tell_by_phone(request: HttpRequest, patient) -> None:
    """After a booking, move or cancellation: a patient who gets no emails
    hears of it only from the desk."""
    if patient.no_emails_note:
        messages.warning(request, patient.no_emails_note)
