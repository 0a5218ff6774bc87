"""Each appointment keeps its history. Existing appointments start theirs with
what their rows tell: when and by whom they were booked, when they were
cancelled (and why), when the patient was checked in, and that they were
completed or missed (when last changed). Managers see it in the admin too."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from clinic.roles import MANAGER, grant

BATCH = 2000


def backfill(apps, schema_editor):
    Appointment = apps.get_model("clinic", "Appointment")
    AppointmentEvent = apps.get_model("clinic", "AppointmentEvent")
    events = []
    rows = Appointment.objects.order_by("pk").values_list(
        "pk",
        "created_at",
        "booked_by_id",
        "override_reason",
        "cancelled_at",
        "cancel_reason",
        "checked_in_at",
        "status",
        "updated_at",
    )
    for (
        pk,
        created,
        booked_by,
        override,
        cancelled,
        why,
        checked_in,
        status,
        updated,
    ) in rows.iterator(chunk_size=BATCH):
        events.append(
            AppointmentEvent(
                appointment_id=pk,
                action="booked",
                at=created,
                by_id=booked_by,
                reason=override,
            )
        )
        if checked_in is not None:
            events.append(
                AppointmentEvent(appointment_id=pk, action="checked_in", at=checked_in)
            )
        if cancelled is not None:
            events.append(
                AppointmentEvent(
                    appointment_id=pk, action="cancelled", at=cancelled, reason=why
                )
            )
        if status in ("completed", "no_show"):
            # When it was last changed: as near as the row tells.
            events.append(
                AppointmentEvent(appointment_id=pk, action=status, at=updated)
            )
        if len(events) >= BATCH:
            AppointmentEvent.objects.bulk_create(events)
            events = []
    AppointmentEvent.objects.bulk_create(events)


def grant_history(apps, schema_editor) -> None:
    # The admin shows it with each appointment (the clinic's pages to everyone
    # who may open the appointment).
    grant(apps, MANAGER, "clinic", ["view_appointmentevent"])


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0012_phone_message"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AppointmentEvent",
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
                    "action",
                    models.CharField(
                        choices=[
                            ("booked", "Booked"),
                            ("moved", "Moved"),
                            ("cancelled", "Cancelled"),
                            ("checked_in", "Checked in"),
                            ("check_in_undone", "Check-in taken back"),
                            ("no_show", "Marked as a no-show"),
                            ("no_show_undone", "No-show taken back"),
                            ("completed", "Completed"),
                        ],
                        max_length=20,
                        verbose_name="what happened",
                    ),
                ),
                ("at", models.DateTimeField(verbose_name="when")),
                ("moved_from_start", models.DateTimeField(blank=True, null=True)),
                ("moved_from_end", models.DateTimeField(blank=True, null=True)),
                ("moved_to_start", models.DateTimeField(blank=True, null=True)),
                ("moved_to_end", models.DateTimeField(blank=True, null=True)),
                (
                    "reason",
                    models.CharField(blank=True, max_length=300, verbose_name="reason"),
                ),
                (
                    "appointment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="clinic.appointment",
                    ),
                ),
                (
                    "by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "moved_from_practitioner",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="clinic.practitioner",
                    ),
                ),
                (
                    "moved_from_room",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="clinic.room",
                    ),
                ),
                (
                    "moved_to_practitioner",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="clinic.practitioner",
                    ),
                ),
                (
                    "moved_to_room",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="clinic.room",
                    ),
                ),
            ],
            options={
                "ordering": ["at", "id"],
                "indexes": [
                    models.Index(
                        fields=["appointment", "at"],
                        name="clinic_appo_appoint_d8fb8f_idx",
                    )
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("action", "moved"), _negated=True),
                            models.Q(
                                ("moved_from_end__isnull", False),
                                ("moved_from_practitioner__isnull", False),
                                ("moved_from_room__isnull", False),
                                ("moved_from_start__isnull", False),
                                ("moved_to_end__isnull", False),
                                ("moved_to_practitioner__isnull", False),
                                ("moved_to_room__isnull", False),
                                ("moved_to_start__isnull", False),
                            ),
                            _connector="OR",
                        ),
                        name="appointment_event_move_has_both_places",
                    )
                ],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunPython(grant_history, migrations.RunPython.noop),
    ]
