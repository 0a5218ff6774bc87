"""Who may open what: every URL of the project, visited by every kind of visitor.

The table below lists each named URL with the outcome for each role. A URL added
to the project without an entry here fails the suite, so that someone decides who
may open it.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from pytest_django import DjangoDbBlocker

from aftercare.tests.world import built_world

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "outsider", "front_desk", "practitioner", "manager")
PUBLIC = {"login", "healthz", "aftercare:unsubscribe", "favicon"}
UNNAMED = {"favicon.ico"}  # Routes without a name; each has a case below.


# The consultation is booked on a Monday and held the next day; the plan's first
# session is three weeks later, and "now" is that Tuesday afternoon.


# The table ------------------------------------------------------------------------

# Outcomes, in ROLES order.
EVERYONE = ("ok",) * 5
SIGNED_IN = ("login", "ok", "ok", "ok", "ok")
STAFF = ("login", "403", "ok", "ok", "ok")
DESK = ("login", "403", "ok", "403", "ok")
CLINICIANS = ("login", "403", "403", "ok", "ok")
# Writing, signing and amending clinical records (and their photos): not the
# manager of the tests, who is no practitioner.
PRACTITIONERS = ("login", "403", "403", "ok", "403")
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
    Case("clinic:appointment_undo_check_in", appointment, post_only(DESK)),
    Case("clinic:appointment_undo_no_show", appointment, post_only(DESK)),
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
    Case(
        "plans:create", lambda w: {"consultation_pk": w.consultation.pk}, PRACTITIONERS
    ),
    Case("plans:detail", plan, STAFF),
    Case("plans:book", plan, DESK),
    Case("plans:consent", plan, post_only(CLINICIANS)),
    Case("plans:extend", plan, STAFF),
    # A practitioner discards a plan never booked; of a booked one, the plan's
    # page says the front desk cancels the rest.
    Case("plans:cancel", plan, STAFF),
    Case("plans:complete", plan, post_only(CLINICIANS)),
    Case("plans:session_move", session, DESK),
    Case("plans:session_change", session, DESK),
    Case("plans:session_cancel", session, DESK),
    Case("plans:session_no_show", session, post_only(DESK)),
    # Clinical records and photos
    Case("plans:record", signed_session, CLINICIANS),
    Case("plans:record_amend", signed_session, PRACTITIONERS),
    Case("plans:photo_upload", signed_session, post_only(PRACTITIONERS)),
    Case("plans:photo_remove", lambda w: {"pk": w.photo.pk}, PRACTITIONERS),
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
    Case("aftercare:copy", reminder, post_only(DESK)),
    Case("aftercare:cancel", reminder, post_only(DESK)),
    Case("aftercare:unsubscribe_preview", nothing, STAFF),
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
    Case("password_change", nothing, SIGNED_IN),
    Case("password_change_done", nothing, SIGNED_IN),
    Case("admin_password_change", nothing, SIGNED_IN),
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
    """The shared world (aftercare/tests/world.py), made once for this module."""
    with built_world(django_db_blocker, tmp_path_factory.mktemp("private")) as world:
        yield world


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
