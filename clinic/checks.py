"""System checks of the clinic's own settings (``manage.py check --deploy``)."""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Tags, Warning, register

LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


@register(Tags.security, deploy=True)
def base_url_reaches_patients(app_configs, **kwargs) -> list[Warning]:
    """Every patient email's unsubscribe link is built on CLINIC_BASE_URL: on a
    laptop address, patients can't opt out."""
    parts = urlsplit(settings.CLINIC_BASE_URL)
    if not _public_host(parts.hostname or "") or parts.scheme != "https":
        return [
            Warning(
                f"CLINIC_BASE_URL is {settings.CLINIC_BASE_URL!r}: the unsubscribe "
                "links in patients' emails are built on it.",
                hint="Set CLINIC_BASE_URL to the clinic's public https:// address.",
                id="clinic.W001",
            )
        ]
    return []


def _public_host(host: str) -> bool:
    """A name or address patients' phones and computers can reach: not this
    machine, not a private network, not a bare name without a domain."""
    if not host or host in LOOPBACK:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." in host.strip(".")
    return address.is_global


# Backends that keep patient emails on this machine instead of sending them.
UNSENT = {
    "django.core.mail.backends.filebased.EmailBackend": "written to files in {path}",
    "django.core.mail.backends.console.EmailBackend": "printed to the console",
    "django.core.mail.backends.locmem.EmailBackend": "kept in memory",
    "django.core.mail.backends.dummy.EmailBackend": "thrown away",
}


@register(Tags.security, deploy=True)
def emails_reach_patients(app_configs, **kwargs) -> list[Warning]:
    """The default keeps emails in files for a newcomer to read: in production,
    patients would get no confirmation, reminder or aftercare at all."""
    unsent = UNSENT.get(settings.EMAIL_BACKEND)
    if unsent is None:
        return []
    return [
        Warning(
            "Patient emails are not sent: they are "
            f"{unsent.format(path=settings.EMAIL_FILE_PATH)}.",
            hint="Set EMAIL_URL to the clinic's SMTP server, e.g. "
            "smtp+tls://user:password@smtp.example.com:587.",
            id="clinic.W002",
        )
    ]


@register(Tags.security, deploy=True)
def clinic_details_are_real(app_configs, **kwargs) -> list[Warning]:
    """Patients read the clinic's name, phone and email in every email, and reply
    to them: the demo clinic's would send them elsewhere."""
    demo = [
        name
        for name, value in settings.DEMO_CLINIC_DETAILS.items()
        if getattr(settings, name) == value
    ]
    warnings = []
    if not settings.CLINIC_ADDRESS:
        warnings.append(
            Warning(
                "CLINIC_ADDRESS is empty: patients' emails and calendar events "
                "give no street address.",
                hint="Set CLINIC_ADDRESS to the clinic's address, in one line.",
                id="clinic.W005",
            )
        )
    if not demo:
        return warnings
    return warnings + [
        Warning(
            f"{', '.join(demo)} still hold the demo clinic's details, which "
            "patients would read in their emails.",
            hint="Set them to the clinic's own name, phone, email address and "
            "email domain.",
            id="clinic.W003",
        )
    ]


@register(Tags.security, deploy=True)
def emails_travel_encrypted(app_configs, **kwargs) -> list[Warning]:
    """Patient emails name their treatments: over plain SMTP to another machine,
    anyone on the way reads them."""
    if settings.EMAIL_BACKEND != "django.core.mail.backends.smtp.EmailBackend":
        return []
    if settings.EMAIL_USE_TLS or settings.EMAIL_USE_SSL:
        return []
    if settings.EMAIL_HOST in LOOPBACK:
        return []  # A relay on this machine, which encrypts onwards.
    return [
        Warning(
            f"Patient emails go to {settings.EMAIL_HOST} unencrypted.",
            hint="Use smtp+tls:// (STARTTLS, port 587) or smtp+ssl:// (port 465) "
            "in EMAIL_URL.",
            id="clinic.W004",
        )
    ]
