import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0015_staff_status_follows_role"),
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
                        "^(?=(?:\\D*\\d){7,24}\\D*$)\\+?[0-9(][0-9 ()\\-.]{5,28}[0-9]$",
                        "Enter a phone number of 7 to 24 digits, with spaces, dashes, dots or brackets if you like, optionally starting with +.",
                    )
                ],
                verbose_name="phone",
            ),
        ),
    ]
