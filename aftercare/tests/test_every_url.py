"""Who may open what: every URL of the project, visited by every kind of visitor.

The table below lists each named URL with the outcome for each role. A URL added
to the project without an entry here fails the suite, so that someone decides who
may open it.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

import pytest
import time_machine
from django.db import transaction
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from pytest_django import DjangoDbBlocker

from aftercare.models import Kind, Reminder
from aftercare.services import unsubscribe_token
from clinic import roles
from clinic import services as booking
from clinic.models import Appointment, Consultation
from clinic.tests.factories import (
    PatientFactory,
    PractitionerFactory,
    RoomFactory,
    UserFactory,
    open_clinic,
)
from plans import records, services
from plans.models import Photo, SessionRecord
from plans.tests.factories import standard
from plans.tests.record_factories import entries, image_bytes, upload

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "outsider", "front_desk", "practitioner", "manager")
PUBLIC = {"login", "healthz", "aftercare:unsubscribe", "favicon"}
UNNAMED = {"favicon.ico"}  # Routes without a name; each has a case below.


def at(day: tuple[int, int, int], hour: int) -> datetime:
    return timezone.make_aware(datetime(*day, hour))


# The consultation is booked on a Monday and held the next day; the plan's first
# session is three weeks later, and "now" is that Tuesday afternoon.
BOOKED_AT = (2026, 11, 2)
CONSULTED_ON = (2026, 11, 3)
TODAY = (2026, 11, 24)


# The table ------------------------------------------------------------------------

# Outcomes, in ROLES order.
EVERYONE = ("ok",) * 5
STAFF = ("login", "403", "ok", "ok", "ok")
DESK = ("login", "403", "ok", "403", "ok")
CLINICIANS = ("login", "403", "403", "ok", "ok")
MANAGER = ("login", "403", "403", "403", "ok")


def post_only(outcomes: tuple[str, ...]) -> tuple[str, ...]:
    """A GET passes sign-in and permission first, then meets 405."""
    return tuple("405" if outcome == "ok" else outcome for outcome in outcomes)


@dataclass(frozen=True)
class Case:
    name: str
    kwargs: Callable[[SimpleNamespace], dict]
    outcomes: tuple[str, ...]
    method: str = "get"
    label: str = ""
    path: str = ""  # For a route without a name.

    def url(self, world: SimpleNamespace) -> str:
        return self.path or reverse(self.name, kwargs=self.kwargs(world))


def nothing(w: SimpleNamespace) -> dict:
    return {}


def patient(w: SimpleNamespace) -> dict:
    return {"pk": w.patient.pk}


def appointment(w: SimpleNamespace) -> dict:
    return {"pk": w.appointment.pk}


def plan(w: SimpleNamespace) -> dict:
    return {"pk": w.plan.pk}


def session(w: SimpleNamespace) -> dict:
    return {"pk": w.upcoming.pk}


def signed_session(w: SimpleNamespace) -> dict:
    return {"session_pk": w.signed.pk}


def reminder(w: SimpleNamespace) -> dict:
    return {"pk": w.reminder.pk}


CASES = [
    # The clinic
    Case("clinic:dashboard", nothing, STAFF),
    Case("clinic:patient_list", nothing, STAFF),
    Case("clinic:patient_create", nothing, DESK),
    Case("clinic:patient_detail", patient, STAFF),
    Case("clinic:patient_edit", patient, DESK),
    Case("clinic:appointment_book", lambda w: {"patient_pk": w.patient.pk}, DESK),
    Case("clinic:appointment_detail", appointment, STAFF),
    Case("clinic:appointment_reschedule", appointment, DESK),
    Case("clinic:appointment_cancel", appointment, DESK),
    Case("clinic:appointment_check_in", appointment, post_only(DESK)),
    Case("clinic:appointment_no_show", appointment, post_only(DESK)),
    Case(
        "clinic:consultation_record",
        lambda w: {"appointment_pk": w.consultation.appointment_id},
        CLINICIANS,
    ),
    Case("clinic:consultation_detail", lambda w: {"pk": w.consultation.pk}, STAFF),
    Case("clinic:access_log", nothing, MANAGER),
    Case("clinic:calendar", nothing, STAFF),
    Case("clinic:calendar_day", nothing, STAFF),
    Case("clinic:calendar_week", nothing, STAFF),
    # Treatment plans and sessions
    Case("plans:work", nothing, STAFF),
    Case("plans:my_day", nothing, CLINICIANS),
    Case("plans:create", lambda w: {"consultation_pk": w.consultation.pk}, CLINICIANS),
    Case("plans:detail", plan, STAFF),
    Case("plans:book", plan, DESK),
    Case("plans:consent", plan, post_only(CLINICIANS)),
    Case("plans:extend", plan, DESK),
    Case("plans:cancel", plan, DESK),
    Case("plans:complete", plan, post_only(CLINICIANS)),
    Case("plans:session_move", session, DESK),
    Case("plans:session_change", session, DESK),
    Case("plans:session_cancel", session, DESK),
    Case("plans:session_no_show", session, post_only(DESK)),
    # Clinical records and photos
    Case("plans:record", signed_session, CLINICIANS),
    Case("plans:record_amend", signed_session, CLINICIANS),
    Case("plans:photo_upload", signed_session, post_only(CLINICIANS)),
    Case(
        "plans:photo_file",
        lambda w: {"pk": w.photo.pk, "size": "full"},
        CLINICIANS,
        label="full",
    ),
    Case(
        "plans:photo_file",
        lambda w: {"pk": w.photo.pk, "size": "thumb"},
        CLINICIANS,
        label="thumb",
    ),
    Case("plans:compare", plan, CLINICIANS),
    # Patient emails
    Case("aftercare:outbox", nothing, STAFF),
    Case("aftercare:preview", reminder, STAFF),
    Case("aftercare:resend", reminder, post_only(DESK)),
    Case("aftercare:cancel", reminder, post_only(DESK)),
    Case("aftercare:unsubscribe", lambda w: {"token": w.token}, EVERYONE),
    Case(
        "aftercare:unsubscribe",
        lambda w: {"token": w.token + "0"},
        ("400",) * 5,
        label="bad token",
    ),
    # Signing in and out, and the machines
    Case("login", nothing, EVERYONE),
    Case("logout", nothing, ("405",) * 5),  # Django's LogoutView takes POST only.
    Case("healthz", nothing, EVERYONE),
    Case("favicon", nothing, EVERYONE, path="/favicon.ico"),
]


# The URLconf ----------------------------------------------------------------------


def _walk(
    patterns: list, namespaces: tuple[str, ...] = (), route: str = ""
) -> Iterator[tuple[str | None, str]]:
    """(full name or None, route) of every URL, the admin site left out."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue
            inner = namespaces + ((pattern.namespace,) if pattern.namespace else ())
            yield from _walk(pattern.url_patterns, inner, route + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            name = ":".join((*namespaces, pattern.name)) if pattern.name else None
            yield name, route + str(pattern.pattern)


def project_urls() -> list[tuple[str | None, str]]:
    return list(_walk(get_resolver().url_patterns))


def test_every_named_url_has_a_row_in_the_table():
    named = {name for name, _route in project_urls() if name}
    listed = {case.name for case in CASES if not case.path}
    assert named - listed == set(), "Decide who may open these URLs"
    assert listed - named == set(), "These URLs are gone: remove their rows"
    assert {len(case.outcomes) for case in CASES} == {len(ROLES)}


def test_every_url_without_a_name_is_known():
    assert {route for name, route in project_urls() if name is None} == UNNAMED


def test_the_table_lets_anonymous_visitors_reach_only_the_public_urls():
    for case in CASES:
        if case.name not in PUBLIC:
            assert case.outcomes[0] in ("login", "405"), case.name


# The world ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(
    django_db_setup: None,
    django_db_blocker: DjangoDbBlocker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SimpleNamespace]:
    """One of everything, made by the services the pages use.

    Made once for the whole matrix, inside a transaction rolled back at the end;
    each test runs in its own savepoint within it (pytest-django's ``db``), so
    what one visit writes (access log, session) is gone before the next.
    """
    private = tmp_path_factory.mktemp("private")
    with (
        django_db_blocker.unblock(),
        transaction.atomic(),
        override_settings(CLINIC_PRIVATE_MEDIA_ROOT=private),
        time_machine.travel(at(BOOKED_AT, 9), tick=False) as traveller,
    ):
        patient = PatientFactory(first_name="Ada", last_name="Lovelace")
        room = RoomFactory(name="Room 1")
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
            ),
            entries=entries({"face": ("1.00", 2)}),
            products=[],
        )
        records.sign_record(record=record, by=clinician)
        photo = records.add_photo(
            session=today,
            upload=upload(image_bytes()),
            moment=Photo.Moment.BEFORE,
            area="face",
            note="",
            by=clinician,
        )
        world = SimpleNamespace(
            patient=patient,
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
        )
        try:
            yield world
        finally:
            transaction.set_rollback(True)


# The matrix -----------------------------------------------------------------------


def outcome_of(response: HttpResponse) -> str:
    """ "ok" is a page, or a redirect anywhere but the sign-in page."""
    login = reverse("login")
    if response.status_code in (301, 302):
        return "login" if response["Location"].startswith(login) else "ok"
    if response.status_code == 200:
        return "ok"
    return str(response.status_code)


@pytest.mark.parametrize(
    ("case", "role"),
    [
        pytest.param(
            case,
            role,
            id=f"{case.name}{f'[{case.label}]' if case.label else ''}-{role}",
        )
        for case in CASES
        for role in ROLES
    ],
)
def test_who_may_open_each_url(world: SimpleNamespace, case: Case, role: str):
    client = Client()
    user = world.users[role]
    if user is not None:
        client.force_login(user)

    response = getattr(client, case.method)(case.url(world))

    assert response.status_code != 500
    if role == "anonymous" and response.status_code == 200:
        assert case.name in PUBLIC
    assert outcome_of(response) == case.outcomes[ROLES.index(role)]
