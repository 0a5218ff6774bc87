"""Session records and their photos are written by practitioners only: a
manager reads them (logged) but no longer saves a draft that a practitioner
might then sign as their own."""

from django.db import migrations

from clinic.roles import MANAGER, grant, revoke

WRITING = [
    f"{action}_{model}"
    for model in ("sessionrecord", "treatedarea", "amendment", "photo")
    for action in ("add", "change")
]


def forwards(apps, schema_editor) -> None:
    revoke(apps, MANAGER, "plans", WRITING)


def backwards(apps, schema_editor) -> None:
    grant(apps, MANAGER, "plans", WRITING)


class Migration(migrations.Migration):
    dependencies = [("plans", "0016_record_redness_chosen")]

    operations = [migrations.RunPython(forwards, backwards)]
