"""Typed texts have a length limit in their forms (no column changes)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("aftercare", "0012_calendar_files_wording"),
    ]

    operations = [
        migrations.AlterField(
            model_name="reminderrule",
            name="body",
            field=models.TextField(max_length=10000, verbose_name="text"),
        ),
    ]
