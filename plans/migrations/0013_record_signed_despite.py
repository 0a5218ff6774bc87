from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("plans", "0012_product_names_any_case"),
    ]

    operations = [
        migrations.AddField(
            model_name="sessionrecord",
            name="signed_despite",
            field=models.CharField(
                blank=True,
                choices=[
                    ("pending", "Not decided yet"),
                    ("not_eligible", "Not eligible"),
                    ("refer", "Refer elsewhere"),
                ],
                max_length=20,
                verbose_name="signed although the consultation said",
            ),
        ),
    ]
