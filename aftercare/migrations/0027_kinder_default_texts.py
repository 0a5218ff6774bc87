"""Two default texts read better: a cancellation speaks of the appointments it
lists, not "what is listed below", and the 12 h email names no products the
session may not have used ("your serums and the recovery gel").

A text a manager has edited is left as it is."""

from django.db import migrations

BODIES = {
    "cancellation": (
        "Hello {first_name},\n\n"
        "We have cancelled what is listed below; each appointment comes with a "
        "calendar file that takes it out of your calendar.\n\n"
        "{rebook_note}",
        "Hello {first_name},\n\n"
        "The appointments listed below are cancelled, and we are sorry for any "
        "trouble this causes you; each appointment comes with a calendar file "
        "that takes it out of your calendar.\n\n"
        "{rebook_note}",
    ),
    "aftercare_12h": (
        "Hello {first_name},\n\n"
        "It has been 12 hours since your session. You may wear sunscreen and "
        "makeup again: mineral makeup only for now. Keep using the gentle "
        "cleanser, your serums and the recovery gel.\n\n"
        "Until a full day has passed since your session, still avoid swimming "
        "and exercise; harsh skin-care products wait until two days have passed.",
        "Hello {first_name},\n\n"
        "It has been 12 hours since your session. You may wear sunscreen and "
        "makeup again: mineral makeup only for now. Keep washing with a gentle "
        "cleanser, and use only the products we gave or recommended to you.\n\n"
        "Until a full day has passed since your session, still avoid swimming "
        "and exercise; harsh skin-care products wait until two days have passed.",
    ),
}


def _replace(apps, old: int, new: int) -> None:
    ReminderRule = apps.get_model("aftercare", "ReminderRule")
    for kind, bodies in BODIES.items():
        ReminderRule.objects.filter(kind=kind, body=bodies[old]).update(
            body=bodies[new]
        )


def forwards(apps, schema_editor):
    _replace(apps, 0, 1)


def backwards(apps, schema_editor):
    _replace(apps, 1, 0)


class Migration(migrations.Migration):
    dependencies = [("aftercare", "0026_guide_warning_signs")]

    operations = [migrations.RunPython(forwards, backwards)]
