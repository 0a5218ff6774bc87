"""Fixtures of the tests that start processes or drive a browser, and of
moving a booking."""

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from playwright.sync_api import Browser, sync_playwright

from aftercare.tests.browser import CHROMIUM_ARGS, Tab

# The real broker and the loopback SMTP server.
from aftercare.tests.test_worker import broker, sink  # noqa: F401
from clinic.models import Appointment
from clinic.services import reschedule_appointment
from conftest import CHROMIUM


@pytest.fixture
def browser(monkeypatch) -> Iterator[Browser]:
    # Playwright's synchronous API keeps an event loop in this thread; the
    # test's own database calls are synchronous all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def tab(browser: Browser, live_server, request) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = Tab(context.new_page(), live_server.url)
    try:
        yield tab
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            folder = Path(settings.VAR_DIR) / "screenshots"
            folder.mkdir(parents=True, exist_ok=True)
            shot = folder / f"{request.node.name}.png"
            tab.page.screenshot(path=str(shot), full_page=True)
            print(f"Screenshot of the failing page: {shot} ({tab.page.url})")
        context.close()
        # The test's queries ran beside Playwright's event loop, on a connection
        # of their own: close it, or the test database can't be dropped.
        connections.close_all()


HOUR = timedelta(hours=1)


@pytest.fixture
def move(practitioner, room, front_desk) -> Callable[..., None]:
    """reschedule_appointment(): to an hour from ``start``, same practitioner
    and room, by the front desk at ``at``."""

    def move(appointment: Appointment, start: datetime, *, at: datetime) -> None:
        reschedule_appointment(
            appointment=appointment,
            start=start,
            end=start + HOUR,
            practitioner=practitioner,
            room=room,
            by=front_desk,
            now=at,
        )

    return move
