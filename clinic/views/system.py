"""Pages for machines and browsers: health check, favicon, CSRF failure."""

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_safe
from kombu import Connection


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_broker() -> None:
    with Connection(
        settings.CELERY_BROKER_URL,
        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        connect_timeout=2,
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and monitors: no sign-in, no details beyond ok/error."""
    report, healthy = {}, True
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            check()
        except Exception:  # Any failure of the dependency means "not ready".
            report[name] = "error"
            healthy = False
        else:
            report[name] = "ok"
    return JsonResponse(report, status=200 if healthy else 503)


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    # Resolved per request: the static files manifest exists only after collectstatic.
    # Not permanent: the file's name changes with its content on each deploy.
    return redirect(static("img/favicon.svg"))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "403_csrf.html", status=403)
