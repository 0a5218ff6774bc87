"""The product's URLs and one trivial page, for the server under load only
(bench.server_settings): what Django costs per request before any view work."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import path

from clinic.urls import urlpatterns as product_urlpatterns

TRIVIAL_PATH = "/bench/trivial/"
SIGNED_IN_PATH = "/bench/signed-in/"


def trivial(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


@login_required
def signed_in(request: HttpRequest) -> HttpResponse:
    """The trivial page behind sign-in: what every staff page pays first
    (reading the session and the user) before any work of its own."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path(TRIVIAL_PATH.lstrip("/"), trivial, name="bench_trivial"),
    path(SIGNED_IN_PATH.lstrip("/"), signed_in, name="bench_signed_in"),
    *product_urlpatterns,
]
