from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("plans", "0008_photo_removals"),
    ]

    operations = [
        migrations.AddField(
            model_name="photoremoval",
            name="photo_id",
            field=models.PositiveBigIntegerField(blank=True, db_index=True, null=True),
        ),
    ]
