"""Protocols say which consultation goals they suit: the seeded two as the
clinic's indications have them (a plan for other goals needs a reason)."""

from django.db import migrations, models

SEEDED_GOALS = {
    "Standard": ["lines", "acne_scars", "pigmentation", "texture"],
    "Surgical scars and stretch marks": ["surgical_scars", "stretch_marks"],
}


def seed_goals(apps, schema_editor) -> None:
    Protocol = apps.get_model("plans", "Protocol")
    for name, goals in SEEDED_GOALS.items():
        Protocol.objects.filter(name=name).update(goals=goals)


class Migration(migrations.Migration):
    dependencies = [
        ("plans", "0021_photo_digest"),
    ]

    operations = [
        migrations.AddField(
            model_name="protocol",
            name="goals",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text=(
                    "What a consultation hopes for that this protocol is for. A plan "
                    "for other goals needs the practitioner's reason. None ticked: "
                    "any goal."
                ),
                verbose_name="suits the goals",
            ),
        ),
        migrations.RunPython(seed_goals, migrations.RunPython.noop),
    ]
