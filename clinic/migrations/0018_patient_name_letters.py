"""Patients' names as search compares them with names typed as heard (without
apostrophes, hyphens and dots), kept by the database."""

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0017_managers_lift_sign_in_pauses"),
    ]

    operations = [
        migrations.AddField(
            model_name="patient",
            name="first_letters",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.db.models.functions.text.Replace(
                    django.db.models.functions.text.Replace(
                        django.db.models.functions.text.Replace(
                            django.db.models.functions.text.Replace(
                                django.db.models.functions.text.Replace(
                                    django.db.models.functions.text.Replace(
                                        django.db.models.functions.text.Replace(
                                            django.db.models.functions.text.Replace(
                                                django.db.models.functions.text.Replace(
                                                    django.db.models.functions.text.Replace(
                                                        django.db.models.functions.text.Replace(
                                                            models.F("first_name"),
                                                            models.Value("'"),
                                                            models.Value(""),
                                                        ),
                                                        models.Value("‘"),
                                                        models.Value(""),
                                                    ),
                                                    models.Value("’"),
                                                    models.Value(""),
                                                ),
                                                models.Value("ʼ"),
                                                models.Value(""),
                                            ),
                                            models.Value("`"),
                                            models.Value(""),
                                        ),
                                        models.Value("´"),
                                        models.Value(""),
                                    ),
                                    models.Value("-"),
                                    models.Value(""),
                                ),
                                models.Value("‐"),
                                models.Value(""),
                            ),
                            models.Value("‑"),
                            models.Value(""),
                        ),
                        models.Value("–"),
                        models.Value(""),
                    ),
                    models.Value("."),
                    models.Value(""),
                ),
                output_field=models.CharField(max_length=100),
            ),
        ),
        migrations.AddField(
            model_name="patient",
            name="last_letters",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.db.models.functions.text.Replace(
                    django.db.models.functions.text.Replace(
                        django.db.models.functions.text.Replace(
                            django.db.models.functions.text.Replace(
                                django.db.models.functions.text.Replace(
                                    django.db.models.functions.text.Replace(
                                        django.db.models.functions.text.Replace(
                                            django.db.models.functions.text.Replace(
                                                django.db.models.functions.text.Replace(
                                                    django.db.models.functions.text.Replace(
                                                        django.db.models.functions.text.Replace(
                                                            models.F("last_name"),
                                                            models.Value("'"),
                                                            models.Value(""),
                                                        ),
                                                        models.Value("‘"),
                                                        models.Value(""),
                                                    ),
                                                    models.Value("’"),
                                                    models.Value(""),
                                                ),
                                                models.Value("ʼ"),
                                                models.Value(""),
                                            ),
                                            models.Value("`"),
                                            models.Value(""),
                                        ),
                                        models.Value("´"),
                                        models.Value(""),
                                    ),
                                    models.Value("-"),
                                    models.Value(""),
                                ),
                                models.Value("‐"),
                                models.Value(""),
                            ),
                            models.Value("‑"),
                            models.Value(""),
                        ),
                        models.Value("–"),
                        models.Value(""),
                    ),
                    models.Value("."),
                    models.Value(""),
                ),
                output_field=models.CharField(max_length=100),
            ),
        ),
    ]
