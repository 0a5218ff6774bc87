"""Data migrations of plans, run on plans as a clinic may have them."""

import importlib

import pytest
from django.apps import apps

from plans.models import TreatmentPlan
from plans.tests.factories import TreatmentPlanFactory

pytestmark = pytest.mark.django_db

spacing = importlib.import_module("plans.migrations.0014_plan_spacing_notes")


def test_a_managers_spacing_reasons_move_out_of_the_clinical_reason():
    clinical = "Deep acne scars: seven sessions.\nExtended to 9 sessions by Dr Patel."
    allowed = (
        "Session 3 would be only 21 days after the previous one. Allowed by "
        "Mo Manager on 02 Mar 2027: Patient travels"
    )
    mixed = TreatmentPlanFactory(exception_reason=f"{clinical}\n{allowed}")
    only_clinical = TreatmentPlanFactory(exception_reason=clinical)

    spacing.move_spacing_notes(apps, None)

    mixed.refresh_from_db()
    only_clinical.refresh_from_db()
    assert (mixed.exception_reason, mixed.spacing_notes) == (clinical, allowed)
    assert (only_clinical.exception_reason, only_clinical.spacing_notes) == (
        clinical,
        "",
    )

    spacing.put_back(apps, None)

    mixed.refresh_from_db()
    assert mixed.exception_reason == f"{clinical}\n{allowed}"
    assert TreatmentPlan.objects.filter(exception_reason=clinical).count() == 1
