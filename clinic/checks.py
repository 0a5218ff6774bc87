"""System checks of the clinic's own settings (``manage.py check --deploy``)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Tags, Warning, register

LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


@register(Tags.security, deploy=True)
def base_url_reaches_patients(app_configs, **kwargs) -> list[Warning]:
    """Every patient email's unsubscribe link is built on CLINIC_BASE_URL: on a
    laptop address, patients can't opt out."""
    parts = urlsplit(settings.CLINIC_BASE_URL)
    if parts.hostname in LOOPBACK or parts.scheme != "https":
        return [
            Warning(
                f"CLINIC_BASE_URL is {settings.CLINIC_BASE_URL!r}: the unsubscribe "
                "links in patients' emails are built on it.",
                hint="Set CLINIC_BASE_URL to the clinic's public https:// address.",
                id="clinic.W001",
            )
        ]
    return []
