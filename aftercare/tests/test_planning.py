"""Emails are planned, re-timed and cancelled with the bookings that cause them."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from aftercare import services
from aftercare.models import AFTERCARE, Kind, Reminder, ReminderRule
from aftercare.services.planning import plan_missed
from clinic.models import Appointment
from clinic.services import (
    BookingError,
    Slot,
    book_appointment,
    book_appointments,
    cancel_appointment,
    complete_appointment,
    mark_no_show,
)
from clinic.tests.factories import AppointmentFactory, open_clinic
from plans.services import (
    PlanError,
    Scope,
    SeriesRequest,
    book_series,
    move_sessions,
    propose_for_plan,
)
from plans.tests.factories import TreatmentPlanFactory
from plans.tests.record_factories import add_session, make_plan, signed

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# A Monday morning; the bookings under test are later that week or after.
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=LONDON)
THURSDAY = datetime(2026, 11, 26, 10, 0, tzinfo=LONDON)
NEXT_THURSDAY = datetime(2026, 12, 3, 10, 0, tzinfo=LONDON)
Status = Reminder.Status


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


@pytest.fixture(autouse=True)
def london(settings) -> None:
    settings.TIME_ZONE = "Europe/London"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def clinic(practitioner, other_practitioner) -> None:
    """Open Monday to Saturday 09:00-18:00, both practitioners working all of it."""
    open_clinic(practitioner, other_practitioner)


@pytest.fixture
def book(clinic, patient, practitioner, room, front_desk) -> Callable[..., Appointment]:
    """book_appointment(): a consultation on Thursday 10:00-11:00, unless told."""

    def book(start: datetime = THURSDAY, **kwargs) -> Appointment:
        arguments = {
            "patient": patient,
            "practitioner": practitioner,
            "room": room,
            "start": start,
            "end": start + HOUR,
            "kind": Appointment.Kind.CONSULTATION,
            "booked_by": front_desk,
            "now": NOW,
        } | kwargs
        return book_appointment(**arguments)

    return book


def emails(**filters) -> list[tuple[str, int, datetime, str]]:
    """(kind, version, due, status) of the outbox rows, in due order."""
    return [
        (r.kind, r.version, r.due_at, r.status)
        for r in Reminder.objects.filter(**filters).order_by("due_at", "kind", "id")
    ]


def due(kind: str, **filters) -> datetime:
    return Reminder.objects.get(kind=kind, **filters).due_at


# Booking ----------------------------------------------------------------------------


def test_a_consultation_gets_a_confirmation_now_and_a_reminder_a_day_before(
    book, patient
):
    appointment = book()

    assert emails() == [
        (Kind.CONFIRMATION, 0, NOW, Status.SCHEDULED),
        (Kind.REMINDER, 0, THURSDAY - DAY, Status.SCHEDULED),
    ]
    confirmation = Reminder.objects.get(kind=Kind.CONFIRMATION)
    assert confirmation.patient == patient
    assert confirmation.appointment == appointment
    assert confirmation.series == [appointment.pk]


def test_a_booking_within_a_day_gets_the_confirmation_only(book):
    book(now=THURSDAY - 2 * HOUR)

    assert emails() == [(Kind.CONFIRMATION, 0, THURSDAY - 2 * HOUR, Status.SCHEDULED)]


def test_a_consultation_gets_no_pre_care(book):
    book(start=NEXT_THURSDAY)

    assert Kind.PRE_CARE not in {kind for kind, *_ in emails()}


def test_a_treatment_session_also_gets_pre_care_five_days_before(book):
    book(start=NEXT_THURSDAY, kind=Appointment.Kind.TREATMENT)

    assert emails() == [
        (Kind.CONFIRMATION, 0, NOW, Status.SCHEDULED),
        (Kind.PRE_CARE, 0, NEXT_THURSDAY - 5 * DAY, Status.SCHEDULED),
        (Kind.REMINDER, 0, NEXT_THURSDAY - DAY, Status.SCHEDULED),
    ]


def test_pre_care_booked_at_short_notice_goes_out_now_while_it_is_still_useful(book):
    # Booked on Monday for Thursday: five days' notice is impossible, three
    # days are still worth it (the rule's staleness).
    book(kind=Appointment.Kind.TREATMENT)

    assert due(Kind.PRE_CARE) == NOW


def test_pre_care_booked_the_day_before_still_goes_out_now(book):
    # Past its staleness (three days late): it still tells the patient how to
    # get ready, and to stop a medication now and call (test_dispatch).
    book(kind=Appointment.Kind.TREATMENT, now=THURSDAY - DAY + HOUR)

    assert [kind for kind, *_ in emails()] == [Kind.CONFIRMATION, Kind.PRE_CARE]
    assert due(Kind.PRE_CARE) == THURSDAY - DAY + HOUR


def test_a_pre_care_switched_back_on_goes_unless_as_late_as_a_held_one(
    book, frozen, patient, other_practitioner
):
    rule = ReminderRule.objects.get(kind=Kind.PRE_CARE)
    ReminderRule.objects.filter(pk=rule.pk).update(enabled=False)
    # Booked on Monday for next Thursday, while pre-care was off; and another
    # on the Tuesday before that Thursday.
    book(start=NEXT_THURSDAY, kind=Appointment.Kind.TREATMENT)
    frozen.move_to(NEXT_THURSDAY - 2 * DAY)
    late = book(
        start=NEXT_THURSDAY + 2 * HOUR,
        kind=Appointment.Kind.TREATMENT,
        practitioner=other_practitioner,
        now=NEXT_THURSDAY - 2 * DAY,
    )
    frozen.move_to(NEXT_THURSDAY - DAY)
    ReminderRule.objects.filter(pk=rule.pk).update(enabled=True)
    rule.refresh_from_db()

    # Monday's would have been due last Saturday: as late now as a row held
    # since then, which is skipped. Tuesday's booking is a day old.
    assert plan_missed(rule, now=NEXT_THURSDAY - DAY) == 1
    assert list(
        Reminder.objects.filter(kind=Kind.PRE_CARE).values_list(
            "appointment", flat=True
        )
    ) == [late.pk]


def test_no_pre_care_for_a_session_about_to_start(book):
    book(kind=Appointment.Kind.TREATMENT, now=THURSDAY - 2 * HOUR + MINUTE)

    assert [kind for kind, *_ in emails()] == [Kind.CONFIRMATION]


@pytest.fixture
def plan(clinic, patient, practitioner):
    return TreatmentPlanFactory(
        patient=patient, practitioner=practitioner, consented=True
    )


def book_plan(plan, room, by, first_start: datetime = NEXT_THURSDAY, now=NOW):
    proposals = propose_for_plan(
        plan=plan,
        request=SeriesRequest(
            first_start=first_start,
            practitioner=plan.practitioner,
            room=room,
            chosen={},
        ),
        now=now,
    )
    return book_series(
        plan=plan,
        proposals=proposals,
        practitioner=plan.practitioner,
        by=by,
        now=now,
    )


def test_a_series_gets_one_confirmation_and_pre_care_and_a_reminder_per_session(
    plan, room, front_desk
):
    sessions = book_plan(plan, room, front_desk)

    appointments = [s.appointment for s in sessions]
    assert len(appointments) == 6
    [confirmation] = Reminder.objects.filter(kind=Kind.CONFIRMATION)
    assert confirmation.appointment == appointments[0]
    assert confirmation.series == [a.pk for a in appointments]
    assert confirmation.due_at == NOW
    for appointment in appointments:
        assert due(Kind.PRE_CARE, appointment=appointment) == (
            appointment.start - 5 * DAY
        )
        assert due(Kind.REMINDER, appointment=appointment) == appointment.start - DAY
    assert Reminder.objects.count() == 1 + 2 * 6
    assert set(Reminder.objects.values_list("version", flat=True)) == {0}


# Moves, cancellations, no-shows -------------------------------------------------------


def test_a_move_cancels_pending_emails_and_plans_an_update_with_the_next_version(
    move, book, mailoutbox
):
    appointment = book()
    services.dispatch_due(now=NOW)  # The confirmation went out.
    moved_at = NOW + DAY + HOUR
    new_start = local(2026, 11, 27, 14)

    move(appointment, new_start, at=moved_at)

    assert emails() == [
        (Kind.CONFIRMATION, 0, NOW, Status.SENT),
        (Kind.UPDATE, 1, moved_at, Status.SCHEDULED),
        (Kind.REMINDER, 0, THURSDAY - DAY, Status.CANCELLED),
        (Kind.REMINDER, 1, new_start - DAY, Status.SCHEDULED),
    ]
    old = Reminder.objects.get(kind=Kind.REMINDER, version=0)
    assert old.skip_reason == "the appointment moved"


def test_a_pre_care_already_sent_is_not_sent_again_for_a_move_on_the_day(move, book):
    """Moved by an hour after the pre-care went out: the update tells the new
    time; a second pre-care would say the same again."""
    session = book(kind=Appointment.Kind.TREATMENT)
    services.dispatch_due(now=NOW)  # The confirmation and the pre-care went out.
    assert Reminder.objects.get(kind=Kind.PRE_CARE).status == Status.SENT

    move(session, THURSDAY + HOUR, at=NOW + HOUR)

    assert not Reminder.objects.filter(
        kind=Kind.PRE_CARE, status=Status.SCHEDULED
    ).exists()
    assert Reminder.objects.filter(kind=Kind.UPDATE, status=Status.SCHEDULED).exists()


def test_a_session_moved_earlier_after_its_pre_care_gets_pre_care_for_its_new_day(
    move, book
):
    """The pre-care named Friday and when to stop a skin medication for it;
    moved to Thursday, the patient is told again, at short notice, for
    Thursday. Moved back later on Thursday, nothing more: the last one holds."""
    friday = THURSDAY + DAY
    session = book(start=friday, kind=Appointment.Kind.TREATMENT)
    services.dispatch_due(now=NOW)
    assert Reminder.objects.get(kind=Kind.PRE_CARE).status == Status.SENT

    move(session, THURSDAY, at=NOW + HOUR)

    [again] = Reminder.objects.filter(kind=Kind.PRE_CARE, status=Status.SCHEDULED)
    assert again.due_at == NOW + HOUR
    services.dispatch_due(now=NOW + 2 * HOUR)
    for hours in (2, -1):  # later, then earlier, on Thursday
        session.refresh_from_db()
        move(session, THURSDAY + hours * HOUR, at=NOW + (4 + hours) * HOUR)
        assert not Reminder.objects.filter(
            kind=Kind.PRE_CARE, status=Status.SCHEDULED
        ).exists()


def test_a_pre_care_already_sent_is_planned_again_for_a_move_weeks_later(move, book):
    session = book(kind=Appointment.Kind.TREATMENT)
    services.dispatch_due(now=NOW)
    later = THURSDAY + 21 * DAY

    move(session, later, at=NOW + HOUR)

    [again] = Reminder.objects.filter(kind=Kind.PRE_CARE, status=Status.SCHEDULED)
    assert again.due_at == later - 5 * DAY


def test_each_move_takes_a_new_version_and_leaves_one_pending_row_per_email(move, book):
    appointment = book()
    services.dispatch_due(now=NOW)  # The patient has the confirmation.
    for hour in (14, 15, 16):
        start = local(2026, 11, 27, hour)
        move(appointment, start, at=NOW)

    assert emails(status=Status.SCHEDULED) == [
        (Kind.UPDATE, 3, NOW, Status.SCHEDULED),
        (Kind.REMINDER, 3, local(2026, 11, 26, 16), Status.SCHEDULED),
    ]
    assert Reminder.objects.filter(kind=Kind.REMINDER).count() == 4


def test_the_unique_key_refuses_a_second_row_for_the_same_email_and_version(book):
    appointment = book()

    with pytest.raises(IntegrityError), transaction.atomic():
        Reminder.objects.create(
            patient=appointment.patient,
            appointment=appointment,
            kind=Kind.REMINDER,
            version=0,
            due_at=NOW,
        )
    assert Reminder.objects.filter(kind=Kind.REMINDER).count() == 1


def test_a_cancellation_cancels_pending_emails_and_plans_a_cancellation_email(
    book, front_desk
):
    appointment = book()
    services.dispatch_due(now=NOW)  # The patient has the confirmation.
    cancelled_at = NOW + HOUR

    cancel_appointment(
        appointment=appointment, by=front_desk, reason="Unwell.", now=cancelled_at
    )

    assert emails() == [
        (Kind.CONFIRMATION, 0, NOW, Status.SENT),
        (Kind.CANCELLATION, 1, cancelled_at, Status.SCHEDULED),
        (Kind.REMINDER, 0, THURSDAY - DAY, Status.CANCELLED),
    ]
    assert set(
        Reminder.objects.filter(status=Status.CANCELLED).values_list(
            "skip_reason", flat=True
        )
    ) == {"the appointment was cancelled"}


def test_cancelling_a_moved_appointment_takes_the_version_after_the_move(
    move, book, front_desk
):
    appointment = book()
    services.dispatch_due(now=NOW)  # The patient has the confirmation.
    start = local(2026, 11, 27, 14)
    move(appointment, start, at=NOW)
    cancel_appointment(appointment=appointment, by=front_desk, reason="No.", now=NOW)

    assert Reminder.objects.get(kind=Kind.CANCELLATION).version == 2
    assert emails(status=Status.SCHEDULED) == [
        (Kind.CANCELLATION, 2, NOW, Status.SCHEDULED)
    ]


def test_a_booking_cancelled_before_its_confirmation_went_out_gets_no_email(
    book, front_desk
):
    """The patient never heard of it: "your booking is cancelled" would be news
    of a booking they didn't know, with a calendar file for nothing."""
    appointment = book()

    cancel_appointment(
        appointment=appointment, by=front_desk, reason="Typed in error.", now=NOW
    )

    assert sorted(emails()) == [
        (Kind.CANCELLATION, 1, NOW, Status.SKIPPED),
        (Kind.CONFIRMATION, 0, NOW, Status.CANCELLED),
        (Kind.REMINDER, 0, THURSDAY - DAY, Status.CANCELLED),
    ]
    skipped = Reminder.objects.get(kind=Kind.CANCELLATION)
    assert skipped.skip_reason == "the patient was never told of this booking"


def test_a_confirmation_a_worker_claims_during_the_cancellation_is_followed_by_one(
    book, front_desk, monkeypatch
):
    """A worker's claim commits between the cancellation's reads: the
    confirmation goes out, so the cancellation must too."""
    appointment = book()
    cancel_pending = services.planning.cancel_pending

    def claimed_first(*args, **kwargs):
        [claimed] = services.claim(now=NOW, limit=10)  # The due confirmation.
        assert claimed.kind == Kind.CONFIRMATION
        return cancel_pending(*args, **kwargs)

    monkeypatch.setattr(services.planning, "cancel_pending", claimed_first)

    cancel_appointment(appointment=appointment, by=front_desk, reason="No.", now=NOW)

    assert Reminder.objects.get(kind=Kind.CANCELLATION).status == Status.SCHEDULED


def test_a_booking_moved_before_its_confirmation_went_out_is_confirmed_anew(move, book):
    """No update "was 10:00" of a time the patient never knew: a confirmation
    of where it is now."""
    appointment = book()
    start = local(2026, 11, 27, 14)

    move(appointment, start, at=NOW)

    assert emails(status=Status.SCHEDULED) == [
        (Kind.CONFIRMATION, 1, NOW, Status.SCHEDULED),
        (Kind.REMINDER, 1, start - DAY, Status.SCHEDULED),
    ]
    services.dispatch_due(now=NOW)
    [email] = mail.outbox
    assert "has changed" not in email.subject
    assert "was Thursday" not in email.body


def test_a_session_moved_before_its_series_confirmation_went_out_waits_for_it(
    plan, room, front_desk
):
    """The series' confirmation, still to go, tells each session where it is
    when it goes: the moved one needs no email of its own."""
    sessions = book_plan(plan, room, front_desk)
    third = sessions[2].appointment
    new_start = third.start + 2 * HOUR

    move_sessions(
        session=sessions[2],
        start=new_start,
        scope=Scope.THIS,
        by=front_desk,
        now=NOW,
    )

    assert not Reminder.objects.filter(
        kind__in=[Kind.UPDATE, Kind.CONFIRMATION], appointment=third
    ).exists()
    services.dispatch_due(now=NOW)
    [confirmation] = mail.outbox
    local_start = timezone.localtime(new_start)
    assert f"{local_start:%A} {local_start.day} {local_start:%B %Y}, 12:00" in (
        confirmation.body
    )


def test_a_no_show_cancels_pending_emails(book, front_desk):
    appointment = book(kind=Appointment.Kind.TREATMENT, start=NEXT_THURSDAY)
    after_start = NEXT_THURSDAY + 30 * timedelta(minutes=1)

    mark_no_show(appointment=appointment, by=front_desk, now=after_start)

    assert not Reminder.objects.filter(status=Status.SCHEDULED).exists()
    assert set(Reminder.objects.values_list("skip_reason", flat=True)) == {"no-show"}


# Aftercare ----------------------------------------------------------------------------


@pytest.fixture
def treatment_plan(practitioner, patient):
    return make_plan(practitioner, patient=patient)


def aftercare_times(**filters) -> dict[str, datetime]:
    rows = Reminder.objects.filter(kind__in=AFTERCARE, **filters)
    return {r.kind: timezone.localtime(r.due_at, LONDON) for r in rows}


def test_signing_a_session_plans_aftercare_from_the_records_end(
    treatment_plan, room, practitioner
):
    start = local(2026, 11, 24, 10)
    session = add_session(treatment_plan, start, room)
    ended = local(2026, 11, 24, 11, 20)  # Ran 20 minutes over the booked hour.
    signed_at = local(2026, 11, 24, 11, 45)

    with time_machine.travel(signed_at, tick=False):
        signed(session, practitioner.user, now=signed_at, ended_at=ended)

    # The guide is due at the end itself: already due when signed, so it goes
    # out at once, before any step due by then.
    assert aftercare_times(appointment=session.appointment) == {
        Kind.AFTERCARE_GUIDE: ended,
        Kind.AFTERCARE_12H: local(2026, 11, 24, 23, 20),
        Kind.AFTERCARE_24H: local(2026, 11, 25, 11, 20),
        Kind.AFTERCARE_48H: local(2026, 11, 26, 11, 20),
        Kind.AFTERCARE_10D: local(2026, 12, 4, 11, 20),
    }
    assert set(Reminder.objects.values_list("version", "status")) == {
        (0, Status.SCHEDULED)
    }


def test_aftercare_counts_real_hours_across_the_spring_clock_change(
    treatment_plan, room, practitioner
):
    # Clocks go forward at 01:00 on Sunday 29 March 2026: 12 real hours after
    # 20:00 on Saturday is 09:00 on Sunday, not 08:00.
    session = add_session(treatment_plan, local(2026, 3, 28, 19), room)
    signed_at = local(2026, 3, 28, 20, 30)

    with time_machine.travel(signed_at, tick=False):
        signed(session, practitioner.user, now=signed_at)

    times = aftercare_times()
    assert times[Kind.AFTERCARE_12H] == datetime(2026, 3, 29, 8, tzinfo=UTC)
    assert (times[Kind.AFTERCARE_12H].hour, times[Kind.AFTERCARE_12H].tzname()) == (
        9,
        "BST",
    )
    assert times[Kind.AFTERCARE_24H].hour == 21
    assert times[Kind.AFTERCARE_48H] == local(2026, 3, 30, 21)
    assert times[Kind.AFTERCARE_10D] == local(2026, 4, 7, 21)


def test_aftercare_counts_real_hours_across_the_autumn_clock_change(
    treatment_plan, room, practitioner
):
    # Clocks go back at 02:00 on Sunday 25 October 2026.
    session = add_session(treatment_plan, local(2026, 10, 24, 17), room)
    signed_at = local(2026, 10, 24, 18, 30)

    with time_machine.travel(signed_at, tick=False):
        signed(session, practitioner.user, now=signed_at)

    times = aftercare_times()
    assert times[Kind.AFTERCARE_12H] == local(2026, 10, 25, 5)  # not 06:00
    assert times[Kind.AFTERCARE_12H].tzname() == "GMT"
    assert times[Kind.AFTERCARE_24H] == local(2026, 10, 25, 17)
    assert times[Kind.AFTERCARE_10D] == local(2026, 11, 3, 17)  # not 18:00


def test_the_ten_day_email_of_a_session_before_the_autumn_change_keeps_real_time(
    treatment_plan, room, practitioner
):
    session = add_session(treatment_plan, local(2026, 10, 20, 19), room)
    signed_at = local(2026, 10, 20, 20, 15)

    with time_machine.travel(signed_at, tick=False):
        signed(session, practitioner.user, now=signed_at)

    times = aftercare_times()
    assert times[Kind.AFTERCARE_12H] == local(2026, 10, 21, 8)  # still summer time
    assert times[Kind.AFTERCARE_10D] == datetime(2026, 10, 30, 19, tzinfo=UTC)
    assert times[Kind.AFTERCARE_10D].hour == 19  # 20:00 on the wall clock before


def test_pre_care_and_the_reminder_keep_the_wall_clock_time_across_a_clock_change(
    practitioner, room
):
    # Tuesday 30 March 2027 at 10:00, two days after the clocks go forward; read
    # back from the database, as a move or a series booking has it (in UTC).
    booked = AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=local(2027, 3, 30, 10),
        kind=Appointment.Kind.TREATMENT,
    )
    services.plan_booking([Appointment.objects.get(pk=booked.pk)], now=NOW)

    due = {
        kind: timezone.localtime(moment)
        for kind, moment in Reminder.objects.filter(appointment=booked).values_list(
            "kind", "due_at"
        )
    }
    assert due[Kind.PRE_CARE] == local(2027, 3, 25, 10)  # not 09:00
    assert due[Kind.PRE_CARE].tzname() == "GMT"
    assert due[Kind.REMINDER] == local(2027, 3, 29, 10)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        # Whole days keep the wall clock across the change (28 March 2027)...
        (-5 * DAY, datetime(2027, 3, 25, 10, tzinfo=LONDON)),
        # ...the rest is real time: 1 day 2 hours before is 08:00 the day before.
        (-DAY - 2 * HOUR, datetime(2027, 3, 29, 8, tzinfo=LONDON)),
        (-26 * HOUR, datetime(2027, 3, 29, 8, tzinfo=LONDON)),
        (-2 * HOUR, datetime(2027, 3, 30, 8, tzinfo=LONDON)),
    ],
)
def test_offsets_before_a_session_count_days_on_the_wall_clock_and_the_rest_in_hours(
    offset, expected
):
    start = datetime(2027, 3, 30, 10, tzinfo=LONDON).astimezone(UTC)

    assert services.wall_clock_offset(start, offset) == expected


def test_a_completed_consultation_gets_no_aftercare(book, front_desk):
    appointment = book()

    complete_appointment(
        appointment=appointment, by=front_desk, now=THURSDAY + 2 * HOUR
    )

    assert not Reminder.objects.filter(kind__in=AFTERCARE).exists()


# Rules, transactions, idempotency -------------------------------------------------


def test_disabled_rules_plan_no_rows(book, treatment_plan, room, practitioner):
    ReminderRule.objects.filter(
        kind__in=[Kind.PRE_CARE, Kind.REMINDER, Kind.AFTERCARE_24H]
    ).update(enabled=False)

    book(start=NEXT_THURSDAY, kind=Appointment.Kind.TREATMENT)
    session = add_session(treatment_plan, local(2026, 11, 24, 10), room)
    signed_at = local(2026, 11, 24, 11, 30)
    with time_machine.travel(signed_at, tick=False):
        signed(session, practitioner.user, now=signed_at)

    kinds = set(Reminder.objects.values_list("kind", flat=True))
    assert kinds == {
        Kind.CONFIRMATION,
        Kind.AFTERCARE_GUIDE,
        Kind.AFTERCARE_12H,
        Kind.AFTERCARE_48H,
        Kind.AFTERCARE_10D,
    }


def test_a_booking_refused_for_a_clash_leaves_no_emails(
    clinic, patient, practitioner, room, front_desk
):
    AppointmentFactory(practitioner=practitioner, start=THURSDAY + DAY)

    with pytest.raises(BookingError):
        book_appointments(
            patient=patient,
            slots=[
                Slot(THURSDAY, THURSDAY + HOUR, practitioner, room),
                Slot(THURSDAY + DAY, THURSDAY + DAY + HOUR, practitioner, room),
            ],
            kind=Appointment.Kind.TREATMENT,
            booked_by=front_desk,
            now=NOW,
        )

    assert not Appointment.objects.filter(patient=patient).exists()
    assert not Reminder.objects.exists()


def test_a_series_with_a_slot_taken_meanwhile_leaves_no_emails(
    plan, room, front_desk, other_practitioner
):
    proposals = propose_for_plan(
        plan=plan,
        request=SeriesRequest(
            first_start=NEXT_THURSDAY,
            practitioner=plan.practitioner,
            room=room,
            chosen={},
        ),
        now=NOW,
    )
    taken = proposals[3]
    AppointmentFactory(
        practitioner=other_practitioner, room=room, start=taken.start, end=taken.end
    )

    with pytest.raises(PlanError):
        book_series(
            plan=plan,
            proposals=proposals,
            practitioner=plan.practitioner,
            by=front_desk,
            now=NOW,
        )

    assert not Reminder.objects.exists()


def test_emails_that_cannot_be_planned_leave_no_booking(book, patient, monkeypatch):
    def broken() -> None:
        raise RuntimeError("planning failed")

    # Fails after the rows were written: they must go with the booking.
    monkeypatch.setattr(services.planning, "nudge", broken)

    with pytest.raises(RuntimeError):
        book()

    assert not Appointment.objects.filter(patient=patient).exists()
    assert not Reminder.objects.exists()


def test_planning_a_booking_twice_is_refused_by_the_unique_key(book):
    appointment = book()
    before = emails()

    with pytest.raises(IntegrityError), transaction.atomic():
        services.on_appointment_event(
            event="booked", appointments=[appointment], now=NOW
        )

    assert emails() == before


def test_completing_twice_plans_the_aftercare_once(treatment_plan, room):
    session = add_session(treatment_plan, local(2026, 11, 24, 10), room)
    appointment = session.appointment
    ended = appointment.end

    for _ in range(2):
        services.on_appointment_event(
            event="completed", appointments=[appointment], now=ended, ended_at=ended
        )

    assert Reminder.objects.filter(appointment=appointment).count() == len(AFTERCARE)


def test_the_dispatcher_is_nudged_after_the_booking_commits(
    book, monkeypatch, django_capture_on_commit_callbacks
):
    from aftercare import tasks

    nudges = []
    monkeypatch.setattr(
        tasks.dispatch_due_reminders, "delay", lambda: nudges.append(True)
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        book()
        assert nudges == []

    assert len(callbacks) == 1
    assert nudges == [True]


def test_a_broker_that_is_down_does_not_break_a_booking(
    book, monkeypatch, django_capture_on_commit_callbacks
):
    from aftercare import tasks

    def down() -> None:
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.dispatch_due_reminders, "delay", down)

    with django_capture_on_commit_callbacks(execute=True):
        appointment = book()

    assert Reminder.objects.filter(appointment=appointment).count() == 2


def test_correcting_a_signed_sessions_end_moves_the_aftercare_not_yet_sent(
    treatment_plan, room, practitioner
):
    from plans import records

    session = add_session(treatment_plan, local(2026, 11, 24, 10), room)
    signed_at = local(2026, 11, 24, 11, 5)
    with time_machine.travel(signed_at, tick=False):
        record = signed(session, practitioner.user, now=signed_at)
        Reminder.objects.filter(kind=Kind.AFTERCARE_GUIDE).update(
            status=Reminder.Status.SENT, sent_at=signed_at
        )
        records.amend_record(
            record=record,
            changes={"ended_at": local(2026, 11, 24, 11, 30)},
            entries=None,
            products=None,
            reason="The session ran over.",
            by=practitioner.user,
            now=local(2026, 11, 24, 12),
        )

    pending = aftercare_times(
        appointment=session.appointment, status=Reminder.Status.SCHEDULED
    )
    assert pending == {
        Kind.AFTERCARE_12H: local(2026, 11, 24, 23, 30),
        Kind.AFTERCARE_24H: local(2026, 11, 25, 11, 30),
        Kind.AFTERCARE_48H: local(2026, 11, 26, 11, 30),
        Kind.AFTERCARE_10D: local(2026, 12, 4, 11, 30),
    }
    # The guide already went out; the old times are cancelled, not deleted.
    assert Reminder.objects.filter(kind=Kind.AFTERCARE_GUIDE).count() == 1
    assert Reminder.objects.filter(status=Reminder.Status.CANCELLED).count() == 4


# A manager changes a rule's offset ---------------------------------------------------


def change_offset(kind: str, minutes: int, *, now: datetime) -> int:
    rule = ReminderRule.objects.get(kind=kind)
    rule.offset_minutes = minutes
    return services.save_rule(rule, now=now).count


def test_a_new_pre_care_offset_retimes_planned_emails_on_the_wall_clock(book):
    # 10:00 on 2 April, after the spring clock change: 3 days before is 10:00
    # local on 30 March, not 10:00 minus 72 real hours.
    march = local(2026, 3, 2, 9)
    appointment = book(
        start=local(2026, 4, 2, 10), kind=Appointment.Kind.TREATMENT, now=march
    )
    reminder = due(Kind.REMINDER, appointment=appointment)

    retimed = change_offset(Kind.PRE_CARE, -3 * 24 * 60, now=march)

    assert retimed == 1
    assert due(Kind.PRE_CARE, appointment=appointment) == local(2026, 3, 30, 10)
    assert due(Kind.REMINDER, appointment=appointment) == reminder


def test_a_new_aftercare_offset_moves_the_planned_step_by_the_change(
    treatment_plan, room, practitioner
):
    session = add_session(treatment_plan, local(2026, 11, 24, 10), room)
    ended = local(2026, 11, 24, 11, 20)
    with time_machine.travel(ended, tick=False):
        signed(session, practitioner.user, now=ended, ended_at=ended)

        change_offset(Kind.AFTERCARE_12H, 14 * 60, now=ended + HOUR)

    assert aftercare_times(appointment=session.appointment)[
        Kind.AFTERCARE_12H
    ] == local(2026, 11, 25, 1, 20)
    # The guide was due already at the end: not re-timed, whatever changes.
    assert (
        aftercare_times(appointment=session.appointment)[Kind.AFTERCARE_GUIDE] == ended
    )


def test_aftercare_moves_by_exactly_the_change_even_into_the_past_or_on_retry(
    treatment_plan, room, practitioner
):
    # The dispatcher reads the session's end back as due - offset: aftercare
    # keeps that true, whatever the new time is.
    session = add_session(treatment_plan, local(2026, 11, 24, 10), room)
    ended = local(2026, 11, 24, 11)
    with time_machine.travel(ended, tick=False):
        signed(session, practitioner.user, now=ended, ended_at=ended)
    Reminder.objects.filter(kind=Kind.AFTERCARE_24H).update(attempts=1)
    later = ended + 10 * HOUR

    retimed = change_offset(Kind.AFTERCARE_12H, 6 * 60, now=later)
    change_offset(Kind.AFTERCARE_24H, 20 * 60, now=later)

    assert retimed == 1
    times = aftercare_times(appointment=session.appointment)
    assert times[Kind.AFTERCARE_12H] == ended + 6 * HOUR  # passed: not "now"
    assert times[Kind.AFTERCARE_24H] == ended + 20 * HOUR  # being retried


def test_an_email_due_but_waiting_follows_a_later_offset_too(book):
    # Due, not sent: held back by quiet hours or a switched-off rule.
    appointment = book()
    reminder = Reminder.objects.get(kind=Kind.REMINDER, appointment=appointment)
    later = reminder.due_at + HOUR

    retimed = change_offset(Kind.REMINDER, -12 * 60, now=later)

    assert retimed == 1
    assert due(Kind.REMINDER, appointment=appointment) == THURSDAY - 12 * HOUR


def test_an_email_due_but_waiting_is_not_made_later_than_it_was(book):
    # Two days before would make it a day late, where the dispatcher might
    # find it too late to be useful: it stays as due as it was.
    appointment = book()
    reminder = Reminder.objects.get(kind=Kind.REMINDER, appointment=appointment)
    later = reminder.due_at + HOUR

    assert change_offset(Kind.REMINDER, -48 * 60, now=later) == 1
    assert due(Kind.REMINDER, appointment=appointment) == reminder.due_at


def test_an_earlier_offset_never_loses_an_email_still_ahead(book):
    # Thursday 10:00, so the reminder is due on Wednesday at 10:00. On Tuesday
    # morning the reminder becomes three days before: Monday, already past.
    appointment = book()
    tuesday = THURSDAY - 2 * DAY - 2 * HOUR

    assert change_offset(Kind.REMINDER, -3 * 24 * 60, now=tuesday) == 1

    assert due(Kind.REMINDER, appointment=appointment) == tuesday
    with time_machine.travel(tuesday, tick=False):
        services.dispatch_due(now=tuesday)
    reminder = Reminder.objects.get(kind=Kind.REMINDER, appointment=appointment)
    assert (reminder.status, reminder.sent_at) == (Status.SENT, tuesday)


def test_a_copy_on_request_and_an_email_being_retried_keep_their_time(book):
    sent = book()
    retried = book(start=THURSDAY + DAY)
    original = Reminder.objects.get(kind=Kind.REMINDER, appointment=sent)
    Reminder.objects.filter(pk=original.pk).update(status=Status.SENT, sent_at=NOW)
    copy = Reminder.objects.create(
        patient=original.patient,
        appointment=sent,
        kind=Kind.REMINDER,
        version=original.version,
        due_at=NOW + HOUR,
        copy_of=original,
    )
    retrying = Reminder.objects.get(kind=Kind.REMINDER, appointment=retried)
    Reminder.objects.filter(pk=retrying.pk).update(
        attempts=1, next_attempt_at=NOW + HOUR, last_error="421 try again later"
    )

    assert change_offset(Kind.REMINDER, -48 * 60, now=NOW) == 0

    copy.refresh_from_db()
    assert copy.due_at == NOW + HOUR
    assert due(Kind.REMINDER, appointment=retried) == retrying.due_at


def test_an_email_sent_or_being_sent_keeps_its_time(book):
    appointment = book()
    Reminder.objects.filter(kind=Kind.REMINDER).update(
        status=Status.SENDING, lease_until=NOW + HOUR
    )

    assert change_offset(Kind.REMINDER, -48 * 60, now=NOW) == 0
    assert due(Kind.REMINDER, appointment=appointment) == THURSDAY - DAY


# Consent given again --------------------------------------------------------------


def consent_again(patient, at: datetime) -> None:
    from clinic.services import save_patient_details

    patient.refresh_from_db()
    patient.email_consent = True
    save_patient_details(patient, now=at)


def test_consent_given_again_tells_the_bookings_moved_meanwhile_once(
    move, book, patient, mailoutbox
):
    """The patient's calendar kept the old times: an update puts it right."""
    appointment = book()
    services.dispatch_due(now=NOW)
    services.unsubscribe(patient, now=NOW)
    move(appointment, THURSDAY + 2 * HOUR, at=NOW + HOUR)
    services.dispatch_due(now=NOW + HOUR)
    assert Reminder.objects.get(kind=Kind.UPDATE).status == Status.SKIPPED
    mailoutbox.clear()

    consent_again(patient, NOW + 2 * HOUR)
    consent_again(patient, NOW + 2 * HOUR)  # Saved twice: still one email.
    services.dispatch_due(now=NOW + 2 * HOUR)

    [message] = mailoutbox
    assert "12:00" in message.body
    update = Reminder.objects.get(kind=Kind.UPDATE, status=Status.SENT)
    assert update.version == 2  # After the skipped update: a higher SEQUENCE.


def test_consent_given_again_names_the_time_the_patient_last_heard_of(
    move, book, patient, mailoutbox
):
    """Moved twice while opted out: "was" is the time they were told, 10:00,
    not the 12:00 they never heard of."""
    appointment = book()
    services.dispatch_due(now=NOW)
    services.unsubscribe(patient, now=NOW)
    move(appointment, THURSDAY + 2 * HOUR, at=NOW + HOUR)
    services.dispatch_due(now=NOW + HOUR)
    move(appointment, THURSDAY + 4 * HOUR, at=NOW + 2 * HOUR)
    services.dispatch_due(now=NOW + 2 * HOUR)
    mailoutbox.clear()

    consent_again(patient, NOW + 3 * HOUR)
    services.dispatch_due(now=NOW + 3 * HOUR)

    [message] = mailoutbox
    assert "14:00-15:00" in message.body
    assert "(was Thursday 26 November 2026, 10:00-11:00)" in message.body
    assert "12:00" not in message.body


def test_consent_given_again_tells_nothing_of_a_booking_moved_away_and_back(
    move, book, patient, mailoutbox
):
    appointment = book()
    services.dispatch_due(now=NOW)
    services.unsubscribe(patient, now=NOW)
    move(appointment, THURSDAY + 2 * HOUR, at=NOW + HOUR)
    services.dispatch_due(now=NOW + HOUR)
    move(appointment, THURSDAY, at=NOW + 2 * HOUR)
    services.dispatch_due(now=NOW + 2 * HOUR)
    mailoutbox.clear()

    consent_again(patient, NOW + 3 * HOUR)
    services.dispatch_due(now=NOW + 3 * HOUR)

    assert not [m for m in mailoutbox if "changed" in m.subject]


def test_an_update_names_the_time_told_when_the_one_between_never_went_out(
    move, book, mailoutbox
):
    """Moved twice before the first update went out (workers down): the one
    email says "was" the time of the confirmation."""
    appointment = book()
    services.dispatch_due(now=NOW)
    for hours, start in ((1, THURSDAY + 2 * HOUR), (2, THURSDAY + 4 * HOUR)):
        move(appointment, start, at=NOW + hours * HOUR)
    mailoutbox.clear()

    services.dispatch_due(now=NOW + 3 * HOUR)

    [message] = mailoutbox
    assert "(was Thursday 26 November 2026, 10:00-11:00)" in message.body


def test_consent_given_again_confirms_a_booking_made_meanwhile(
    book, patient, mailoutbox
):
    services.unsubscribe(patient, now=NOW)
    book()
    services.dispatch_due(now=NOW)
    assert Reminder.objects.get(kind=Kind.CONFIRMATION).status == Status.SKIPPED
    mailoutbox.clear()

    consent_again(patient, NOW + HOUR)
    services.dispatch_due(now=NOW + HOUR)

    assert len(mailoutbox) == 1
    confirmation = Reminder.objects.get(kind=Kind.CONFIRMATION, status=Status.SENT)
    assert confirmation.version == 1


def test_consent_given_again_cancels_only_what_the_patient_heard_of(
    book, patient, front_desk, mailoutbox
):
    heard_of = book()
    services.dispatch_due(now=NOW)
    services.unsubscribe(patient, now=NOW)
    never_told = book(start=NEXT_THURSDAY)
    for appointment in (heard_of, never_told):
        cancel_appointment(
            appointment=appointment, by=front_desk, reason="Ill.", now=NOW + HOUR
        )
    services.dispatch_due(now=NOW + HOUR)
    mailoutbox.clear()

    consent_again(patient, NOW + 2 * HOUR)
    services.dispatch_due(now=NOW + 2 * HOUR)

    [sent] = Reminder.objects.filter(kind=Kind.CANCELLATION, status=Status.SENT)
    assert sent.appointment == heard_of
    assert len(mailoutbox) == 1


def test_consent_given_again_adds_nothing_when_the_patient_was_told(
    book, patient, mailoutbox
):
    book()
    services.dispatch_due(now=NOW)
    services.unsubscribe(patient, now=NOW)
    before = Reminder.objects.count()

    consent_again(patient, NOW + HOUR)

    assert Reminder.objects.count() == before
