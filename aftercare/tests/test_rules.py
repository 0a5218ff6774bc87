"""Managers edit the email rules in the admin; a value no schedule can use is
refused with a message, never saved to break every booking later."""

from datetime import time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from aftercare.emails import fill
from aftercare.models import Kind, Reminder, ReminderRule
from clinic.models import Appointment
from clinic.scheduling import local_datetime
from clinic.services import book_appointment
from clinic.tests.factories import open_clinic
from clinic.tests.pages import post_as_page


def change(admin_client, rule: ReminderRule, **values):
    data = {
        "enabled": "on" if rule.enabled else "",
        "offset_minutes": rule.offset_minutes,
        "staleness_minutes": rule.staleness_minutes,
        "subject": rule.subject,
        "body": rule.body,
    } | values
    return post_as_page(
        admin_client,
        reverse("admin:aftercare_reminderrule_change", args=[rule.pk]),
        data,
    )


STALENESS = "Give a number of minutes from 10 to 43200 (30 days)."


@pytest.mark.parametrize(
    ("kind", "values", "message"),
    [
        (Kind.AFTERCARE_12H, {"offset_minutes": -99999999999999}, "greater than"),
        (Kind.AFTERCARE_12H, {"offset_minutes": 10**12}, "less than"),
        (Kind.AFTERCARE_12H, {"offset_minutes": -60}, "follows the session"),
        (Kind.PRE_CARE, {"offset_minutes": 60}, "at least 3 days (-4320 minutes)"),
        (Kind.REMINDER, {"offset_minutes": 60}, "before the appointment"),
        (Kind.PRE_CARE, {"body": "Come as you are."}, "Keep {medication_note} in"),
        (Kind.PRE_CARE, {"offset_minutes": 0}, "at least 3 days (-4320 minutes)"),
        (Kind.PRE_CARE, {"offset_minutes": -4319}, "at least 3 days"),
        (Kind.CONFIRMATION, {"offset_minutes": 5}, "leave the offset at 0"),
        (Kind.REMINDER, {"staleness_minutes": 0}, STALENESS),
        (Kind.REMINDER, {"staleness_minutes": 5}, STALENESS),
        (Kind.REMINDER, {"staleness_minutes": -10}, STALENESS),
        (Kind.REMINDER, {"staleness_minutes": 2_000_000_000}, STALENESS),
        (Kind.REMINDER, {"staleness_minutes": "soon"}, "Give whole minutes"),
        (Kind.REMINDER, {"offset_minutes": "soon"}, "whole number"),
    ],
)
def test_a_rule_no_schedule_can_use_is_refused_with_a_message(
    admin_client, kind, values, message
):
    rule = ReminderRule.objects.get(kind=kind)
    before = (rule.offset_minutes, rule.staleness_minutes)

    response = change(admin_client, rule, **values)

    assert response.status_code == 200
    assert message in response.content.decode()
    rule.refresh_from_db()
    assert (rule.offset_minutes, rule.staleness_minutes) == before


@pytest.mark.parametrize(
    ("kind", "offset", "message"),
    [
        # The manager's slip: 20,000 minutes (two weeks) for the 12 h step.
        (Kind.AFTERCARE_12H, 20_000, "goes before Aftercare 24 h, which is at 1440"),
        (Kind.AFTERCARE_12H, 1440, "goes before Aftercare 24 h"),
        (Kind.AFTERCARE_12H, 0, "goes after Aftercare guide, which is at 0"),
        (Kind.AFTERCARE_10D, 2880, "goes after Aftercare 48 h"),
    ],
)
def test_aftercare_steps_keep_their_order(admin_client, kind, offset, message):
    """A step moved past the next would be skipped for every patient (a step
    whose next one is due is never sent out of order)."""
    rule = ReminderRule.objects.get(kind=kind)
    before = rule.offset_minutes

    response = change(admin_client, rule, offset_minutes=offset)

    assert response.status_code == 200
    assert "Aftercare emails go out in order" in response.content.decode()
    assert message in response.content.decode()
    rule.refresh_from_db()
    assert rule.offset_minutes == before


def test_an_aftercare_step_moved_between_its_neighbours_is_saved(admin_client):
    rule = ReminderRule.objects.get(kind=Kind.AFTERCARE_12H)

    response = change(admin_client, rule, offset_minutes=18 * 60)

    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.offset_minutes == 18 * 60


def test_a_sensible_change_is_saved(admin_client):
    rule = ReminderRule.objects.get(kind=Kind.PRE_CARE)

    # As a browser sends the box: its lines end in CRLF.
    response = change(
        admin_client,
        rule,
        offset_minutes=-3 * 24 * 60,
        body=rule.body.replace("\n", "\r\n"),
    )

    assert response.status_code == 302
    rule.refresh_from_db()
    assert "\r" not in rule.body
    rule.refresh_from_db()
    assert rule.offset_minutes == -3 * 24 * 60


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        (Kind.AFTERCARE_10D, {"offset_minutes": 10**9}),
        (Kind.AFTERCARE_10D, {"offset_minutes": -1}),
        (Kind.REMINDER, {"offset_minutes": 1}),
        (Kind.UPDATE, {"offset_minutes": -1}),
        (Kind.REMINDER, {"staleness_minutes": 1}),
        (Kind.PRE_CARE, {"offset_minutes": -60}),
    ],
)
def test_the_database_refuses_such_a_rule_from_any_other_path(db, kind, values):
    with pytest.raises(IntegrityError), transaction.atomic():
        ReminderRule.objects.filter(kind=kind).update(**values)


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("Dear {first_name},", "Dear Ada,"),
        (
            "{{first_name}} is written {{first_name}}",
            "{first_name} is written {first_name}",
        ),
        # A width would build the text in memory before sending it: format
        # specs, conversions and lookups stay as written (the rule's form
        # refuses them), and so do unknown names.
        ("Dear {first_name:>999999999},", "Dear {first_name:>999999999},"),
        ("Dear {first_name!r},", "Dear {first_name!r},"),
        ("{first_name.__class__} {first_name}", "{first_name.__class__} Ada"),
        ("{nickname} {0} {first_name}", "{nickname} {0} Ada"),
        # A stray brace leaves the rest of the text filled in.
        ("Dear {first_name} {", "Dear Ada {"),
        ("Hello {first_name} :-}", "Hello Ada :-}"),
    ],
)
def test_a_managers_text_fills_in_names_and_nothing_else(text, written):
    assert fill(text, {"first_name": "Ada"}) == written


@pytest.mark.parametrize(
    ("field", "text", "error"),
    [
        ("body", "Dear {frist_name},", "{frist_name} is not a placeholder"),
        ("subject", "Hello {}", "{} is not a placeholder"),
        ("body", "Dear {first_name:>9}", "{first_name:>9} is not a placeholder"),
        ("body", "Dear {first_name.title}", "{first_name.title} is not a"),
        ("body", "{0} and {password}", "{0}, {password} are not placeholders"),
    ],
)
def test_a_rule_with_a_placeholder_no_email_fills_is_refused(db, field, text, error):
    rule = ReminderRule.objects.get(kind=Kind.REMINDER)
    setattr(rule, field, text)

    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()

    assert error in excinfo.value.message_dict[field][0]
    assert "{first_name}, {clinic_name}" in excinfo.value.message_dict[field][0]


@pytest.mark.parametrize(
    ("kind", "placeholder"),
    [
        (Kind.REMINDER, "{medication_note}"),
        (Kind.CONFIRMATION, "{rebook_note}"),
        (Kind.AFTERCARE_12H, "{medication_note}"),
    ],
)
def test_a_placeholder_of_another_kind_of_email_is_refused(db, kind, placeholder):
    """Stop a medication "now", or "book again", in an appointment reminder
    would alarm or mislead the patient."""
    rule = ReminderRule.objects.get(kind=kind)
    rule.body = f"{rule.body}\n{placeholder}"

    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()

    error = excinfo.value.message_dict["body"][0]
    assert f"{placeholder} is not a placeholder this email fills in" in error
    assert placeholder not in error.split("; use ")[1]


@pytest.mark.parametrize(
    ("kind", "placeholder"),
    [(Kind.PRE_CARE, "{medication_note}"), (Kind.CANCELLATION, "{rebook_note}")],
)
def test_a_sentence_placeholder_stays_out_of_the_subject(db, kind, placeholder):
    """A medication's name would show on a lock screen, and the pre-care text
    must still carry it."""
    rule = ReminderRule.objects.get(kind=kind)
    rule.subject = f"Note: {placeholder}"

    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()

    assert excinfo.value.message_dict["subject"] == [
        f"{placeholder} is a sentence for the text, not the subject."
    ]
    if kind == Kind.PRE_CARE:
        rule.subject = "See you {date}"
        rule.body = "Hello {first_name}."
        with pytest.raises(ValidationError, match="Keep {medication_note} in"):
            rule.full_clean()


@pytest.mark.parametrize(
    ("kind", "placeholder"),
    [(Kind.PRE_CARE, "{medication_note}"), (Kind.CANCELLATION, "{rebook_note}")],
)
def test_each_kinds_own_placeholder_is_taken(db, kind, placeholder):
    rule = ReminderRule.objects.get(kind=kind)
    assert placeholder in rule.body

    rule.full_clean()


def test_a_rule_may_have_doubled_braces(db):
    rule = ReminderRule.objects.get(kind=Kind.REMINDER)
    rule.body = "Hello {first_name}, see you at {time} {{not a placeholder}}"

    rule.full_clean()


@pytest.mark.parametrize("text", ["Hi {first_name", "Hi first_name}", "Hi :-}"])
def test_a_rule_with_a_brace_on_its_own_is_refused(db, text):
    rule = ReminderRule.objects.get(kind=Kind.REMINDER)
    rule.subject = text

    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()

    assert "A brace on its own" in excinfo.value.message_dict["subject"][0]


@pytest.mark.parametrize("text", ["Your visit\nBcc: someone@example.com", "A\rB"])
def test_a_subject_with_a_line_break_is_refused(db, text):
    rule = ReminderRule.objects.get(kind=Kind.REMINDER)
    rule.subject = text

    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()

    assert excinfo.value.message_dict["subject"] == [
        "A subject is one line: take out the line break."
    ]


@pytest.mark.parametrize("field", ["subject", "body"])
@pytest.mark.parametrize("text", ["\u200b\u200b", "\u2060 \u200b"])
def test_an_invisible_subject_or_text_is_refused(db, field, text):
    rule = ReminderRule.objects.get(kind=Kind.REMINDER)
    setattr(rule, field, text)

    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()

    assert excinfo.value.message_dict[field] == [
        "Write it in words: it is empty or invisible."
    ]


def book_days_ahead(days, kind, practitioner, patient, room, front_desk):
    """An appointment at 10:00 ``days`` from today (Monday if that's a Sunday),
    booked through the service, so its emails are planned."""
    open_clinic(practitioner)
    day = timezone.localdate() + timedelta(days=days)
    if day.weekday() == 6:
        day += timedelta(days=1)
    start = local_datetime(day, time(10))
    return book_appointment(
        patient=patient,
        practitioner=practitioner,
        room=room,
        start=start,
        end=start + timedelta(hours=1),
        kind=kind,
        booked_by=front_desk,
        now=timezone.now(),
    )


def test_a_new_offset_saved_in_the_admin_retimes_the_planned_emails(
    admin_client, patient, practitioner, room, front_desk
):
    appointment = book_days_ahead(
        14, Appointment.Kind.TREATMENT, practitioner, patient, room, front_desk
    )
    day = timezone.localdate(appointment.start)
    rule = ReminderRule.objects.get(kind=Kind.PRE_CARE)

    response = change(admin_client, rule, offset_minutes=-3 * 24 * 60)

    assert response.status_code == 302
    pre_care = Reminder.objects.get(appointment=appointment, kind=Kind.PRE_CARE)
    assert pre_care.due_at == local_datetime(day - timedelta(days=3), time(10))
    page = admin_client.get(response.url).content.decode()
    assert "1 planned email of this kind now goes out at the new time." in page
    assert "Its time changed but not its words" in page


def test_a_new_offset_saved_with_new_words_is_not_questioned(admin_client):
    rule = ReminderRule.objects.get(kind=Kind.AFTERCARE_12H)

    response = change(
        admin_client,
        rule,
        offset_minutes=18 * 60,
        body=rule.body.replace("12 hours", "18 hours"),
    )

    page = admin_client.get(response.url).content.decode()
    assert "Its time changed but not its words" not in page


def test_the_admin_says_which_re_timed_emails_go_out_at_once(
    admin_client, patient, practitioner, room, front_desk
):
    book_days_ahead(
        3, Appointment.Kind.CONSULTATION, practitioner, patient, room, front_desk
    )
    rule = ReminderRule.objects.get(kind=Kind.REMINDER)

    # Thirty days before an appointment a few days away: already past.
    response = change(admin_client, rule, offset_minutes=-30 * 24 * 60)

    page = admin_client.get(response.url).content.decode()
    assert (
        "1 planned email of this kind now goes out at the new time. 1 of them is "
        "due now: its new time has passed."
    ) in page


@pytest.mark.parametrize("kind", [Kind.CONFIRMATION, Kind.UPDATE, Kind.CANCELLATION])
def test_the_booking_emails_speak_of_a_file_for_each_appointment(db, kind):
    # A series' email carries one calendar file per session.
    body = ReminderRule.objects.get(kind=kind).body

    # Read right for one appointment as for a series.
    assert "each appointment comes with a calendar file" in body
    assert "calendar files" not in body


def test_the_admin_says_re_timed_emails_of_a_switched_off_rule_are_held(
    admin_client, patient, practitioner, room, front_desk
):
    book_days_ahead(
        10, Appointment.Kind.CONSULTATION, practitioner, patient, room, front_desk
    )
    rule = ReminderRule.objects.get(kind=Kind.REMINDER)

    response = change(admin_client, rule, enabled=False, offset_minutes=-2 * 24 * 60)

    page = admin_client.get(response.url).content.decode()
    assert "1 planned email of this kind now goes out at the new time." in page
    assert "This email is switched off: they are held until it is on again." in page


def test_the_rules_are_listed_in_sending_order_with_their_times_in_words(
    admin_client,
):
    page = admin_client.get(reverse("admin:aftercare_reminderrule_changelist"))
    body = page.content.decode().split('id="result_list"')[1]

    labels = [str(kind.label) for kind in Kind]
    positions = [body.index(f">{label}<") for label in labels]
    assert positions == sorted(positions)
    # No ticks to save on the list: each rule's page checks for a colleague's
    # save meanwhile.
    assert 'name="form-0-enabled"' not in body
    assert 'name="_save"' not in page.content.decode()
    assert "3 days late" in body  # the pre-care's, not 4320 minutes
    for words in (
        "as soon as the booking changes",
        "5 days before the start",
        "1 day before the start",
        "when the session is signed",
        "12 h after the end",
        "10 days after the end",
    ):
        assert words in body


def test_the_rule_page_lists_the_placeholders_before_any_is_refused(admin_client):
    rule = ReminderRule.objects.get(kind=Kind.PRE_CARE)

    page = admin_client.get(
        reverse("admin:aftercare_reminderrule_change", args=[rule.pk])
    ).content.decode()

    assert page.count("Filled in for each patient: {first_name}, {clinic_name}") == 2
    assert "{medication_note}" in page
    assert "{rebook_note}" not in page
    # Its timing in words beside the minutes.
    assert "Saved now: 5 days before the start. 60 minutes an hour, 1440 a day." in page


def test_a_rule_saved_from_a_page_opened_before_a_colleagues_save_is_refused(
    admin_client,
):
    """Tab B opened the 48 h rule; tab A switched it off. B's subject-only save
    would switch it on again."""
    from clinic.tests.pages import hidden_value

    rule = ReminderRule.objects.get(kind=Kind.AFTERCARE_48H)
    url = reverse("admin:aftercare_reminderrule_change", args=[rule.pk])
    tab_b = hidden_value(admin_client.get(url), "seen")
    ReminderRule.objects.filter(pk=rule.pk).update(enabled=False)

    refused = change(admin_client, rule, subject="Two days on", seen=tab_b)

    assert refused.status_code == 200
    assert "Someone saved this while your page was open" in refused.content.decode()
    rule.refresh_from_db()
    assert (rule.enabled, rule.subject) == (False, rule.subject)
    assert rule.subject != "Two days on"

    fresh = hidden_value(admin_client.get(url), "seen")
    saved = change(admin_client, rule, subject="Two days on", seen=fresh)

    assert saved.status_code == 302
    rule.refresh_from_db()
    assert (rule.enabled, rule.subject) == (False, "Two days on")


def test_a_reminder_switched_on_again_plans_those_booked_while_it_was_off(
    admin_client, patient, practitioner, room, front_desk
):
    rule = ReminderRule.objects.get(kind=Kind.REMINDER)
    held = book_days_ahead(
        10, Appointment.Kind.CONSULTATION, practitioner, patient, room, front_desk
    )
    assert change(admin_client, rule, enabled="").status_code == 302
    rule.refresh_from_db()
    booked_while_off = book_days_ahead(
        12, Appointment.Kind.CONSULTATION, practitioner, patient, room, front_desk
    )
    assert not Reminder.objects.filter(
        appointment=booked_while_off, kind=Kind.REMINDER
    ).exists()

    response = change(admin_client, rule, enabled="on")

    page = admin_client.get(response.url).content.decode()
    assert "1 appointment booked or moved while this email was off now has one" in page
    reminders = Reminder.objects.filter(kind=Kind.REMINDER, status="scheduled")
    assert sorted(reminders.values_list("appointment_id", flat=True)) == sorted(
        [held.pk, booked_while_off.pk]
    )
    planned = reminders.get(appointment=booked_while_off)
    assert planned.due_at == booked_while_off.start - timedelta(days=1)
    # Switched on once more, nothing is planned twice.
    assert change(admin_client, rule, enabled="").status_code == 302
    rule.refresh_from_db()
    change(admin_client, rule, enabled="on")
    assert reminders.count() == 2
