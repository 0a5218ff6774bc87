"""A protocol's spacing is at most 120 days, as a plan's (no column changes)."""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("plans", "0010_text_limits"),
    ]

    operations = [
        migrations.AlterField(
            model_name="protocol",
            name="max_spacing_days",
            field=models.PositiveSmallIntegerField(
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(120),
                ],
                verbose_name="longest spacing (days)",
            ),
        ),
        migrations.AlterField(
            model_name="protocol",
            name="min_spacing_days",
            field=models.PositiveSmallIntegerField(
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(120),
                ],
                verbose_name="shortest spacing (days)",
            ),
        ),
        migrations.AlterField(
            model_name="protocol",
            name="target_spacing_days",
            field=models.PositiveSmallIntegerField(
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(120),
                ],
                verbose_name="target spacing (days)",
            ),
        ),
    ]
