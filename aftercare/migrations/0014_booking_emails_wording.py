"""The booking emails' default texts read right for one appointment or many
(each comes with its calendar file), and an update speaks of new details, not
new times: a change may be of practitioner or room only. Texts a manager has
edited are left as they are."""

import importlib

from django.db import migrations

OLD = importlib.import_module("aftercare.migrations.0012_calendar_files_wording").NEW
NEW = {
    "confirmation": (
        "Hello {first_name},\n\n"
        "Thank you for booking with us. Your appointment details are below; each "
        "appointment comes with a calendar file that adds it to your calendar.\n\n"
        "If you need to change or cancel, please call us on {clinic_phone}."
    ),
    "update": (
        "Hello {first_name},\n\n"
        "Your booking has changed: the new details are below, and each "
        "appointment comes with a calendar file that updates your calendar.\n\n"
        "If the change does not suit you, please call us on {clinic_phone}."
    ),
    "cancellation": (
        "Hello {first_name},\n\n"
        "We have cancelled the booking below; each appointment comes with a "
        "calendar file that takes it out of your calendar.\n\n"
        "To book again, please call us on {clinic_phone}."
    ),
}


def _replace(apps, texts_from: dict, texts_to: dict) -> None:
    ReminderRule = apps.get_model("aftercare", "ReminderRule")
    for kind, body in texts_from.items():
        ReminderRule.objects.filter(kind=kind, body=body).update(body=texts_to[kind])


def forwards(apps, schema_editor):
    _replace(apps, OLD, NEW)


def backwards(apps, schema_editor):
    _replace(apps, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [("aftercare", "0013_text_limits")]

    operations = [migrations.RunPython(forwards, backwards)]
