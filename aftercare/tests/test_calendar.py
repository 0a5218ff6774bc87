"""Calendar files: one scheduling message per appointment, named by its day."""

from datetime import date, time, timedelta

from icalendar import Calendar

from aftercare.calendar import appointment_uid, calendar_files
from clinic.scheduling import local_datetime
from clinic.tests.factories import AppointmentFactory, PatientFactory

NOW = local_datetime(date(2026, 11, 20), time(9))


def test_each_appointment_gets_a_file_of_its_own_named_by_its_day(db):
    patient = PatientFactory(email="ada@example.com")
    first_start = local_datetime(date(2026, 12, 3), time(10))
    appointments = [
        AppointmentFactory(patient=patient, start=start, end=start + timedelta(hours=1))
        for start in (
            first_start,
            first_start + timedelta(hours=3),  # the same day
            first_start + timedelta(days=28),
        )
    ]

    files = calendar_files(
        appointments,
        patient=patient,
        sequences={appointments[0].pk: 2},
        cancel=False,
        now=NOW,
    )

    assert [f.filename for f in files] == [
        "appointment-2026-12-03.ics",
        "appointment-2026-12-03-2.ics",
        "appointment-2026-12-31.ics",
    ]
    for appointment, file in zip(appointments, files, strict=True):
        calendar = Calendar.from_ical(file.content)
        assert calendar["METHOD"] == "REQUEST"
        [event] = calendar.walk("VEVENT")
        assert event["UID"] == appointment_uid(appointment)
        assert event["DTSTART"].dt == appointment.start
    assert [
        Calendar.from_ical(f.content).walk("VEVENT")[0]["SEQUENCE"] for f in files
    ] == [2, 0, 0]


def test_a_patient_without_an_address_is_no_attendee(db):
    patient = PatientFactory(email="", email_consent=False)
    appointment = AppointmentFactory(patient=patient)

    [file] = calendar_files(
        [appointment], patient=patient, sequences={}, cancel=True, now=NOW
    )

    assert file.filename == "appointment.ics"
    [event] = Calendar.from_ical(file.content).walk("VEVENT")
    assert "ATTENDEE" not in event
    assert event["STATUS"] == "CANCELLED"
