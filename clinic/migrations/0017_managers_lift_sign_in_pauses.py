"""Managers lift a colleague's sign-in pause (too many wrong passwords) by
deleting the account's access attempt in Settings, instead of the colleague
waiting out the pause."""

from django.db import migrations

from clinic.roles import MANAGER, grant


def grant_access_attempts(apps, schema_editor) -> None:
    grant(apps, MANAGER, "axes", ["view_accessattempt", "delete_accessattempt"])


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0016_phone_brackets"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [
        migrations.RunPython(grant_access_attempts, migrations.RunPython.noop)
    ]
