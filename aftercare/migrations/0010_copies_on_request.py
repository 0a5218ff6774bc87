import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("aftercare", "0009_resend_gets_tries_again"),
        ("clinic", "0012_phone_message"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="reminder",
            name="reminder_once_per_version",
        ),
        migrations.AddField(
            model_name="reminder",
            name="copy_of",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="copies",
                to="aftercare.reminder",
            ),
        ),
        migrations.AddConstraint(
            model_name="reminder",
            constraint=models.UniqueConstraint(
                condition=models.Q(("copy_of__isnull", True)),
                fields=("appointment", "kind", "version"),
                name="reminder_once_per_version",
            ),
        ),
    ]
