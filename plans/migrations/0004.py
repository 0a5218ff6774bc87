"""Seed the managed product lists and give the roles their record permissions."""

from django.db import migrations

from clinic.roles import MANAGER, PRACTITIONER, grant

PRODUCTS = {
    "numbing": [
        "Lidocaine 4% cream",
        "Lidocaine 2.5% / prilocaine 2.5% cream",
        "Benzocaine / lidocaine / tetracaine cream",
    ],
    "serum": ["Hyaluronic acid serum", "Cellular renewal serum", "Peptide serum"],
    "recovery": ["Recovery gel", "Barrier repair balm"],
}


def seed(apps, schema_editor) -> None:
    Product = apps.get_model("plans", "Product")
    for category, names in PRODUCTS.items():
        for name in names:
            Product.objects.get_or_create(category=category, name=name)
    record_models = ("sessionrecord", "treatedarea", "amendment", "photo")
    grant(
        apps,
        PRACTITIONER,
        "plans",
        ["view_product", "sign_sessionrecord"]
        + [f"{a}_{m}" for m in record_models for a in ("view", "add", "change")],
    )
    grant(
        apps,
        MANAGER,
        "plans",
        [f"{a}_product" for a in ("view", "add", "change", "delete")]
        + [f"{a}_{m}" for m in record_models for a in ("view", "add", "change")],
    )


class Migration(migrations.Migration):
    dependencies = [("plans", "0003_session_records")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
