"""Typed texts have a length limit in their forms (no column changes)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0013_appointment_history"),
    ]

    operations = [
        migrations.AlterField(
            model_name="appointment",
            name="notes",
            field=models.TextField(blank=True, max_length=2000, verbose_name="notes"),
        ),
        migrations.AlterField(
            model_name="consultation",
            name="decision_reason",
            field=models.TextField(blank=True, max_length=2000, verbose_name="reason"),
        ),
        migrations.AlterField(
            model_name="consultation",
            name="hoped_for_results",
            field=models.TextField(
                blank=True, max_length=2000, verbose_name="results hoped for"
            ),
        ),
        migrations.AlterField(
            model_name="consultation",
            name="screening_note",
            field=models.TextField(
                blank=True,
                help_text="Required when any screening answer is yes.",
                max_length=2000,
                verbose_name="practitioner's note on the screening",
            ),
        ),
        migrations.AlterField(
            model_name="patient",
            name="notes",
            field=models.TextField(blank=True, max_length=5000, verbose_name="notes"),
        ),
    ]
