"""A treatment plan is started by a practitioner, who picks the protocol: the
Manager role no longer adds plans (managers still change, extend and end them)."""

from django.db import migrations

from clinic.roles import MANAGER, grant


def revoke(apps, schema_editor) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    adding = Permission.objects.filter(
        content_type__app_label="plans", codename="add_treatmentplan"
    )
    for group in Group.objects.filter(name=MANAGER):
        group.permissions.remove(*adding)


def restore(apps, schema_editor) -> None:
    grant(apps, MANAGER, "plans", ["add_treatmentplan"])


class Migration(migrations.Migration):
    dependencies = [("plans", "0006_products_after_protected")]

    operations = [migrations.RunPython(revoke, restore)]
