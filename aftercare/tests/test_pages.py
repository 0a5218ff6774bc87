"""The outbox pages for staff, and the one-click unsubscribe page for patients."""

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from aftercare import services
from aftercare.models import CopyReason, Kind, Reminder, ReminderRule
from aftercare.views import NewestFirstPage
from clinic.models import CONTRAINDICATIONS, Appointment, Patient, PatientChange
from clinic.services import (
    book_appointment,
    cancel_appointment,
    reschedule_appointment,
    save_patient_details,
)
from clinic.tests.factories import AppointmentFactory, PatientFactory, open_clinic
from clinic.tests.pages import post_as_page

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=LONDON)  # a Monday
THURSDAY = datetime(2026, 11, 26, 10, 0, tzinfo=LONDON)
Status = Reminder.Status


@pytest.fixture(autouse=True)
def london(settings) -> None:
    settings.TIME_ZONE = "Europe/London"
    settings.CLINIC_QUIET_HOURS = None


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def book(practitioner, other_practitioner, room, front_desk) -> Callable:
    open_clinic(practitioner, other_practitioner)

    def book(patient: Patient, start: datetime = THURSDAY) -> Appointment:
        return book_appointment(
            patient=patient,
            practitioner=practitioner,
            room=room,
            start=start,
            end=start + HOUR,
            kind=Appointment.Kind.CONSULTATION,
            booked_by=front_desk,
            now=NOW,
        )

    return book


@pytest.fixture
def confirmation(book, patient, mailoutbox) -> Reminder:
    """Ada's booking: the confirmation went out, the reminder is scheduled."""
    book(patient)
    services.dispatch_due(now=NOW)
    return Reminder.objects.get(kind=Kind.CONFIRMATION)


@pytest.fixture
def reminder(confirmation) -> Reminder:
    return Reminder.objects.get(kind=Kind.REMINDER)


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def as_user(front_desk, practitioner, manager, outsider) -> Callable[[str], Client]:
    users = {
        "anonymous": None,
        "outsider": outsider,
        "front_desk": front_desk,
        "practitioner": practitioner.user,
        "manager": manager,
    }
    return lambda who: client_for(users[who])


# Who may do what ----------------------------------------------------------------------


def test_the_outbox_sends_a_failed_email_to_its_page_to_check_before_resending(
    as_user, confirmation
):
    Reminder.objects.filter(pk=confirmation.pk).update(status=Status.FAILED)
    preview = reverse("aftercare:preview", args=[confirmation.pk])

    outbox = as_user("front_desk").get(reverse("aftercare:outbox")).content.decode()
    page = as_user("front_desk").get(preview).content.decode()

    assert re.search(
        rf'href="{re.escape(preview)}" aria-label="Check the [^"]+">Check</a>', outbox
    )
    assert reverse("aftercare:resend", args=[confirmation.pk]) not in outbox
    assert reverse("aftercare:resend", args=[confirmation.pk]) in page
    assert ">Close</button>" in page


@pytest.mark.parametrize(
    ("who", "view", "change"),
    [
        ("outsider", 403, 403),
        ("front_desk", 200, 302),
        ("practitioner", 200, 403),
        ("manager", 200, 302),
    ],
)
def test_who_may_see_resend_and_cancel_emails(
    as_user, confirmation, reminder, who, view, change
):
    client = as_user(who)
    Reminder.objects.filter(pk=confirmation.pk).update(status=Status.FAILED)
    preview = reverse("aftercare:preview", args=[confirmation.pk])

    assert client.get(reverse("aftercare:outbox")).status_code == view
    assert client.get(preview).status_code == view
    assert client.get(preview + "?part=html").status_code == view
    resend = client.post(
        reverse("aftercare:resend", args=[confirmation.pk]), {"seen": "failed"}
    )
    cancel = client.post(
        reverse("aftercare:cancel", args=[reminder.pk]), {"seen": "scheduled"}
    )

    assert (resend.status_code, cancel.status_code) == (change, change)
    confirmation.refresh_from_db()
    reminder.refresh_from_db()
    if change == 302:
        assert resend.url == preview
        assert (confirmation.status, reminder.status) == (
            Status.SCHEDULED,
            Status.CANCELLED,
        )
    else:
        assert (confirmation.status, reminder.status) == (
            Status.FAILED,
            Status.SCHEDULED,
        )


def test_anonymous_visitors_are_sent_to_sign_in(as_user, confirmation, reminder):
    client = as_user("anonymous")
    urls = [
        reverse("aftercare:outbox"),
        reverse("aftercare:preview", args=[confirmation.pk]),
        reverse("aftercare:preview", args=[confirmation.pk]) + "?part=html",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    for name in ("aftercare:resend", "aftercare:cancel"):
        response = client.post(reverse(name, args=[reminder.pk]))
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    reminder.refresh_from_db()
    assert reminder.status == Status.SCHEDULED


def test_resend_and_cancel_take_post_only(as_user, reminder):
    client = as_user("front_desk")

    for name in ("aftercare:resend", "aftercare:cancel"):
        assert client.get(reverse(name, args=[reminder.pk])).status_code == 405
    reminder.refresh_from_db()
    assert reminder.status == Status.SCHEDULED


def test_an_outbox_id_that_does_not_exist_is_not_found(as_user, reminder):
    client = as_user("front_desk")
    missing = Reminder.objects.order_by("pk").last().pk + 1000

    assert client.get(reverse("aftercare:preview", args=[missing])).status_code == 404
    for name in ("aftercare:resend", "aftercare:cancel"):
        assert client.post(reverse(name, args=[missing])).status_code == 404
    assert client.get("/emails/outbox/abc/").status_code == 404
    assert client.get("/emails/outbox/-1/").status_code == 404


def test_staff_see_why_an_email_cannot_be_resent_or_cancelled(as_user, confirmation):
    client = as_user("front_desk")

    response = client.post(
        reverse("aftercare:resend", args=[confirmation.pk]),
        {"seen": "sent"},
        follow=True,
    )
    assert "not sent twice" in response.content.decode()
    response = client.post(
        reverse("aftercare:cancel", args=[confirmation.pk]),
        {"seen": "sent"},
        follow=True,
    )
    assert "still scheduled" in response.content.decode()
    confirmation.refresh_from_db()
    assert confirmation.status == Status.SENT


def test_resend_and_close_from_pages_opened_together_dont_undo_each_other(
    as_user, manager, confirmation
):
    Reminder.objects.filter(pk=confirmation.pk).update(status=Status.UNKNOWN)
    page = as_user("front_desk").get(
        reverse("aftercare:preview", args=[confirmation.pk])
    )
    # Both pages show the email as unknown, and send that back.
    confirmation.refresh_from_db()
    assert f'<input type="hidden" name="seen" value="{confirmation.as_shown}">' in (
        page.content.decode()
    )
    resend_url = reverse("aftercare:resend", args=[confirmation.pk])
    close_url = reverse("aftercare:cancel", args=[confirmation.pk])

    closed = as_user("manager").post(close_url, {"seen": "unknown"})
    resent = as_user("front_desk").post(resend_url, {"seen": "unknown"}, follow=True)

    assert closed.status_code == 302
    assert "it is cancelled now. Check it again." in resent.content.decode()
    confirmation.refresh_from_db()
    assert confirmation.status == Status.CANCELLED

    # The other way round: a resend first, then a close from an older page.
    Reminder.objects.filter(pk=confirmation.pk).update(status=Status.FAILED)
    as_user("front_desk").post(resend_url, {"seen": "failed"})
    late_close = as_user("manager").post(close_url, {"seen": "failed"}, follow=True)

    assert "it is scheduled now. Check it again." in late_close.content.decode()
    confirmation.refresh_from_db()
    assert confirmation.status == Status.SCHEDULED


def test_a_foreign_next_address_is_ignored_after_an_action(as_user, reminder):
    response = as_user("front_desk").post(
        reverse("aftercare:cancel", args=[reminder.pk]),
        {"next": "https://evil.example/"},
    )

    assert response.url == reverse("aftercare:preview", args=[reminder.pk])


# Outbox -------------------------------------------------------------------------------


def listed(response) -> list[tuple[str, str]]:
    return [(r.kind, r.status) for r in response.context["page"].object_list]


@pytest.fixture
def outbox(as_user, book, patient, reminder) -> Callable[..., object]:
    """Three emails: Ada's sent confirmation and her reminder due Wednesday, and
    Bob's confirmation, failed."""
    bob = PatientFactory(first_name="Bob")
    book(bob, start=THURSDAY + 2 * HOUR)
    Reminder.objects.filter(patient=bob, kind=Kind.CONFIRMATION).update(
        status=Status.FAILED, last_error="550 No such user"
    )
    Reminder.objects.filter(patient=bob, kind=Kind.REMINDER).delete()
    client = as_user("front_desk")
    return lambda **query: client.get(reverse("aftercare:outbox"), query)


def test_the_outbox_opens_on_what_was_due_and_lists_what_is_to_come_soonest_first(
    outbox, book
):
    carol = PatientFactory(first_name="Carol")
    book(carol, start=THURSDAY + 7 * DAY)  # Her reminder is due a week later.

    due = outbox()
    ahead = outbox(when="ahead")

    # The confirmations were due at booking (the latest first); the reminders
    # are days away, the soonest first.
    assert listed(due) == [
        (Kind.CONFIRMATION, Status.SCHEDULED),
        (Kind.CONFIRMATION, Status.FAILED),
        (Kind.CONFIRMATION, Status.SENT),
    ]
    reminders = ahead.context["page"].object_list
    assert [(r.kind, r.patient.first_name) for r in reminders] == [
        (Kind.REMINDER, "Ada"),
        (Kind.REMINDER, "Carol"),
    ]
    assert reminders[0].due_at < reminders[1].due_at


def test_what_is_to_come_leaves_out_what_wont_go_out_and_a_day_is_shown_whole(
    outbox, patient
):
    Reminder.objects.filter(patient=patient, kind=Kind.REMINDER).update(
        status=Status.CANCELLED
    )
    cancelled = listed(outbox(when="ahead", status="cancelled"))

    assert listed(outbox(when="ahead")) == []
    assert cancelled == [(Kind.REMINDER, Status.CANCELLED)]
    # A day ahead: shown whole, and the form says "any time", not "due by now".
    day = outbox(day="2026-11-25")
    assert listed(day) == [(Kind.REMINDER, Status.CANCELLED)]
    assert day.context["form"]["when"].value() == "any"


def test_the_outbox_lists_every_email_latest_first(outbox):
    response = outbox(when="any")

    assert listed(response) == [
        (Kind.REMINDER, Status.SCHEDULED),
        (Kind.CONFIRMATION, Status.FAILED),
        (Kind.CONFIRMATION, Status.SENT),
    ]
    page = response.content.decode()
    assert "550 No such user" in page
    assert "Ada Lovelace" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "failed"}, [(Kind.CONFIRMATION, Status.FAILED)]),
        ({"kind": "reminder", "when": "ahead"}, [(Kind.REMINDER, Status.SCHEDULED)]),
        ({"kind": "reminder"}, []),
        ({"day": "2026-11-25"}, [(Kind.REMINDER, Status.SCHEDULED)]),
        (
            {"day": "2026-11-23", "status": "sent"},
            [(Kind.CONFIRMATION, Status.SENT)],
        ),
        ({"day": "2026-11-24"}, []),
    ],
)
def test_the_outbox_filters_by_status_kind_and_day(outbox, query, expected):
    response = outbox(**query)

    assert response.status_code == 200
    assert listed(response) == expected


@pytest.mark.parametrize(
    "query",
    [
        {"status": "lost"},
        {"kind": "spam"},
        {"day": "2026-13-45"},
        {"day": "yesterday"},
        {"day": "9999-12-31"},
        {"day": "0001-01-01"},
        {"page": "abc"},
        {"page": "999"},
        {"status": ["sent", "failed"]},
    ],
)
def test_bad_filter_values_do_not_break_the_outbox(outbox, query):
    response = outbox(**query)

    assert response.status_code == 200


@pytest.mark.parametrize("day", ["2026-02-30", "99999-01-01", "yesterday"])
def test_a_day_that_is_no_date_is_said_over_the_list_as_it_opens(outbox, day):
    """Not every email of any time, as if no day were asked for."""
    response = outbox(day=day)

    assert response.context["form"].errors["day"]
    assert listed(response) == listed(outbox())
    assert response.context["form"]["when"].value() in ("", None)


@pytest.fixture
def emails_120(practitioner, room) -> None:
    """120 emails of one appointment, an hour apart: versions 0 (oldest) to 119."""
    appointment = AppointmentFactory(practitioner=practitioner, room=room)
    Reminder.objects.bulk_create(
        Reminder(
            patient_id=appointment.patient_id,
            appointment=appointment,
            kind=Kind.AFTERCARE_10D,
            version=n,
            due_at=THURSDAY + n * HOUR,
        )
        for n in range(120)
    )


def test_the_outbox_pages_newest_first_without_counting_every_email(
    as_user, emails_120
):
    client = as_user("front_desk")

    def page(number: str) -> tuple[list[int], bool, str]:
        response = client.get(
            reverse("aftercare:outbox"), {"page": number, "when": "any"}
        )
        shown = response.context["page"]
        return [r.version for r in shown.object_list], shown.has_next, response

    first, more, _ = page("1")
    assert (first[0], len(first), more) == (119, 50, True)
    last, more, _ = page("3")
    assert (last[-1], len(last), more) == (0, 20, False)
    beyond, more, response = page("9")
    assert (beyond, more) == ([], False)
    assert "end before that page. " in response.content.decode()
    # A filter that matches nothing at all: said on the first page.
    nothing = client.get(
        reverse("aftercare:outbox"), {"page": "99999", "day": "1900-01-01"}
    ).content.decode()
    assert "No email matches these filters." in nothing
    assert "before that page" not in nothing
    assert "Back to the first page" in response.content.decode()


def test_an_empty_outbox_says_whether_filters_or_bookings_are_missing(
    as_user, emails_120
):
    client = as_user("front_desk")

    filtered = client.get(reverse("aftercare:outbox"), {"status": "failed"})
    Reminder.objects.all().delete()
    empty = client.get(reverse("aftercare:outbox"))

    assert "No email due by now matches these filters." in filtered.content.decode()
    # What is still to come may match: one click away, as is every email.
    assert 'href="?status=failed&amp;when=ahead">See those to come' in (
        filtered.content.decode()
    )
    assert "?when=any" in filtered.content.decode()
    assert "No email has been due yet." in empty.content.decode()
    assert 'href="?when=ahead"' in empty.content.decode()
    ahead = client.get(
        reverse("aftercare:outbox"), {"when": "ahead", "kind": "reminder"}
    )
    assert (
        "No email to come matches these filters. "
        '<a href="/emails/outbox/?when=any">Show every email</a>.'
    ) in ahead.content.decode()


def test_the_outbox_pages_only_so_far_back_and_says_how_to_reach_older_emails(
    as_user, emails_120, monkeypatch
):
    monkeypatch.setattr(NewestFirstPage, "last", 2)

    response = as_user("front_desk").get(
        reverse("aftercare:outbox"), {"page": "7", "when": "any"}
    )

    assert response.context["page"].number == 2
    assert not response.context["page"].has_next
    assert "Older emails are there too" in response.content.decode()


def test_a_bad_filter_value_is_named_and_the_good_ones_still_filter(outbox):
    response = outbox(status="failed", kind="spam")

    assert listed(response) == [(Kind.CONFIRMATION, Status.FAILED)]
    assert "kind" in response.context["form"].errors
    assert "Pick one of the choices offered: that one is not among them." in (
        response.content.decode()
    )


# Preview ------------------------------------------------------------------------------


def test_the_front_desk_sends_a_copy_of_a_sent_email_from_its_page(
    as_user, confirmation, patient, frozen
):
    client = as_user("front_desk")
    url = reverse("aftercare:preview", args=[confirmation.pk])
    # Not while the email may still be on its way to the patient's inbox.
    assert "Send a copy" not in client.get(url).content.decode()
    frozen.shift(timedelta(minutes=10))
    page = client.get(url)
    assert "Send a copy" in page.content.decode()

    response = client.post(
        reverse("aftercare:copy", args=[confirmation.pk]), {"seen": "sent"}, follow=True
    )

    copy = Reminder.objects.get(copy_of=confirmation)
    assert response.redirect_chain == [(copy.get_absolute_url(), 302)]
    body = response.content.decode()
    assert f"A copy goes out to {patient.email} in a moment." in body
    assert "the email sent before</a>, sent again on request)" in body
    outbox = client.get(reverse("aftercare:outbox")).content.decode()
    assert "copy on request</span>" in outbox


def test_staff_see_the_address_an_email_went_to_when_the_patients_changed_since(
    as_user, confirmation, patient, frozen
):
    """A copy sent to another address, then the address put back: the outbox
    still says where the copy went."""
    frozen.shift(timedelta(minutes=10))
    client = as_user("front_desk")
    kept = patient.email
    Patient.objects.filter(pk=patient.pk).update(email="someone.else@example.com")
    client.post(reverse("aftercare:copy", args=[confirmation.pk]), {"seen": "sent"})
    services.dispatch_due(now=timezone.now() + timedelta(minutes=1))
    copy = Reminder.objects.get(copy_of=confirmation)
    assert (copy.status, copy.sent_to) == (Status.SENT, "someone.else@example.com")

    Patient.objects.filter(pk=patient.pk).update(email=kept)

    preview = client.get(copy.get_absolute_url()).content.decode()
    assert "&lt;someone.else@example.com&gt;" in preview
    assert f"the patient's address is now {kept}" in preview
    outbox = client.get(reverse("aftercare:outbox")).content.decode()
    assert "to someone.else@example.com, not the patient's address now" in outbox
    original = client.get(confirmation.get_absolute_url()).content.decode()
    assert f"&lt;{kept}&gt;" in original
    assert "the address it went to" not in original
    # One sent before addresses were kept says it shows today's.
    Reminder.objects.filter(pk=confirmation.pk).update(sent_to="")
    older = client.get(confirmation.get_absolute_url()).content.decode()
    assert "the address it went to was not kept then" in older


def test_a_copy_sent_because_the_medication_changed_says_so(as_user, confirmation):
    copy = Reminder.objects.create(
        patient=confirmation.patient,
        appointment=confirmation.appointment,
        kind=confirmation.kind,
        due_at=confirmation.due_at,
        copy_of=confirmation,
        copy_reason=CopyReason.MEDICATION_CHANGED,
    )
    client = as_user("front_desk")

    outbox = client.get(reverse("aftercare:outbox")).content.decode()
    preview = client.get(copy.get_absolute_url()).content.decode()

    assert "copy: the medication to stop changed</span>" in outbox
    assert (
        "sent again because the medication to stop changed after it was sent)"
        in preview
    )


def test_a_sent_emails_preview_says_it_is_written_from_todays_bookings(
    as_user, confirmation, reminder
):
    client = as_user("front_desk")
    note = "Shown as it would be written now"

    sent = client.get(reverse("aftercare:preview", args=[confirmation.pk]))
    scheduled = client.get(reverse("aftercare:preview", args=[reminder.pk]))

    assert note in sent.content.decode()
    assert note not in scheduled.content.decode()


def test_the_preview_shows_subject_both_parts_and_the_attachment(as_user, confirmation):
    response = as_user("front_desk").get(
        reverse("aftercare:preview", args=[confirmation.pk])
    )

    page = response.content.decode()
    assert f"Subject: Your booking at {settings.CLINIC_NAME}" in page
    assert "Hello Ada," in page  # the text part
    assert (
        f'src="{reverse("aftercare:preview", args=[confirmation.pk])}?part=html"'
        in (page)
    )
    assert "appointment.ics" in page
    assert escape(confirmation.message_id) in page


def test_a_previews_unsubscribe_link_stops_nobodys_emails(
    as_user, confirmation, patient
):
    """A colleague clicking "Stop these emails" in a preview must not reach the
    patient's own page, one button away from stopping their emails."""
    client = as_user("front_desk")
    url = reverse("aftercare:preview", args=[confirmation.pk])
    harmless = reverse("aftercare:unsubscribe_preview")
    own = services.unsubscribe_url(patient)

    text = client.get(url).content.decode()
    html = client.get(url + "?part=html").content.decode()
    landing = client.get(harmless)

    for part in (text, html):
        assert harmless in part
        assert own not in part
    assert '<base target="_blank">' in html
    assert "From a preview it does nothing" in landing.content.decode()
    patient.refresh_from_db()
    assert patient.email_consent


def test_the_html_part_is_served_under_a_restrictive_policy(as_user, confirmation):
    response = as_user("practitioner").get(
        reverse("aftercare:preview", args=[confirmation.pk]) + "?part=html"
    )

    assert "Hello Ada" in response.content.decode()
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert "frame-ancestors 'self'" in policy
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_a_patients_name_cannot_inject_markup_into_the_html_part(as_user, book):
    patient = PatientFactory(first_name="<script>alert(1)</script>")
    book(patient)
    confirmation = Reminder.objects.get(patient=patient, kind=Kind.CONFIRMATION)

    response = as_user("front_desk").get(
        reverse("aftercare:preview", args=[confirmation.pk]) + "?part=html"
    )

    html = response.content.decode()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize(
    "first_name",
    [
        "<script>alert(1)</script>",
        '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    ],
)
def test_a_patients_name_cannot_inject_markup_into_the_preview_page(
    as_user, book, first_name
):
    # The text part is plain text: what the patient typed is shown, not run.
    patient = PatientFactory(first_name=first_name)
    book(patient)
    confirmation = Reminder.objects.get(patient=patient, kind=Kind.CONFIRMATION)

    response = as_user("front_desk").get(
        reverse("aftercare:preview", args=[confirmation.pk])
    )

    page = response.content.decode()
    assert first_name not in page
    assert f"Hello {escape(first_name)}," in page


# Patient page -------------------------------------------------------------------------


def test_the_patient_page_shows_the_email_timeline(as_user, reminder, patient):
    response = as_user("front_desk").get(patient.get_absolute_url())

    page = response.content.decode()
    assert "Booking confirmation" in page
    assert "Appointment reminder" in page
    assert f"to {patient.email}" in page
    assert reverse("aftercare:cancel", args=[reminder.pk]) in page
    # Which appointment each email is about: a patient may have several.
    appointment = reminder.appointment
    assert appointment.get_absolute_url() in page
    assert f"{appointment.get_kind_display()}, " in page


def test_a_sent_email_names_the_time_it_told_once_its_appointment_moves(
    as_user, confirmation, patient, move
):
    """Staff answering "your email said Thursday" see what it said: the
    appointment's time when each email went out, beside where it is now."""
    client = as_user("front_desk")
    appointment = confirmation.appointment

    def move_and_tell(start: datetime, at: datetime) -> None:
        appointment.refresh_from_db()
        move(appointment, start, at=at)
        # The update goes out a minute after the move.
        services.dispatch_due(now=at + timedelta(minutes=1))

    before = client.get(patient.get_absolute_url()).content.decode()
    assert "moved since" not in before
    move_and_tell(THURSDAY + DAY, NOW + HOUR)
    move_and_tell(THURSDAY + 2 * DAY, NOW + 2 * HOUR)

    page = client.get(patient.get_absolute_url()).content.decode()
    update = Reminder.objects.filter(kind=Kind.UPDATE, status=Status.SENT)
    assert update.count() == 2
    # The confirmation told Thursday, the first update Friday; the latest
    # update told Saturday, where the appointment is, and the reminders to
    # come will say where it is when they go.
    assert "it was 26 Nov 2026, 10:00 when this went out" in page
    assert "it was 27 Nov 2026, 10:00 when this went out" in page
    assert page.count("moved since") == 2
    preview = client.get(reverse("aftercare:preview", args=[confirmation.pk]))
    assert (
        "when this email went out it was Thu 26 Nov 2026, 10:00"
        in preview.content.decode()
    )
    latest = update.latest("sent_at")
    preview = client.get(reverse("aftercare:preview", args=[latest.pk]))
    assert "moved since" not in preview.content.decode()
    # Emails planned again by each move say so in words, not "v2".
    assert "after 2 changes" in page
    assert ">v2<" not in page
    # Those the moves replaced are folded beneath what the patient got.
    replaced = Reminder.objects.filter(
        patient=patient, status__in=[Status.CANCELLED, Status.SKIPPED]
    ).count()
    assert replaced
    assert (
        f'<summary class="small">{replaced} not sent: cancelled, replaced after a '
        "change, or no longer needed</summary>"
    ) in page
    shown, folded = page.split("not sent: cancelled, replaced")
    assert "Cancelled</span>" not in shown and "Cancelled</span>" in folded


def test_a_sent_email_whose_appointment_changed_room_only_names_no_other_time(
    as_user, confirmation, patient, practitioner, other_room, front_desk
):
    appointment = confirmation.appointment
    reschedule_appointment(
        appointment=appointment,
        start=appointment.start,
        end=appointment.end,
        practitioner=practitioner,
        room=other_room,
        by=front_desk,
        now=NOW + HOUR,
    )

    page = as_user("front_desk").get(patient.get_absolute_url()).content.decode()

    assert "moved since" not in page


HELD = "Held: this email is switched off in the email rules."


def test_an_email_held_by_a_switched_off_rule_says_so(as_user, reminder, patient):
    client = as_user("front_desk")
    assert HELD not in client.get(patient.get_absolute_url()).content.decode()
    ReminderRule.objects.filter(kind=Kind.REMINDER).update(enabled=False)

    to_come = reverse("aftercare:outbox") + "?when=ahead"
    for url in (patient.get_absolute_url(), to_come, reminder.get_absolute_url()):
        page = client.get(url).content.decode()
        # The scheduled reminder waits; the confirmation, sent, is not held.
        assert page.count(HELD) == 1


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            {"email_consent": False},
            "Won't go out: the patient doesn't agree to emails.",
        ),
        (
            {"email": "", "email_consent": False},
            "Won't go out: the patient has no email address.",
        ),
    ],
)
def test_a_scheduled_email_that_wont_go_out_says_why(
    as_user, reminder, patient, change, says
):
    """Booked without consent (or address): planned, then skipped when due."""
    client = as_user("front_desk")
    assert says not in client.get(patient.get_absolute_url()).content.decode()
    Patient.objects.filter(pk=patient.pk).update(**change)

    to_come = reverse("aftercare:outbox") + "?when=ahead"
    # Said on the email's own page too, where staff check it before acting.
    for url in (patient.get_absolute_url(), to_come, reminder.get_absolute_url()):
        page = client.get(url).content.decode()
        assert says in page


def test_a_practitioner_sees_the_timeline_without_actions(
    as_user, confirmation, patient
):
    response = as_user("practitioner").get(patient.get_absolute_url())

    page = response.content.decode()
    assert "Booking confirmation" in page
    assert "/resend/" not in page
    assert "/cancel/" not in page


@pytest.mark.parametrize(
    ("address", "says", "reason"),
    [
        ("ada@patients.example", "No consent to emails", "No consent to emails"),
        ("", "No email address", "No email address"),
    ],
)
def test_the_patient_page_says_why_no_emails_are_sent(
    as_user, book, patient, mailoutbox, address, says, reason
):
    patient.email, patient.email_consent = address, False
    patient.save()
    book(patient)
    services.dispatch_due(now=NOW)

    page = as_user("front_desk").get(patient.get_absolute_url()).content.decode()

    assert says in page
    assert reason in page  # on the skipped confirmation
    assert mailoutbox == []


# Unsubscribe --------------------------------------------------------------------------


def unsubscribe_url(token: str) -> str:
    return reverse("aftercare:unsubscribe", args=[token])


def patient_client() -> Client:
    """A mail program or browser: no session, and CSRF checks as in production."""
    return Client(enforce_csrf_checks=True)


def test_opening_the_unsubscribe_link_asks_first_and_changes_nothing(patient, reminder):
    response = patient_client().get(
        unsubscribe_url(services.unsubscribe_token(patient))
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert f"Stop emails from {settings.CLINIC_NAME}?" in page
    assert "Ada" in page
    patient.refresh_from_db()
    reminder.refresh_from_db()
    assert patient.email_consent
    assert reminder.status == Status.SCHEDULED


def test_the_unsubscribe_pages_button_answers_on_a_page_that_reloads_safely(
    patient, reminder
):
    url = unsubscribe_url(services.unsubscribe_token(patient))
    client = patient_client()
    asked = client.get(url).content.decode()
    assert "no news of a change or cancellation of your appointments" in asked

    response = client.post(url, {"from": "page"})

    assert response.status_code == 302
    assert response["Location"] == f"{url}?done=1"
    done = client.get(response["Location"]).content.decode()
    assert "Done: no more emails" in done
    assert "not even when an appointment changes" in done
    patient.refresh_from_db()
    assert not patient.email_consent


def test_a_link_checker_asking_for_the_unsubscribe_page_changes_nothing(
    patient, reminder
):
    # Mail filters check links with HEAD before the patient sees them.
    response = patient_client().head(
        unsubscribe_url(services.unsubscribe_token(patient))
    )

    assert response.status_code == 200
    patient.refresh_from_db()
    assert patient.email_consent


def test_one_click_unsubscribe_turns_consent_off_and_cancels_pending_emails(
    patient, reminder, mailoutbox
):
    mailoutbox.clear()
    url = unsubscribe_url(services.unsubscribe_token(patient))

    response = patient_client().post(url, {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert "no more emails" in response.content.decode()
    patient.refresh_from_db()
    reminder.refresh_from_db()
    assert not patient.email_consent
    assert (reminder.status, reminder.skip_reason) == (
        Status.CANCELLED,
        "the patient unsubscribed",
    )
    services.dispatch_due(now=THURSDAY - DAY)
    assert mailoutbox == []
    # Coming back to the link later: it says so, and offers nothing to click.
    again = patient_client().get(url).content.decode()
    assert "You are not receiving our emails" in again
    assert "<form" not in again


def test_a_repeated_one_click_unsubscribe_keeps_the_time_the_patient_stopped(
    patient, reminder
):
    """Mail scanners repeat the one-click request: the first time stands."""
    url = unsubscribe_url(services.unsubscribe_token(patient))
    with time_machine.travel(NOW, tick=False):
        patient_client().post(url, {"List-Unsubscribe": "One-Click"})
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        response = patient_client().post(url, {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    patient.refresh_from_db()
    assert (patient.email_consent, patient.unsubscribed_at) == (False, NOW)
    # Once in the patient's history, as the patient's own doing.
    [change] = PatientChange.objects.filter(patient=patient)
    assert (change.by, change.how, change.at) == (
        None,
        "the patient, through the link in an email",
        NOW,
    )
    assert change.changes[0] | {"label": ""} == {
        "field": "email_consent",
        "label": "",
        "before": "yes",
        "after": "no",
    }


def test_a_patient_who_unsubscribed_gets_no_email_for_a_new_booking(
    book, patient, reminder, mailoutbox
):
    mailoutbox.clear()
    patient_client().post(unsubscribe_url(services.unsubscribe_token(patient)))

    book(patient, start=THURSDAY + DAY)
    services.dispatch_due(now=NOW)

    assert mailoutbox == []
    assert Reminder.objects.filter(skip_reason="no consent to emails").count() == 1


def tampered(patient: Patient, other: Patient) -> str:
    """The other patient's id with this patient's signature."""
    mine = services.unsubscribe_token(patient)
    theirs = services.unsubscribe_token(other)
    return theirs.split(":", 1)[0] + ":" + mine.split(":", 1)[1]


def test_the_patients_pages_lead_nowhere_near_the_staff_sign_in(patient):
    client = patient_client()
    asked = client.get(unsubscribe_url(services.unsubscribe_token(patient)))
    invalid = client.get(unsubscribe_url("not-a-token"))
    wrong_method = client.put(unsubscribe_url(services.unsubscribe_token(patient)))

    for page in (asked, invalid, wrong_method):
        assert reverse("clinic:dashboard") + '"' not in page.content.decode()
        assert "Back to today" not in page.content.decode()
    # Greeted by name: kept by no browser or proxy.
    assert "no-store" in asked["Cache-Control"]
    # Where the link can't help, the way that can.
    assert f"call {settings.CLINIC_NAME} on {settings.CLINIC_PHONE}" in (
        invalid.content.decode()
    )


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda patient, other: "not-a-token", id="forged"),
        pytest.param(
            lambda patient, other: signing.dumps(
                {"p": patient.pk}, salt="clinic.something-else", compress=True
            ),
            id="other-salt",
        ),
        pytest.param(tampered, id="other-patient"),
        pytest.param(
            lambda patient, other: services.unsubscribe_token(patient)[:-2] + "xx",
            id="bad-signature",
        ),
        pytest.param(
            lambda patient, other: signing.dumps(
                {"p": str(patient.pk)}, salt=services.UNSUBSCRIBE_SALT
            ),
            id="wrong-shape",
        ),
    ],
)
def test_an_invalid_unsubscribe_token_changes_nothing(patient, reminder, make_token):
    other = PatientFactory()
    url = unsubscribe_url(make_token(patient, other))

    for method in ("get", "post"):
        response = getattr(patient_client(), method)(url)
        assert response.status_code == 400
        assert "This link is not valid" in response.content.decode()

    assert list(
        Patient.objects.order_by("pk").values_list("email_consent", flat=True)
    ) == [True, True]
    reminder.refresh_from_db()
    assert reminder.status == Status.SCHEDULED


def test_a_link_cut_short_tells_the_patient_what_to_do_not_the_staff(settings, db):
    # A mail reader that broke the link at the token: no such page.
    response = patient_client().get("/emails/unsubscribe//")

    assert response.status_code == 404
    page = response.content.decode()
    assert (
        f"open the link from the email again, or call us on {settings.CLINIC_PHONE}."
    ) in page
    assert "today's page" not in page


def test_an_unsubscribe_link_expires_after_400_days(patient, reminder, frozen):
    url = unsubscribe_url(services.unsubscribe_token(patient))

    frozen.move_to(NOW + timedelta(days=399))
    assert patient_client().get(url).status_code == 200

    frozen.move_to(NOW + timedelta(days=401))
    response = patient_client().post(url)

    assert response.status_code == 400
    assert "too old" in response.content.decode()
    patient.refresh_from_db()
    assert patient.email_consent


def test_staff_can_turn_emails_back_on_with_the_patients_consent(
    as_user, patient, reminder, book, mailoutbox
):
    services.unsubscribe(patient, now=NOW)
    patient.refresh_from_db()
    mailoutbox.clear()
    # The desk sees when and how the patient stopped them.
    assert patient.unsubscribed_at == NOW
    desk = as_user("front_desk")
    edit = desk.get(reverse("clinic:patient_edit", args=[patient.pk]))
    assert (
        f"The patient stopped their emails on "
        f"{timezone.localtime(NOW):%-d %b %Y, %H:%M}, through the link in one: tick "
        "this only with their consent." in edit.content.decode()
    )
    assert "Unsubscribed" in desk.get(patient.get_absolute_url()).content.decode()

    response = post_as_page(
        desk,
        reverse("clinic:patient_edit", args=[patient.pk]),
        {
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "date_of_birth": patient.date_of_birth.isoformat(),
            "email": patient.email,
            "phone": patient.phone,
            "preferred_contact": patient.preferred_contact,
            "email_consent": "on",
            "notes": "",
        },
    )

    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.email_consent
    assert patient.unsubscribed_at is None
    book(patient, start=THURSDAY + DAY)
    services.dispatch_due(now=NOW)
    assert [m.to for m in mailoutbox] == [[patient.email]]
    # The reminder the opt-out cancelled is due again at its own time.
    due = reminder.due_at
    reminder.refresh_from_db()
    assert (reminder.status, reminder.due_at) == (Status.SCHEDULED, due)


def test_a_page_opened_before_an_unsubscribe_doesnt_undo_it(as_user, patient, reminder):
    desk = as_user("front_desk")
    url = reverse("clinic:patient_edit", args=[patient.pk])
    opened = desk.get(url).context["form"]
    assert opened["consent_shown"].value() == "1"
    # The patient unsubscribes while the page is open (a minute later); the desk
    # then saves a new phone number with the box still ticked as shown.
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        services.unsubscribe(patient, now=NOW + timedelta(minutes=1))

    response = desk.post(
        url,
        {
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "date_of_birth": patient.date_of_birth.isoformat(),
            "email": patient.email,
            "phone": "+44 7700 900999",
            "preferred_contact": patient.preferred_contact,
            "email_consent": "on",
            "consent_shown": "1",
            # As the page sends it: an unsubscribe is no colleague's edit.
            "seen": opened["seen"].value(),
            "notes": "",
        },
        follow=True,
    )

    assert response.redirect_chain[-1][1] == 302
    assert "The patient stopped emails while this page was open" in (
        response.content.decode()
    )
    patient.refresh_from_db()
    assert patient.phone == "+44 7700 900999"
    assert not patient.email_consent
    assert patient.unsubscribed_at == NOW + timedelta(minutes=1)
    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED


def test_consent_given_again_leaves_out_emails_that_no_longer_apply(
    as_user, patient, reminder, front_desk
):
    services.unsubscribe(patient, now=NOW)
    cancel_appointment(
        appointment=reminder.appointment, by=front_desk, reason="Ill.", now=NOW
    )
    patient.refresh_from_db()
    patient.email_consent = True

    save_patient_details(patient, now=NOW)

    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED


def test_an_email_isnt_resent_to_a_patient_who_unsubscribed(as_user, patient, reminder):
    services.unsubscribe(patient, now=NOW)

    response = as_user("front_desk").post(
        reverse("aftercare:resend", args=[reminder.pk]),
        {"seen": "cancelled"},
        follow=True,
    )

    assert "record their consent on their details first" in (response.content.decode())
    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED


def test_a_resent_reminder_still_ahead_goes_out_at_its_time(
    as_user, patient, reminder, frozen
):
    due = reminder.due_at
    services.cancel(reminder, now=NOW)

    response = as_user("front_desk").post(
        reverse("aftercare:resend", args=[reminder.pk]),
        {"seen": "cancelled"},
        follow=True,
    )

    assert "The email will go out at its time" in response.content.decode()
    reminder.refresh_from_db()
    assert (reminder.status, reminder.due_at) == (Status.SCHEDULED, due)


def session_email(practitioner, patient, room, kind: str) -> Reminder:
    """An email of a treatment session on 10 December, due at its start."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from plans.tests.record_factories import add_session, make_plan

    plan = make_plan(practitioner, patient=patient)
    session = add_session(
        plan, datetime(2026, 12, 10, 10, tzinfo=ZoneInfo("Europe/London")), room
    )
    return email_of(session.appointment, kind)


def email_of(appointment, kind: str) -> Reminder:
    return Reminder.objects.create(
        patient=appointment.patient,
        appointment=appointment,
        kind=kind,
        due_at=appointment.start,
    )


def test_the_front_desk_preview_hides_the_consultations_topical_medication(
    as_user, practitioner, patient, room
):
    pre_care = session_email(practitioner, patient, room, Kind.PRE_CARE)
    consultation = pre_care.appointment.treatment_session.plan.consultation
    consultation.topical_medication = "Tretinoin 0.05% cream"
    consultation.save(update_fields=["topical_medication"])
    url = reverse("aftercare:preview", args=[pre_care.pk])

    front_desk_page = as_user("front_desk").get(url).content.decode()
    practitioner_page = as_user("practitioner").get(url).content.decode()

    assert "Tretinoin" not in front_desk_page
    assert "visible to practitioners only" in front_desk_page
    assert "Tretinoin 0.05% cream" in practitioner_page


def test_a_practitioners_preview_of_the_medication_is_logged_as_clinical_access(
    as_user, practitioner, patient, room
):
    from clinic.models import ClinicalAccess

    pre_care = session_email(practitioner, patient, room, Kind.PRE_CARE)
    plan = pre_care.appointment.treatment_session.plan
    url = reverse("aftercare:preview", args=[pre_care.pk])
    as_user("practitioner").get(url)
    # Nothing clinical in the email yet: nothing to log.
    assert not ClinicalAccess.objects.exists()

    plan.consultation.topical_medication = "Tretinoin 0.05% cream"
    plan.consultation.save(update_fields=["topical_medication"])
    as_user("front_desk").get(url)
    # The HTML part opened on its own is logged; the one the page's frame
    # loads right after the page is the same reading, logged once.
    as_user("practitioner").get(url, {"part": "html"})
    as_user("practitioner").get(url)
    as_user("practitioner").get(url, {"part": "html"})
    # An email of the same session that doesn't name it: nothing clinical read.
    confirmation = email_of(pre_care.appointment, Kind.CONFIRMATION)
    as_user("practitioner").get(reverse("aftercare:preview", args=[confirmation.pk]))

    logged = ClinicalAccess.objects.order_by("id")
    assert [(a.user.username, a.what, a.object_id) for a in logged] == [
        (practitioner.user.username, "email preview (HTML part)", pre_care.pk),
        (practitioner.user.username, "email preview", pre_care.pk),
    ]
    assert {a.patient_id for a in logged} == {patient.pk}


def test_an_unsubscribe_in_the_moment_a_save_begins_is_not_undone(
    as_user, patient, reminder, monkeypatch
):
    # The unsubscribe commits after the request has read the patient (the form
    # holds consent as on) but before the save locks the row.
    from clinic.views import patients as views

    url = reverse("clinic:patient_edit", args=[patient.pk])
    opened = as_user("front_desk").get(url).context["form"]
    real = views.services.save_patient_details

    def unsubscribed_first(*args, **kwargs):
        services.unsubscribe(patient, now=NOW)
        return real(*args, **kwargs)

    monkeypatch.setattr(views.services, "save_patient_details", unsubscribed_first)
    response = as_user("front_desk").post(
        url,
        {
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "date_of_birth": patient.date_of_birth.isoformat(),
            "email": patient.email,
            "phone": "+44 7700 900999",
            "preferred_contact": patient.preferred_contact,
            "email_consent": "on",
            "consent_shown": "1",
            "seen": opened["seen"].value(),
            "notes": "",
        },
    )

    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.phone == "+44 7700 900999"
    assert not patient.email_consent
    assert patient.unsubscribed_at == NOW
    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED


# Late emails --------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["front_desk", "manager"])
def test_today_and_the_outbox_say_when_emails_are_late(
    book, patient, frozen, as_user, who
):
    book(patient)  # Its confirmation was due at NOW; no worker has sent it.
    frozen.move_to(NOW + HOUR)
    client = as_user(who)

    today = client.get(reverse("clinic:dashboard")).content.decode()
    outbox = client.get(reverse("aftercare:outbox")).content.decode()

    for page in (today, outbox):
        assert "Patient emails are late." in page
        assert "1 email due since Mon 23 Nov, 08:00 hasn&#x27;t gone out." in page
    assert f'href="{reverse("aftercare:outbox")}?status=scheduled"' in today


def test_nothing_is_said_of_emails_on_time_nor_to_practitioners(
    book, patient, frozen, as_user
):
    book(patient)
    frozen.move_to(NOW + 5 * timedelta(minutes=1))

    assert "emails are late" not in (
        as_user("front_desk").get(reverse("clinic:dashboard")).content.decode()
    )
    frozen.move_to(NOW + HOUR)
    assert "emails are late" not in (
        as_user("practitioner").get(reverse("clinic:dashboard")).content.decode()
    )


@pytest.mark.parametrize("action", ["resend", "copy", "cancel"])
def test_an_outbox_action_not_sent_from_its_page_is_refused_in_words(
    as_user, confirmation, reminder, action
):
    target = reminder if action == "cancel" else confirmation
    before = Reminder.objects.count()

    for seen in ({}, {"seen": "anything"}):
        response = as_user("front_desk").post(
            reverse(f"aftercare:{action}", args=[target.pk]), seen, follow=True
        )
        assert "open the email&#x27;s page and choose again there" in (
            response.content.decode()
        )

    target.refresh_from_db()
    assert target.status == (Status.SCHEDULED if action == "cancel" else Status.SENT)
    assert Reminder.objects.count() == before


def test_a_copy_asked_for_from_a_page_that_showed_another_status_is_refused(
    as_user, confirmation
):
    response = as_user("front_desk").post(
        reverse("aftercare:copy", args=[confirmation.pk]),
        {"seen": "failed"},
        follow=True,
    )

    assert "changed while your page was open" in response.content.decode()
    assert not Reminder.objects.filter(copy_of=confirmation).exists()


def test_today_and_the_outbox_point_to_emails_to_check(as_user, confirmation, reminder):
    Reminder.objects.filter(pk=confirmation.pk).update(status=Status.FAILED)
    Reminder.objects.filter(pk=reminder.pk).update(status=Status.UNKNOWN)
    client = as_user("front_desk")

    for url in (reverse("clinic:dashboard"), reverse("aftercare:outbox")):
        page = client.get(url).content.decode()
        assert "Patient emails to check:" in page, url
        assert '?status=failed&amp;when=any">1 failed</a> and ' in page
        assert "1 cut short while sending</a>: open each" in page
    Reminder.objects.filter(pk__in=[confirmation.pk, reminder.pk]).update(
        status=Status.CANCELLED
    )
    assert (
        "emails to check"
        not in client.get(reverse("clinic:dashboard")).content.decode()
    )


def test_an_email_cancelled_from_the_patients_page_says_who_cancelled_it(
    as_user, reminder, patient, front_desk
):
    front_desk.first_name, front_desk.last_name = "Fran", "Desk"
    front_desk.save()
    client = as_user("front_desk")
    # Each row's button says which email it cancels (a list of them reads
    # "Cancel" twelve times otherwise).
    page = client.get(patient.get_absolute_url()).content.decode()
    assert 'aria-label="Cancel the appointment reminder email due ' in page

    response = client.post(
        reverse("aftercare:cancel", args=[reminder.pk]),
        {"seen": reminder.as_shown, "next": patient.get_absolute_url()},
        follow=True,
    )

    assert "The email is cancelled." in response.content.decode()
    assert "Cancelled by Fran Desk" in response.content.decode()
    assert Reminder.objects.get(pk=reminder.pk).skip_reason == "cancelled by Fran Desk"


def test_a_cancel_from_a_page_opened_before_a_cancel_and_a_resend_is_refused(
    as_user, reminder, frozen
):
    """Cancelled and resent by a colleague meanwhile: scheduled again, as the
    old page showed it, but not the same email as it showed."""
    client = as_user("front_desk")
    old_page = client.get(reminder.get_absolute_url()).content.decode()
    shown = reminder.as_shown
    assert f'value="{shown}"' in old_page
    frozen.shift(timedelta(minutes=1))
    services.cancel(reminder, shown=shown)
    frozen.shift(timedelta(minutes=1))
    services.resend(Reminder.objects.get(pk=reminder.pk), shown="cancelled")

    response = client.post(
        reverse("aftercare:cancel", args=[reminder.pk]), {"seen": shown}, follow=True
    )

    assert "changed while your page was open" in response.content.decode()
    assert Reminder.objects.get(pk=reminder.pk).status == Status.SCHEDULED


def test_a_cancelled_email_still_ahead_is_scheduled_again_not_resent(as_user, reminder):
    """Its button says what it does: it goes out at its time, not now."""
    services.cancel(reminder)
    client = as_user("manager")
    url = reverse("aftercare:preview", args=[reminder.pk])

    page = client.get(url).content.decode()

    assert ">Schedule again</button>" in page
    assert ">Resend</button>" not in page
    Reminder.objects.filter(pk=reminder.pk).update(due_at=NOW - timedelta(hours=1))
    assert ">Resend</button>" in client.get(url).content.decode()


def test_the_practitioner_reads_that_the_patient_is_told_of_a_new_medication(
    client, practitioner, patient, room
):
    """Screened again (Monday 08:00, before the session of 10 December): the
    page says the patient hears of it, and the pre-care sent before goes again
    ten minutes later, so a slip corrected meanwhile is not a third email."""
    pre_care = session_email(practitioner, patient, room, Kind.PRE_CARE)
    Reminder.objects.filter(pk=pre_care.pk).update(status="sent", sent_at=NOW)
    visit = AppointmentFactory(
        patient=patient,
        practitioner=practitioner,
        room=room,
        kind=Appointment.Kind.CONSULTATION,
        start=NOW - timedelta(minutes=30),
        end=NOW,
    )
    client.force_login(practitioner.user)
    url = reverse("clinic:consultation_record", args=[visit.pk])
    data = {
        "areas": ["face"],
        "goals": ["lines"],
        "hoped_for_results": "",
        "skin_type": "3",
        "topical_medication": "Tretinoin 0.05% cream",
        **dict.fromkeys(CONTRAINDICATIONS, "False"),
        "screening_note": "",
        "decision": "eligible",
        "decision_reason": "",
    }

    response = post_as_page(client, url, data, follow=True)

    told = (
        f"{patient} is emailed to stop Tretinoin 0.05% cream before the session "
        "of Thu 10 Dec 2026."
    )
    assert told in [str(m) for m in response.context["messages"]]
    [again] = Reminder.objects.filter(copy_of=pre_care)
    assert again.copy_reason == CopyReason.MEDICATION_CHANGED
    assert again.due_at == NOW + timedelta(minutes=10)
    # Another page or a colleague asking for a copy then hears of this one.
    Reminder.objects.filter(pk=again.pk).update(
        status="sent", sent_at=NOW + timedelta(seconds=30)
    )
    pre_care.refresh_from_db()
    assert "because the medication to stop changed" in services.why_not_copy(
        pre_care, now=NOW + timedelta(minutes=1)
    )
    # A patient who takes no emails: the page says to phone them instead.
    Patient.objects.filter(pk=patient.pk).update(email_consent=False)
    data["topical_medication"] = "Adapalene 0.1% gel"
    phoned = post_as_page(client, url, data, follow=True)
    assert any(
        "gets no emails (" in str(m)
        and "tell them by phone to stop Adapalene" in str(m)
        for m in phoned.context["messages"]
    )
