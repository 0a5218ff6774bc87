from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from pytest_django import DjangoDbBlocker

from aftercare.models import AFTERCARE, Kind, Reminder, ReminderRule
from bench import data, history, outbox
from clinic.models import Appointment, Patient
from plans.models import SessionRecord, TreatmentPlan, TreatmentSession

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Europe/London"))
Status = Reminder.Status


@pytest.fixture(scope="module")
def built(
    django_db_setup: None, django_db_blocker: DjangoDbBlocker
) -> Iterator[SimpleNamespace]:
    """Half a year of a small clinic's history, built once for this module in a
    transaction rolled back at the end; each test runs in a savepoint in it."""
    with django_db_blocker.unblock(), transaction.atomic():
        clinic = data.build_clinic(now=NOW, practitioners=2, rooms=1, patients=30)
        data.build_appointments(clinic, days_back=180, days_forward=30)
        plans = history.build_plans(clinic)
        emails = outbox.build_emails(clinic)
        yield SimpleNamespace(clinic=clinic, plans=plans, emails=emails)
        transaction.set_rollback(True)


@pytest.fixture
def plans(built: SimpleNamespace, db: None) -> history.PlanCounts:
    return built.plans


@pytest.fixture
def emails(built: SimpleNamespace, db: None) -> int:
    return built.emails


def live_sessions() -> list[TreatmentSession]:
    return list(
        TreatmentSession.objects.filter(
            appointment__status__in=Appointment.ACTIVE_STATUSES
        )
        .select_related("appointment", "plan__protocol")
        .order_by("plan", "appointment__start")
    )


def test_it_reports_what_it_wrote(plans):
    assert plans.plans == TreatmentPlan.objects.count() > 0
    assert plans.sessions == TreatmentSession.objects.count() > plans.plans
    assert plans.records == SessionRecord.objects.count() > 0


def test_a_plans_sessions_are_its_patients_with_its_practitioner(plans):
    sessions = TreatmentSession.objects.all()

    assert not sessions.exclude(appointment__patient=F("plan__patient")).exists()
    assert not sessions.exclude(
        appointment__practitioner=F("plan__practitioner")
    ).exists()
    assert not TreatmentPlan.objects.exclude(
        consultation__patient=F("patient")
    ).exists()


def test_sessions_follow_the_consultation_at_the_protocols_spacing(plans):
    firsts = TreatmentSession.objects.filter(number=1).select_related(
        "appointment", "plan__consultation__appointment"
    )
    for session in firsts:
        consulted = session.plan.consultation.appointment
        assert consulted.status == Appointment.Status.COMPLETED
        waited = timezone.localdate(session.appointment.start) - timezone.localdate(
            consulted.start
        )
        assert waited >= history.START_AFTER

    by_plan = defaultdict(list)
    for session in live_sessions():
        by_plan[session.plan].append(timezone.localdate(session.appointment.start))
    for plan, days in by_plan.items():
        assert len(days) <= plan.planned_sessions
        gaps = [
            (later - earlier).days
            for earlier, later in zip(days, days[1:], strict=False)
        ]
        assert all(gap >= plan.protocol.min_spacing_days for gap in gaps), gaps


def test_a_lost_session_is_replaced_by_the_plans_next_one(plans):
    replacements = TreatmentSession.objects.filter(replaces__isnull=False)

    assert replacements.exists()
    for session in replacements.select_related("appointment", "replaces__appointment"):
        assert session.replaces.appointment.status in ("cancelled", "no_show")
        assert session.appointment.status in Appointment.ACTIVE_STATUSES
        assert session.replaces.appointment.start < session.appointment.start


def test_completed_sessions_and_only_they_have_a_signed_record(plans):
    sessions = TreatmentSession.objects.select_related("appointment", "record")

    for session in sessions:
        record = getattr(session, "record", None)
        if session.appointment.status == Appointment.Status.COMPLETED:
            assert record.is_signed
            assert session.appointment.start <= record.started_at
            assert record.started_at < record.ended_at <= session.appointment.end
            assert record.signed_at <= NOW
            assert record.areas.exists()
        elif record is not None:
            assert session.appointment.status == Appointment.Status.CHECKED_IN
            assert not record.is_signed


def test_plan_statuses_fit_their_sessions(plans):
    live = defaultdict(list)
    for plan_id, status in TreatmentSession.objects.filter(
        appointment__status__in=Appointment.ACTIVE_STATUSES
    ).values_list("plan_id", "appointment__status"):
        live[plan_id].append(status)
    statuses = set()
    for plan in TreatmentPlan.objects.all():
        statuses.add(plan.status)
        assert plan.has_consent
        if plan.status == TreatmentPlan.Status.COMPLETED:
            assert len(live[plan.pk]) == plan.planned_sessions
            assert set(live[plan.pk]) == {Appointment.Status.COMPLETED}
        elif plan.status == TreatmentPlan.Status.CANCELLED:
            assert plan.ended_reason
            assert plan.ended_at <= NOW

    assert statuses == {"active", "completed", "cancelled"}


def test_most_treatments_but_not_all_are_plan_sessions(plans):
    treatments = Appointment.objects.filter(kind=Appointment.Kind.TREATMENT)
    share = (
        treatments.filter(treatment_session__isnull=False).count() / treatments.count()
    )

    assert 0.4 < share < 0.95


def test_no_email_due_by_now_is_left_unsent(emails):
    due = Reminder.objects.filter(due_at__lte=NOW)
    later = Reminder.objects.filter(due_at__gt=NOW)

    assert emails == Reminder.objects.count()
    assert set(due.values_list("status", flat=True)) == {
        Status.SENT,
        Status.SKIPPED,
        Status.CANCELLED,
    } | ({Status.FAILED} if due.filter(status=Status.FAILED).exists() else set())
    assert set(later.values_list("status", flat=True)) == {
        Status.SCHEDULED,
        Status.CANCELLED,
    }


def test_sent_emails_look_as_dispatch_leaves_them(emails):
    sent = Reminder.objects.filter(status=Status.SENT).select_related("patient")
    for reminder in sent[:200]:
        assert reminder.due_at <= reminder.sent_at <= NOW
        assert reminder.attempts == 1
        assert reminder.message_id == f"<reminder-{reminder.pk}-1@clinic.example>"
        assert reminder.sent_to == reminder.patient.email != ""


def test_patients_without_an_address_or_consent_get_no_email(emails):
    unreachable = Patient.objects.exclude(email_consent=True, email__gt="")

    assert unreachable.exists()
    assert not Reminder.objects.filter(
        patient__in=unreachable, status=Status.SENT
    ).exists()
    assert Reminder.objects.filter(
        patient__in=unreachable, status=Status.SKIPPED
    ).exists()


def test_each_booking_is_confirmed_once_a_series_in_one_email(emails):
    confirmed = defaultdict(int)
    for series in Reminder.objects.filter(kind=Kind.CONFIRMATION).values_list(
        "series", flat=True
    ):
        for pk in series:
            confirmed[pk] += 1

    assert set(confirmed.values()) == {1}
    assert set(confirmed) == set(Appointment.objects.values_list("pk", flat=True))
    assert max(len(s) for s in Reminder.objects.values_list("series", flat=True)) > 4


def test_moves_and_cancellations_start_new_versions(emails):
    updates = Reminder.objects.filter(kind=Kind.UPDATE)
    cancellations = Reminder.objects.filter(kind=Kind.CANCELLATION)

    assert updates.exists()
    assert not updates.filter(version=0).exists()
    assert set(cancellations.values_list("appointment__status", flat=True)) == {
        "cancelled"
    }
    assert Reminder.objects.filter(skip_reason="the appointment moved").exists()


def test_aftercare_runs_from_the_recorded_end_of_completed_treatments(emails):
    offsets = dict(ReminderRule.objects.values_list("kind", "offset_minutes"))
    record = SessionRecord.objects.filter(signed_at__isnull=False).first()
    aftercare = Reminder.objects.filter(
        appointment=record.session.appointment_id, kind__in=AFTERCARE
    )

    assert {r.kind for r in aftercare} == set(AFTERCARE)
    for reminder in aftercare:
        assert reminder.due_at == record.ended_at + timedelta(
            minutes=offsets[reminder.kind]
        )
    assert not Reminder.objects.filter(
        kind__in=AFTERCARE, appointment__kind=Appointment.Kind.CONSULTATION
    ).exists()
