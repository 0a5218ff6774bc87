"""A decision completes its consultation's appointment (clinic.services.
record_consultation). Consultations decided before that, whose appointment is
over and still booked or checked in, are completed now, with the decision's
practitioner and time in the appointment's history."""

from django.db import migrations
from django.utils import timezone


def complete_decided(apps, schema_editor):
    Appointment = apps.get_model("clinic", "Appointment")
    AppointmentEvent = apps.get_model("clinic", "AppointmentEvent")
    open_and_decided = Appointment.objects.filter(
        kind="consultation",
        status__in=["booked", "checked_in"],
        end__lte=timezone.now(),
        consultation__isnull=False,
    ).exclude(consultation__decision="pending")
    events = [
        AppointmentEvent(
            appointment_id=appointment.pk,
            action="completed",
            at=appointment.consultation.decided_at or appointment.end,
            by_id=appointment.consultation.decided_by_id,
            reason="Completed by its decision (recorded before decisions did so).",
        )
        for appointment in open_and_decided.select_related("consultation")
    ]
    AppointmentEvent.objects.bulk_create(events)
    Appointment.objects.filter(pk__in=[e.appointment_id for e in events]).update(
        status="completed"
    )


class Migration(migrations.Migration):
    dependencies = [("clinic", "0020_eligible_despite_screening_needs_reason")]

    operations = [migrations.RunPython(complete_decided, migrations.RunPython.noop)]
