"""The default pre-care text no longer says "nothing special is needed" above
the line asking the patient to stop a skin medication. A text a manager has
edited is left as it is."""

from django.db import migrations

OLD = (
    "Hello {first_name},\n\n"
    "Your microneedling session is on {date} at {time}. Nothing special is needed "
    "beforehand: come with clean skin, without makeup if you can.\n"
    "{medication_note}\n"
    "If you have a cold sore, an infection or a sunburn in the area, or have "
    "started a new medication, please call us on {clinic_phone} before your visit."
)
NEW = (
    "Hello {first_name},\n\n"
    "Your microneedling session is on {date} at {time}. Please come with clean "
    "skin, without makeup if you can.\n"
    "{medication_note}\n"
    "If you have a cold sore, an infection or a sunburn in the area, or have "
    "started a new medication, please call us on {clinic_phone} before your visit."
)


def forwards(apps, schema_editor):
    ReminderRule = apps.get_model("aftercare", "ReminderRule")
    ReminderRule.objects.filter(kind="pre_care", body=OLD).update(body=NEW)


def backwards(apps, schema_editor):
    ReminderRule = apps.get_model("aftercare", "ReminderRule")
    ReminderRule.objects.filter(kind="pre_care", body=NEW).update(body=OLD)


class Migration(migrations.Migration):
    dependencies = [("aftercare", "0015_texts_true_on_any_day")]

    operations = [migrations.RunPython(forwards, backwards)]
