"""Seed the two protocols and give the staff roles their plan permissions."""

from django.db import migrations

from clinic.roles import FRONT_DESK, MANAGER, PRACTITIONER, grant

PROTOCOLS = [
    {
        "name": "Standard",
        "description": "Face, neck, chest or hands: fine lines, texture, acne "
        "scarring, pigmentation.",
        "min_sessions": 5,
        "max_sessions": 8,
        "target_spacing_days": 28,
        "min_spacing_days": 28,
        "max_spacing_days": 35,
    },
    {
        "name": "Surgical scars and stretch marks",
        "description": "Surgical scars and stretch marks on the body.",
        "min_sessions": 8,
        "max_sessions": 10,
        "target_spacing_days": 35,
        "min_spacing_days": 35,
        "max_spacing_days": 42,
    },
]


def seed(apps, schema_editor) -> None:
    Protocol = apps.get_model("plans", "Protocol")
    for values in PROTOCOLS:
        Protocol.objects.update_or_create(
            name=values["name"], defaults={**values, "session_minutes": 60}
        )
    grant(
        apps,
        FRONT_DESK,
        "plans",
        [
            "view_protocol",
            "view_treatmentplan",
            "view_treatmentsession",
            "book_series",
        ],
    )
    grant(
        apps,
        PRACTITIONER,
        "plans",
        [
            "view_protocol",
            "view_treatmentplan",
            "add_treatmentplan",
            "change_treatmentplan",
            "view_treatmentsession",
        ],
    )
    grant(
        apps,
        MANAGER,
        "plans",
        [
            f"{action}_{model}"
            for model in ("protocol", "treatmentplan", "treatmentsession")
            for action in ("view", "add", "change", "delete")
        ]
        + ["book_series"],
    )


class Migration(migrations.Migration):
    dependencies = [("plans", "0001_initial"), ("clinic", "0005_consultation_roles")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
