from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from clinic.models import Appointment, Consultation
from plans.models import TreatmentPlan

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Europe/London"))


@pytest.fixture
def seeded(db):
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", stdout=StringIO())
        yield


def test_the_demo_has_consultations_with_every_kind_of_decision(seeded):
    decisions = set(Consultation.objects.values_list("decision", flat=True))
    assert decisions == {"eligible", "not_eligible", "refer", "pending"}
    for refused in Consultation.objects.exclude(
        decision__in=[Consultation.Decision.ELIGIBLE, Consultation.Decision.PENDING]
    ):
        assert refused.decision_reason
        assert refused.screening_note


def test_every_demo_consultation_that_took_place_holds_its_decision(seeded):
    """Completed (a decision completes a consultation) is never empty."""
    completed = Appointment.objects.filter(
        kind=Appointment.Kind.CONSULTATION, status=Appointment.Status.COMPLETED
    )
    assert completed.count() > 10
    for appointment in completed.select_related("consultation"):
        consultation = appointment.consultation
        assert consultation.decision != Consultation.Decision.PENDING
        assert consultation.decided_by == appointment.practitioner.user
        assert consultation.areas and consultation.goals


def test_the_weeks_new_consultations_are_for_patients_without_a_course(seeded):
    from clinic.management.commands.seed_demo import COURSE_PATIENTS
    from plans.demo import CONSULTATIONS

    assert {(c.first_name, c.last_name) for c in CONSULTATIONS} == COURSE_PATIENTS
    week = Appointment.objects.filter(
        kind=Appointment.Kind.CONSULTATION, start__gte=NOW - timedelta(days=7)
    )
    patients = list(week.values_list("patient_id", flat=True))
    assert len(patients) == len(set(patients)), "a patient twice in the week"
    with_plans = TreatmentPlan.objects.values_list("patient_id", flat=True)
    assert not set(patients) & set(with_plans)


def test_the_demo_has_a_booked_standard_plan_and_a_draft(seeded):
    active = TreatmentPlan.objects.get(status=TreatmentPlan.Status.ACTIVE)
    assert active.protocol.name == "Standard"
    assert active.sessions.count() == 6
    starts = list(
        active.sessions.order_by("number").values_list("appointment__start", flat=True)
    )
    # Session 1 is today, ready for the practitioner to record; the rest follow.
    assert timezone.localdate(starts[0]) == NOW.date()
    assert all(start > NOW for start in starts[1:])
    days = [timezone.localdate(start) for start in starts]
    # Spaced by calendar days at the same wall-clock time, across the clock change.
    assert [(b - a).days for a, b in zip(days, days[1:], strict=False)] == [28] * 5
    assert {timezone.localtime(start).hour for start in starts} == {10}
    draft = TreatmentPlan.objects.get(status=TreatmentPlan.Status.DRAFT)
    assert draft.consented_at is None
    assert not draft.sessions.exists()


def test_an_eligible_consultation_is_left_without_a_plan(seeded):
    assert Consultation.objects.filter(
        decision=Consultation.Decision.ELIGIBLE, treatment_plans__isnull=True
    ).exists()


def test_running_the_demo_again_adds_no_plans_or_sessions(seeded):
    counts = (
        Consultation.objects.count(),
        TreatmentPlan.objects.count(),
        Appointment.objects.count(),
    )
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", stdout=StringIO())
    assert counts == (
        Consultation.objects.count(),
        TreatmentPlan.objects.count(),
        Appointment.objects.count(),
    )


@pytest.mark.parametrize("hour", [2, 12])
def test_every_booked_demo_session_has_its_emails(db, hour):
    """Seeded before the clinic opens (session 1 still to come) or at noon:
    each session still to come has its confirmation and its reminder."""
    from aftercare.models import Kind, Reminder

    moment = NOW.replace(hour=hour)
    with time_machine.travel(moment, tick=False):
        call_command("seed_demo", stdout=StringIO())
    plan = TreatmentPlan.objects.get(status=TreatmentPlan.Status.ACTIVE)
    ahead = [
        s.appointment
        for s in plan.sessions.select_related("appointment")
        if s.appointment.start > moment
    ]

    confirmed = {
        pk
        for series in Reminder.objects.filter(kind=Kind.CONFIRMATION).values_list(
            "series", flat=True
        )
        for pk in series
    }
    reminded = set(
        Reminder.objects.filter(kind=Kind.REMINDER).values_list(
            "appointment_id", flat=True
        )
    )
    assert ahead
    assert {a.pk for a in ahead} <= confirmed
    # A day ahead and more; one sooner had its confirmation as its reminder.
    assert {a.pk for a in ahead if a.start - moment > timedelta(days=1)} <= reminded
