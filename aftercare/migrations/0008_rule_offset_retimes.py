import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("aftercare", "0007_rule_switched_off_text"),
    ]

    operations = [
        migrations.AlterField(
            model_name="reminderrule",
            name="offset_minutes",
            field=models.IntegerField(
                default=0,
                help_text="Before the start (negative) for pre-care and reminders; after the session's end for aftercare; 0 for booking emails, which go out at once. At most 30 days (43200 minutes) either way. A change also re-times the emails of this kind not yet sent; one whose new time has passed goes out at once if still worth sending.",
                validators=[
                    django.core.validators.MinValueValidator(-43200),
                    django.core.validators.MaxValueValidator(43200),
                ],
                verbose_name="offset (minutes)",
            ),
        ),
    ]
