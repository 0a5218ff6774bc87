"""Calendar files (.ics) for booking emails, made with the icalendar library.

Each appointment keeps one UID for life; a move raises SEQUENCE so calendar apps
update the event instead of adding a second one, and a cancellation sends
METHOD:CANCEL with the same UID.

One file per appointment: a scheduling message (METHOD:REQUEST or CANCEL) is
about one event, and mail programs that meet several UIDs in one file take the
first and drop the rest, so an email about a whole series attaches one file per
session.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone
from icalendar import Calendar, Event

from clinic.models import Appointment, Patient


@dataclass(frozen=True)
class CalendarFile:
    filename: str
    content: bytes


def appointment_uid(appointment: Appointment) -> str:
    return f"appointment-{appointment.pk}@{settings.CLINIC_EMAIL_DOMAIN}"


def calendar_files(
    appointments: list[Appointment],
    *,
    patient: Patient,
    sequences: dict[int, int],
    cancel: bool,
    now: datetime,
) -> list[CalendarFile]:
    """A file per appointment, named by its day; ``sequences`` holds each one's
    SEQUENCE (how often it changed), as one email may update several."""
    files = []
    taken: set[str] = set()
    for appointment in appointments:
        name = f"appointment-{timezone.localdate(appointment.start):%Y-%m-%d}"
        if len(appointments) == 1:
            name = "appointment"
        filename, n = f"{name}.ics", 1
        while filename in taken:
            n += 1
            filename = f"{name}-{n}.ics"
        taken.add(filename)
        files.append(
            CalendarFile(
                filename,
                ics(
                    appointment,
                    patient=patient,
                    sequence=sequences.get(appointment.pk, 0),
                    cancel=cancel,
                    now=now,
                ),
            )
        )
    return files


def ics(
    appointment: Appointment,
    *,
    patient: Patient,
    sequence: int,
    cancel: bool,
    now: datetime,
) -> bytes:
    """The appointment as a scheduling message from the clinic to the patient."""
    calendar = Calendar()
    calendar.add("prodid", f"-//{settings.CLINIC_NAME}//Clinic app//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancel else "REQUEST")
    event = Event()
    event.add("uid", appointment_uid(appointment))
    event.add("sequence", sequence)
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", appointment.start.astimezone(UTC))
    event.add("dtend", appointment.end.astimezone(UTC))
    event.add("summary", f"{appointment.get_kind_display()} at {settings.CLINIC_NAME}")
    event.add(
        "location",
        ", ".join(
            part
            for part in (
                settings.CLINIC_NAME,
                str(appointment.room),
                settings.CLINIC_ADDRESS,
            )
            if part
        ),
    )
    if not cancel:
        event.add(
            "description",
            f"{appointment.get_kind_display()} with {appointment.practitioner}. "
            f"To change or cancel it, call {settings.CLINIC_NAME} on "
            f"{settings.CLINIC_PHONE}.",
        )
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    event.add(
        "organizer",
        f"mailto:{settings.CLINIC_EMAIL}",
        parameters={"cn": settings.CLINIC_NAME},
    )
    if patient.email:
        # A scheduling message names its attendee. The booking is made, so no
        # reply is asked for: the patient calls the clinic to change it.
        attendee = {"cn": patient.full_name, "role": "REQ-PARTICIPANT", "rsvp": "FALSE"}
        if not cancel:
            attendee["partstat"] = "ACCEPTED"
        event.add("attendee", f"mailto:{patient.email}", parameters=attendee)
    calendar.add_component(event)
    return calendar.to_ical()
