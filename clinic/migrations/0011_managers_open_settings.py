"""Managers open the clinic's settings through their role: accounts given the
Manager role before staff status followed it get it now."""

from django.db import migrations

MANAGER = "Manager"


def managers_are_staff(apps, schema_editor):
    User = apps.get_model("auth", "User")
    User.objects.filter(groups__name=MANAGER, is_staff=False).update(is_staff=True)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0010_room_names_any_case"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(managers_are_staff, migrations.RunPython.noop)]
