"""A product applied after needling can't be deleted while a record names it.

The many-to-many table stays as it is; only the model that Django keeps of it
changes, to one whose link to the product is protected.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("plans", "0005_one_open_plan_per_consultation"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ProductAfter",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "product",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                to="plans.product",
                            ),
                        ),
                        (
                            "sessionrecord",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to="plans.sessionrecord",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "plans_sessionrecord_products_after",
                        "unique_together": {("sessionrecord", "product")},
                    },
                ),
                migrations.AlterField(
                    model_name="sessionrecord",
                    name="products_after",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="+",
                        through="plans.ProductAfter",
                        to="plans.product",
                        verbose_name="products applied after",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
