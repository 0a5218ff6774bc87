from django.db import migrations

from clinic.roles import MANAGER, grant


def grant_access_log(apps, schema_editor) -> None:
    grant(apps, MANAGER, "clinic", ["view_clinicalaccess"])


class Migration(migrations.Migration):
    dependencies = [("clinic", "0006_clinical_access")]

    operations = [migrations.RunPython(grant_access_log, migrations.RunPython.noop)]
