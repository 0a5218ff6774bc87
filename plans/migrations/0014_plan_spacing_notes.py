"""A plan keeps a manager's reasons for sessions closer than the minimum apart
in a field of their own, which the front desk sees: they were added to the
practitioner's clinical reason to go outside the protocol, which it doesn't."""

from django.db import migrations, models

# How plans.services.series._note_exception wrote each reason.
ALLOWED_BY = " Allowed by "


def move_spacing_notes(apps, schema_editor) -> None:
    TreatmentPlan = apps.get_model("plans", "TreatmentPlan")
    plans = TreatmentPlan.objects.filter(exception_reason__contains=ALLOWED_BY)
    for plan in plans:
        lines = plan.exception_reason.split("\n")
        notes = [line for line in lines if ALLOWED_BY in line]
        kept = [line for line in lines if ALLOWED_BY not in line]
        plan.exception_reason = "\n".join(kept)
        plan.spacing_notes = "\n".join(notes)
        plan.save(update_fields=["exception_reason", "spacing_notes"])


def put_back(apps, schema_editor) -> None:
    TreatmentPlan = apps.get_model("plans", "TreatmentPlan")
    for plan in TreatmentPlan.objects.exclude(spacing_notes=""):
        plan.exception_reason = "\n".join(
            filter(None, [plan.exception_reason, plan.spacing_notes])
        )
        plan.save(update_fields=["exception_reason"])


class Migration(migrations.Migration):
    dependencies = [
        ("plans", "0013_record_signed_despite"),
    ]

    operations = [
        migrations.AddField(
            model_name="treatmentplan",
            name="spacing_notes",
            field=models.TextField(
                blank=True, max_length=4000, verbose_name="spacing allowed by a manager"
            ),
        ),
        migrations.RunPython(move_spacing_notes, put_back),
    ]
