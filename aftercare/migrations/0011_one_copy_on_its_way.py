"""One copy on request waiting at a time. Copies asked for twice at once before
this rule may wait side by side: the oldest of each stays, the others are
cancelled (the patient gets one copy, as asked)."""

from django.db import migrations, models

WAITING = ["scheduled", "sending"]


def cancel_extra_copies(apps, schema_editor):
    Reminder = apps.get_model("aftercare", "Reminder")
    kept: set[int] = set()
    extra = []
    for pk, original in (
        Reminder.objects.filter(copy_of__isnull=False, status__in=WAITING)
        .order_by("copy_of", "created_at", "pk")
        .values_list("pk", "copy_of")
    ):
        if original in kept:
            extra.append(pk)
        else:
            kept.add(original)
    Reminder.objects.filter(pk__in=extra).update(
        status="cancelled", skip_reason="a second copy asked for at the same time"
    )


class Migration(migrations.Migration):
    dependencies = [("aftercare", "0010_copies_on_request")]

    operations = [
        migrations.RunPython(cancel_extra_copies, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="reminder",
            constraint=models.UniqueConstraint(
                condition=models.Q(("copy_of__isnull", False), ("status__in", WAITING)),
                fields=("copy_of",),
                name="reminder_one_copy_on_its_way",
            ),
        ),
    ]
