"""Data migrations of the core app, run on data as a clinic may have it."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from clinic.models import Consultation
from clinic.tests.factories import AppointmentFactory, UserFactory

BEFORE_REASONS = [("clinic", "0019_patient_search_letters")]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_eligible_despite_the_screening_before_the_rule_keeps_its_decision():
    # Made with today's models, before going back: the old ones lack no table
    # these need, and today's may have columns the old tables lack.
    appointment = AppointmentFactory(kind="consultation")
    decided_by = UserFactory()
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_REASONS)
    old = executor.loader.project_state(BEFORE_REASONS).apps
    old.get_model("clinic", "Consultation").objects.create(
        appointment_id=appointment.pk,
        patient_id=appointment.patient_id,
        areas=["face"],
        goals=["lines"],
        pregnant=True,
        screening_note="Breastfeeding until January.",
        decision="eligible",
        decided_by_id=decided_by.pk,
        decided_at=appointment.end,
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    consultation = Consultation.objects.get()
    assert consultation.decision == Consultation.Decision.ELIGIBLE
    assert consultation.decision_reason.startswith(
        "Decided before a reason was asked for"
    )


BEFORE_COMPLETING = [("clinic", "0020_eligible_despite_screening_needs_reason")]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_consultations_decided_before_decisions_completed_them_are_completed():
    from datetime import timedelta

    from django.utils import timezone

    from clinic.models import Appointment

    decided_by = UserFactory()
    past = timezone.now() - timedelta(days=2)
    over = AppointmentFactory(kind="consultation", start=past, status="checked_in")
    undecided = AppointmentFactory(
        kind="consultation", start=past + timedelta(hours=2), status="booked"
    )
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_COMPLETING)
    old = executor.loader.project_state(BEFORE_COMPLETING).apps
    for appointment, decision in ((over, "eligible"), (undecided, "pending")):
        old.get_model("clinic", "Consultation").objects.create(
            appointment_id=appointment.pk,
            patient_id=appointment.patient_id,
            areas=["face"],
            goals=["lines"],
            decision=decision,
            decided_by_id=decided_by.pk if decision != "pending" else None,
            decided_at=appointment.end if decision != "pending" else None,
        )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    over = Appointment.objects.get(pk=over.pk)
    assert over.status == Appointment.Status.COMPLETED
    [event] = over.events.all()
    assert (event.action, event.by_id, event.at) == (
        "completed",
        decided_by.pk,
        over.end,
    )
    assert Appointment.objects.get(pk=undecided.pk).status == "booked"


BEFORE_NOT_ASKED = [("clinic", "0024_patient_unsubscribed_at")]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_unticked_screening_boxes_of_an_undecided_consultation_become_not_asked():
    decided_by = UserFactory()
    decided = AppointmentFactory(kind="consultation")
    undecided = AppointmentFactory(kind="consultation")
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_NOT_ASKED)
    old = executor.loader.project_state(BEFORE_NOT_ASKED).apps
    for appointment, decision in ((decided, "eligible"), (undecided, "pending")):
        old.get_model("clinic", "Consultation").objects.create(
            appointment_id=appointment.pk,
            patient_id=appointment.patient_id,
            areas=["face"],
            goals=["lines"],
            pregnant=decision == "pending",
            screening_note="Due in May." if decision == "pending" else "",
            decision=decision,
            decided_by_id=decided_by.pk if decision != "pending" else None,
            decided_at=appointment.end if decision != "pending" else None,
        )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    # An unticked box said "no" at a decision, and may not have been asked
    # before one.
    assert Consultation.objects.get(appointment=decided).flags == []
    assert Consultation.objects.get(appointment=decided).not_asked == []
    undecided = Consultation.objects.get(appointment=undecided)
    assert undecided.pregnant is True
    assert len(undecided.not_asked) == 5
