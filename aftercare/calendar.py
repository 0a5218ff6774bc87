"""Calendar files (.ics) for booking emails, made with the icalendar library.

Each appointment keeps one UID for life; a move raises SEQUENCE so calendar apps
update the event instead of adding a second one, and a cancellation sends
METHOD:CANCEL with the same UID.
"""

from datetime import UTC, datetime

from django.conf import settings
from icalendar import Calendar, Event

from clinic.models import Appointment


def appointment_uid(appointment: Appointment) -> str:
    return f"appointment-{appointment.pk}@{settings.CLINIC_EMAIL_DOMAIN}"


def ics(
    appointments: list[Appointment],
    *,
    sequences: dict[int, int],
    cancel: bool,
    now: datetime,
) -> bytes:
    """One event per appointment; ``sequences`` holds each one's SEQUENCE (how
    often it changed), as one email may update several of them."""
    calendar = Calendar()
    calendar.add("prodid", f"-//{settings.CLINIC_NAME}//Clinic app//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancel else "REQUEST")
    for appointment in appointments:
        event = Event()
        event.add("uid", appointment_uid(appointment))
        event.add("sequence", sequences.get(appointment.pk, 0))
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", appointment.start.astimezone(UTC))
        event.add("dtend", appointment.end.astimezone(UTC))
        event.add(
            "summary",
            f"{appointment.get_kind_display()} at {settings.CLINIC_NAME}",
        )
        event.add("location", f"{settings.CLINIC_NAME}, {appointment.room}")
        event.add("status", "CANCELLED" if cancel else "CONFIRMED")
        event.add(
            "organizer",
            f"mailto:{settings.CLINIC_EMAIL}",
            parameters={"cn": settings.CLINIC_NAME},
        )
        calendar.add_component(event)
    return calendar.to_ical()
