from django.db import migrations, models

import clinic.models


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0007_access_log_role"),
    ]

    operations = [
        migrations.AlterField(
            model_name="patient",
            name="first_name",
            field=models.CharField(
                max_length=100,
                validators=[clinic.models.validate_person_name],
                verbose_name="first name",
            ),
        ),
        migrations.AlterField(
            model_name="patient",
            name="last_name",
            field=models.CharField(
                max_length=100,
                validators=[clinic.models.validate_person_name],
                verbose_name="last name",
            ),
        ),
    ]
