"""An index of the emails waiting for staff to check (failed or unknown), which
the Today page counts."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("aftercare", "0017_aftercare_texts_agree"),
        ("clinic", "0021_decided_consultations_completed"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="reminder",
            index=models.Index(fields=["status"], name="reminder_status"),
        ),
    ]
