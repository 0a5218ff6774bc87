from django.conf import settings
from django.db import migrations, models
from django.db.models import Count


def refuse_several_open_plans(apps, schema_editor):
    """Which of two open courses is the real one is for the clinic to decide:
    name them rather than cancel one."""
    TreatmentPlan = apps.get_model("plans", "TreatmentPlan")
    doubled = (
        TreatmentPlan.objects.filter(status__in=["draft", "active"])
        .values("consultation_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("consultation_id", flat=True)
    )
    if doubled:
        plans = TreatmentPlan.objects.filter(
            consultation_id__in=list(doubled), status__in=["draft", "active"]
        ).order_by("consultation_id", "pk")
        listed = ", ".join(
            f"plan {p.pk} (consultation {p.consultation_id})" for p in plans
        )
        raise RuntimeError(
            "These consultations have more than one open plan: "
            f"{listed}. Cancel or complete all but one of each, then migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0008_patient_name_validators"),
        ("plans", "0004"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(refuse_several_open_plans, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="treatmentplan",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["draft", "active"])),
                fields=("consultation",),
                name="one_open_plan_per_consultation",
                violation_error_message="This consultation has a plan that is still open.",
            ),
        ),
    ]
