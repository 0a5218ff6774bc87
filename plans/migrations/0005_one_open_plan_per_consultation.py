from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0008_patient_name_validators"),
        ("plans", "0004"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
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
