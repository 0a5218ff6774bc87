"""The plans part of `manage.py seed_demo`: consultations and treatment plans.

Consultations of two weeks ago (eligible, not eligible, not yet decided) and a
Standard plan whose first session is today (ready to record) and whose other five
are booked 28 days apart, all through the real services where they allow it.
Runs once: skipped when the demo patients already have consultations.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TextIO

from django.contrib.auth.models import User
from django.core.management.base import CommandError
from django.utils import timezone

from clinic.models import (
    Appointment,
    Area,
    Consultation,
    Goal,
    Patient,
    Practitioner,
    Room,
    local_midnight,
    screened,
)
from clinic.scheduling import Availability
from clinic.services import notify, record_consultation
from plans.models import Protocol, TreatmentPlan, TreatmentSession
from plans.services import SeriesRequest, book_series, create_plan, propose_for_plan

PRACTITIONER = "dr.patel"
FRONT_DESK = "frontdesk"


@dataclass(frozen=True)
class DemoConsultation:
    first_name: str
    last_name: str
    areas: list[str]
    goals: list[str]
    hoped_for: str
    decision: str
    reason: str = ""
    medication: str = ""
    flags: tuple[str, ...] = ()
    screening_note: str = ""
    protocol: str = ""  # start a plan with this protocol
    sessions: int = 0
    book: bool = False  # record consent and book the series


ELIGIBLE = Consultation.Decision.ELIGIBLE
CONSULTATIONS = (
    DemoConsultation(
        "Oluwaseun",
        "Adeyemi",
        [Area.FACE],
        [Goal.ACNE_SCARS],
        "Smoother cheeks; less visible rolling scars.",
        ELIGIBLE,
        medication="Adapalene 0.1% gel at night",
        protocol="Standard",
        sessions=6,
        book=True,
    ),
    DemoConsultation(
        "Wei",
        "Chen",
        [Area.FACE, Area.NECK],
        [Goal.LINES, Goal.TEXTURE],
        "Fresher skin before a wedding in the spring.",
        ELIGIBLE,
    ),
    DemoConsultation(
        "Fatima",
        "Al-Sayed",
        [Area.BODY],
        [Goal.STRETCH_MARKS],
        "Fainter stretch marks on the abdomen.",
        ELIGIBLE,
        protocol="Surgical scars and stretch marks",
        sessions=8,
    ),
    DemoConsultation(
        "Kwame",
        "Mensah",
        [Area.FACE],
        [Goal.ACNE_SCARS],
        "Fewer acne scars.",
        Consultation.Decision.NOT_ELIGIBLE,
        reason="Active acne on both cheeks: treat it first, then review in 3 months.",
        flags=("active_infection",),
        screening_note="Several inflamed papules on both cheeks today.",
    ),
    DemoConsultation(
        "Yuki",
        "Tanaka",
        [Area.HANDS],
        [Goal.PIGMENTATION],
        "Even out sun spots on the backs of the hands.",
        Consultation.Decision.PENDING,
    ),
)


def seed(*, now: datetime, stdout: TextIO) -> None:
    patients = {
        (p.first_name, p.last_name): p
        for p in Patient.objects.filter(
            first_name__in=[c.first_name for c in CONSULTATIONS],
            last_name__in=[c.last_name for c in CONSULTATIONS],
        )
    }
    if len(patients) < len(CONSULTATIONS):
        return  # Not the demo clinic's patients: leave it alone.
    if Consultation.objects.filter(patient__in=patients.values()).exists():
        stdout.write("The demo consultations and plans already exist.")
        return
    users = {
        u.username: u
        for u in User.objects.filter(username__in=[PRACTITIONER, FRONT_DESK])
    }
    practitioner = Practitioner.objects.get(user=users[PRACTITIONER])
    rooms = list(Room.objects.filter(is_active=True).order_by("name"))
    tz = timezone.get_default_timezone()
    today = timezone.localdate(now, tz)
    monday = today - timedelta(days=today.weekday() + 14)
    history = Availability.load(
        start=local_midnight(monday), end=local_midnight(monday + timedelta(days=7))
    )
    plans = 0
    for offset, demo in enumerate(CONSULTATIONS):
        patient = patients[(demo.first_name, demo.last_name)]
        appointment = _past_consultation(
            history,
            monday + timedelta(days=offset),
            patient,
            practitioner,
            rooms,
            decided=demo.decision != Consultation.Decision.PENDING,
            booked_by=users[FRONT_DESK],
        )
        consultation = record_consultation(
            consultation=Consultation(
                appointment=appointment,
                patient=patient,
                areas=demo.areas,
                goals=demo.goals,
                hoped_for_results=demo.hoped_for,
                skin_type=patient.skin_type,
                topical_medication=demo.medication,
                decision=demo.decision,
                decision_reason=demo.reason,
                screening_note=demo.screening_note,
                # Each question asked at a decided one; at the undecided one,
                # only its yes so far.
                **(
                    screened(*demo.flags)
                    if demo.decision != Consultation.Decision.PENDING
                    else dict.fromkeys(demo.flags, True)
                ),
            ),
            by=users[PRACTITIONER],
            now=appointment.end,
        )
        if demo.protocol:
            _plan(consultation, demo, now=now, users=users)
            plans += 1
    stdout.write(f"Created {len(CONSULTATIONS)} consultations and {plans} plans.")


def _past_consultation(
    history: Availability,
    day: date,
    patient: Patient,
    practitioner: Practitioner,
    rooms: list[Room],
    *,
    decided: bool,
    booked_by: User,
) -> Appointment:
    """A consultation in the first free half hour of ``day``: completed when
    ``decided`` (a decision completes it), else checked in, its decision still
    to record.

    It lies in the past, which the booking service refuses, so it is written as
    it would have ended up; the calendar rules still pick a free slot.
    """
    tz = history.tz
    for minutes in range(9 * 60, 17 * 60, 15):
        start = datetime.combine(day, time(minutes // 60, minutes % 60), tz)
        end = start + timedelta(minutes=30)
        for room in rooms:
            problems = history.problems(
                # Asked as of the slot itself: whether it was free, not its time.
                start=start,
                end=end,
                practitioner=practitioner,
                room=room,
                now=start,
            )
            if problems:
                continue
            history.hold(
                start=start,
                end=end,
                practitioner_id=practitioner.pk,
                room_id=room.pk,
                description="consultation",
            )
            return Appointment.objects.create(
                patient=patient,
                practitioner=practitioner,
                room=room,
                start=start,
                end=end,
                kind=Appointment.Kind.CONSULTATION,
                status=Appointment.Status.COMPLETED
                if decided
                else Appointment.Status.CHECKED_IN,
                checked_in_at=start - timedelta(minutes=5),
                booked_by=booked_by,
            )
    raise CommandError(f"No free half hour for a demo consultation on {day}.")


def _plan(
    consultation: Consultation,
    demo: DemoConsultation,
    *,
    now: datetime,
    users: dict[str, User],
) -> None:
    protocol = Protocol.objects.get(name=demo.protocol)
    plan = create_plan(
        consultation=consultation,
        protocol=protocol,
        practitioner=consultation.appointment.practitioner,
        planned_sessions=demo.sessions,
        spacing_days=protocol.target_spacing_days,
        areas=demo.areas,
        consent=demo.book,
        by=users[PRACTITIONER],
        now=consultation.appointment.end,
    )
    if not demo.book:
        return
    first = _first_session_today(plan, now=now, by=users[FRONT_DESK])
    request = SeriesRequest(
        first_start=timezone.localtime(first.appointment.start)
        + timedelta(days=plan.spacing_days),
        practitioner=plan.practitioner,
        room=None,
        chosen={},
    )
    proposals = propose_for_plan(plan=plan, request=request, now=now)
    if all(p.is_bookable for p in proposals):
        book_series(
            plan=plan,
            proposals=proposals,
            practitioner=plan.practitioner,
            by=users[FRONT_DESK],
            now=now,
        )


def _first_session_today(
    plan: TreatmentPlan, *, now: datetime, by: User
) -> TreatmentSession:
    """Session 1 in the practitioner's first free hour today (or the next working
    day), so there is a session to record. It may already have started, which
    the booking service refuses, so it is written directly; the calendar rules
    still pick a free hour. Checked in once its start has passed; still to
    come, it has the emails of a booking."""
    tz = timezone.get_default_timezone()
    today = timezone.localdate(now, tz)
    practitioner = plan.practitioner
    rooms = list(Room.objects.filter(is_active=True).order_by("name"))
    calendar = Availability.load(
        start=local_midnight(today), end=local_midnight(today + timedelta(days=8))
    )
    for offset in range(8):
        day = today + timedelta(days=offset)
        for minutes in range(8 * 60, 19 * 60, 15):
            start = datetime.combine(day, time(minutes // 60, minutes % 60), tz)
            end = start + timedelta(minutes=plan.protocol.session_minutes)
            for room in rooms:
                if calendar.problems(
                    start=start,
                    end=end,
                    practitioner=practitioner,
                    room=room,
                    # As of the slot itself: whether it is free, not its time.
                    now=start,
                ):
                    continue
                appointment = Appointment.objects.create(
                    patient=plan.patient,
                    practitioner=practitioner,
                    room=room,
                    start=start,
                    end=end,
                    kind=Appointment.Kind.TREATMENT,
                    status=Appointment.Status.CHECKED_IN
                    if start <= now
                    else Appointment.Status.BOOKED,
                    checked_in_at=start - timedelta(minutes=5)
                    if start <= now
                    else None,
                    booked_by=by,
                )
                plan.status = TreatmentPlan.Status.ACTIVE
                plan.save(update_fields=["status", "updated_at"])
                session = TreatmentSession.objects.create(
                    plan=plan, appointment=appointment, number=1
                )
                if start > now:
                    # Still to come: its emails are planned as a booking's.
                    notify("booked", [appointment], now=now)
                return session
    raise CommandError("No free hour for the demo's first treatment session.")
