"""Typed texts have a length limit in their forms (no column changes)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("plans", "0009_photo_removal_photo_id"),
    ]

    operations = [
        migrations.AlterField(
            model_name="protocol",
            name="description",
            field=models.TextField(blank=True, max_length=2000, verbose_name="for"),
        ),
        migrations.AlterField(
            model_name="sessionrecord",
            name="adverse_events",
            field=models.TextField(
                blank=True, max_length=5000, verbose_name="adverse events"
            ),
        ),
        migrations.AlterField(
            model_name="sessionrecord",
            name="notes",
            field=models.TextField(blank=True, max_length=10000, verbose_name="notes"),
        ),
        migrations.AlterField(
            model_name="treatmentplan",
            name="exception_reason",
            field=models.TextField(
                blank=True,
                help_text="Needed when the sessions or spacing are outside the protocol.",
                max_length=2000,
                verbose_name="reason to go outside the protocol",
            ),
        ),
    ]
