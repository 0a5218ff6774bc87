"""The default cancellation text ends with {rebook_note}: "To book again,
please call us", or, when a session was booked in place of each cancelled one,
to call if its time doesn't suit. A text a manager has edited is left as it is."""

from django.db import migrations

OLD = (
    "Hello {first_name},\n\n"
    "We have cancelled what is listed below; each appointment comes with a "
    "calendar file that takes it out of your calendar.\n\n"
    "To book again, please call us on {clinic_phone}."
)
NEW = (
    "Hello {first_name},\n\n"
    "We have cancelled what is listed below; each appointment comes with a "
    "calendar file that takes it out of your calendar.\n\n"
    "{rebook_note}"
)


def forwards(apps, schema_editor):
    ReminderRule = apps.get_model("aftercare", "ReminderRule")
    ReminderRule.objects.filter(kind="cancellation", body=OLD).update(body=NEW)


def backwards(apps, schema_editor):
    ReminderRule = apps.get_model("aftercare", "ReminderRule")
    ReminderRule.objects.filter(kind="cancellation", body=NEW).update(body=OLD)


class Migration(migrations.Migration):
    dependencies = [("aftercare", "0018_emails_to_check_index")]

    operations = [migrations.RunPython(forwards, backwards)]
