"""The booking emails' default texts speak of calendar files: a series' email
carries one file per session. Texts a manager has edited are left as they are."""

from django.db import migrations

OLD = {
    "confirmation": (
        "Hello {first_name},\n\n"
        "Thank you for booking with us. Your appointment details are below, "
        "and the attached calendar file adds them to your calendar.\n\n"
        "If you need to change or cancel, please call us on {clinic_phone}."
    ),
    "update": (
        "Hello {first_name},\n\n"
        "Your booking has changed: the new times are below, and the attached "
        "calendar file updates your calendar.\n\n"
        "If a new time does not suit you, please call us on {clinic_phone}."
    ),
    "cancellation": (
        "Hello {first_name},\n\n"
        "We have cancelled the booking below, and the attached calendar file "
        "updates your calendar.\n\n"
        "To book again, please call us on {clinic_phone}."
    ),
}
NEW = {
    "confirmation": (
        "Hello {first_name},\n\n"
        "Thank you for booking with us. Your appointment details are below, "
        "and the calendar files attached (one for each appointment) add them to "
        "your calendar.\n\n"
        "If you need to change or cancel, please call us on {clinic_phone}."
    ),
    "update": (
        "Hello {first_name},\n\n"
        "Your booking has changed: the new times are below, and the calendar "
        "files attached (one for each appointment) update your calendar.\n\n"
        "If a new time does not suit you, please call us on {clinic_phone}."
    ),
    "cancellation": (
        "Hello {first_name},\n\n"
        "We have cancelled the booking below, and the calendar files attached "
        "(one for each appointment) update your calendar.\n\n"
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
    dependencies = [("aftercare", "0011_one_copy_on_its_way")]

    operations = [migrations.RunPython(forwards, backwards)]
