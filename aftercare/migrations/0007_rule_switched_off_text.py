from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("aftercare", "0006_rule_help_texts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="reminderrule",
            name="enabled",
            field=models.BooleanField(
                default=True,
                help_text="Switched off, no email of this kind goes out: those planned wait, and go out when it is on again if they are still worth sending.",
                verbose_name="send it",
            ),
        ),
    ]
