"""Create the staff roles (front desk, practitioner, manager) with their permissions."""

from django.db import migrations

from clinic.roles import FRONT_DESK, MANAGER, PRACTITIONER, grant

CLINIC_MODELS = [
    "patient",
    "practitioner",
    "workinghours",
    "timeoff",
    "room",
    "openinghours",
    "closureday",
    "appointment",
]


def create_roles(apps, schema_editor) -> None:
    view_all = [f"view_{model}" for model in CLINIC_MODELS]
    grant(
        apps,
        FRONT_DESK,
        "clinic",
        view_all
        + [
            "add_patient",
            "change_patient",
            "add_appointment",
            "change_appointment",
            "check_in_appointment",
        ],
    )
    grant(apps, PRACTITIONER, "clinic", view_all)
    grant(
        apps,
        MANAGER,
        "clinic",
        [
            f"{action}_{model}"
            for model in CLINIC_MODELS
            for action in ("view", "add", "change", "delete")
        ]
        + ["override_hours", "check_in_appointment"],
    )
    grant(apps, MANAGER, "auth", ["view_user", "add_user", "change_user", "view_group"])


def remove_roles(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.filter(
        name__in=[FRONT_DESK, PRACTITIONER, MANAGER]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0002_no_double_booking"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
