"""The default aftercare texts agree with each other and with the time they
arrive:

- the guide counts its hours from the session, not from when the email arrives
  (a session signed late sends it hours after it ended, and "for the next 12
  hours" would then say too much);
- harsh skin-care products wait 48 hours in every text (the guide and the 12 h
  email said a day, the 24 h email "one more day", the 48 h email "back to your
  usual routine");
- the 12 h email says sunscreen is fine again (the guide forbids it for the
  first 12 hours, and no later email allowed it).

A text a manager has edited is left as it is."""

from django.db import migrations

# kind -> (old default body, new default body)
BODIES = {
    "aftercare_guide": (
        "Hello {first_name},\n\n"
        "Your skin may look red and feel tight, dry, warm or slightly swollen, "
        "a little like a sunburn. Small spots of dried blood are normal. "
        "Redness usually settles within a day.\n\n"
        "For the next 12 hours: no makeup and no sunscreen. Wash the area with "
        "a gentle cleanser a few hours from now and again at bedtime.\n"
        "For the next 24 hours: no swimming, no exercise, no harsh skin-care "
        "products or treatments.\n"
        "For the next 10 days: avoid strong sun and alcohol-based toners.\n\n"
        "We will write again at each step. Questions? Call us on {clinic_phone}.",
        "Hello {first_name},\n\n"
        "Your skin may look red and feel tight, dry, warm or slightly swollen, "
        "a little like a sunburn. Small spots of dried blood are normal. "
        "Redness usually settles within a day.\n\n"
        "Until 12 hours after your session: no makeup and no sunscreen. Wash the "
        "area with a gentle cleanser a few hours after the session and again at "
        "bedtime.\n"
        "Until 24 hours after it: no swimming and no exercise.\n"
        "Until 48 hours after it: no harsh skin-care products or treatments.\n"
        "Until 10 days after it: avoid strong sun and alcohol-based toners.\n\n"
        "We will write again at each step. Questions? Call us on {clinic_phone}.",
    ),
    "aftercare_12h": (
        "Hello {first_name},\n\n"
        "It has been 12 hours since your session. You may wear makeup again: "
        "mineral makeup only for now. Keep using the gentle cleanser, your "
        "serums and the recovery gel.\n\n"
        "Until a full day has passed since your session, still avoid "
        "swimming, exercise and harsh skin-care products.",
        "Hello {first_name},\n\n"
        "It has been 12 hours since your session. You may wear sunscreen and "
        "makeup again: mineral makeup only for now. Keep using the gentle "
        "cleanser, your serums and the recovery gel.\n\n"
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
    dependencies = [("aftercare", "0016_pre_care_with_medication")]

    operations = [migrations.RunPython(forwards, backwards)]
