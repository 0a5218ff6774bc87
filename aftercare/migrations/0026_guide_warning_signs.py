"""The default aftercare guide says when to call: the signs of an infection or
a reaction, which no email named. "Small spots of dried blood" are "any" such
spots: not every session draws blood.

A text a manager has edited is left as it is."""

from django.db import migrations

BEFORE = (
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
    "We will write again at each step. Questions? Call us on {clinic_phone}."
)
AFTER = (
    "Hello {first_name},\n\n"
    "Your skin may look red and feel tight, dry, warm or slightly swollen, "
    "a little like a sunburn. Any small spots of dried blood are normal. "
    "Redness usually settles within a day.\n\n"
    "Until 12 hours after your session: no makeup and no sunscreen. Wash the "
    "area with a gentle cleanser a few hours after the session and again at "
    "bedtime.\n"
    "Until 24 hours after it: no swimming and no exercise.\n"
    "Until 48 hours after it: no harsh skin-care products or treatments.\n"
    "Until 10 days after it: avoid strong sun and alcohol-based toners.\n\n"
    "Call us on {clinic_phone} straight away (or get medical help when we are "
    "closed) if the redness spreads or gets worse after the first day, the skin "
    "becomes more swollen, painful or hot, you see pus, yellow crusts or "
    "blisters, or you have a fever.\n\n"
    "We will write again at each step. Questions? Call us on {clinic_phone}."
)


def forwards(apps, schema_editor):
    ReminderRule = apps.get_model("aftercare", "ReminderRule")
    ReminderRule.objects.filter(kind="aftercare_guide", body=BEFORE).update(body=AFTER)


def backwards(apps, schema_editor):
    ReminderRule = apps.get_model("aftercare", "ReminderRule")
    ReminderRule.objects.filter(kind="aftercare_guide", body=AFTER).update(body=BEFORE)


class Migration(migrations.Migration):
    dependencies = [("aftercare", "0025_sent_to")]

    operations = [migrations.RunPython(forwards, backwards)]
