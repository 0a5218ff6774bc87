"""Deployment checks (``manage.py check --deploy``) for where photos are kept."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Tags, Warning, register

LOOPBACK = {"localhost", "127.0.0.1", "::1"}


@register(Tags.security, deploy=True)
def photo_bucket_over_https(app_configs, **kwargs) -> list[Warning]:
    options = settings.STORAGES.get("photos", {}).get("OPTIONS", {})
    endpoint = urlsplit(options.get("endpoint_url") or "")
    if endpoint.scheme == "http" and endpoint.hostname not in LOOPBACK:
        return [
            Warning(
                "Clinical photos would travel to the bucket unencrypted.",
                hint="Use an https:// CLINIC_PHOTO_S3_ENDPOINT_URL.",
                id="plans.W001",
            )
        ]
    return []
