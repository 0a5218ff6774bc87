"""Seed the email rules with the clinic's default timing and texts, and grant
the staff roles their outbox permissions."""

from django.db import migrations

from clinic.roles import FRONT_DESK, MANAGER, PRACTITIONER, grant

HOUR = 60
DAY = 24 * HOUR

RULES = [
    {
        "kind": "confirmation",
        "offset_minutes": 0,
        "staleness_minutes": 7 * DAY,
        "subject": "Your booking at {clinic_name}",
        "body": (
            "Hello {first_name},\n\n"
            "Thank you for booking with us. Your appointment details are below, "
            "and the attached calendar file adds them to your calendar.\n\n"
            "If you need to change or cancel, please call us on {clinic_phone}."
        ),
    },
    {
        "kind": "update",
        "offset_minutes": 0,
        "staleness_minutes": 7 * DAY,
        "subject": "Your booking at {clinic_name} has changed",
        "body": (
            "Hello {first_name},\n\n"
            "Your appointment has moved. The new details are below; the attached "
            "calendar file updates your calendar.\n\n"
            "If the new time does not suit you, please call us on {clinic_phone}."
        ),
    },
    {
        "kind": "cancellation",
        "offset_minutes": 0,
        "staleness_minutes": 7 * DAY,
        "subject": "Your appointment at {clinic_name} is cancelled",
        "body": (
            "Hello {first_name},\n\n"
            "Your appointment on {date} at {time} is cancelled. The attached "
            "calendar file removes it from your calendar.\n\n"
            "To book again, please call us on {clinic_phone}."
        ),
    },
    {
        "kind": "pre_care",
        "offset_minutes": -5 * DAY,
        "staleness_minutes": 3 * DAY,
        "subject": "Getting ready for your microneedling session on {date}",
        "body": (
            "Hello {first_name},\n\n"
            "Your microneedling session is on {date} at {time}. Nothing special is "
            "needed beforehand: come with clean skin, without makeup if you can.\n"
            "{medication_note}\n"
            "If you have a cold sore, an infection or a sunburn in the area, or "
            "have started a new medication, please call us on {clinic_phone} "
            "before your visit."
        ),
    },
    {
        "kind": "reminder",
        "offset_minutes": -DAY,
        "staleness_minutes": 20 * HOUR,
        "subject": "See you tomorrow at {clinic_name}",
        "body": (
            "Hello {first_name},\n\n"
            "A reminder of your {kind} on {date} at {time} with {practitioner}.\n\n"
            "If you can no longer come, please call us on {clinic_phone}."
        ),
    },
    {
        "kind": "aftercare_guide",
        "offset_minutes": 0,
        "staleness_minutes": 12 * HOUR,
        "subject": "Caring for your skin after today's session",
        "body": (
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
        ),
    },
    {
        "kind": "aftercare_12h",
        "offset_minutes": 12 * HOUR,
        "staleness_minutes": 6 * HOUR,
        "subject": "Aftercare: makeup is fine again (mineral only)",
        "body": (
            "Hello {first_name},\n\n"
            "It has been 12 hours since your session. You may wear makeup again: "
            "mineral makeup only for now. Keep using the gentle cleanser, your "
            "serums and the recovery gel.\n\n"
            "Still avoid until tomorrow: swimming, exercise and harsh skin-care "
            "products."
        ),
    },
    {
        "kind": "aftercare_24h",
        "offset_minutes": DAY,
        "staleness_minutes": 12 * HOUR,
        "subject": "Aftercare: swimming and exercise are fine again",
        "body": (
            "Hello {first_name},\n\n"
            "A day has passed. You can swim and exercise again, and the redness "
            "should be gone by now. Itching or a sandpaper feel with some flaking "
            "is normal for a few days: do not pick.\n\n"
            "Still avoid for one more day: harsh skin-care products and treatments."
        ),
    },
    {
        "kind": "aftercare_48h",
        "offset_minutes": 2 * DAY,
        "staleness_minutes": DAY,
        "subject": "Aftercare: back to your usual routine",
        "body": (
            "Hello {first_name},\n\n"
            "Two days on, you can go back to your usual skin-care routine.\n\n"
            "Until ten days after your session, keep avoiding strong sun and "
            "alcohol-based toners."
        ),
    },
    {
        "kind": "aftercare_10d",
        "offset_minutes": 10 * DAY,
        "staleness_minutes": 2 * DAY,
        "subject": "Aftercare: all done for this session",
        "body": (
            "Hello {first_name},\n\n"
            "Ten days have passed: sun exposure and alcohol-based toners are fine "
            "again. Sunscreen every day helps your results last.\n\n"
            "Thank you, and see you at your next session."
        ),
    },
]


def seed(apps, schema_editor) -> None:
    ReminderRule = apps.get_model("aftercare", "ReminderRule")
    for rule in RULES:
        ReminderRule.objects.update_or_create(kind=rule["kind"], defaults=rule)
    grant(apps, FRONT_DESK, "aftercare", ["view_reminder", "resend_reminder"])
    grant(apps, PRACTITIONER, "aftercare", ["view_reminder"])
    grant(
        apps,
        MANAGER,
        "aftercare",
        [
            "view_reminder",
            "resend_reminder",
            "view_reminderrule",
            "change_reminderrule",
        ],
    )


class Migration(migrations.Migration):
    dependencies = [("aftercare", "0001_initial"), ("clinic", "0007_access_log_role")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
