import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0011_managers_open_settings"),
    ]

    operations = [
        migrations.AlterField(
            model_name="patient",
            name="phone",
            field=models.CharField(
                blank=True,
                max_length=30,
                validators=[
                    django.core.validators.RegexValidator(
                        "^\\+?[0-9][0-9 ()\\-.]{5,22}[0-9]$",
                        "Enter a phone number of 7 to 24 digits, spaces and dashes, optionally starting with +.",
                    )
                ],
                verbose_name="phone",
            ),
        ),
    ]
