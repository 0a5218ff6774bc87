from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("aftercare", "0008_rule_offset_retimes"),
    ]

    operations = [
        migrations.AddField(
            model_name="reminder",
            name="attempts_at_resend",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
