"""The clinic's deployment checks: what `check --deploy` warns of before patients
are let down by a setting left at its development default."""

import pytest
from django.core.checks import run_checks

from clinic.checks import (
    base_url_reaches_patients,
    clinic_details_are_real,
    emails_reach_patients,
    emails_travel_encrypted,
)

REAL_DETAILS = {
    "CLINIC_NAME": "Northside Skin Clinic",
    "CLINIC_PHONE": "+44 161 496 0000",
    "CLINIC_EMAIL": "reception@northside-skin.co.uk",
    "CLINIC_EMAIL_DOMAIN": "northside-skin.co.uk",
    "CLINIC_ADDRESS": "4 Mill Lane, Manchester M1 1AA",
}


@pytest.fixture
def production(settings):
    """Settings a clinic would go live with: every check below passes."""
    settings.CLINIC_BASE_URL = "https://clinic.northside-skin.co.uk"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "smtp.northside-skin.co.uk"
    settings.EMAIL_USE_TLS = True
    for name, value in REAL_DETAILS.items():
        setattr(settings, name, value)
    return settings


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://clinic.northside-skin.co.uk",  # not https
        "https://",
        "https:///",
        "https://192.168.1.5",
        "https://10.0.0.8/clinic",
        "https://clinic",  # a bare name, no domain
        "https://localhost:8443",
    ],
)
def test_an_address_patients_cant_reach_in_email_links_is_warned_of(production, url):
    assert base_url_reaches_patients(None) == []

    production.CLINIC_BASE_URL = url

    assert [w.id for w in base_url_reaches_patients(None)] == ["clinic.W001"]


def test_a_public_address_by_number_is_accepted(production):
    production.CLINIC_BASE_URL = "https://203.0.114.7"  # outside test ranges

    assert base_url_reaches_patients(None) == []


@pytest.mark.parametrize(
    "backend, says",
    [
        ("django.core.mail.backends.filebased.EmailBackend", "written to files in"),
        ("django.core.mail.backends.console.EmailBackend", "printed to the console"),
        ("django.core.mail.backends.locmem.EmailBackend", "kept in memory"),
        ("django.core.mail.backends.dummy.EmailBackend", "thrown away"),
    ],
)
def test_emails_kept_on_this_machine_are_warned_of(production, backend, says):
    assert emails_reach_patients(None) == []

    production.EMAIL_BACKEND = backend
    production.EMAIL_FILE_PATH = "/srv/clinic/var/mail"

    [warning] = emails_reach_patients(None)
    assert warning.id == "clinic.W002"
    assert says in warning.msg
    assert "EMAIL_URL" in warning.hint


def test_another_sending_backend_is_not_second_guessed(production):
    production.EMAIL_BACKEND = "anymail.backends.amazon_ses.EmailBackend"

    assert emails_reach_patients(None) == []


def test_the_demo_clinics_details_are_warned_of_by_name(production):
    assert clinic_details_are_real(None) == []

    production.CLINIC_PHONE = production.DEMO_CLINIC_DETAILS["CLINIC_PHONE"]
    production.CLINIC_EMAIL_DOMAIN = production.DEMO_CLINIC_DETAILS[
        "CLINIC_EMAIL_DOMAIN"
    ]

    [warning] = clinic_details_are_real(None)
    assert warning.id == "clinic.W003"
    assert warning.msg.startswith("CLINIC_PHONE, CLINIC_EMAIL_DOMAIN still hold")


def test_the_development_defaults_fail_the_deploy_check():
    """What a newcomer runs with (files for mail, the demo clinic, a laptop
    address) is refused for production, each for its own reason."""
    found = {c.id for c in run_checks(include_deployment_checks=True)}

    assert {"clinic.W001", "clinic.W002", "clinic.W003"} <= found


@pytest.mark.parametrize(
    ("host", "tls", "ssl", "warned"),
    [
        ("smtp.northside-skin.co.uk", False, False, True),
        ("smtp.northside-skin.co.uk", True, False, False),
        ("smtp.northside-skin.co.uk", False, True, False),
        ("localhost", False, False, False),  # a relay on the machine
    ],
)
def test_patient_emails_over_plain_smtp_to_another_machine_are_warned_of(
    production, host, tls, ssl, warned
):
    production.EMAIL_HOST = host
    production.EMAIL_USE_TLS, production.EMAIL_USE_SSL = tls, ssl

    found = [w.id for w in emails_travel_encrypted(None)]

    assert found == (["clinic.W004"] if warned else [])


def test_an_empty_clinic_address_is_warned_of(production):
    production.CLINIC_ADDRESS = ""

    [warning] = clinic_details_are_real(None)

    assert warning.id == "clinic.W005"
    assert warning.msg.startswith("CLINIC_ADDRESS is empty")
