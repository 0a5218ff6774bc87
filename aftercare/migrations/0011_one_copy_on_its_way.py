from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("aftercare", "0010_copies_on_request"),
        ("clinic", "0012_phone_message"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="reminder",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("copy_of__isnull", False), ("status__in", ["scheduled", "sending"])
                ),
                fields=("copy_of",),
                name="reminder_one_copy_on_its_way",
            ),
        ),
    ]
