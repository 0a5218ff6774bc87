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


drafts = importlib.import_module("plans.migrations.0018_drafts_redness_not_assumed")
records = importlib.import_module(
    "plans.migrations.0017_records_written_by_practitioners"
)


def test_a_drafts_preset_redness_is_cleared_and_a_signed_records_kept(
    practitioner, room
):
    from plans.models import SessionRecord
    from plans.tests.record_factories import add_session, draft, make_plan, signed

    plan = make_plan(practitioner)
    first = add_session(plan, plan.consultation.appointment.end + _days(1), room)
    second = add_session(plan, plan.consultation.appointment.end + _days(29), room)
    kept = signed(first, practitioner.user, redness="none")
    typed = draft(second, redness="none")

    drafts.forwards(apps, None)

    assert SessionRecord.objects.get(pk=kept.pk).redness == "none"
    assert SessionRecord.objects.get(pk=typed.pk).redness == ""


def test_managers_no_longer_write_records_and_get_it_back_on_the_way_down():
    from django.contrib.auth.models import Group

    manager = Group.objects.get(name="Manager")
    writes = {"add_sessionrecord", "change_sessionrecord", "add_photo"}

    assert not writes & set(manager.permissions.values_list("codename", flat=True))
    records.backwards(apps, None)
    assert writes <= set(manager.permissions.values_list("codename", flat=True))
    records.forwards(apps, None)
    assert not writes & set(manager.permissions.values_list("codename", flat=True))


def _days(n: int):
    from datetime import timedelta

    return timedelta(days=n)
