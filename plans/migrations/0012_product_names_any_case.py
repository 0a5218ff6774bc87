import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("plans", "0011_spacing_limits"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="product",
            name="product_unique_name_in_category",
        ),
        migrations.AddConstraint(
            model_name="product",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("name"),
                models.F("category"),
                name="product_unique_name_in_category_any_case",
                violation_error_message="This category has a product of this name already.",
            ),
        ),
    ]
