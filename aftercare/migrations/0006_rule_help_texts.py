import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("aftercare", "0005_texts_for_several_sessions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="reminderrule",
            name="enabled",
            field=models.BooleanField(
                default=True,
                help_text="Switched off, no email of this kind goes out, including those already planned; switched on again before they are due, they do.",
                verbose_name="send it",
            ),
        ),
        migrations.AlterField(
            model_name="reminderrule",
            name="offset_minutes",
            field=models.IntegerField(
                default=0,
                help_text="Before the start (negative) for pre-care and reminders; after the session's end for aftercare; 0 for booking emails, which go out at once. At most 30 days (43200 minutes) either way. A change applies to the emails planned from then on (bookings made, moved or completed later); emails already planned keep their time.",
                validators=[
                    django.core.validators.MinValueValidator(-43200),
                    django.core.validators.MaxValueValidator(43200),
                ],
                verbose_name="offset (minutes)",
            ),
        ),
    ]
