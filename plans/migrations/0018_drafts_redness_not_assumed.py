"""Drafts saved while "None" was preset for the redness: nobody may have
chosen it, so signing them asks for it again (signed records keep theirs)."""

from django.db import migrations


def forwards(apps, schema_editor) -> None:
    SessionRecord = apps.get_model("plans", "SessionRecord")
    SessionRecord.objects.filter(signed_at__isnull=True, redness="none").update(
        redness=""
    )


class Migration(migrations.Migration):
    dependencies = [("plans", "0017_records_written_by_practitioners")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
