"""Default texts that stay true whenever they arrive: a 12 h step after an
evening session arrives the next morning ("until tomorrow" was a day late), a
reminder may arrive on the day itself, a guide may go out the morning after a
session signed late, the 10-day email may follow the last session, and a
cancellation may be of several appointments. Texts a manager has edited are
left as they are."""

from django.db import migrations

# kind -> field -> (old default, new default)
CHANGES = {
    "reminder": {
        "subject": (
            "See you tomorrow at {clinic_name}",
            "See you on {date} at {clinic_name}",
        ),
    },
    "aftercare_guide": {
        "subject": (
            "Caring for your skin after today's session",
            "Caring for your skin after your session",
        ),
    },
    "aftercare_12h": {
        "body": (
            "Hello {first_name},\n\n"
            "It has been 12 hours since your session. You may wear makeup again: "
            "mineral makeup only for now. Keep using the gentle cleanser, your "
            "serums and the recovery gel.\n\n"
            "Still avoid until tomorrow: swimming, exercise and harsh skin-care "
            "products.",
            "Hello {first_name},\n\n"
            "It has been 12 hours since your session. You may wear makeup again: "
            "mineral makeup only for now. Keep using the gentle cleanser, your "
            "serums and the recovery gel.\n\n"
            "Until a full day has passed since your session, still avoid "
            "swimming, exercise and harsh skin-care products.",
        ),
    },
    "aftercare_10d": {
        "body": (
            "Hello {first_name},\n\n"
            "Ten days have passed: sun exposure and alcohol-based toners are fine "
            "again. Sunscreen every day helps your results last.\n\n"
            "Thank you, and see you at your next session.",
            "Hello {first_name},\n\n"
            "Ten days have passed: sun exposure and alcohol-based toners are fine "
            "again. Sunscreen every day helps your results last.\n\n"
            "Thank you for trusting us with your skin.",
        ),
    },
    "cancellation": {
        "body": (
            "Hello {first_name},\n\n"
            "We have cancelled the booking below; each appointment comes with a "
            "calendar file that takes it out of your calendar.\n\n"
            "To book again, please call us on {clinic_phone}.",
            "Hello {first_name},\n\n"
            "We have cancelled what is listed below; each appointment comes with a "
            "calendar file that takes it out of your calendar.\n\n"
            "To book again, please call us on {clinic_phone}.",
        ),
    },
}


def _replace(apps, old: int, new: int) -> None:
    ReminderRule = apps.get_model("aftercare", "ReminderRule")
    for kind, fields in CHANGES.items():
        for field, texts in fields.items():
            ReminderRule.objects.filter(kind=kind, **{field: texts[old]}).update(
                **{field: texts[new]}
            )


def forwards(apps, schema_editor):
    _replace(apps, 0, 1)


def backwards(apps, schema_editor):
    _replace(apps, 1, 0)


class Migration(migrations.Migration):
    dependencies = [("aftercare", "0014_booking_emails_wording")]

    operations = [migrations.RunPython(forwards, backwards)]
