"""The calendar pages the front desk lives in: the week of one practitioner and
the day of all of them, timed through Django's test client."""

import statistics
import sys
import time
from datetime import date, timedelta
from urllib.parse import urlencode

from django.db import connection
from django.db.models import QuerySet
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from bench import BenchmarkFailed, Figures
from bench.data import Clinic
from clinic.models import Appointment, local_midnight

WARMUPS = 2
RUNS = 20
# A week two weeks ahead: inside the generated data whatever the day of the week,
# and always full of booked appointments.
WEEKS_AHEAD = 2


def week_empty(clinic: Clinic) -> Figures:
    ms, _ = measure(front_desk_client(clinic), week_url(clinic))
    return {"calendar_week_ms_empty": ms}


def week_full(clinic: Clinic) -> Figures:
    client = front_desk_client(clinic)
    url = week_url(clinic)
    ms, queries = measure(client, url)
    day = measured_day(clinic)
    week_start = day - timedelta(days=day.weekday())
    check_shows_patients(
        get_ok(client, url),
        Appointment.objects.filter(
            practitioner=clinic.practitioners[0],
            start__gte=local_midnight(week_start),
            start__lt=local_midnight(week_start + timedelta(days=7)),
        ),
    )
    return {"calendar_week_queries_full": queries, "calendar_week_ms_full": ms}


def day_empty(clinic: Clinic) -> Figures:
    ms, _ = measure(front_desk_client(clinic), _day_url(clinic))
    return {"calendar_day_ms_empty": ms}


def day_full(clinic: Clinic) -> Figures:
    url = _day_url(clinic)
    client = front_desk_client(clinic)
    ms, queries = measure(client, url)
    check_shows_patients(
        get_ok(client, url), Appointment.objects.on_day(measured_day(clinic))
    )
    return {"calendar_day_queries_full": queries, "calendar_day_ms_full": ms}


def measure(client: Client, url: str) -> tuple[float, int]:
    """The median time of RUNS requests in milliseconds (after WARMUPS), and the
    number of queries of one request."""
    for _ in range(WARMUPS):
        get_ok(client, url)
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        get_ok(client, url)
        timings.append(time.perf_counter() - started)
    # Counted on a request of its own: capturing queries slows the request down.
    with CaptureQueriesContext(connection) as queries:
        get_ok(client, url)
    return round(statistics.median(timings) * 1000, 1), len(queries.captured_queries)


def get_ok(client: Client, url: str) -> bytes:
    response = client.get(url)
    if response.status_code != 200:
        location = response.get("Location")
        redirect = f", redirecting to {location}" if location else ""
        raise BenchmarkFailed(
            f"GET {url} answered {response.status_code}, not 200{redirect}"
        )
    return response.content


def check_shows_patients(content: bytes, appointments: QuerySet) -> None:
    """Warn when a full calendar names none of its patients: then the figures
    probably measure an empty or wrong page."""
    names = set(appointments.values_list("patient__last_name", flat=True))
    if not names:
        print("bench: warning: no appointments on the measured page", file=sys.stderr)
    elif not any(name.encode() in content for name in names):
        print(
            "bench: warning: the page names none of its patients "
            f"({len(names)} expected), is it the right page?",
            file=sys.stderr,
        )


def front_desk_client(clinic: Clinic) -> Client:
    client = Client()
    client.force_login(clinic.front_desk)
    return client


def measured_day(clinic: Clinic) -> date:
    return timezone.localdate(clinic.now) + timedelta(weeks=WEEKS_AHEAD)


def _day_url(clinic: Clinic) -> str:
    path = reverse("clinic:calendar_day")
    return f"{path}?{urlencode({'date': measured_day(clinic).isoformat()})}"


def week_url(clinic: Clinic) -> str:
    try:
        path = reverse("clinic:calendar_week")
    except NoReverseMatch as exc:
        raise BenchmarkFailed(
            f"the week calendar (clinic:calendar_week) has no URL: {exc}"
        ) from exc
    query = {
        "practitioner": clinic.practitioners[0].pk,
        "date": measured_day(clinic).isoformat(),
    }
    return f"{path}?{urlencode(query)}"
