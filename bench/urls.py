"""The product's URLs and one trivial page, for the server under load only
(bench.server_settings): what Django costs per request before any view work."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from clinic.urls import urlpatterns as product_urlpatterns

TRIVIAL_PATH = "/bench/trivial/"


def trivial(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path(TRIVIAL_PATH.lstrip("/"), trivial, name="bench_trivial"),
    *product_urlpatterns,
]
