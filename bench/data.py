"""A large, deterministic clinic for benchmarks, written with bulk_create.

Two steps, so a benchmark can measure a page before and after the calendar fills
up: ``build_clinic()`` writes staff, rooms, hours and patients;
``build_appointments()`` writes the appointments around ``now``.

Every room is shared by at most two practitioners working opposite shifts
(practitioner ``i`` uses room ``i % rooms``; the first ``rooms`` practitioners
work mornings, the rest afternoons), and each practitioner's appointments follow
each other within the shift, so no practitioner and no room is ever double
booked. Each practitioner-day draws from its own seeded random generator, so a
given date always holds the same appointments whenever the data is built.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import NamedTuple

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from clinic import roles
from clinic.models import (
    Appointment,
    OpeningHours,
    Patient,
    Practitioner,
    Room,
    WorkingHours,
)

SEED = 2026
BATCH_SIZE = 5000
USERNAME_PREFIX = "bench."

# weekday -> (morning shift, afternoon shift); the clinic opens for both.
SHIFTS: dict[int, tuple[tuple[time, time], tuple[time, time]]] = {
    weekday: ((time(8), time(14)), (time(14), time(20))) for weekday in range(5)
} | {5: ((time(9), time(13)), (time(13), time(17)))}

CONSULTATION_MINUTES = 30
TREATMENT_MINUTES = 60
SLOT_MINUTES = 30

FIRST_NAMES = (
    "Amelia Olivia Isla Ava Mia Ivy Lily Sophia Grace Freya Aisha Priya Mei Yuki "
    "Zara Leila Fatima Ama Niamh Aoife Ingrid Sofia Chloe Hannah Emily Oliver "
    "George Noah Arthur Leo Oscar Harry Mohammed Ravi Arjun Kwame Wei Lucas Mateo "
    "Daniel Samuel Thomas Marcus Tariq Kofi Hiroshi Luca Jakub Sean Omar"
).split()
LAST_NAMES = (
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Robinson Wright "
    "Thompson Evans Walker White Roberts Green Hall Wood Jackson Clarke Khan Ahmed "
    "Singh Chen Wong Tanaka Kim Park Okafor Mensah Adeyemi Owusu Rossi Garcia "
    "Fernandez Oliveira Dubois Schmidt Nowak Larsen Murphy OBrien Haddad Mehta "
    "Sharma Campbell Hughes Bennett Lee"
).split()
CANCEL_REASONS = (
    "Patient unwell.",
    "Clashes with work.",
    "Childcare fell through.",
    "Rebooking after a holiday.",
)


@dataclass
class Clinic:
    now: datetime
    front_desk: User
    practitioners: list[Practitioner]
    rooms: list[Room]
    patient_ids: list[int]


@transaction.atomic
def build_clinic(
    *,
    now: datetime,
    practitioners: int = 20,
    rooms: int = 10,
    patients: int = 5000,
    seed: int = SEED,
) -> Clinic:
    """Staff, rooms, opening and working hours, and patients; no appointments."""
    if not 1 <= practitioners <= 2 * rooms:
        raise ValueError(
            f"Two shifts a room fit at most {2 * rooms} practitioners, "
            f"not {practitioners}."
        )
    rng = random.Random(seed)

    OpeningHours.objects.bulk_create(
        OpeningHours(weekday=weekday, opens=morning[0], closes=afternoon[1])
        for weekday, (morning, afternoon) in SHIFTS.items()
    )
    room_objects = Room.objects.bulk_create(
        Room(name=f"Bench room {n + 1:02d}") for n in range(rooms)
    )

    front_desk = _create_staff("frontdesk", "Front", "Desk", roles.FRONT_DESK)
    titles = list(Practitioner.Title.values)
    practitioner_objects = Practitioner.objects.bulk_create(
        Practitioner(
            user=_create_staff(
                f"practitioner{n + 1:02d}",
                rng.choice(FIRST_NAMES),
                rng.choice(LAST_NAMES),
                roles.PRACTITIONER,
            ),
            title=titles[n % len(titles)],
        )
        for n in range(practitioners)
    )
    WorkingHours.objects.bulk_create(
        WorkingHours(
            practitioner=practitioner,
            weekday=weekday,
            start=shifts[_shift(index, rooms)][0],
            end=shifts[_shift(index, rooms)][1],
        )
        for index, practitioner in enumerate(practitioner_objects)
        for weekday, shifts in SHIFTS.items()
    )

    patient_objects = Patient.objects.bulk_create(
        (_patient(n, rng) for n in range(patients)), batch_size=BATCH_SIZE
    )
    return Clinic(
        now=now,
        front_desk=front_desk,
        practitioners=practitioner_objects,
        rooms=room_objects,
        patient_ids=[p.pk for p in patient_objects],
    )


@transaction.atomic
def build_appointments(
    clinic: Clinic,
    *,
    days_back: int = 365,
    days_forward: int = 365,
    seed: int = SEED,
) -> int:
    """Appointments from ``days_back`` days before ``clinic.now`` up to (not
    including) the day ``days_forward`` days after; returns how many."""
    tz = timezone.get_current_timezone()
    today = timezone.localdate(clinic.now, tz)
    first_day = today - timedelta(days=days_back)
    batch: list[Appointment] = []
    created = 0
    for offset in range(days_back + days_forward):
        day = first_day + timedelta(days=offset)
        shifts = SHIFTS.get(day.weekday())
        if shifts is None:
            continue
        for index, practitioner in enumerate(clinic.practitioners):
            shift = shifts[_shift(index, len(clinic.rooms))]
            rng = random.Random(f"{seed}:{index}:{day.isoformat()}")
            batch += _day_of(
                rng,
                clinic,
                practitioner=practitioner,
                room=clinic.rooms[index % len(clinic.rooms)],
                day=day,
                shift=shift,
                tz=tz,
            )
        if len(batch) >= BATCH_SIZE:
            created += len(Appointment.objects.bulk_create(batch))
            batch = []
    created += len(Appointment.objects.bulk_create(batch))
    return created


def _shift(index: int, rooms: int) -> int:
    return 0 if index < rooms else 1


def _create_staff(username: str, first_name: str, last_name: str, role: str) -> User:
    user = User.objects.create(
        username=USERNAME_PREFIX + username,
        first_name=first_name,
        last_name=last_name,
        # Benchmarks log in with force_login, and hashing a real password is slow.
        password=make_password(None),
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def _patient(n: int, rng: random.Random) -> Patient:
    first_name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    has_email = rng.random() < 0.95
    return Patient(
        first_name=first_name,
        last_name=last_name,
        date_of_birth=date(1950, 1, 1) + timedelta(days=rng.randrange(55 * 365)),
        email=f"{first_name}.{last_name}.{n}@example.com".lower() if has_email else "",
        phone=f"+44 7700 {900000 + n % 1000}",
        email_consent=has_email and rng.random() < 0.85,
        skin_type=rng.randint(1, 6),
    )


def _day_of(
    rng: random.Random,
    clinic: Clinic,
    *,
    practitioner: Practitioner,
    room: Room,
    day: date,
    shift: tuple[time, time],
    tz: tzinfo,
) -> Iterator[Appointment]:
    """One practitioner's appointments on one day, back to back with a few gaps."""
    start = datetime.combine(day, shift[0], tz)
    shift_end = datetime.combine(day, shift[1], tz)
    while start < shift_end:
        if rng.random() < 0.05:
            start += timedelta(minutes=SLOT_MINUTES)
            continue
        kind, minutes = Appointment.Kind.TREATMENT, TREATMENT_MINUTES
        if rng.random() < 0.5 or start + timedelta(minutes=minutes) > shift_end:
            kind, minutes = Appointment.Kind.CONSULTATION, CONSULTATION_MINUTES
        end = start + timedelta(minutes=minutes)
        yield Appointment(
            patient_id=rng.choice(clinic.patient_ids),
            practitioner=practitioner,
            room=room,
            start=start,
            end=end,
            kind=kind,
            booked_by=clinic.front_desk,
            **_status(rng, start=start, end=end, now=clinic.now),
        )
        start = end


def _status(
    rng: random.Random, *, start: datetime, end: datetime, now: datetime
) -> dict:
    roll = rng.random()
    if roll < 0.08:
        return {
            "status": Appointment.Status.CANCELLED,
            "cancel_reason": rng.choice(CANCEL_REASONS),
            "cancelled_at": min(start - timedelta(days=1), now),
        }
    if end <= now:
        if roll < 0.12:
            return {"status": Appointment.Status.NO_SHOW}
        return {
            "status": Appointment.Status.COMPLETED,
            "checked_in_at": start - timedelta(minutes=5),
        }
    if start <= now:
        return {"status": Appointment.Status.CHECKED_IN, "checked_in_at": start}
    return {"status": Appointment.Status.BOOKED}


class Visit(NamedTuple):
    """An appointment as the generators read it."""

    pk: int
    practitioner_id: int
    patient_id: int
    kind: str
    start: datetime
    end: datetime
    status: str
    cancelled_at: datetime | None


VISIT_FIELDS = Visit._fields


def read_visits(appointments: QuerySet[Appointment]) -> list[Visit]:
    """The appointments as the generators read them, in order."""
    rows = appointments.order_by("start", "pk").values_list(*VISIT_FIELDS)
    return [Visit(*row) for row in rows]
