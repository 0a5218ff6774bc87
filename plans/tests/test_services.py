"""Plan services on the database: starting a plan, booking and changing a series."""

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from aftercare.models import Kind, Reminder
from aftercare.services import dispatch_due
from clinic.models import (
    Appointment,
    ClosureDay,
    Consultation,
    OpeningHours,
    Practitioner,
    Room,
    WorkingHours,
)
from clinic.scheduling import (
    Availability,
    RoomsNotLoaded,
    day_text,
    local_datetime,
    merge_windows,
)
from clinic.services import BookingError, undo_no_show
from clinic.tests.factories import (
    AppointmentFactory,
    PatientFactory,
    RoomFactory,
    TimeOffFactory,
    open_clinic,
)
from plans.models import TreatmentPlan, TreatmentSession
from plans.scheduling import Proposal, State, propose_series
from plans.services import (
    PlanError,
    Scope,
    SeriesRequest,
    StalePlan,
    book_series,
    cancel_plan,
    cancel_session,
    change_resources_from,
    complete_plan,
    create_plan,
    extend_plan,
    later_consultations,
    mark_session_no_show,
    move_sessions,
    preview_move,
    propose_for_plan,
    record_consent,
    unbooked_count,
    why_on_hold,
    window_for,
)
from plans.services.worklists import eligible_without_plan
from plans.tests.factories import (
    ConsultationFactory,
    TreatmentPlanFactory,
    standard,
    surgical,
)

LONDON = ZoneInfo("Europe/London")
# A Monday; the series below start on Thursday 26 Nov 2026 at 10:00 and are
# 28 days apart: 26 Nov, 24 Dec, 21 Jan, 18 Feb, 18 Mar and 15 Apr (after the
# clocks go forward on 28 Mar 2027).
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=LONDON)


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """A wall-clock time in the clinic's current zone."""
    return local_datetime(day, time(hour, minute))


FIRST_DAY = date(2026, 11, 26)
SERIES_DAYS = [FIRST_DAY + timedelta(days=28 * n) for n in range(6)]


@pytest.fixture(autouse=True)
def london(settings) -> None:
    settings.TIME_ZONE = "Europe/London"


@pytest.fixture
def clinic(practitioner, other_practitioner) -> None:
    """Open Monday to Saturday 09:00-18:00, both practitioners working all of it."""
    open_clinic(practitioner, other_practitioner)


@pytest.fixture
def plan(clinic, practitioner, patient) -> TreatmentPlan:
    """A consented Standard plan of six sessions, 28 days apart, none booked."""
    return TreatmentPlanFactory(
        patient=patient, practitioner=practitioner, consented=True
    )


def request_for(
    plan: TreatmentPlan,
    first_start: datetime,
    room: Room | None = None,
    *,
    chosen: dict[int, tuple[datetime, Room]] | None = None,
    practitioner: Practitioner | None = None,
) -> SeriesRequest:
    return SeriesRequest(
        first_start=first_start,
        practitioner=practitioner or plan.practitioner,
        room=room,
        chosen=chosen or {},
    )


def book(
    plan: TreatmentPlan,
    by: User,
    room: Room | None,
    first_start: datetime | None = None,
    now: datetime = NOW,
) -> list[TreatmentSession]:
    proposals = propose_for_plan(
        plan=plan,
        request=request_for(plan, first_start or at(FIRST_DAY), room),
        now=now,
    )
    return book_series(
        plan=plan, proposals=proposals, practitioner=plan.practitioner, by=by, now=now
    )


def calendar() -> list[tuple]:
    """Every appointment and session, to prove a refused change changed nothing."""
    appointments = Appointment.objects.order_by("pk").values_list(
        "pk", "start", "end", "status", "practitioner_id", "room_id"
    )
    sessions = TreatmentSession.objects.order_by("pk").values_list(
        "pk", "plan_id", "number", "appointment_id", "replaces_id"
    )
    return [*appointments, *sessions]


def starts(plan: TreatmentPlan) -> list[datetime]:
    """The plan's live sessions in number order, as local times."""
    return [
        timezone.localtime(s.appointment.start)
        for s in plan.sessions.select_related("appointment").order_by("number")
        if s.is_live
    ]


def session(plan: TreatmentPlan, number: int) -> TreatmentSession:
    return plan.sessions.select_related("appointment").get(number=number)


# Starting a plan


def test_an_eligible_consultation_starts_a_draft_plan(practitioner, patient):
    consultation = ConsultationFactory(patient=patient, areas=["face", "neck"])

    plan = create_plan(
        consultation=consultation,
        protocol=standard(),
        practitioner=practitioner,
        planned_sessions=6,
        spacing_days=28,
        areas=["face", "neck"],
        by=practitioner.user,
        now=NOW,
    )

    assert plan.status == TreatmentPlan.Status.DRAFT
    assert (plan.patient, plan.consultation) == (patient, consultation)
    assert plan.created_by == practitioner.user
    assert not plan.has_consent
    assert unbooked_count(plan) == 6


def standard_plan(
    consultation, practitioner, areas: list[str], **fields
) -> TreatmentPlan:
    """Six Standard sessions of ``areas``, started from ``consultation`` (or as
    ``fields`` say)."""
    return create_plan(
        **{
            "consultation": consultation,
            "protocol": standard(),
            "practitioner": practitioner,
            "planned_sessions": 6,
            "spacing_days": 28,
            "areas": areas,
            "by": practitioner.user,
            "now": NOW,
        }
        | fields
    )


def test_a_protocol_not_for_the_consultations_goals_needs_a_reason(
    practitioner, patient
):
    """Stretch marks on the body: the Surgical protocol's 35-42 days, not the
    Standard 28. Picking Standard anyway is the practitioner's call, explained."""
    consultation = ConsultationFactory(patient=patient, goals=["stretch_marks"])

    with pytest.raises(PlanError) as excinfo:
        standard_plan(consultation, practitioner, ["body"])

    assert excinfo.value.messages == [
        "Give a reason to go outside the protocol.",
        "The Standard protocol is not for stretch marks.",
    ]
    assert not TreatmentPlan.objects.exists()
    suited = standard_plan(
        consultation,
        practitioner,
        ["body"],
        protocol=surgical(),
        planned_sessions=8,
        spacing_days=35,
    )
    assert suited.exception_reason == ""
    suited.status = TreatmentPlan.Status.CANCELLED
    suited.save()
    explained = standard_plan(
        consultation,
        practitioner,
        ["body"],
        exception_reason="Small, recent marks: the shorter course first.",
    )
    assert explained.outside_protocol() == [
        "The Standard protocol is not for stretch marks."
    ]


def test_a_plan_treats_only_areas_the_consultation_screened(practitioner, patient):
    consultation = ConsultationFactory(patient=patient, areas=["face", "hands"])

    def start(areas: list[str]) -> TreatmentPlan:
        return standard_plan(consultation, practitioner, areas)

    with pytest.raises(PlanError) as excinfo:
        start(["face", "neck", "chest"])

    assert str(excinfo.value) == (
        "The consultation did not look at neck and chest (décolletage): its "
        "screening covers "
        "face, hands only. Add the area to the consultation first, or leave it "
        "out of the plan."
    )
    assert not TreatmentPlan.objects.exists()
    assert start(["hands"]).areas == ["hands"]


def test_one_open_plan_per_area_at_a_time(practitioner, patient):
    open_one = TreatmentPlanFactory(patient=patient, areas=["face"], consented=True)
    consultation = ConsultationFactory(patient=patient, areas=["face", "neck"])

    def start(areas: list[str]) -> TreatmentPlan:
        return standard_plan(consultation, practitioner, areas)

    with pytest.raises(PlanError) as excinfo:
        start(["face", "neck"])

    assert str(excinfo.value).startswith(
        f"{patient} already has an open plan for face (Standard): two courses"
    )
    assert TreatmentPlan.objects.count() == 1
    neck = start(["neck"])
    neck.delete()
    open_one.status = TreatmentPlan.Status.COMPLETED
    open_one.save()
    assert start(["face"]).areas == ["face"]


def test_consent_may_be_recorded_with_the_plan_or_later_but_once(practitioner, patient):
    with_consent = create_plan(
        consultation=ConsultationFactory(patient=patient),
        protocol=standard(),
        practitioner=practitioner,
        planned_sessions=6,
        spacing_days=28,
        areas=["face"],
        consent=True,
        by=practitioner.user,
        now=NOW,
    )
    later = TreatmentPlanFactory(patient=patient)

    record_consent(plan=later, ticked=True, by=practitioner.user, now=NOW)

    assert (with_consent.consent_by, with_consent.consented_at) == (
        practitioner.user,
        NOW,
    )
    later.refresh_from_db()
    assert (later.consent_by, later.consented_at) == (practitioner.user, NOW)
    with pytest.raises(PlanError, match="Consent is already recorded"):
        record_consent(plan=later, ticked=True, by=practitioner.user, now=NOW)


def _refer_later(plan: TreatmentPlan) -> None:
    """A consultation after the plan's own that refers the patient elsewhere."""
    ConsultationFactory(
        patient=plan.patient,
        decision=Consultation.Decision.REFER,
        decision_reason="Suspicious mole: dermatology first.",
        appointment__start=plan.consultation.appointment.start + timedelta(days=7),
    )


HELD_BY_ITS_OWN = "The consultation this plan started from now says refer elsewhere"
HELD_BY_A_LATER = "says refer elsewhere: no consent or sessions for this plan"


@pytest.mark.parametrize(
    ("review", "says"),
    [
        (
            lambda plan: Consultation.objects.filter(pk=plan.consultation_id).update(
                decision=Consultation.Decision.REFER, decision_reason="Mole."
            ),
            HELD_BY_ITS_OWN,
        ),
        (_refer_later, HELD_BY_A_LATER),
    ],
)
def test_no_consent_nor_booking_while_a_consultation_no_longer_says_eligible(
    clinic, practitioner, patient, room, front_desk, review, says
):
    """Refused until a practitioner has reviewed it: nothing is recorded or
    booked, and the sessions booked before stay."""
    draft = TreatmentPlanFactory(patient=patient, practitioner=practitioner)
    consented = TreatmentPlanFactory(
        patient=patient, practitioner=practitioner, consented=True
    )
    proposals = propose_for_plan(
        plan=consented, request=request_for(consented, at(FIRST_DAY), room), now=NOW
    )
    for plan in (draft, consented):
        review(plan)
        plan.refresh_from_db()
        assert says in why_on_hold(plan)

    with pytest.raises(PlanError, match=says):
        record_consent(plan=draft, ticked=True, by=practitioner.user, now=NOW)
    with pytest.raises(PlanError, match=says):
        book_series(
            plan=consented,
            proposals=proposals,
            practitioner=practitioner,
            by=front_desk,
            now=NOW,
        )

    draft.refresh_from_db()
    assert not draft.has_consent
    assert not Appointment.objects.filter(kind=Appointment.Kind.TREATMENT).exists()


@pytest.mark.parametrize(
    ("then", "held"),
    [
        # Referred, then found eligible again: the latest decision speaks.
        ([("refer", {}), ("eligible", {})], False),
        # Not eligible, then screened again and not decided yet: still held.
        ([("not_eligible", {}), ("pending", {"pregnant": True})], True),
        ([("eligible", {}), ("refer", {})], True),
    ],
)
def test_a_plan_is_held_by_the_latest_decided_later_consultation(patient, then, held):
    plan = TreatmentPlanFactory(patient=patient)
    start = plan.consultation.appointment.start
    for days, (decision, screening) in enumerate(then, start=1):
        ConsultationFactory(
            patient=patient,
            decision=decision,
            decision_reason="" if decision in ("eligible", "pending") else "Review.",
            screening_note="Since last time." if screening else "",
            appointment__start=start + timedelta(days=7 * days),
            **screening,
        )

    assert bool(why_on_hold(plan)) == held


@pytest.mark.parametrize(
    ("then", "shown"),
    [
        # Medication added, then screened again without it: nothing to show.
        (
            [("eligible", {"topical_medication": "Tretinoin 0.05%"}), ("eligible", {})],
            None,
        ),
        # Not eligible, then eligible with nothing found: cleared.
        ([("not_eligible", {"anticoagulants": True}), ("eligible", {})], None),
        # The newest decided one raises it.
        ([("eligible", {}), ("refer", {})], 1),
        # Screened again and not decided yet, with a yes: shown already.
        ([("eligible", {}), ("pending", {"pregnant": True})], 1),
        # One not decided yet before the newest decided one: that one speaks.
        ([("pending", {"pregnant": True}), ("eligible", {})], None),
    ],
)
def test_the_later_consultation_shown_is_the_one_that_speaks_now(patient, then, shown):
    plan = TreatmentPlanFactory(patient=patient)
    start = plan.consultation.appointment.start
    made = [
        ConsultationFactory(
            patient=patient,
            decision=decision,
            decision_reason="" if decision in ("eligible", "pending") else "Review.",
            screening_note="Since last time."
            if any(v is True for v in found.values())
            else "",
            appointment__start=start + timedelta(days=7 * days),
            **found,
        )
        for days, (decision, found) in enumerate(then, start=1)
    ]

    later = later_consultations([plan]).get(plan.pk)

    assert later == (None if shown is None else made[shown])


def test_a_plan_whose_consultations_say_eligible_is_not_on_hold(patient):
    plan = TreatmentPlanFactory(patient=patient)
    # A later consultation with another medication asks for care, not a stop.
    ConsultationFactory(
        patient=patient,
        topical_medication="Adapalene gel",
        appointment__start=plan.consultation.appointment.start + timedelta(days=7),
    )

    assert why_on_hold(plan) == ""


@pytest.mark.parametrize("who", ["front_desk", "manager"])
def test_only_a_practitioner_records_consent(request, patient, who):
    plan = TreatmentPlanFactory(patient=patient)

    with pytest.raises(PlanError, match="A practitioner records the patient"):
        record_consent(plan=plan, ticked=True, by=request.getfixturevalue(who), now=NOW)

    plan.refresh_from_db()
    assert not plan.has_consent


@pytest.mark.parametrize(
    ("decision", "described"),
    [
        (Consultation.Decision.PENDING, "not decided yet"),
        (Consultation.Decision.NOT_ELIGIBLE, "not eligible"),
        (Consultation.Decision.REFER, "refer elsewhere"),
    ],
)
def test_only_an_eligible_consultation_starts_a_plan(
    practitioner, patient, decision, described
):
    consultation = ConsultationFactory(
        patient=patient,
        decision=decision,
        decision_reason="" if decision == "pending" else "Active acne in the area.",
    )

    with pytest.raises(PlanError) as excinfo:
        create_plan(
            consultation=consultation,
            protocol=standard(),
            practitioner=practitioner,
            planned_sessions=6,
            spacing_days=28,
            areas=["face"],
            consent=True,
            by=practitioner.user,
            now=NOW,
        )

    assert str(excinfo.value) == (
        f"Only an eligible consultation can start a plan; this one says: {described}."
    )
    assert not TreatmentPlan.objects.exists()


@pytest.mark.parametrize(
    "later",
    [Consultation.Decision.REFER, Consultation.Decision.ELIGIBLE],
)
def test_a_plan_starts_from_the_patients_latest_decided_consultation(
    practitioner, patient, later
):
    earlier = ConsultationFactory(patient=patient)
    newer = ConsultationFactory(
        patient=patient,
        decision=later,
        decision_reason="Pregnant: after the birth.",
        pregnant=True,
        screening_note="Pregnant, 12 weeks.",
    )

    with pytest.raises(PlanError, match="A later consultation, on .* says") as error:
        standard_plan(earlier, practitioner, ["face"])

    assert "a plan starts from it, not from this one" in str(error.value)
    assert not TreatmentPlan.objects.exists()
    assert list(eligible_without_plan().filter(patient=patient)) == (
        [] if later == Consultation.Decision.REFER else [newer]
    )


def test_a_later_consultation_not_decided_yet_leaves_the_earlier_one_to_start(
    practitioner, patient
):
    earlier = ConsultationFactory(patient=patient)
    ConsultationFactory(
        patient=patient,
        decision=Consultation.Decision.PENDING,
        decided_by=None,
        decided_at=None,
    )

    plan = standard_plan(earlier, practitioner, ["face"])

    assert plan.consultation == earlier


def test_a_consultation_starts_one_open_plan_at_a_time(
    practitioner, patient, front_desk
):
    consultation = ConsultationFactory(patient=patient)

    def start() -> TreatmentPlan:
        return create_plan(
            consultation=consultation,
            protocol=standard(),
            practitioner=practitioner,
            planned_sessions=6,
            spacing_days=28,
            areas=["face"],
            by=practitioner.user,
            now=NOW,
        )

    first = start()
    with pytest.raises(PlanError, match="This consultation's plan is still open"):
        start()
    assert list(TreatmentPlan.objects.all()) == [first]
    # Once it has ended, the same consultation may start a new course.
    cancel_plan(plan=first, reason="Started by mistake.", by=practitioner.user, now=NOW)
    assert start().status == TreatmentPlan.Status.DRAFT


def test_the_front_desk_cancels_what_was_booked_not_a_plan_never_booked(
    practitioner, patient, front_desk, room, clinic
):
    """Discarding a plan nothing was booked for is the practitioner's; the
    consultation waits for a plan again, on the front desk's work list."""
    plan = TreatmentPlanFactory(patient=patient, practitioner=practitioner)
    consultation = plan.consultation

    with pytest.raises(PlanError, match="the practitioner discards it"):
        cancel_plan(plan=plan, reason="Not wanted.", by=front_desk, now=NOW)
    assert list(eligible_without_plan()) == []

    cancel_plan(plan=plan, reason="Started by mistake.", by=practitioner.user, now=NOW)

    assert list(eligible_without_plan()) == [consultation]
    # A plan that was booked, then cancelled, is a course that ended: the
    # front desk cancels it, and the consultation doesn't wait for another.
    # A consultation after the course began, screening the patient again:
    # nothing for the front desk to chase while the course is under way.
    again = TreatmentPlanFactory(patient=PatientFactory(), practitioner=practitioner)
    rescreened = ConsultationFactory(
        patient=again.patient,
        appointment__start=again.consultation.appointment.start + timedelta(days=30),
    )
    assert rescreened not in eligible_without_plan()
    booked = TreatmentPlanFactory(
        patient=PatientFactory(), practitioner=practitioner, consented=True
    )
    book(booked, front_desk, room)
    cancel_plan(plan=booked, reason="Moved abroad.", by=front_desk, now=NOW)
    assert booked.consultation not in eligible_without_plan()


def test_the_database_refuses_a_second_open_plan_from_one_consultation(patient):
    plan = TreatmentPlanFactory(patient=patient)

    with pytest.raises(IntegrityError), transaction.atomic():
        TreatmentPlanFactory(patient=patient, consultation=plan.consultation)


@pytest.mark.parametrize(
    ("sessions", "spacing", "departure"),
    [
        (4, 28, "4 sessions is outside the protocol's 5-8."),
        (9, 28, "9 sessions is outside the protocol's 5-8."),
        (6, 36, "36 days apart is outside the protocol's 28-35 days."),
    ],
)
def test_sessions_or_spacing_outside_the_protocol_need_a_reason(
    practitioner, patient, sessions, spacing, departure
):
    consultation = ConsultationFactory(patient=patient)

    def start_plan(reason: str) -> TreatmentPlan:
        return create_plan(
            consultation=consultation,
            protocol=standard(),
            practitioner=practitioner,
            planned_sessions=sessions,
            spacing_days=spacing,
            areas=["face"],
            exception_reason=reason,
            by=practitioner.user,
            now=NOW,
        )

    with pytest.raises(PlanError) as excinfo:
        start_plan("   ")
    assert excinfo.value.messages == [
        "Give a reason to go outside the protocol.",
        departure,
    ]
    assert not TreatmentPlan.objects.exists()

    plan = start_plan(" Slow healer. ")
    assert (plan.planned_sessions, plan.spacing_days) == (sessions, spacing)
    assert plan.exception_reason == "Slow healer."


def test_sessions_closer_than_the_shortest_spacing_are_refused_whatever_the_reason(
    practitioner, patient
):
    with pytest.raises(PlanError) as excinfo:
        create_plan(
            consultation=ConsultationFactory(patient=patient),
            protocol=standard(),
            practitioner=practitioner,
            planned_sessions=6,
            spacing_days=21,
            areas=["face"],
            exception_reason="Patient travels abroad.",
            by=practitioner.user,
            now=NOW,
        )

    assert excinfo.value.messages == [
        "21 days apart is closer than the Standard protocol allows, 28 days at "
        "the least: the skin needs that long to heal between sessions."
    ]
    assert not TreatmentPlan.objects.exists()


def test_a_protocol_no_longer_offered_starts_no_plan(practitioner, patient):
    protocol = standard()
    protocol.is_active = False
    protocol.save()

    with pytest.raises(PlanError, match="no longer offered"):
        create_plan(
            consultation=ConsultationFactory(patient=patient),
            protocol=protocol,
            practitioner=practitioner,
            planned_sessions=6,
            spacing_days=28,
            areas=["face"],
            by=practitioner.user,
        )


# Booking a series


def test_booking_needs_the_patients_consent(
    clinic, practitioner, patient, room, front_desk
):
    plan = TreatmentPlanFactory(patient=patient, practitioner=practitioner)
    proposals = propose_for_plan(
        plan=plan, request=request_for(plan, at(FIRST_DAY), room), now=NOW
    )

    with pytest.raises(PlanError) as excinfo:
        book_series(
            plan=plan,
            proposals=proposals,
            practitioner=practitioner,
            by=front_desk,
            now=NOW,
        )

    assert str(excinfo.value) == (
        "Record the patient's consent to this plan before booking sessions."
    )
    assert not Appointment.objects.filter(kind=Appointment.Kind.TREATMENT).exists()
    plan.refresh_from_db()
    assert plan.status == TreatmentPlan.Status.DRAFT


def test_a_series_books_every_session_as_a_treatment_and_starts_the_plan(
    plan, patient, practitioner, room, front_desk
):
    proposals = propose_for_plan(
        plan=plan, request=request_for(plan, at(FIRST_DAY), room), now=NOW
    )

    sessions = book_series(
        plan=plan,
        proposals=proposals,
        practitioner=practitioner,
        by=front_desk,
        now=NOW,
    )

    assert [p.state for p in proposals] == [State.AS_PLANNED] * 6
    assert [s.number for s in sessions] == [1, 2, 3, 4, 5, 6]
    assert all(s.replaces is None for s in sessions)
    for s in sessions:
        a = s.appointment
        assert a.kind == Appointment.Kind.TREATMENT
        assert a.status == Appointment.Status.BOOKED
        assert (a.patient, a.practitioner, a.room) == (patient, practitioner, room)
        assert a.booked_by == front_desk
        assert a.end - a.start == timedelta(hours=1)
    # Ten o'clock each time, also after the clocks go forward in March.
    assert starts(plan) == [at(day) for day in SERIES_DAYS]
    plan.refresh_from_db()
    assert plan.status == TreatmentPlan.Status.ACTIVE
    assert unbooked_count(plan) == 0


def test_any_free_room_books_sessions_in_whichever_room_is_free(
    plan, room, other_room, other_practitioner, front_desk
):
    AppointmentFactory(
        practitioner=other_practitioner,
        room=room,
        start=at(SERIES_DAYS[2], 9),
        end=at(SERIES_DAYS[2], 12),
    )

    sessions = book(plan, front_desk, room=None)

    assert [s.appointment.room for s in sessions] == [room] * 2 + [other_room] + [
        room
    ] * 3
    assert starts(plan) == [at(day) for day in SERIES_DAYS]


def test_a_series_is_proposed_round_the_patients_other_appointments(
    plan, patient, room, other_room, other_practitioner, front_desk
):
    open_clinic(other_practitioner)
    # The patient sees another practitioner at session 3's time.
    AppointmentFactory(
        patient=patient,
        practitioner=other_practitioner,
        room=other_room,
        start=at(SERIES_DAYS[2], 9, 30),
        end=at(SERIES_DAYS[2], 10, 30),
    )

    proposals = propose_for_plan(
        plan=plan, request=request_for(plan, at(FIRST_DAY), room), now=NOW
    )

    third = proposals[2]
    assert third.state == State.MOVED
    assert third.start == at(SERIES_DAYS[2], 10, 30)
    assert any(
        "The patient has another appointment" in reason for reason in third.reasons
    )
    assert [p.state for p in proposals[:2] + proposals[3:]] == [State.AS_PLANNED] * 5


def test_a_move_onto_the_patients_other_appointment_is_shown_and_refused(
    booked_plan, patient, other_practitioner, other_room, front_desk
):
    open_clinic(other_practitioner)
    new_day = SERIES_DAYS[2] + timedelta(days=7)
    AppointmentFactory(
        patient=patient,
        practitioner=other_practitioner,
        room=other_room,
        start=at(new_day, 9, 30),
        end=at(new_day, 10, 30),
    )
    third = session(booked_plan, 3)
    before = calendar()

    preview = preview_move(session=third, start=at(new_day), scope=Scope.THIS, now=NOW)
    with pytest.raises(PlanError):
        move_sessions(
            session=third, start=at(new_day), scope=Scope.THIS, by=front_desk, now=NOW
        )

    assert any(
        p.startswith("Session 3: The patient has another appointment then")
        for p in preview.problems
    )
    assert calendar() == before


def test_a_series_isnt_booked_over_an_appointment_the_patient_got_meanwhile(
    plan, patient, room, other_room, other_practitioner, front_desk
):
    open_clinic(other_practitioner)
    proposals = propose_for_plan(
        plan=plan, request=request_for(plan, at(FIRST_DAY), room), now=NOW
    )
    # Another desk books the patient elsewhere at session 3's time meanwhile.
    AppointmentFactory(
        patient=patient,
        practitioner=other_practitioner,
        room=other_room,
        start=at(SERIES_DAYS[2], 9, 30),
        end=at(SERIES_DAYS[2], 10, 30),
    )
    before = calendar()

    with pytest.raises(PlanError) as excinfo:
        book_series(
            plan=plan,
            proposals=proposals,
            practitioner=plan.practitioner,
            by=front_desk,
            now=NOW,
        )

    assert excinfo.value.messages[0] == (
        "Session 3 (Thu 21 Jan 2027, 10:00) can't be booked any more."
    )
    assert excinfo.value.messages[1].startswith(
        "The patient has another appointment then: consultation with "
    )
    assert calendar() == before


def test_a_slot_taken_between_proposing_and_booking_books_nothing_and_names_it(
    plan, practitioner, room, other_room, front_desk
):
    proposals = propose_for_plan(
        plan=plan, request=request_for(plan, at(FIRST_DAY), room), now=NOW
    )
    # Someone else books the practitioner for session 4's time meanwhile.
    taken = AppointmentFactory(
        patient=PatientFactory(first_name="Grace", last_name="Hopper"),
        practitioner=practitioner,
        room=other_room,
        start=at(SERIES_DAYS[3]),
        end=at(SERIES_DAYS[3], 11),
    )
    before = calendar()

    with pytest.raises(PlanError) as excinfo:
        book_series(
            plan=plan,
            proposals=proposals,
            practitioner=practitioner,
            by=front_desk,
            now=NOW,
        )

    assert excinfo.value.messages == [
        "Session 4 (Thu 18 Feb 2027, 10:00) can't be booked any more.",
        f"{practitioner} is already booked on Thu 18 Feb 2027, 10:00-11:00 "
        "(consultation with Grace Hopper).",
    ]
    assert calendar() == before
    assert list(Appointment.objects.filter(practitioner=practitioner)) == [taken]
    plan.refresh_from_db()
    assert plan.status == TreatmentPlan.Status.DRAFT
    # A fresh proposal works round it.
    assert [s.number for s in book(plan, front_desk, room)] == [1, 2, 3, 4, 5, 6]
    assert starts(plan)[3] == at(SERIES_DAYS[3], 9)


def test_sessions_booked_meanwhile_after_the_proposed_ones_book_nothing(
    plan, room, front_desk
):
    # The first three sessions are proposed from the first day...
    proposals = propose_for_plan(
        plan=plan, request=request_for(plan, at(FIRST_DAY), room), count=3, now=NOW
    )
    # ...while someone else books three for the spring.
    spring = propose_for_plan(
        plan=plan,
        request=request_for(plan, at(FIRST_DAY + timedelta(days=120)), room),
        count=3,
        now=NOW,
    )
    book_series(
        plan=plan, proposals=spring, practitioner=plan.practitioner, by=front_desk
    )
    before = calendar()

    with pytest.raises(PlanError) as excinfo:
        book_series(
            plan=plan,
            proposals=proposals,
            practitioner=plan.practitioner,
            by=front_desk,
            now=NOW,
        )

    assert excinfo.value.messages == [
        "Session 4 is not after the session before it: keep the sessions in date order."
    ]
    assert calendar() == before


def test_a_series_cannot_be_booked_twice(plan, room, front_desk):
    proposals = propose_for_plan(
        plan=plan, request=request_for(plan, at(FIRST_DAY), room), now=NOW
    )
    book_series(
        plan=plan,
        proposals=proposals,
        practitioner=plan.practitioner,
        by=front_desk,
        now=NOW,
    )
    before = calendar()

    with pytest.raises(PlanError, match="Every session of this plan is booked already"):
        book_series(
            plan=plan,
            proposals=proposals,
            practitioner=plan.practitioner,
            by=front_desk,
            now=NOW,
        )

    assert calendar() == before
    assert (
        propose_for_plan(
            plan=plan, request=request_for(plan, at(FIRST_DAY), room), now=NOW
        )
        == []
    )


def test_a_session_without_a_free_slot_stops_the_whole_series(
    plan, practitioner, room, front_desk
):
    # Closed for the whole window of session 3 (28 to 35 days after session 2).
    ClosureDay.objects.bulk_create(
        ClosureDay(date=SERIES_DAYS[1] + timedelta(days=n)) for n in range(28, 36)
    )
    proposals = propose_for_plan(
        plan=plan, request=request_for(plan, at(FIRST_DAY), room), now=NOW
    )
    assert proposals[2].state == State.NO_SLOT

    with pytest.raises(
        PlanError,
        match=r"Session 3 \(Thu 21 Jan 2027, 10:00\) can't be booked any more",
    ):
        book_series(
            plan=plan,
            proposals=proposals,
            practitioner=practitioner,
            by=front_desk,
            now=NOW,
        )

    assert not TreatmentSession.objects.exists()


def test_a_session_closer_than_the_minimum_needs_a_managers_reason(
    plan, room, front_desk, manager
):
    chosen = {1: (at(FIRST_DAY + timedelta(days=21)), room)}
    proposals = propose_for_plan(
        plan=plan,
        request=request_for(plan, at(FIRST_DAY), room, chosen=chosen),
        now=NOW,
    )
    assert proposals[1].spacing_flag == "short"

    def confirm(by: User, reason: str) -> list[TreatmentSession]:
        return book_series(
            plan=plan,
            proposals=proposals,
            practitioner=plan.practitioner,
            by=by,
            override_reason=reason,
            now=NOW,
        )

    for by, reason in [(front_desk, "Patient travels"), (manager, "")]:
        with pytest.raises(PlanError) as excinfo:
            confirm(by, reason)
        assert str(excinfo.value) == (
            "Session 2 would be only 21 days after the previous one; the minimum "
            "is 28. A manager can allow it with a reason."
        )
        assert not TreatmentSession.objects.exists()

    assert len(confirm(manager, "Patient travels")) == 6


def test_no_ones_reason_books_a_series_closer_than_the_skin_heals(plan, room, manager):
    chosen = {1: (at(FIRST_DAY + timedelta(days=7)), room)}
    proposals = propose_for_plan(
        plan=plan,
        request=request_for(plan, at(FIRST_DAY), room, chosen=chosen),
        now=NOW,
    )

    with pytest.raises(PlanError) as excinfo:
        book_series(
            plan=plan,
            proposals=proposals,
            practitioner=plan.practitioner,
            by=manager,
            override_reason="Patient travels",
            now=NOW,
        )

    assert str(excinfo.value) == (
        "Session 2 would be only 7 days after the previous one: sessions less than "
        "14 days apart leave the skin no time to heal, and no one can book them "
        "that close."
    )
    assert not TreatmentSession.objects.exists()


def test_proposing_a_series_takes_the_same_few_queries_however_full_the_calendar(
    clinic, practitioner, patient, room, django_assert_max_num_queries
):
    plan = TreatmentPlanFactory(
        patient=patient,
        practitioner=practitioner,
        protocol=surgical(),
        planned_sessions=10,
        consented=True,
    )

    def propose() -> tuple[list[Proposal], int]:
        # Fresh objects, as the booking page has them; then only the service.
        fresh = TreatmentPlan.objects.select_related("protocol").get(pk=plan.pk)
        someone = Practitioner.objects.select_related("user").get(pk=practitioner.pk)
        request = request_for(fresh, at(FIRST_DAY), practitioner=someone)
        # The plan's live sessions (how many, and the last one's start), the
        # rooms in use, the five queries of the calendar snapshot and the rooms'
        # bookings where the practitioner is free.
        with django_assert_max_num_queries(8) as queries:
            proposals = propose_for_plan(plan=fresh, request=request, now=NOW)
        return proposals, len(queries.captured_queries)

    free, queries_when_free = propose()
    # 200 bookings of the practitioner over the year: at the series' time on
    # Thursdays (every session's ideal day), in the afternoon on other days.
    days = [FIRST_DAY + timedelta(days=n) for n in range(350)]
    thursdays = [(day, 10) for day in days if day.weekday() == 3]
    others = [(day, 14) for day in days if day.weekday() in (0, 1, 2, 4)]
    bookings = thursdays + others[: 200 - len(thursdays)]
    other = PatientFactory()
    Appointment.objects.bulk_create(
        Appointment(
            patient=other,
            practitioner=practitioner,
            room=room,
            start=at(day, hour),
            end=at(day, hour + 1),
            kind=Appointment.Kind.TREATMENT,
        )
        for day, hour in bookings
    )
    assert Appointment.objects.filter(practitioner=practitioner).count() == 200
    busy, queries_when_busy = propose()

    assert len(free) == len(busy) == 10
    assert [p.state for p in free] == [State.AS_PLANNED] * 10
    assert [p.state for p in busy] == [State.MOVED] * 10
    assert queries_when_busy == queries_when_free


def full_calendar_proposal(
    plan: TreatmentPlan, request: SeriesRequest
) -> list[tuple[datetime, int, str, list[str]]]:
    """What the engine proposes with every room's bookings of the year loaded."""
    every_room = list(Room.objects.filter(is_active=True).order_by("name"))
    rooms = [request.room] if request.room else every_room
    availability = Availability.load(
        start=request.first_start - timedelta(days=1),
        end=request.first_start + timedelta(days=400),
        practitioner_ids=[request.practitioner.pk],
        room_ids=(r.pk for r in every_room),
    )
    return described(
        propose_series(
            first_start=request.first_start,
            count=unbooked_count(plan),
            window=window_for(plan),
            duration=timedelta(minutes=plan.protocol.session_minutes),
            practitioner=request.practitioner,
            rooms=rooms,
            availability=availability,
            now=NOW,
            chosen=request.chosen,
        )
    )


def described(proposals: list[Proposal]) -> list[tuple[datetime, int, str, list[str]]]:
    return [(p.start, p.room.pk, p.state, p.reasons) for p in proposals]


@pytest.mark.parametrize("seed", range(8))
def test_loading_rooms_only_where_the_practitioner_is_free_proposes_the_same(
    clinic, practitioner, other_practitioner, patient, seed, caplog
):
    # A year of bookings at random: the practitioner's own, in any room, and the
    # other practitioner's, filling rooms at times the practitioner is free; some
    # time off and a closure day. Half the series ask for any free room, half for
    # one room, with a date picked by hand in another.
    rng = random.Random(seed)
    rooms = [RoomFactory(name=f"Room {n}") for n in range(3)]
    plan = TreatmentPlanFactory(
        patient=patient,
        practitioner=practitioner,
        protocol=surgical(),
        planned_sessions=10,
        consented=True,
    )
    bookings = []
    # Other patients' bookings: the plan's patient is free all year.
    others = PatientFactory()
    for n in range(330):
        day = FIRST_DAY + timedelta(days=n)
        if day.weekday() == 6:
            continue
        for someone in (practitioner, other_practitioner):
            hours = rng.sample(range(9, 17), rng.randint(0, 7))
            for hour in sorted(hours):
                room = rng.choice(rooms)
                bookings.append(
                    Appointment(
                        patient=others,
                        practitioner=someone,
                        room=room,
                        start=at(day, hour),
                        end=at(day, hour + 1),
                        kind=Appointment.Kind.TREATMENT,
                    )
                )
    # No two bookings of a room or a practitioner overlap.
    unique = []
    seen: set[tuple[str, int, datetime]] = set()
    for booking in bookings:
        keys = {
            ("room", booking.room_id, booking.start),
            ("p", booking.practitioner_id, booking.start),
        }
        if not keys & seen:
            seen |= keys
            unique.append(booking)
    Appointment.objects.bulk_create(unique)
    off = FIRST_DAY + timedelta(days=rng.randrange(20, 300))
    TimeOffFactory(
        practitioner=practitioner,
        start=at(off, 13),
        end=at(off + timedelta(days=3), 12),
    )
    ClosureDay.objects.create(date=FIRST_DAY + timedelta(days=rng.randrange(20, 300)))
    picked = at(FIRST_DAY + timedelta(days=70), 15)
    request = request_for(
        plan,
        at(FIRST_DAY),
        rooms[0] if seed % 2 else None,
        chosen={2: (picked, rooms[1])},
    )

    proposed = propose_for_plan(plan=plan, request=request, now=NOW)

    assert described(proposed) == full_calendar_proposal(plan, request)
    assert {p.state for p in proposed} >= {State.MOVED}
    assert "reloaded every room" not in caplog.text


def test_a_room_picked_by_hand_is_checked_even_when_the_series_asks_for_another(
    plan, room, other_room, other_practitioner, patient
):
    picked = at(SERIES_DAYS[2], 15)
    AppointmentFactory(
        practitioner=other_practitioner,
        room=other_room,
        start=picked,
        end=picked + timedelta(hours=1),
    )
    request = request_for(plan, at(FIRST_DAY), room, chosen={2: (picked, other_room)})

    third = propose_for_plan(plan=plan, request=request, now=NOW)[2]

    assert (third.state, third.is_bookable) == (State.CHOSEN, False)
    assert any(str(other_room) in reason for reason in third.reasons)


def test_a_day_long_booking_on_the_night_the_clocks_go_back_is_found(
    practitioner, other_practitioner, room
):
    # Sunday 25 October 2026, midnight to midnight: 25 hours.
    start, end = at(date(2026, 10, 25), 0), at(date(2026, 10, 26), 0)
    AppointmentFactory(practitioner=other_practitioner, room=room, start=start, end=end)
    late = (at(date(2026, 10, 25), 23), at(date(2026, 10, 25), 23, 30))
    availability = Availability.load(
        start=late[0], end=late[1], practitioner_ids=[practitioner.pk], room_ids=[]
    )
    availability.load_rooms(room_ids=[room.pk], windows=[late])

    clashes = availability.clashes(
        start=late[0], end=late[1], practitioner=practitioner, room=room
    )
    assert [c.code for c in clashes] == ["room_clash"]


def test_a_room_booking_begun_before_the_free_time_is_found(
    practitioner, other_practitioner, room
):
    # The rooms' bookings are read from the window's midnight on.
    AppointmentFactory(
        practitioner=other_practitioner,
        room=room,
        start=at(FIRST_DAY, 8),
        end=at(FIRST_DAY, 10, 30),
    )
    free = (at(FIRST_DAY, 10), at(FIRST_DAY, 12))
    availability = Availability.load(
        start=free[0], end=free[1], practitioner_ids=[practitioner.pk], room_ids=[]
    )
    availability.load_rooms(room_ids=[room.pk], windows=[free])

    def clashes(start, end):
        return availability.clashes(
            start=start, end=end, practitioner=practitioner, room=room
        )

    assert [c.code for c in clashes(at(FIRST_DAY, 10), at(FIRST_DAY, 11))] == [
        "room_clash"
    ]
    assert clashes(at(FIRST_DAY, 10, 30), at(FIRST_DAY, 11, 30)) == []


def test_working_hours_from_a_time_the_clocks_skip_need_no_full_reload(
    settings, practitioner, room, patient, caplog
):
    settings.TIME_ZONE = "America/New_York"
    new_york = ZoneInfo("America/New_York")
    for weekday in range(7):
        OpeningHours.objects.create(weekday=weekday, opens=time(0), closes=time(23))
        WorkingHours.objects.create(
            practitioner=practitioner, weekday=weekday, start=time(2, 30), end=time(9)
        )
    plan = TreatmentPlanFactory(
        patient=patient, practitioner=practitioner, consented=True, planned_sessions=1
    )
    # Sunday 14 March 2027: 02:00-03:00 doesn't exist in New York.
    request = request_for(plan, datetime(2027, 3, 14, 3, tzinfo=new_york))

    [proposal] = propose_for_plan(
        plan=plan, request=request, now=datetime(2027, 3, 1, tzinfo=new_york)
    )

    assert proposal.state == State.AS_PLANNED
    assert "reloaded every room" not in caplog.text


def test_a_room_outside_the_loaded_windows_is_never_answered_from_missing_bookings(
    practitioner, room
):
    availability = Availability.load(
        start=at(FIRST_DAY, 0),
        end=at(FIRST_DAY + timedelta(days=1), 0),
        practitioner_ids=[practitioner.pk],
        room_ids=[],
    )
    availability.load_rooms(
        room_ids=[room.pk], windows=[(at(FIRST_DAY, 9), at(FIRST_DAY, 12))]
    )

    assert (
        availability.clashes(
            start=at(FIRST_DAY, 10),
            end=at(FIRST_DAY, 11),
            practitioner=practitioner,
            room=room,
        )
        == []
    )
    with pytest.raises(RoomsNotLoaded):
        availability.clashes(
            start=at(FIRST_DAY, 11),
            end=at(FIRST_DAY, 13),
            practitioner=practitioner,
            room=room,
        )


def test_should_the_free_windows_miss_a_slot_the_whole_calendar_answers(
    plan, room, other_practitioner, patient, monkeypatch, caplog
):
    AppointmentFactory(
        practitioner=other_practitioner,
        room=room,
        start=at(FIRST_DAY),
        end=at(FIRST_DAY, 11),
    )
    monkeypatch.setattr(Availability, "free_windows", lambda self, **kwargs: [])
    request = request_for(plan, at(FIRST_DAY))

    proposed = propose_for_plan(plan=plan, request=request, now=NOW)

    assert described(proposed) == full_calendar_proposal(plan, request)
    assert proposed[0].state == State.MOVED
    assert "reloaded every room" in caplog.text


def test_the_practitioner_is_free_between_bookings_inside_hours_and_off_closures(
    clinic, practitioner, room, patient
):
    AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=at(FIRST_DAY, 11),
        end=at(FIRST_DAY, 12),
    )
    AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=at(FIRST_DAY, 12, 30),
        end=at(FIRST_DAY, 13),
    )
    ClosureDay.objects.create(
        date=FIRST_DAY + timedelta(days=1), reason="Staff training"
    )
    availability = Availability.load(
        start=at(FIRST_DAY, 0),
        end=at(FIRST_DAY + timedelta(days=2), 23),
        practitioner_ids=[practitioner.pk],
        room_ids=[],
    )

    windows = availability.free_windows(
        practitioner=practitioner,
        start=at(FIRST_DAY, 0),
        end=at(FIRST_DAY + timedelta(days=2), 23),
        duration=timedelta(hours=1),
    )

    saturday = FIRST_DAY + timedelta(days=2)
    # 12:00-12:30 is too short for an hour; Friday is closed.
    assert windows == [
        (at(FIRST_DAY, 9), at(FIRST_DAY, 11)),
        (at(FIRST_DAY, 13), at(FIRST_DAY, 18)),
        (at(saturday, 9), at(saturday, 18)),
    ]


def test_too_many_windows_are_joined_where_they_lie_closest():
    start = datetime(2027, 1, 4, 9, tzinfo=LONDON)
    lone = (start - timedelta(days=1), start - timedelta(days=1, minutes=-30))
    # After a lone window, 300 days of two windows with 5 minutes between them:
    # joining the pairs keeps the nights between days uncovered.
    windows = [lone]
    for n in range(300):
        opens = start + timedelta(days=n)
        windows += [
            (opens, opens + timedelta(hours=1)),
            (opens + timedelta(minutes=65), opens + timedelta(hours=2)),
        ]

    merged = merge_windows(windows, limit=301)

    assert merged == [lone] + [
        (start + timedelta(days=n), start + timedelta(days=n, hours=2))
        for n in range(300)
    ]


# Moving sessions


@pytest.fixture
def booked_plan(plan, room, front_desk) -> TreatmentPlan:
    book(plan, front_desk, room)
    return plan


def test_moving_this_session_only_leaves_the_others_where_they_are(
    booked_plan, front_desk
):
    before = calendar()
    third = session(booked_plan, 3)

    move_sessions(
        session=third,
        start=at(SERIES_DAYS[2], 14),
        scope=Scope.THIS,
        by=front_desk,
        now=NOW,
    )

    assert starts(booked_plan) == [
        at(day, 14 if n == 2 else 10) for n, day in enumerate(SERIES_DAYS)
    ]
    after = calendar()
    assert len(after) == len(before)
    assert [row for row in after if row not in before] == [
        (
            third.appointment_id,
            at(SERIES_DAYS[2], 14),
            at(SERIES_DAYS[2], 15),
            Appointment.Status.BOOKED,
            third.appointment.practitioner_id,
            third.appointment.room_id,
        )
    ]


@pytest.mark.parametrize("scope", [Scope.THIS, Scope.FOLLOWING])
def test_a_session_whose_time_is_over_is_not_moved(booked_plan, front_desk, scope):
    """Still booked after its time (the patient didn't come, or a check-in was
    undone): a no-show to mark, or the missed visit would vanish from the plan."""
    first = session(booked_plan, 1)
    over = first.appointment.end + timedelta(hours=2)
    before = calendar()

    with pytest.raises(PlanError) as refused:
        move_sessions(
            session=first,
            start=first.appointment.start + timedelta(days=7),
            scope=scope,
            by=front_desk,
            confirmed=True,
            now=over,
        )

    assert "is over: if the patient didn't come, mark it a no-show" in " ".join(
        refused.value.messages
    )
    assert calendar() == before


def test_draft_records_move_with_their_sessions_at_the_same_wall_clock_time(
    booked_plan, front_desk
):
    from plans.models import SessionRecord

    fifth, sixth = session(booked_plan, 5), session(booked_plan, 6)
    # Typed ahead: 10:05 to 10:55 on each session's day.
    for booked in (fifth, sixth):
        day = timezone.localdate(booked.appointment.start)
        SessionRecord.objects.create(
            session=booked, started_at=at(day, 10, 5), ended_at=at(day, 10, 55)
        )
    # Two weeks later: the fifth session into summer time.
    moved_day = SERIES_DAYS[4] + timedelta(days=14)
    assert (
        timezone.localtime(at(moved_day, 10)).utcoffset()
        != timezone.localtime(at(SERIES_DAYS[4], 10)).utcoffset()
    )

    move_sessions(
        session=fifth,
        start=at(moved_day, 10),
        scope=Scope.FOLLOWING,
        by=front_desk,
        confirmed=True,
        now=NOW,
    )

    for booked, day in ((fifth, moved_day), (sixth, SERIES_DAYS[5] + timedelta(14))):
        record = SessionRecord.objects.get(session=booked)
        assert (record.started_at, record.ended_at) == (
            at(day, 10, 5),
            at(day, 10, 55),
        )


def test_moving_this_and_following_shifts_them_all_and_keeps_the_spacing(
    booked_plan, front_desk
):
    appointments_before = Appointment.objects.count()
    sessions_before = list(
        booked_plan.sessions.values_list("pk", "number", "appointment_id")
    )

    preview = move_sessions(
        session=session(booked_plan, 3),
        start=at(SERIES_DAYS[2] + timedelta(days=7)),
        scope=Scope.FOLLOWING,
        by=front_desk,
        now=NOW,
    )

    assert [m.session.number for m in preview.moves] == [3, 4, 5, 6]
    # A week later each, at 10:00 on either side of the clock change.
    week = timedelta(days=7)
    assert starts(booked_plan) == [
        at(day + (week if n >= 2 else timedelta())) for n, day in enumerate(SERIES_DAYS)
    ]
    # Moved, not rebooked: the same appointments and sessions, nothing extra.
    assert Appointment.objects.count() == appointments_before
    assert (
        list(booked_plan.sessions.values_list("pk", "number", "appointment_id"))
        == sessions_before
    )
    assert (
        not Appointment.objects.exclude(status=Appointment.Status.BOOKED)
        .exclude(kind=Appointment.Kind.CONSULTATION)
        .exists()
    )


def test_moving_following_sessions_keeps_each_ones_length(booked_plan, front_desk):
    # Session 5 was booked for longer (a larger area, say).
    fifth = session(booked_plan, 5).appointment
    Appointment.objects.filter(pk=fifth.pk).update(end=fifth.start + timedelta(hours=2))

    move_sessions(
        session=session(booked_plan, 3),
        start=at(SERIES_DAYS[2] + timedelta(days=7)),
        scope=Scope.FOLLOWING,
        by=front_desk,
        now=NOW,
    )

    lengths = [
        s.appointment.end - s.appointment.start
        for s in booked_plan.sessions.select_related("appointment").order_by("number")
    ]
    hour = timedelta(hours=1)
    assert lengths == [hour, hour, hour, hour, 2 * hour, hour]


@pytest.mark.parametrize(
    ("zone", "first_day"),
    # Session 2 falls in the week before the clocks go back.
    [("Europe/London", date(2026, 9, 24)), ("America/New_York", date(2026, 10, 1))],
    ids=["london", "new-york"],
)
def test_moving_following_sessions_keeps_their_wall_clock_time_across_the_change(
    settings, practitioner, patient, room, front_desk, zone, first_day
):
    settings.TIME_ZONE = zone
    open_clinic(practitioner)
    now = local_datetime(first_day - timedelta(days=3), time(8))
    plan = TreatmentPlanFactory(
        patient=patient, practitioner=practitioner, planned_sessions=5, consented=True
    )
    book(plan, front_desk, room, first_start=at(first_day), now=now)
    days = [first_day + timedelta(days=28 * n) for n in range(5)]
    assert starts(plan) == [at(day) for day in days]

    move_sessions(
        session=session(plan, 2),
        start=at(days[1] + timedelta(days=7)),
        scope=Scope.FOLLOWING,
        by=front_desk,
        now=now,
    )

    moved = starts(plan)
    assert moved == [at(days[0])] + [at(day + timedelta(days=7)) for day in days[1:]]
    assert [m.time() for m in moved] == [time(10)] * 5
    # Session 2 went from summer time to winter time and kept its 10:00.
    assert moved[1].utcoffset() != moved[0].utcoffset()
    assert Appointment.objects.filter(kind=Appointment.Kind.TREATMENT).count() == 5


def test_a_move_into_a_clash_changes_nothing(
    booked_plan, practitioner, other_room, front_desk
):
    # The practitioner is busy two weeks after session 5.
    busy_day = SERIES_DAYS[4] + timedelta(days=14)
    AppointmentFactory(
        practitioner=practitioner,
        room=other_room,
        start=at(busy_day, 9),
        end=at(busy_day, 12),
    )
    before = calendar()

    for scope, number in [(Scope.THIS, 5), (Scope.FOLLOWING, 4)]:
        moving = session(booked_plan, number)
        with pytest.raises(PlanError) as excinfo:
            move_sessions(
                session=moving,
                start=at(moving.local_date + timedelta(days=14)),
                scope=scope,
                by=front_desk,
                confirmed=True,
                now=NOW,
            )
        assert str(excinfo.value) == "The move can't be made."
        assert excinfo.value.messages[1].startswith(
            f"Session 5: {practitioner} is already booked on Thu 1 Apr 2027"
        )
        assert calendar() == before


def test_moving_closer_than_the_minimum_needs_confirmation_and_a_managers_reason(
    booked_plan, front_desk, manager
):
    before = calendar()
    third = session(booked_plan, 3)
    week_early = at(SERIES_DAYS[2] - timedelta(days=7))

    def move(by: User, *, confirmed: bool, reason: str = "") -> None:
        move_sessions(
            session=third,
            start=week_early,
            scope=Scope.THIS,
            by=by,
            confirmed=confirmed,
            override_reason=reason,
            now=NOW,
        )

    with pytest.raises(PlanError) as excinfo:
        move(front_desk, confirmed=False, reason="Patient travels")
    assert excinfo.value.messages == [
        "Check the spacing and confirm the move.",
        "Session 3 would be 21 days after the one before it (minimum 28).",
    ]
    for by, reason in [(front_desk, "Patient travels"), (manager, " ")]:
        with pytest.raises(PlanError) as excinfo:
            move(by, confirmed=True, reason=reason)
        assert str(excinfo.value) == (
            "Sessions closer than the minimum need a manager's reason."
        )
    assert calendar() == before

    move(manager, confirmed=True, reason="Patient travels")

    assert starts(booked_plan)[2] == week_early
    booked_plan.refresh_from_db()
    # Kept where the front desk reads it, apart from the clinical reason.
    assert "Session 3 would be 21 days after" in booked_plan.spacing_notes
    assert booked_plan.spacing_notes.endswith(": Patient travels")
    assert booked_plan.exception_reason == ""


@pytest.mark.parametrize("days", [0, 1, 13])
def test_no_ones_reason_moves_a_session_closer_than_the_skin_heals(
    booked_plan, manager, days
):
    """Two weeks at the least, as no protocol allows fewer: the same day, or a
    week later, would needle healing skin."""
    before = calendar()
    second = session(booked_plan, 2)
    too_soon = at(SERIES_DAYS[0] + timedelta(days=days), 15)

    with pytest.raises(PlanError) as excinfo:
        move_sessions(
            session=second,
            start=too_soon,
            scope=Scope.THIS,
            by=manager,
            confirmed=True,
            override_reason="Patient travels",
            now=NOW,
        )

    assert excinfo.value.messages[0] == "The move can't be made."
    assert (
        "sessions less than 14 days apart leave the skin no time to heal, and no "
        "one can book them that close."
    ) in excinfo.value.messages[1]
    assert calendar() == before
    booked_plan.refresh_from_db()
    assert booked_plan.spacing_notes == ""


def test_moving_further_than_the_maximum_needs_confirmation(booked_plan, front_desk):
    before = calendar()
    third = session(booked_plan, 3)
    two_weeks_later = at(SERIES_DAYS[2] + timedelta(days=14))

    preview = preview_move(
        session=third, start=two_weeks_later, scope=Scope.FOLLOWING, now=NOW
    )
    assert preview.problems == preview.too_close == []
    assert preview.too_far == [
        "Session 3 would be 42 days after the one before it (longest 35)."
    ]
    with pytest.raises(PlanError, match="confirm the move"):
        move_sessions(
            session=third,
            start=two_weeks_later,
            scope=Scope.FOLLOWING,
            by=front_desk,
            now=NOW,
        )
    assert calendar() == before

    move_sessions(
        session=third,
        start=two_weeks_later,
        scope=Scope.FOLLOWING,
        by=front_desk,
        confirmed=True,
        now=NOW,
    )

    assert starts(booked_plan)[2:] == [
        at(day + timedelta(days=14)) for day in SERIES_DAYS[2:]
    ]


def test_a_cancelled_session_cannot_be_moved(booked_plan, front_desk):
    second = session(booked_plan, 2)
    cancel_session(session=second, reason="Unwell", by=front_desk, now=NOW)

    with pytest.raises(PlanError, match="This session is cancelled and can't be moved"):
        move_sessions(
            session=second,
            start=at(SERIES_DAYS[1], 14),
            scope=Scope.THIS,
            by=front_desk,
            now=NOW,
        )


# Changing practitioner or room from session N on


def test_the_practitioner_and_room_change_from_session_n_on(
    booked_plan, practitioner, other_practitioner, room, other_room, front_desk
):
    appointments_before = Appointment.objects.count()

    changed = change_resources_from(
        session=session(booked_plan, 3),
        practitioner=other_practitioner,
        room=other_room,
        by=front_desk,
        now=NOW,
    )

    assert [s.number for s in changed] == [3, 4, 5, 6]
    resources = [
        (s.appointment.practitioner, s.appointment.room)
        for s in booked_plan.sessions.select_related("appointment").order_by("number")
    ]
    assert (
        resources == [(practitioner, room)] * 2 + [(other_practitioner, other_room)] * 4
    )
    assert starts(booked_plan) == [at(day) for day in SERIES_DAYS]
    assert Appointment.objects.count() == appointments_before
    # Sessions 1 and 2 are still booked with the first practitioner.
    booked_plan.refresh_from_db()
    assert booked_plan.practitioner == practitioner


def test_the_plan_follows_a_practitioner_who_takes_over_every_upcoming_session(
    booked_plan, other_practitioner, other_room, front_desk
):
    change_resources_from(
        session=session(booked_plan, 1),
        practitioner=other_practitioner,
        room=other_room,
        by=front_desk,
        now=NOW,
    )

    booked_plan.refresh_from_db()
    assert booked_plan.practitioner == other_practitioner


def test_a_resource_change_to_the_same_people_and_room_is_refused(
    booked_plan, practitioner, room, front_desk
):
    before = calendar()
    emails = Reminder.objects.count()

    with pytest.raises(PlanError, match="already: nothing changes"):
        change_resources_from(
            session=session(booked_plan, 3),
            practitioner=practitioner,
            room=room,
            by=front_desk,
            now=NOW,
        )

    assert calendar() == before
    assert Reminder.objects.count() == emails


def test_a_resource_change_tells_the_patient_only_of_the_sessions_it_changes(
    booked_plan, practitioner, room, other_room, front_desk
):
    # Sessions 5 and 6 are in the other room already.
    for number in (5, 6):
        Appointment.objects.filter(
            pk=session(booked_plan, number).appointment.pk
        ).update(room=other_room)
    dispatch_due(now=NOW)  # The patient has the series' confirmation.

    change_resources_from(
        session=session(booked_plan, 3),
        practitioner=practitioner,
        room=other_room,
        by=front_desk,
        now=NOW,
    )

    [update] = Reminder.objects.filter(
        kind=Kind.UPDATE, status=Reminder.Status.SCHEDULED
    )
    assert update.series == [
        session(booked_plan, 3).appointment_id,
        session(booked_plan, 4).appointment_id,
    ]


def test_a_move_to_where_the_session_is_already_changes_nothing(
    booked_plan, front_desk
):
    before = calendar()
    third = session(booked_plan, 3)

    preview = preview_move(
        session=third, start=third.appointment.start, scope=Scope.FOLLOWING, now=NOW
    )
    assert preview.problems[0] == (
        "That is when, where and with whom it is booked already: nothing changes."
    )
    with pytest.raises(PlanError):
        move_sessions(
            session=third,
            start=third.appointment.start,
            scope=Scope.THIS,
            by=front_desk,
            now=NOW,
        )

    assert calendar() == before


def test_a_resource_change_into_a_clash_changes_nothing(
    booked_plan, other_practitioner, other_room, front_desk
):
    AppointmentFactory(
        practitioner=other_practitioner,
        room=RoomFactory(name="Room 3"),
        start=at(SERIES_DAYS[4], 9, 30),
        end=at(SERIES_DAYS[4], 10, 30),
    )
    before = calendar()

    with pytest.raises(PlanError) as excinfo:
        change_resources_from(
            session=session(booked_plan, 3),
            practitioner=other_practitioner,
            room=other_room,
            by=front_desk,
            now=NOW,
        )

    assert (
        str(excinfo.value) == "The session of Thu 18 Mar 2027, 10:00 can't be changed."
    )
    assert calendar() == before


# Cancelling, no-shows, extending, ending


def test_cancelling_a_session_without_a_replacement_leaves_one_unbooked(
    booked_plan, front_desk
):
    appointments_before = Appointment.objects.count()
    second = session(booked_plan, 2)

    replacement = cancel_session(
        session=second, reason="Unwell", by=front_desk, now=NOW
    )

    assert replacement is None
    second.appointment.refresh_from_db()
    assert second.appointment.status == Appointment.Status.CANCELLED
    assert second.appointment.cancel_reason == "Unwell"
    assert unbooked_count(booked_plan) == 1
    assert Appointment.objects.count() == appointments_before


def test_cancelling_a_session_with_a_replacement_books_one_more_at_the_end(
    booked_plan, front_desk
):
    appointments_before = Appointment.objects.count()
    second = session(booked_plan, 2)

    replacement = cancel_session(
        session=second, reason="Unwell", by=front_desk, replace=True, now=NOW
    )

    assert replacement.number == 7
    assert replacement.replaces == second
    assert second.replacement == replacement
    assert timezone.localtime(replacement.appointment.start) == at(
        SERIES_DAYS[5] + timedelta(days=28)
    )
    assert replacement.appointment.kind == Appointment.Kind.TREATMENT
    assert unbooked_count(booked_plan) == 0
    assert len(starts(booked_plan)) == 6
    assert Appointment.objects.count() == appointments_before + 1


def test_a_replacement_goes_in_the_room_the_course_moved_to(
    booked_plan, front_desk, room, other_room
):
    change_resources_from(
        session=session(booked_plan, 2),
        practitioner=booked_plan.practitioner,
        room=other_room,
        by=front_desk,
        now=NOW,
    )

    replacement = cancel_session(
        session=session(booked_plan, 1),
        reason="Unwell",
        by=front_desk,
        replace=True,
        now=NOW,
    )

    assert replacement.appointment.room == other_room
    assert sorted([room.name, other_room.name])[0] == room.name  # not by name


def test_the_last_sessions_replacement_follows_it_not_the_session_before(
    booked_plan, front_desk
):
    last = session(booked_plan, 6)

    replacement = cancel_session(
        session=last, reason="Away that week", by=front_desk, replace=True, now=NOW
    )

    # Not into the slot just freed, 28 days after session 5, but the day after
    # it: 29 days after session 5, inside the spacing window.
    assert timezone.localtime(replacement.appointment.start) == at(
        SERIES_DAYS[5] + timedelta(days=1)
    )
    assert len(starts(booked_plan)) == 6


def test_a_replacement_is_checked_on_every_day_of_its_window(
    clinic, practitioner, patient, room, other_room, front_desk
):
    # 30 days apart, so the window (28 to 35 days) starts before the ideal day.
    plan = TreatmentPlanFactory(
        patient=patient,
        practitioner=practitioner,
        planned_sessions=2,
        spacing_days=30,
        consented=True,
    )
    book(plan, front_desk, room)
    last_day = date(2026, 12, 26)
    assert starts(plan) == [at(FIRST_DAY), at(last_day)]
    # The replacement would go 30 days after the last session, Mon 25 Jan; the
    # nearest days are closed, and the first of the window is fully booked.
    ClosureDay.objects.bulk_create(
        ClosureDay(date=last_day + timedelta(days=n)) for n in (30, 31, 32)
    )
    AppointmentFactory(
        practitioner=practitioner,
        room=other_room,
        start=at(last_day + timedelta(days=28), 9),
        end=at(last_day + timedelta(days=28), 18),
    )

    replacement = cancel_session(
        session=session(plan, 1),
        reason="Unwell",
        by=front_desk,
        replace=True,
        now=NOW,
    )

    assert timezone.localtime(replacement.appointment.start) == at(
        last_day + timedelta(days=33)
    )


def test_a_chosen_date_far_ahead_is_checked_against_the_calendar(
    plan, practitioner, room, other_room
):
    far = FIRST_DAY + timedelta(days=300)
    AppointmentFactory(
        practitioner=practitioner, room=other_room, start=at(far), end=at(far, 11)
    )

    proposals = propose_for_plan(
        plan=plan,
        request=request_for(plan, at(FIRST_DAY), room, chosen={5: (at(far), room)}),
        now=NOW,
    )

    assert proposals[5].state == State.CHOSEN
    assert not proposals[5].is_bookable
    assert proposals[5].reasons[0].startswith(f"{practitioner} is already booked")


def test_cancelling_needs_a_reason(booked_plan, front_desk):
    before = calendar()

    with pytest.raises(PlanError, match="Give a reason for cancelling."):
        cancel_session(
            session=session(booked_plan, 2), reason=" ", by=front_desk, replace=True
        )

    assert calendar() == before


def test_a_missed_session_is_a_no_show_once_its_time_has_passed(
    booked_plan, front_desk
):
    first = session(booked_plan, 1)

    with pytest.raises(PlanError, match="once its start time has passed"):
        mark_session_no_show(session=first, by=front_desk, now=NOW)

    mark_session_no_show(
        session=first, by=front_desk, now=at(FIRST_DAY, 11) + timedelta(minutes=1)
    )

    first.appointment.refresh_from_db()
    assert first.appointment.status == Appointment.Status.NO_SHOW
    assert unbooked_count(booked_plan) == 1
    # The patient arrives late after all: booked again, the plan whole.
    undo_no_show(
        appointment=first.appointment,
        by=front_desk,
        now=at(FIRST_DAY, 11) + timedelta(minutes=5),
    )
    first.appointment.refresh_from_db()
    assert first.appointment.status == Appointment.Status.BOOKED
    assert unbooked_count(booked_plan) == 0


def test_a_missed_session_replaced_since_is_not_taken_back(booked_plan, front_desk):
    first = session(booked_plan, 1)
    missed_at = at(FIRST_DAY, 11) + timedelta(minutes=1)
    mark_session_no_show(session=first, by=front_desk, now=missed_at)
    # The front desk books the missed session again at the end of the course.
    last = session(booked_plan, booked_plan.planned_sessions)
    proposals = propose_for_plan(
        plan=booked_plan,
        request=SeriesRequest(
            first_start=last.appointment.start + timedelta(days=28),
            practitioner=booked_plan.practitioner,
            room=None,
            chosen={},
        ),
        now=missed_at,
    )
    book_series(
        plan=booked_plan,
        proposals=proposals,
        practitioner=booked_plan.practitioner,
        by=front_desk,
        now=missed_at,
    )

    with pytest.raises(BookingError, match="all booked again"):
        undo_no_show(
            appointment=first.appointment,
            by=front_desk,
            now=missed_at + timedelta(minutes=5),
        )
    first.appointment.refresh_from_db()
    assert first.appointment.status == Appointment.Status.NO_SHOW


def test_a_plan_extends_to_the_protocols_maximum_and_beyond_only_with_a_reason(
    clinic, practitioner, patient, front_desk
):
    plan = TreatmentPlanFactory(
        patient=patient, practitioner=practitioner, planned_sessions=7
    )

    # A reason given inside the protocol marks no exception.
    plan = extend_plan(plan=plan, by=practitioner.user, reason="Slow to respond")
    assert plan.planned_sessions == 8
    assert plan.exception_reason == ""
    with pytest.raises(PlanError) as excinfo:
        extend_plan(plan=plan, by=practitioner.user, reason="  ")
    assert str(excinfo.value) == (
        "The Standard protocol has at most 8 sessions: give a reason to plan more."
    )
    plan.refresh_from_db()
    assert plan.planned_sessions == 8

    plan = extend_plan(plan=plan, by=practitioner.user, reason="Deep scarring")

    plan.refresh_from_db()
    assert plan.planned_sessions == 9
    # Who went beyond the protocol, and when, as a manager's spacing note says.
    assert plan.exception_reason == (
        f"Extended to 9 sessions by {practitioner.user.get_full_name()} on "
        f"{day_text(timezone.localdate())}: Deep scarring"
    )


def test_a_plan_is_extended_to_thirty_sessions_at_most(practitioner, patient):
    plan = TreatmentPlanFactory(
        patient=patient, practitioner=practitioner, planned_sessions=29
    )
    extend_plan(plan=plan, by=practitioner.user, reason="Extensive scarring")

    with pytest.raises(PlanError, match="A plan has at most 30 sessions"):
        extend_plan(plan=plan, by=practitioner.user, reason="Extensive scarring")

    plan.refresh_from_db()
    assert plan.planned_sessions == 30


def test_extending_refuses_a_second_click_from_the_same_page(practitioner, patient):
    plan = TreatmentPlanFactory(
        patient=patient, practitioner=practitioner, planned_sessions=6
    )

    extend_plan(plan=plan, by=practitioner.user, seen=6)
    with pytest.raises(StalePlan) as excinfo:
        extend_plan(plan=plan, by=practitioner.user, seen=6)

    assert "it now has 7 sessions planned" in str(excinfo.value)
    plan.refresh_from_db()
    assert plan.planned_sessions == 7


def test_the_rest_of_a_plan_isnt_cancelled_while_a_session_is_under_way(
    booked_plan, front_desk
):
    first = session(booked_plan, 1).appointment
    Appointment.objects.filter(pk=first.pk).update(status=Appointment.Status.CHECKED_IN)

    with pytest.raises(PlanError, match="is under way"):
        cancel_plan(plan=booked_plan, reason="Moving abroad", by=front_desk, now=NOW)

    booked_plan.refresh_from_db()
    assert booked_plan.is_open
    assert not booked_plan.sessions.filter(
        appointment__status=Appointment.Status.CANCELLED
    ).exists()


def test_a_practitioner_doesnt_cancel_a_plan_with_sessions_booked(
    booked_plan, practitioner
):
    with pytest.raises(PlanError, match="the front desk cancels the rest"):
        cancel_plan(plan=booked_plan, reason="Changed", by=practitioner.user, now=NOW)

    booked_plan.refresh_from_db()
    assert booked_plan.is_open


def test_cancelling_a_plan_cancels_only_the_sessions_not_yet_done(
    booked_plan, front_desk
):
    done = session(booked_plan, 1).appointment
    Appointment.objects.filter(pk=done.pk).update(status=Appointment.Status.COMPLETED)

    with pytest.raises(PlanError, match="Give a reason"):
        cancel_plan(plan=booked_plan, reason="", by=front_desk, now=NOW)
    cancelled = cancel_plan(
        plan=booked_plan, reason="Moving abroad", by=front_desk, now=NOW
    )

    assert cancelled == 5
    statuses = [
        s.appointment.status
        for s in booked_plan.sessions.select_related("appointment").order_by("number")
    ]
    assert (
        statuses == [Appointment.Status.COMPLETED] + [Appointment.Status.CANCELLED] * 5
    )
    booked_plan.refresh_from_db()
    assert booked_plan.status == TreatmentPlan.Status.CANCELLED
    assert (booked_plan.ended_reason, booked_plan.ended_at) == ("Moving abroad", NOW)
    with pytest.raises(PlanError, match="already ended"):
        cancel_plan(plan=booked_plan, reason="Again", by=front_desk, now=NOW)


def test_a_plan_with_no_session_done_is_cancelled_not_completed(
    booked_plan, front_desk
):
    Appointment.objects.filter(treatment_session__plan=booked_plan).update(
        status=Appointment.Status.CANCELLED, cancel_reason="Moved away."
    )

    with pytest.raises(PlanError, match="No session of this plan has been done"):
        complete_plan(plan=booked_plan, by=front_desk, now=NOW)

    booked_plan.refresh_from_db()
    assert booked_plan.is_open


def test_a_plan_is_completed_only_once_no_session_is_booked(booked_plan, front_desk):
    with pytest.raises(PlanError, match="Sessions are still booked"):
        complete_plan(plan=booked_plan, by=front_desk, now=NOW)

    Appointment.objects.filter(treatment_session__plan=booked_plan).update(
        status=Appointment.Status.COMPLETED
    )
    complete_plan(plan=booked_plan, by=front_desk, now=NOW)

    booked_plan.refresh_from_db()
    assert booked_plan.status == TreatmentPlan.Status.COMPLETED
    assert booked_plan.ended_at == NOW
    with pytest.raises(PlanError, match="ended"):
        book(booked_plan, front_desk, room=None)
