"""The booking emails' default texts, worded for one session or a whole series.

A change to several sessions (a series moved "this and following", a plan
cancelled) goes out as one email listing them all; the first texts spoke of
one appointment and named only the first one's date. Texts a manager has
edited are left as they are.
"""

from django.db import migrations

OLD = {
    "update": (
        "Your booking at {clinic_name} has changed",
        "Hello {first_name},\n\n"
        "Your appointment has moved. The new details are below; the attached "
        "calendar file updates your calendar.\n\n"
        "If the new time does not suit you, please call us on {clinic_phone}.",
    ),
    "cancellation": (
        "Your appointment at {clinic_name} is cancelled",
        "Hello {first_name},\n\n"
        "Your appointment on {date} at {time} is cancelled. The attached "
        "calendar file removes it from your calendar.\n\n"
        "To book again, please call us on {clinic_phone}.",
    ),
}
NEW = {
    "update": (
        "Your booking at {clinic_name} has changed",
        "Hello {first_name},\n\n"
        "Your booking has changed: the new times are below, and the attached "
        "calendar file updates your calendar.\n\n"
        "If a new time does not suit you, please call us on {clinic_phone}.",
    ),
    "cancellation": (
        "Your booking at {clinic_name} is cancelled",
        "Hello {first_name},\n\n"
        "We have cancelled the booking below, and the attached calendar file "
        "updates your calendar.\n\n"
        "To book again, please call us on {clinic_phone}.",
    ),
}


def _replace(apps, texts_from: dict, texts_to: dict) -> None:
    ReminderRule = apps.get_model("aftercare", "ReminderRule")
    for kind, (subject, body) in texts_from.items():
        rules = ReminderRule.objects.filter(kind=kind)
        new_subject, new_body = texts_to[kind]
        rules.filter(subject=subject).update(subject=new_subject)
        rules.filter(body=body).update(body=new_body)


def forwards(apps, schema_editor):
    _replace(apps, OLD, NEW)


def backwards(apps, schema_editor):
    _replace(apps, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("aftercare", "0004_rule_limits"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
