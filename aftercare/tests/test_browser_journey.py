"""The whole product in a real browser, as a clinic uses it.

Debian's Chromium, driven by Playwright, against a live server; a real Celery
worker process on the real broker sends the patient's emails to a real SMTP
server on loopback. Time moves forward for the server (in this process) and for
the worker (started with its clock moved) as the story goes on.

Every page must load without a JavaScript error and without a request leaving
the machine. When the journey fails, a screenshot of the page it was on is
written to ``<CLINIC_VAR_DIR>/screenshots/``.
"""

import re
from datetime import date, time, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from aftercare.models import Kind, Reminder
from aftercare.tasks import dispatch_due_reminders
from aftercare.tests.smtp_sink import Sink
from aftercare.tests.test_worker import (
    broker_idle,
    celery_worker,
    wait_for,
    worker_env,
)
from clinic import roles
from clinic.models import CONTRAINDICATIONS
from clinic.scheduling import local_datetime
from clinic.tests.factories import (
    PractitionerFactory,
    RoomFactory,
    UserFactory,
    open_clinic,
)
from plans.models import TreatmentSession

PASSWORD = "correct horse battery staple"
PATIENT_EMAIL = "ada.morgan@example.com"
SESSION_TIME = time(10)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def clinic_staff(db) -> dict[str, str]:
    """The clinic before the journey: one practitioner, one room, open Mon-Sat."""
    UserFactory(username="frontdesk", role=roles.FRONT_DESK)
    practitioner = PractitionerFactory(
        user__username="dr.reed", user__first_name="Alex", user__last_name="Reed"
    )
    RoomFactory(name="Treatment room 1")
    open_clinic(practitioner)
    return {"front_desk": "frontdesk", "practitioner": "dr.reed"}


def next_open_day(day: date) -> date:
    """The clinic is closed on Sundays."""
    return day + timedelta(days=1) if day.weekday() == 6 else day


def photo(path: Path, colour: str) -> Path:
    Image.new("RGB", (640, 480), colour).save(path, "JPEG")
    return path


def to_patient(outbox: Sink) -> list[EmailMessage]:
    return [m for m in outbox.messages if PATIENT_EMAIL in m["To"]]


def with_subject(outbox: Sink, words: str) -> list[EmailMessage]:
    return [m for m in to_patient(outbox) if words in m["Subject"]]


def calendar_of(message: EmailMessage) -> str:
    """The message's calendar files (one per appointment), one after the other."""
    files = []
    for part in message.iter_attachments():
        if part.get_content_type() == "text/calendar":
            content = part.get_content()
            files.append(content if isinstance(content, str) else content.decode())
    return "".join(files)


def text_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_a_patient_from_registration_to_aftercare_and_unsubscribing(
    tab, clinic_staff, sink, broker, tmp_path, live_server
):
    env = worker_env(tmp_path, EMAIL_URL=f"smtp://127.0.0.1:{sink.port}")
    env["CLINIC_BASE_URL"] = live_server.url
    today = timezone.localdate()
    consultation_day = next_open_day(today + timedelta(days=1))
    first_day = next_open_day(consultation_day + timedelta(days=7))

    with celery_worker(tmp_path, "journey-booking", env) as worker:
        # The front desk registers the patient and books her consultation.
        tab.sign_in(clinic_staff["front_desk"], PASSWORD)
        tab.click("Register a patient")
        page = tab.page
        tab.field("First name").fill("Ada")
        tab.field("Last name").fill("Morgan")
        tab.field("Date of birth").fill("1988-04-12")
        tab.field("Email").fill(PATIENT_EMAIL)
        tab.field("Consents to email reminders").check()
        tab.click("Register", role="button")
        tab.says("Ada Morgan")
        tab.click("Book a consultation")
        tab.field("Practitioner").select_option(label="Alex Reed")
        tab.field("Room").select_option(label="Treatment room 1")
        tab.field("Date").fill(consultation_day.isoformat())
        tab.field("Start time").fill(SESSION_TIME.strftime("%H:%M"))
        tab.click("Book", role="button")
        tab.says("Consultation")
        tab.sign_out()

        # At the consultation, the practitioner finds her eligible and starts a
        # Standard plan of six (a decision is made when the consultation starts).
        consultation_start = local_datetime(consultation_day, SESSION_TIME)
        with time_machine.travel(consultation_start + timedelta(minutes=20), tick=True):
            tab.sign_in(clinic_staff["practitioner"], PASSWORD)
            tab.open("/patients/")
            page.get_by_role("searchbox").fill("Morgan")
            page.get_by_role("searchbox").press("Enter")
            tab.click("Morgan, Ada")
            page.get_by_role("link", name=re.compile("Consultation")).first.click()
            tab.click("Record the consultation")
            tab.field("Face").check()
            tab.field("Acne scarring").check()
            tab.field("Results hoped for").fill("Smoother cheeks.")
            for question in CONTRAINDICATIONS.values():
                tab.answer(str(question), "No")
            tab.field("Eligible").check()
            tab.click("Save the consultation", role="button")
            tab.says("Consultation saved: eligible")
            tab.click("Start a treatment plan")
            tab.field("Protocol").select_option(label="Standard")
            tab.field("Face").check()
            tab.field("Planned sessions").fill("6")
            tab.field("Spacing (days)").fill("28")
            tab.field("The patient consents to this plan").check()
            tab.click("Create the plan", role="button")
            tab.says("Not started: nothing booked")
            plan_url = page.url
            tab.sign_out()

        # The front desk books the whole series, then moves session 3 onwards.
        tab.sign_in(clinic_staff["front_desk"], PASSWORD)
        page.goto(plan_url)
        tab.click("Book 6 sessions")
        tab.field("First session").fill(first_day.isoformat())
        tab.field("Time").fill("10:00")
        tab.click("Propose dates", role="button")
        tab.click("Book all 6 sessions", role="button")
        tab.says("6 sessions booked")
        sessions = list(
            TreatmentSession.objects.filter(appointment__isnull=False)
            .select_related("appointment")
            .order_by("number")
        )
        assert len(sessions) == 6
        assert [s.appointment.start for s in sessions] == [
            local_datetime(first_day + timedelta(days=28 * n), SESSION_TIME)
            for n in range(6)
        ]
        wait_for(
            lambda: len(with_subject(sink, "Your booking at")) == 2,
            what="the consultation's and the series' confirmations",
            nudge=dispatch_due_reminders.delay,
            log=worker.log,
        )
        consultation, series = with_subject(sink, "Your booking at")
        assert calendar_of(consultation).count("BEGIN:VEVENT") == 1
        assert calendar_of(series).count("BEGIN:VEVENT") == 6
        assert calendar_of(series).count("BEGIN:VCALENDAR") == 6

        third_day = timezone.localdate(sessions[2].appointment.start)
        moved_day = next_open_day(third_day + timedelta(days=2))
        page.goto(plan_url)
        page.get_by_role("link", name="Move").nth(2).click()
        tab.field("New date").fill(moved_day.isoformat())
        tab.field("New time").fill("10:00")
        tab.field("This and all following sessions").check()
        tab.click("Preview", role="button")
        tab.click("Move", role="button")
        tab.says("Sessions 3 to 6 moved: session 3 is now on")
        for session in sessions:
            session.appointment.refresh_from_db()
        assert [timezone.localdate(s.appointment.start) for s in sessions] == [
            first_day,
            first_day + timedelta(days=28),
            *(moved_day + timedelta(days=28 * n) for n in range(4)),
        ]
        wait_for(
            lambda: len(with_subject(sink, "has changed")) == 1,
            what="one email updating sessions 3 to 6",
            nudge=dispatch_due_reminders.delay,
            log=worker.log,
        )
        [update] = with_subject(sink, "has changed")
        assert calendar_of(update).count("SEQUENCE:1") == 4
        tab.sign_out()

    # Session 1 takes place; the practitioner records it with photos and signs.
    first = sessions[0].appointment
    with time_machine.travel(first.end + timedelta(minutes=5), tick=True):
        tab.sign_in(clinic_staff["practitioner"], PASSWORD)
        tab.click("My day")
        tab.click("Record session")
        page.locator("select[name$='-0-area']").select_option(label="Face")
        page.locator("input[name$='-0-depth_mm']").fill("1.0")
        tab.field("Device").fill("Pen A6")
        tab.field("Mild").check()
        tab.click("Save draft", role="button")
        for moment, colour in (("Before", "#c99"), ("After", "#e88")):
            tab.field("Photo").set_input_files(
                photo(tmp_path / f"{moment}.jpg", colour)
            )
            tab.field(moment).check()
            tab.field("Area").select_option(label="Face")
            tab.click("Add photo", role="button")
            tab.says("Photo added")
        expect(page.locator("img[alt^='Before']")).to_be_visible()
        expect(page.locator("img[alt^='After']")).to_be_visible()
        tab.click("Complete and sign", role="button")
        tab.says("Signed")
        tab.sign_out()

    # Twelve hours after the session: the 12 h aftercare email, once.
    twelve_hours = first.end + timedelta(hours=12, minutes=1)
    with celery_worker(tmp_path, "journey-12h", env, clock=twelve_hours) as worker:
        wait_for(
            lambda: Reminder.objects.filter(
                appointment=first, kind=Kind.AFTERCARE_12H, status="sent"
            ).exists(),
            what="the 12 h aftercare email",
            nudge=dispatch_due_reminders.delay,
            log=worker.log,
        )
        wait_for(lambda: broker_idle(broker), what="the worker to finish")
    aftercare = [m for m in to_patient(sink) if "makeup" in m["Subject"].lower()]
    assert len(aftercare) == 1
    received = len(to_patient(sink))

    # The patient follows the unsubscribe link, without signing in.
    link = re.search(r"https?://\S+/emails/unsubscribe/\S+/", text_part(aftercare[0]))
    assert link is not None
    with time_machine.travel(twelve_hours + timedelta(minutes=10), tick=True):
        tab.page.context.clear_cookies()
        page.goto(link.group(0))
        tab.says("Stop emails from")
        tab.click("Stop my emails", role="button")
        tab.says("Done: no more emails")

    # A day after the session, the worker runs again: nothing more reaches her.
    assert set(
        Reminder.objects.filter(
            patient=first.patient, due_at__gt=twelve_hours
        ).values_list("status", flat=True)
    ) == {Reminder.Status.CANCELLED}
    a_day = first.end + timedelta(hours=24, minutes=1)
    with celery_worker(tmp_path, "journey-24h", env, clock=a_day) as worker:
        dispatch_due_reminders.delay()
        wait_for(
            lambda: re.search(r"dispatch_due_reminders\[\S+\] succeeded", worker.log()),
            what="a dispatch a day after the session",
            log=worker.log,
        )
        wait_for(lambda: broker_idle(broker), what="the worker to finish")
    assert len(to_patient(sink)) == received
    assert tab.errors == []
    assert tab.outside_requests == []
