"""What two years of work leave behind besides the appointments: treatment plans
with their sessions and signed session records. Written in bulk after
``bench.data.build_appointments()``.

Plans are chained onto the generated treatment appointments. Each
practitioner's treatments are taken, in order, by the plan whose next session is
due (the protocol's spacing after its last one), or else, mostly, by a new plan
from one of the practitioner's completed consultations of the last six weeks;
the rest stay single treatments. A plan's sessions are then given its patient.
A cancelled or missed session is replaced by the plan's next one; now and then a
patient stops a course. Completed sessions have a signed record.

The emails these leave behind are written by ``bench.outbox.build_emails()``.
"""

import heapq
import itertools
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from bench.data import BATCH_SIZE, SEED, VISIT_FIELDS, Clinic, Visit, read_visits
from bench.outbox import build_emails
from clinic.models import Appointment, Area, Consultation, Goal, screened
from plans.models import (
    Product,
    Protocol,
    SessionRecord,
    TreatedArea,
    TreatmentPlan,
    TreatmentSession,
)

Status = Appointment.Status

# Of the treatments no plan is due for, the share that starts a new plan.
NEW_PLAN_SHARE = 0.75
# A plan starts one to six weeks after its consultation, or never.
START_AFTER = timedelta(days=7)
START_WITHIN = timedelta(days=42)
# After each completed session, the share of patients who stop the course.
STOP_SHARE = 0.02
STANDARD = "Standard"
SURGICAL = "Surgical scars and stretch marks"
SURGICAL_SHARE = 0.2
# A lost session is replaced from the next day on.
REBOOK_AFTER = timedelta(days=1)


STANDARD_AREAS = ([Area.FACE], [Area.FACE, Area.NECK], [Area.CHEST], [Area.HANDS])
STANDARD_GOALS = (Goal.LINES, Goal.ACNE_SCARS, Goal.PIGMENTATION, Goal.TEXTURE)
SURGICAL_GOALS = (Goal.SURGICAL_SCARS, Goal.STRETCH_MARKS)
DEVICES = ("Dermapen 4", "SkinPen Precision", "Exceed Medical")
STOP_REASONS = (
    "Patient stopped the course.",
    "Patient moved away.",
    "Pregnant: paused until after breastfeeding.",
)


@dataclass
class Course:
    """A plan being assembled: its consultation and the treatments it took."""

    consultation: Visit
    protocol: Protocol
    planned: int
    areas: list[str]
    goals: list[str]
    next_due: date = date.min
    sessions: list[Visit] = field(default_factory=list)
    # index of a session -> index of the lost session it replaces
    replaces: dict[int, int] = field(default_factory=dict)
    live: int = 0
    lost: int | None = None
    stopped_at: datetime | None = None

    @property
    def patient_id(self) -> int:
        return self.consultation.patient_id

    @property
    def finished(self) -> bool:
        return self.live >= self.planned or self.stopped_at is not None

    def add(self, visit: Visit) -> None:
        index = len(self.sessions)
        self.sessions.append(visit)
        day = timezone.localdate(visit.start)
        if visit.status in Appointment.ACTIVE_STATUSES:
            if self.lost is not None:
                self.replaces[index] = self.lost
                self.lost = None
            self.live += 1
            self.next_due = day + timedelta(days=self.protocol.target_spacing_days)
        else:
            self.lost = index
            self.next_due = day + REBOOK_AFTER

    def status(self) -> str:
        if self.stopped_at is not None:
            return TreatmentPlan.Status.CANCELLED
        done = all(
            v.status == Status.COMPLETED
            for v in self.sessions
            if v.status in Appointment.ACTIVE_STATUSES
        )
        if self.live >= self.planned and done:
            return TreatmentPlan.Status.COMPLETED
        return TreatmentPlan.Status.ACTIVE


@dataclass
class PlanCounts:
    plans: int = 0
    sessions: int = 0
    records: int = 0


@transaction.atomic
def build_plans(clinic: Clinic, *, seed: int = SEED) -> PlanCounts:
    """Plans, sessions and records on the appointments not in a plan yet."""
    protocols = {p.name: p for p in Protocol.objects.all()}
    treatments = read_visits(
        Appointment.objects.filter(
            kind=Appointment.Kind.TREATMENT, treatment_session__isnull=True
        )
    )
    consultations = read_visits(
        Appointment.objects.filter(
            kind=Appointment.Kind.CONSULTATION,
            status=Status.COMPLETED,
            end__lte=clinic.now,
            consultation__isnull=True,
        )
    )
    courses = []
    for index, practitioner in enumerate(clinic.practitioners):
        courses += _chain(
            [v for v in treatments if v.practitioner_id == practitioner.pk],
            [v for v in consultations if v.practitioner_id == practitioner.pk],
            protocols,
            rng=random.Random(f"{seed}:plans:{index}"),
            now=clinic.now,
        )
    return write_courses(courses, clinic, rng=random.Random(f"{seed}:records"))


def _chain(
    treatments: list[Visit],
    consultations: list[Visit],
    protocols: dict[str, Protocol],
    *,
    rng: random.Random,
    now: datetime,
) -> list[Course]:
    """One practitioner's plans, from their treatments and consultations in order."""
    courses: list[Course] = []
    # (next session due, tie-breaker, course) of the plans still going
    due: list[tuple[date, int, Course]] = []
    order = itertools.count()
    waiting = deque(consultations)
    for visit in treatments:
        day = timezone.localdate(visit.start)
        if due and due[0][0] <= day:
            course = heapq.heappop(due)[2]
        else:
            while waiting and _day(waiting[0]) + START_WITHIN < day:
                waiting.popleft()
            if not (
                waiting
                and _day(waiting[0]) + START_AFTER <= day
                and rng.random() < NEW_PLAN_SHARE
            ):
                continue
            course = _new_course(waiting.popleft(), protocols, rng)
            courses.append(course)
        course.add(visit)
        if (
            visit.status == Status.COMPLETED
            and not course.finished
            and visit.end + timedelta(days=3) < now
            and rng.random() < STOP_SHARE
        ):
            course.stopped_at = visit.end + timedelta(days=3)
        if not course.finished:
            heapq.heappush(due, (course.next_due, next(order), course))
    return courses


def _day(visit: Visit) -> date:
    return timezone.localdate(visit.start)


def _new_course(
    consultation: Visit, protocols: dict[str, Protocol], rng: random.Random
) -> Course:
    if rng.random() < SURGICAL_SHARE:
        protocol, areas = protocols[SURGICAL], [Area.BODY]
        goals = [rng.choice(SURGICAL_GOALS)]
    else:
        protocol, areas = protocols[STANDARD], list(rng.choice(STANDARD_AREAS))
        goals = rng.sample(STANDARD_GOALS, rng.randint(1, 2))
    return Course(
        consultation=consultation,
        protocol=protocol,
        planned=rng.randint(protocol.min_sessions, protocol.max_sessions),
        areas=[str(a) for a in areas],
        goals=[str(g) for g in goals],
    )


def write_courses(
    courses: list[Course], clinic: Clinic, *, rng: random.Random
) -> PlanCounts:
    """Each course's consultation record and plan; its sessions' appointments
    given its patient; its sessions and their records."""
    users = {p.pk: p.user_id for p in clinic.practitioners}
    consultations = Consultation.objects.bulk_create(
        (
            Consultation(
                appointment_id=c.consultation.pk,
                patient_id=c.patient_id,
                areas=c.areas,
                goals=c.goals,
                **screened(),
                decision=Consultation.Decision.ELIGIBLE,
                decided_by_id=users[c.consultation.practitioner_id],
                decided_at=c.consultation.end,
            )
            for c in courses
        ),
        batch_size=BATCH_SIZE,
    )
    plans = TreatmentPlan.objects.bulk_create(
        (
            _plan(course, consultation, users, rng)
            for course, consultation in zip(courses, consultations, strict=True)
        ),
        batch_size=BATCH_SIZE,
    )
    # As if created when the consultation was decided (auto_now_add wrote now).
    TreatmentPlan.objects.filter(pk__in=[p.pk for p in plans]).update(
        created_at=Subquery(
            Consultation.objects.filter(pk=OuterRef("consultation_id")).values(
                "decided_at"
            )[:1]
        )
    )
    for course in courses:
        Appointment.objects.filter(pk__in=[v.pk for v in course.sessions]).exclude(
            patient_id=course.patient_id
        ).update(patient_id=course.patient_id)

    sessions = _write_sessions(courses, plans)
    records = _write_records(courses, sessions, users, rng=rng, now=clinic.now)
    return PlanCounts(
        plans=len(plans),
        sessions=sum(len(s) for s in sessions),
        records=records,
    )


def _plan(
    course: Course,
    consultation: Consultation,
    users: dict[int, int],
    rng: random.Random,
) -> TreatmentPlan:
    status = course.status()
    user_id = users[course.consultation.practitioner_id]
    ended_at, reason = None, ""
    if status == TreatmentPlan.Status.CANCELLED:
        ended_at, reason = course.stopped_at, rng.choice(STOP_REASONS)
    elif status == TreatmentPlan.Status.COMPLETED:
        ended_at = max(v.end for v in course.sessions)
    return TreatmentPlan(
        patient_id=course.patient_id,
        consultation=consultation,
        protocol=course.protocol,
        areas=course.areas,
        practitioner_id=course.consultation.practitioner_id,
        planned_sessions=course.planned,
        spacing_days=course.protocol.target_spacing_days,
        status=status,
        consent_by_id=user_id,
        consented_at=_consented_at(course),
        created_by_id=user_id,
        ended_reason=reason,
        ended_at=ended_at,
    )


def _consented_at(course: Course) -> datetime:
    return course.consultation.end + timedelta(minutes=10)


def _write_sessions(
    courses: list[Course], plans: list[TreatmentPlan]
) -> list[list[TreatmentSession]]:
    """Each course's sessions, in its order. A replacement points back to the
    session it replaces, so those are written once the others have ids."""
    sessions = [
        [
            TreatmentSession(plan=plan, appointment_id=visit.pk, number=index + 1)
            for index, visit in enumerate(course.sessions)
        ]
        for course, plan in zip(courses, plans, strict=True)
    ]
    first, replacements = [], []
    for course, own in zip(courses, sessions, strict=True):
        for index, session in enumerate(own):
            if index in course.replaces:
                session.replaces = own[course.replaces[index]]
                replacements.append(session)
            else:
                first.append(session)
    TreatmentSession.objects.bulk_create(first, batch_size=BATCH_SIZE)
    TreatmentSession.objects.bulk_create(replacements, batch_size=BATCH_SIZE)
    return sessions


def _write_records(
    courses: list[Course],
    sessions: list[list[TreatmentSession]],
    users: dict[int, int],
    *,
    rng: random.Random,
    now: datetime,
) -> int:
    """A signed record for each completed session, a draft for one in progress."""
    products = {
        category: list(
            Product.objects.filter(category=category).values_list("pk", flat=True)
        )
        for category in Product.Category.values
    }
    records: list[SessionRecord] = []
    details: list[tuple[SessionRecord, Course, int]] = []
    for course, own in zip(courses, sessions, strict=True):
        for index, (visit, session) in enumerate(
            zip(course.sessions, own, strict=True)
        ):
            if visit.status == Status.COMPLETED:
                record = _signed_record(visit, session, users, products, rng, now)
            elif visit.status == Status.CHECKED_IN:
                record = SessionRecord(session=session, started_at=visit.start)
            else:
                continue
            records.append(record)
            details.append((record, course, index))
    SessionRecord.objects.bulk_create(records, batch_size=BATCH_SIZE)

    areas, applied = [], []
    Applied = SessionRecord.products_after.through
    for record, course, index in details:
        if record.signed_at is None:
            continue
        for area in course.areas:
            areas.append(
                TreatedArea(
                    record=record,
                    area=area,
                    depth_mm=_depth(area, index, rng),
                    passes=rng.randint(2, 4),
                )
            )
        for category in (Product.Category.SERUM, Product.Category.RECOVERY):
            applied.append(
                Applied(sessionrecord=record, product_id=rng.choice(products[category]))
            )
    TreatedArea.objects.bulk_create(areas, batch_size=BATCH_SIZE)
    Applied.objects.bulk_create(applied, batch_size=BATCH_SIZE)
    return len(records)


def _signed_record(
    visit: Visit,
    session: TreatmentSession,
    users: dict[int, int],
    products: dict[str, list[int]],
    rng: random.Random,
    now: datetime,
) -> SessionRecord:
    started = visit.start + timedelta(minutes=rng.randint(0, 10))
    ended = visit.end - timedelta(minutes=rng.randint(0, 10))
    return SessionRecord(
        session=session,
        device=rng.choice(DEVICES),
        cartridge_lot=f"L{rng.randint(10000, 99999)}",
        numbing_agent_id=rng.choice(products[Product.Category.NUMBING]),
        numbing_minutes=rng.choice((20, 30, 30, 45)),
        redness=rng.choice(("mild", "mild", "moderate", "marked")),
        pinpoint_bleeding=rng.random() < 0.6,
        started_at=started,
        ended_at=ended,
        signed_by_id=users[visit.practitioner_id],
        signed_at=min(ended + timedelta(minutes=rng.randint(2, 20)), now),
    )


def _depth(area: str, index: int, rng: random.Random) -> Decimal:
    """Deeper as a course goes on; the body takes the longest needles."""
    base = Decimal("1.50") if area == Area.BODY else Decimal("0.50")
    return (
        base
        + Decimal("0.25") * min(index // 2, 2)
        + rng.choice((Decimal("0"), Decimal("0.25")))
    )


# The sample plan -----------------------------------------------------------------

SAMPLE_SESSIONS = 6
SAMPLE_DONE = 4
# Before every shift of the generated clinic, so no generated appointment
# overlaps the sample; away from the series benchmark's days and rooms.
SAMPLE_TIME = time(7)
SAMPLE_NEXT_IN = timedelta(days=18)


@transaction.atomic
def build_sample_plan(clinic: Clinic) -> TreatmentPlan:
    """One Standard plan of six sessions 28 days apart, four done and two
    booked, with its consultation, records and emails: a plan page and an
    outbox to measure before the clinic fills up."""
    practitioner = clinic.practitioners[-1]
    room = clinic.rooms[(len(clinic.practitioners) - 1) % len(clinic.rooms)]
    protocol = Protocol.objects.get(name=STANDARD)
    spacing = timedelta(days=protocol.target_spacing_days)
    next_day = timezone.localdate(clinic.now) + SAMPLE_NEXT_IN
    if next_day.weekday() == 6:  # the bench clinic is closed on Sundays
        next_day += timedelta(days=1)
    days = [next_day + (n - SAMPLE_DONE) * spacing for n in range(SAMPLE_SESSIONS)]
    consultation_day = days[0] - timedelta(days=14)

    def appointment(day: date, kind: str, minutes: int) -> Appointment:
        start = datetime.combine(day, SAMPLE_TIME, timezone.get_current_timezone())
        end = start + timedelta(minutes=minutes)
        done = end <= clinic.now
        return Appointment(
            patient_id=clinic.patient_ids[-1],
            practitioner=practitioner,
            room=room,
            start=start,
            end=end,
            kind=kind,
            status=Status.COMPLETED if done else Status.BOOKED,
            checked_in_at=start - timedelta(minutes=5) if done else None,
            booked_by=clinic.front_desk,
        )

    appointments = Appointment.objects.bulk_create(
        [appointment(consultation_day, Appointment.Kind.CONSULTATION, 30)]
        + [appointment(day, Appointment.Kind.TREATMENT, 60) for day in days]
    )
    visits = [Visit(*(getattr(a, f) for f in VISIT_FIELDS)) for a in appointments]
    course = Course(
        consultation=visits[0],
        protocol=protocol,
        planned=SAMPLE_SESSIONS,
        areas=[Area.FACE.value],
        goals=[Goal.LINES.value],
    )
    for visit in visits[1:]:
        course.add(visit)
    write_courses([course], clinic, rng=random.Random(f"{SEED}:sample"))
    build_emails(
        clinic, appointments=Appointment.objects.filter(pk__in=[v.pk for v in visits])
    )
    return TreatmentPlan.objects.get(consultation__appointment_id=visits[0].pk)
