from django.db import migrations, models

import clinic.models


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0008_patient_name_validators"),
    ]

    operations = [
        migrations.AlterField(
            model_name="openinghours",
            name="closes",
            field=models.TimeField(
                validators=[clinic.models.validate_whole_minute], verbose_name="closes"
            ),
        ),
        migrations.AlterField(
            model_name="openinghours",
            name="opens",
            field=models.TimeField(
                validators=[clinic.models.validate_whole_minute], verbose_name="opens"
            ),
        ),
        migrations.AlterField(
            model_name="workinghours",
            name="end",
            field=models.TimeField(
                validators=[clinic.models.validate_whole_minute], verbose_name="until"
            ),
        ),
        migrations.AlterField(
            model_name="workinghours",
            name="start",
            field=models.TimeField(
                validators=[clinic.models.validate_whole_minute], verbose_name="from"
            ),
        ),
    ]
