"""One of everything the pages show, made by the services the pages use.

Shared by the page-wide tests (every URL for every role, hostile input): a
consultation, a consented plan with two booked sessions, today's signed record
with a photo, the emails the bookings planned, and staff of every role.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from types import SimpleNamespace

import time_machine
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from pytest_django import DjangoDbBlocker

from aftercare.models import Kind, Reminder
from aftercare.services import unsubscribe_token
from clinic import roles
from clinic import services as booking
from clinic.models import Appointment, Consultation, screened
from clinic.tests.factories import (
    PatientFactory,
    PractitionerFactory,
    RoomFactory,
    UserFactory,
    open_clinic,
)
from plans import photos as photos_service
from plans import records, services
from plans.models import Photo, SessionRecord
from plans.tests.factories import standard
from plans.tests.record_factories import entries, image_bytes, upload


def at(day: tuple[int, int, int], hour: int) -> datetime:
    return timezone.make_aware(datetime(*day, hour))


# The consultation is booked on the 2nd, held on the 3rd; "today" is the 24th.
BOOKED_AT = (2026, 11, 2)
CONSULTED_ON = (2026, 11, 3)
TODAY = (2026, 11, 24)


@contextmanager
def built_world(
    django_db_blocker: DjangoDbBlocker, private_root
) -> Iterator[SimpleNamespace]:
    """Build the world inside a transaction that is rolled back afterwards.

    Meant for a module-scoped fixture: each test then runs in its own savepoint
    within it (pytest-django's ``db``), so what one test writes is gone before
    the next.
    """
    with (
        django_db_blocker.unblock(),
        transaction.atomic(),
        override_settings(CLINIC_PRIVATE_MEDIA_ROOT=private_root),
        time_machine.travel(at(BOOKED_AT, 9), tick=False) as traveller,
    ):
        patient = PatientFactory(first_name="Ada", last_name="Lovelace")
        room = RoomFactory(name="Room 1")
        idle_room = RoomFactory(name="Shut", is_active=False)
        practitioner = PractitionerFactory(user__username="practitioner")
        clinician = practitioner.user
        front_desk = UserFactory(username="frontdesk", role=roles.FRONT_DESK)
        open_clinic(practitioner)
        visit = booking.book_appointment(
            patient=patient,
            practitioner=practitioner,
            room=room,
            start=at(CONSULTED_ON, 10),
            end=at(CONSULTED_ON, 11),
            kind=Appointment.Kind.CONSULTATION,
            booked_by=front_desk,
        )

        traveller.move_to(at(CONSULTED_ON, 11))
        booking.complete_appointment(appointment=visit, by=clinician)
        consultation = booking.record_consultation(
            consultation=Consultation(
                appointment=visit,
                areas=["face"],
                goals=["lines"],
                topical_medication="Tretinoin 0.025% cream",
                screening_note="Small raised scar on the chin, 2019.",
                **screened(),
                decision=Consultation.Decision.ELIGIBLE,
            ),
            by=clinician,
        )
        plan = services.create_plan(
            consultation=consultation,
            protocol=standard(),
            practitioner=practitioner,
            planned_sessions=6,
            spacing_days=28,
            areas=["face"],
            consent=True,
            by=clinician,
        )
        proposals = services.propose_for_plan(
            plan=plan,
            request=services.SeriesRequest(
                first_start=at(TODAY, 10),
                practitioner=practitioner,
                room=room,
                chosen={},
            ),
            count=2,
        )
        today, upcoming = services.book_series(
            plan=plan, proposals=proposals, practitioner=practitioner, by=front_desk
        )

        traveller.move_to(at(TODAY, 15))
        record = records.save_record(
            record=SessionRecord(
                session=today,
                started_at=today.appointment.start,
                ended_at=today.appointment.end,
                redness="mild",
            ),
            entries=entries({"face": ("1.00", 2)}),
            products=[],
        )
        records.sign_record(record=record, by=clinician)
        photo = photos_service.add_photo(
            session=today,
            upload=upload(image_bytes()),
            moment=Photo.Moment.BEFORE,
            area="face",
            note="",
            by=clinician,
        )
        world = SimpleNamespace(
            patient=patient,
            room=room,
            idle_room=idle_room,
            practitioner=practitioner,
            consultation=consultation,
            plan=plan,
            signed=today,
            upcoming=upcoming,
            appointment=upcoming.appointment,
            photo=photo,
            # Its text names the medication from the consultation.
            reminder=Reminder.objects.get(
                appointment=upcoming.appointment, kind=Kind.PRE_CARE
            ),
            token=unsubscribe_token(patient),
            users={
                "anonymous": None,
                "outsider": UserFactory(username="outsider"),
                "front_desk": front_desk,
                "practitioner": clinician,
                "manager": UserFactory(username="manager", role=roles.MANAGER),
            },
            private=private_root,
        )
        try:
            yield world
        finally:
            transaction.set_rollback(True)
