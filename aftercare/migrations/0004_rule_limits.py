import django.core.validators
from django.db import migrations, models

LIMIT = 30 * 24 * 60
BEFORE_START = ("pre_care", "reminder")
TRANSACTIONAL = ("confirmation", "update", "cancellation")


def bring_rules_into_range(apps, schema_editor):
    """Rules edited before the limits existed are moved to the nearest allowed
    value, so the constraints below can be added."""
    ReminderRule = apps.get_model("aftercare", "ReminderRule")
    for rule in ReminderRule.objects.all():
        offset = max(-LIMIT, min(LIMIT, rule.offset_minutes))
        if rule.kind in TRANSACTIONAL:
            offset = 0
        elif rule.kind in BEFORE_START:
            offset = min(offset, 0)
        else:
            offset = max(offset, 0)
        staleness = max(10, min(LIMIT, rule.staleness_minutes))
        if (offset, staleness) != (rule.offset_minutes, rule.staleness_minutes):
            rule.offset_minutes, rule.staleness_minutes = offset, staleness
            rule.save(update_fields=["offset_minutes", "staleness_minutes"])


class Migration(migrations.Migration):
    dependencies = [
        ("aftercare", "0003_outbox_order"),
    ]

    operations = [
        migrations.RunPython(bring_rules_into_range, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="reminderrule",
            name="offset_minutes",
            field=models.IntegerField(
                default=0,
                help_text="Before the start (negative) for pre-care and reminders; after the session's end for aftercare; 0 for booking emails, which go out at once. At most 30 days (43200 minutes) either way.",
                validators=[
                    django.core.validators.MinValueValidator(-43200),
                    django.core.validators.MaxValueValidator(43200),
                ],
                verbose_name="offset (minutes)",
            ),
        ),
        migrations.AlterField(
            model_name="reminderrule",
            name="staleness_minutes",
            field=models.PositiveIntegerField(
                default=720,
                help_text="Later than this, the email is skipped rather than sent late. From 10 minutes to 30 days (43200 minutes).",
                validators=[
                    django.core.validators.MinValueValidator(10),
                    django.core.validators.MaxValueValidator(43200),
                ],
                verbose_name="still worth sending up to (minutes late)",
            ),
        ),
        migrations.AddConstraint(
            model_name="reminderrule",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("offset_minutes__gte", -43200),
                    ("offset_minutes__lte", 43200),
                    ("staleness_minutes__gte", 10),
                    ("staleness_minutes__lte", 43200),
                ),
                name="reminder_rule_times_in_range",
            ),
        ),
        migrations.AddConstraint(
            model_name="reminderrule",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("kind__in", ("pre_care", "reminder")),
                        ("offset_minutes__lte", 0),
                    ),
                    models.Q(
                        (
                            "kind__in",
                            (
                                "aftercare_guide",
                                "aftercare_12h",
                                "aftercare_24h",
                                "aftercare_48h",
                                "aftercare_10d",
                            ),
                        ),
                        ("offset_minutes__gte", 0),
                    ),
                    models.Q(
                        ("kind__in", ("confirmation", "update", "cancellation")),
                        ("offset_minutes", 0),
                    ),
                    _connector="OR",
                ),
                name="reminder_rule_offset_direction",
            ),
        ),
    ]
