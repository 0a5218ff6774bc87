"""Room names are unique whatever their case ("Room 1" and "room 1" are one)."""

import django.db.models.functions.text
from django.db import migrations, models


def refuse_rooms_named_alike(apps, schema_editor):
    """Name the rooms to rename first, rather than failing on the constraint."""
    Room = apps.get_model("clinic", "Room")
    seen: dict[str, str] = {}
    alike = []
    for name in Room.objects.order_by("pk").values_list("name", flat=True):
        key = name.lower()
        if key in seen:
            alike.append(f"{seen[key]!r} and {name!r}")
        seen.setdefault(key, name)
    if alike:
        raise RuntimeError(
            "Rename these rooms so that their names differ in more than case, "
            "then migrate again: " + "; ".join(alike)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0009_hours_to_the_minute"),
    ]

    operations = [
        migrations.RunPython(refuse_rooms_named_alike, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="room",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("name"),
                name="room_unique_name_any_case",
                violation_error_message="A room with this name exists already.",
            ),
        ),
    ]
