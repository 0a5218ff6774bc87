from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bench import data, series
from bench.__main__ import EMPTY_CLINIC_BENCHMARKS, FULL_CLINIC_BENCHMARKS
from clinic.models import Appointment
from plans.models import TreatmentPlan, TreatmentSession

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Europe/London"))


@pytest.fixture
def clinic(db) -> data.Clinic:
    return data.build_clinic(now=NOW, practitioners=3, rooms=2, patients=20)


@pytest.fixture
def figures(clinic) -> dict:
    """The series figures, measured in the order `python -m bench` runs them."""
    empty = series.propose_empty(clinic)
    data.build_appointments(clinic, days_back=7, days_forward=14)
    return empty | series.propose_full(clinic) | series.book_full(clinic)


def test_the_benchmarks_are_listed_in_their_phase():
    assert "bench.series.propose_empty" in EMPTY_CLINIC_BENCHMARKS
    # After the calendar pages, before only the dispatch benchmark.
    assert FULL_CLINIC_BENCHMARKS[-3:-1] == [
        "bench.series.propose_full",
        "bench.series.book_full",
    ]


def test_it_reports_every_figure(figures):
    assert set(figures) == {
        "series_propose_10_ms_empty",
        "series_propose_10_ms",
        "series_propose_10_queries",
        "series_book_10_ms",
        "series_book_10_queries",
    }
    assert all(value > 0 for value in figures.values())


def test_proposing_takes_fewer_than_ten_queries(figures):
    assert figures["series_propose_10_queries"] < 10


def test_each_run_books_the_whole_series_and_gives_it_back(figures):
    sessions = TreatmentSession.objects.select_related("appointment")

    assert len(sessions) == (series.BOOK_RUNS + 1) * series.SESSIONS
    assert {s.appointment.status for s in sessions} == {"cancelled"}
    assert TreatmentPlan.objects.filter(status="cancelled").count() == (
        series.BOOK_RUNS + 1
    )


def test_the_consultations_behind_the_plans_overlap_no_booking(figures):
    calendars = defaultdict(list)
    for appointment in Appointment.objects.active().order_by("start"):
        calendars["practitioner", appointment.practitioner_id].append(appointment)
        calendars["room", appointment.room_id].append(appointment)

    assert Appointment.objects.filter(consultation__isnull=False).count() == (
        2 + series.BOOK_RUNS + 1
    )
    for calendar in calendars.values():
        for earlier, later in zip(calendar, calendar[1:], strict=False):
            assert earlier.end <= later.start, (earlier, later)
