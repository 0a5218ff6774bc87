from django.db import migrations

from clinic.roles import FRONT_DESK, MANAGER, PRACTITIONER, grant


def grant_consultations(apps, schema_editor) -> None:
    grant(apps, FRONT_DESK, "clinic", ["view_consultation"])
    grant(
        apps,
        PRACTITIONER,
        "clinic",
        ["view_consultation", "add_consultation", "change_consultation"],
    )
    grant(
        apps,
        MANAGER,
        "clinic",
        [
            "view_consultation",
            "add_consultation",
            "change_consultation",
            "delete_consultation",
        ],
    )


class Migration(migrations.Migration):
    dependencies = [("clinic", "0004_consultation"), ("clinic", "0003_roles")]

    operations = [migrations.RunPython(grant_consultations, migrations.RunPython.noop)]
