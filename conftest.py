"""Shared test setup: fast settings, staff personas, and the service markers.

Tests marked ``postgres`` or ``redis`` need those servers, and ``browser`` needs
Debian's Chromium. They are skipped when it is absent, unless
CLINIC_REQUIRE_SERVICES=1 (as in CI), which turns the skip into a failure so that
nothing is silently left untested.
"""

import os

import pytest
from django.conf import settings
from django.db import connection

from clinic import roles
from clinic.tests.factories import (
    PatientFactory,
    PractitionerFactory,
    RoomFactory,
    UserFactory,
)

REQUIRE_SERVICES = os.environ.get("CLINIC_REQUIRE_SERVICES") == "1"


def pytest_configure(config: pytest.Config) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Sign-in throttling has its own tests (clinic/tests/test_login.py), which
    # turn it on; elsewhere it would need a request in every authenticate().
    settings.AXES_ENABLED = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    }


def _missing(what: str) -> None:
    message = f"needs {what}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and CLINIC_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


def redis_available() -> bool:
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(settings.CELERY_BROKER_URL).ping())
    except redis.RedisError:
        return False


# Debian's Chromium, for the tests marked ``browser`` (never a downloaded browser).
CHROMIUM = "/usr/bin/chromium"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("browser") and not os.path.exists(CHROMIUM):
        _missing(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _missing("PostgreSQL (set DATABASE_URL=postgres://...)")
    if item.get_closest_marker("redis") and not redis_available():
        _missing("Redis (set CELERY_BROKER_URL=redis://...)")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    # Fixtures read the outcome (e.g. to take a screenshot when a test failed).
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def manager(db):
    return UserFactory(username="manager", role=roles.MANAGER)


@pytest.fixture
def admin_client(client, manager):
    """The manager signed in to the settings (the admin), as their role allows."""
    manager.is_staff = True
    manager.save(update_fields=["is_staff"])
    client.force_login(manager)
    return client


@pytest.fixture
def front_desk(db):
    return UserFactory(username="frontdesk", role=roles.FRONT_DESK)


@pytest.fixture
def practitioner(db):
    return PractitionerFactory(user__username="practitioner")


@pytest.fixture
def other_practitioner(db):
    return PractitionerFactory(user__username="other.practitioner")


@pytest.fixture
def outsider(db):
    """Signed in, but with no clinic role at all."""
    return UserFactory(username="outsider")


@pytest.fixture
def room(db):
    return RoomFactory(name="Room 1")


@pytest.fixture
def other_room(db):
    return RoomFactory(name="Room 2")


@pytest.fixture
def patient(db):
    return PatientFactory(first_name="Ada", last_name="Lovelace")
