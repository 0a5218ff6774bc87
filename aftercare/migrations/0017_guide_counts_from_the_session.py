"""The default aftercare guide counts its 12 hours, 24 hours and 10 days from the
session, not from when the email arrives: a session signed late sends the guide
hours after it ended, and "for the next 12 hours" would then say too much. A
text a manager has edited is left as it is."""

from django.db import migrations

OLD = (
    "Hello {first_name},\n\n"
    "Your skin may look red and feel tight, dry, warm or slightly swollen, "
    "a little like a sunburn. Small spots of dried blood are normal. "
    "Redness usually settles within a day.\n\n"
    "For the next 12 hours: no makeup and no sunscreen. Wash the area with "
    "a gentle cleanser a few hours from now and again at bedtime.\n"
    "For the next 24 hours: no swimming, no exercise, no harsh skin-care "
    "products or treatments.\n"
    "For the next 10 days: avoid strong sun and alcohol-based toners.\n\n"
    "We will write again at each step. Questions? Call us on {clinic_phone}."
)
NEW = (
    "Hello {first_name},\n\n"
    "Your skin may look red and feel tight, dry, warm or slightly swollen, "
    "a little like a sunburn. Small spots of dried blood are normal. "
    "Redness usually settles within a day.\n\n"
    "Until 12 hours after your session: no makeup and no sunscreen. Wash the "
    "area with a gentle cleanser a few hours after the session and again at "
    "bedtime.\n"
    "Until 24 hours after it: no swimming, no exercise, no harsh skin-care "
    "products or treatments.\n"
    "Until 10 days after it: avoid strong sun and alcohol-based toners.\n\n"
    "We will write again at each step. Questions? Call us on {clinic_phone}."
)


def forwards(apps, schema_editor):
    ReminderRule = apps.get_model("aftercare", "ReminderRule")
    ReminderRule.objects.filter(kind="aftercare_guide", body=OLD).update(body=NEW)


def backwards(apps, schema_editor):
    ReminderRule = apps.get_model("aftercare", "ReminderRule")
    ReminderRule.objects.filter(kind="aftercare_guide", body=NEW).update(body=OLD)


class Migration(migrations.Migration):
    dependencies = [("aftercare", "0016_pre_care_with_medication")]

    operations = [migrations.RunPython(forwards, backwards)]
