from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db.models import Q

from aftercare.models import Reminder
from bench import calendar, data, history, outbox, pages
from bench.__main__ import EMPTY_CLINIC_BENCHMARKS, FULL_CLINIC_BENCHMARKS
from clinic.models import Appointment
from plans.models import SessionRecord, TreatmentPlan

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Europe/London"))
PAGES = ("search", "dashboard", "plan", "outbox")


@pytest.fixture
def clinic(db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[data.Clinic]:
    monkeypatch.setattr(calendar, "WARMUPS", 0)
    monkeypatch.setattr(calendar, "RUNS", 1)
    # The dashboard shows the day the clinic was built around.
    with time_machine.travel(NOW, tick=False):
        yield data.build_clinic(now=NOW, practitioners=3, rooms=2, patients=40)


def test_the_pages_are_measured_in_both_phases():
    for page in PAGES:
        assert f"bench.pages.{page}_empty" in EMPTY_CLINIC_BENCHMARKS
        assert f"bench.pages.{page}_full" in FULL_CLINIC_BENCHMARKS
    # The sample plan's emails are what the empty outbox shows.
    assert EMPTY_CLINIC_BENCHMARKS.index(
        "bench.pages.plan_empty"
    ) < EMPTY_CLINIC_BENCHMARKS.index("bench.pages.outbox_empty")


def test_it_reports_every_figure_with_a_fixed_number_of_queries(clinic):
    empty = {}
    for page in PAGES:
        empty |= getattr(pages, f"{page}_empty")(clinic)
    data.build_appointments(clinic, days_back=200, days_forward=60)
    history.build_plans(clinic)
    outbox.build_emails(clinic)
    full = {}
    for page in PAGES:
        full |= getattr(pages, f"{page}_full")(clinic)

    assert set(empty) == {
        "patient_search_ms_empty",
        "dashboard_ms_empty",
        "plan_page_ms_empty",
        "outbox_ms_empty",
    }
    assert set(full) == {
        "patient_search_ms_full",
        "patient_search_queries_full",
        "dashboard_ms_full",
        "dashboard_queries_full",
        "plan_page_ms_full",
        "plan_page_queries_full",
        "outbox_ms_full",
        "outbox_queries_full",
    }
    assert all(value > 0 for value in (empty | full).values())
    assert all(full[f] <= 12 for f in full if f.endswith("_queries_full"))


def test_the_measured_plan_is_shaped_like_the_sample(clinic):
    sample = history.build_sample_plan(clinic)
    data.build_appointments(clinic, days_back=200, days_forward=60)
    history.build_plans(clinic)

    plan = pages.measured_plan(clinic)

    assert plan != sample
    assert plan.planned_sessions == sample.planned_sessions
    assert plan.status == sample.status == TreatmentPlan.Status.ACTIVE
    statuses = set(plan.sessions.values_list("appointment__status", flat=True))
    assert {"completed", "booked"} <= statuses


def test_the_sample_plan_has_its_history_and_overlaps_no_generated_booking(clinic):
    plan = history.build_sample_plan(clinic)
    data.build_appointments(clinic, days_back=200, days_forward=60)

    statuses = [s.appointment.status for s in plan.sessions.order_by("number")]
    assert statuses == ["completed"] * 4 + ["booked"] * 2
    assert plan.status == TreatmentPlan.Status.ACTIVE
    assert SessionRecord.objects.filter(signed_at__isnull=False).count() == 4
    assert Reminder.objects.filter(appointment__treatment_session__plan=plan).exists()
    sample = Appointment.objects.filter(
        Q(treatment_session__plan=plan) | Q(consultation=plan.consultation)
    )
    assert sample.count() == 7
    for appointment in sample:
        for resource in ("practitioner", "room"):
            overlapping = (
                Appointment.objects.active()
                .overlapping(appointment.start, appointment.end)
                .filter(**{resource: getattr(appointment, resource)})
            )
            assert list(overlapping) == [appointment]
