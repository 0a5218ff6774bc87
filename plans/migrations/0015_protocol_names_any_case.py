"""Protocol names are unique whatever their case ("Standard" and "standard" are
one)."""

import django.db.models.functions.text
from django.db import migrations, models


def refuse_protocols_named_alike(apps, schema_editor):
    """Name the protocols to rename first, rather than failing on the constraint."""
    Protocol = apps.get_model("plans", "Protocol")
    seen: dict[str, str] = {}
    alike = []
    for name in Protocol.objects.order_by("pk").values_list("name", flat=True):
        key = name.lower()
        if key in seen:
            alike.append(f"{seen[key]!r} and {name!r}")
        seen.setdefault(key, name)
    if alike:
        raise RuntimeError(
            "Rename these protocols so that their names differ in more than "
            "case, then migrate again: " + "; ".join(alike)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("plans", "0014_plan_spacing_notes"),
    ]

    operations = [
        migrations.RunPython(refuse_protocols_named_alike, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="protocol",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("name"),
                name="protocol_unique_name_any_case",
                violation_error_message="A protocol with this name exists already.",
            ),
        ),
    ]
