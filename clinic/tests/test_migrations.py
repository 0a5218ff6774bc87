"""Data migrations of the core app, run on data as a clinic may have it."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from clinic.models import Consultation
from clinic.tests.factories import AppointmentFactory, UserFactory

BEFORE_REASONS = [("clinic", "0019_patient_search_letters")]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_eligible_despite_the_screening_before_the_rule_keeps_its_decision():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_REASONS)
    old = executor.loader.project_state(BEFORE_REASONS).apps
    appointment = AppointmentFactory(kind="consultation")
    decided_by = UserFactory()
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
