"""An eligible decision despite a yes in the screening gives its reason.

Consultations decided so before the rule keep their decision; their reason says
it was not asked for then, and points to the screening note (which every yes
already had)."""

from django.conf import settings
from django.db import migrations, models

EARLIER = (
    "Decided before a reason was asked for with a yes in the screening: see the "
    "screening note."
)
ANY_YES = (
    models.Q(active_infection=True)
    | models.Q(isotretinoin=True)
    | models.Q(pregnant=True)
    | models.Q(keloid_tendency=True)
    | models.Q(anticoagulants=True)
    | models.Q(recent_sunburn=True)
)


def give_earlier_ones_a_reason(apps, schema_editor):
    Consultation = apps.get_model("clinic", "Consultation")
    Consultation.objects.filter(
        ANY_YES, decision="eligible", decision_reason=""
    ).update(decision_reason=EARLIER)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0019_patient_search_letters"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(give_earlier_ones_a_reason, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="consultation",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("decision", "eligible"), _negated=True),
                    models.Q(
                        ("active_infection", False),
                        ("isotretinoin", False),
                        ("pregnant", False),
                        ("keloid_tendency", False),
                        ("anticoagulants", False),
                        ("recent_sunburn", False),
                    ),
                    models.Q(("decision_reason", ""), _negated=True),
                    _connector="OR",
                ),
                name="consultation_eligible_despite_screening_needs_reason",
                violation_error_message=(
                    "Eligible despite a yes in the screening: give the reason."
                ),
            ),
        ),
    ]
