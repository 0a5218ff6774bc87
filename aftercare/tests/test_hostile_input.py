"""Hostile input on every form and query string: never a 500, never a half-save.

Each form is posted with a valid baseline in which one field at a time (or every
field at once) is replaced by a hostile value: huge and NUL-laden text, unicode,
markup, SQL, out-of-range numbers and dates, wrong types, lists, and ids that don't
exist or belong to someone else. Formset management forms are tampered with too.
A response re-showing the form (200) must leave every table as it was; whatever
is stored must hold no NUL (PostgreSQL refuses it in text) nor any other control
character but line breaks and tabs.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
import time_machine
from django.apps import apps
from django.db import models, transaction
from django.test import Client, override_settings
from django.urls import reverse
from pytest_django import DjangoDbBlocker

from aftercare.tests.world import TODAY, at, built_world
from clinic.models import CONTRAINDICATIONS, ClinicalAccess
from clinic.tests.factories import (
    PractitionerFactory,
)
from plans.tests.record_factories import image_bytes, upload

pytestmark = pytest.mark.django_db


MISSING = 987654
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# The hostile values ---------------------------------------------------------------

LONG = "x" * 10_000
HOSTILE = {
    "long": LONG,
    "nul": "a\x00b",
    "nul-only": "\x00",
    # Escape, bell and delete: invisible, and kept out of emails and calendars.
    "control": "a\x1b[31mb\x07\x7f",
    "emoji-rtl": "😀 \u202eevil\u202c مرحبا 中文",
    "html": '<script>alert(1)</script><img src=x onerror="alert(1)">',
    "sql": "'; DROP TABLE clinic_patient; -- \" OR 1=1",
    "negative": "-1",
    "huge": "99999999999999999999",
    # More digits than Python turns into an int.
    "digits-5000": "1" * 5000,
    "abc": "abc",
    "feb-30": "2026-02-30",
    "time-25-61": "25:61",
    "year-1": "0001-01-01",
    "year-9999": "9999-12-31",
    "superscript-digit": "²",
    "blank": "",
    "spaces": "   ",
    "missing-id": str(MISSING),
    "float": "1e308",
    "nan": "NaN",
}
# The few most likely to get past a form, for the one-field-at-a-time runs.
SHARP = ("nul", "control", "huge", "year-1", "list", "blank")


def hostile(name: str):
    if name == "list":
        return ["1", "\x00", LONG]
    return HOSTILE[name]


ALL_VALUES = (*HOSTILE, "list")


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


@pytest.fixture(autouse=True)
def now(world: SimpleNamespace) -> Iterator[None]:
    with (
        time_machine.travel(at(TODAY, 16), tick=False),
        override_settings(
            CLINIC_PRIVATE_MEDIA_ROOT=world.private,
            # No session rows to write and compare: faster, and the tables stay
            # the clinic's own.
            SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        ),
    ):
        yield


# What the database holds ----------------------------------------------------------

SKIPPED = {ClinicalAccess}  # Written on every opening of a record, by design.


def _models() -> list[type[models.Model]]:
    return [
        model
        for label in ("clinic", "plans", "aftercare")
        for model in apps.get_app_config(label).get_models()
        if model not in SKIPPED
    ]


def snapshot() -> dict[str, list]:
    return {
        model._meta.label: list(model.objects.order_by("pk").values_list())
        for model in _models()
    }


def assert_no_control_characters(state: dict[str, list]) -> None:
    """No NUL (PostgreSQL refuses it in text), nor any other control character
    but line breaks and tabs."""
    for label, rows in state.items():
        for row in rows:
            for value in row:
                if isinstance(value, str):
                    assert not CONTROL.search(value), f"{label}: {value[:80]!r}"


# The forms ------------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    name: str
    role: str
    url: Callable[[SimpleNamespace], str]
    baseline: Callable[[SimpleNamespace], dict]
    # Fields left out of the one-at-a-time runs (e.g. a formset's counters).
    quiet: tuple[str, ...] = field(default=())
    # The page that answers a done POST is a 200 (not a redirect).
    done_is_200: bool = False


# Tampered in test_tampered_area_formset; a huge count there means 1,000 forms.
MANAGEMENT_FIELDS = tuple(
    f"areas-{name}"
    for name in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")
)


def _record_fields(w: SimpleNamespace) -> dict:
    return {
        "started_at": "2026-11-24T10:00",
        "ended_at": "2026-11-24T11:00",
        "device": "Pen A6",
        "cartridge_lot": "LOT-1",
        "numbing_agent": "",
        "numbing_other": "",
        "numbing_minutes": "20",
        "products_after": [],
        "redness": "mild",
        "pinpoint_bleeding": "on",
        "adverse_events": "",
        "notes": "Fine.",
        "areas-TOTAL_FORMS": "1",
        "areas-INITIAL_FORMS": "0",
        "areas-MIN_NUM_FORMS": "0",
        "areas-MAX_NUM_FORMS": "1000",
        "areas-0-area": "face",
        "areas-0-depth_mm": "1.00",
        "areas-0-passes": "2",
    }


def _slot(w: SimpleNamespace) -> dict:
    return {
        "practitioner": str(w.practitioner.pk),
        "room": str(w.room.pk),
        "date": "2026-11-26",
        "start_time": "11:00",
        "duration": "60",
        "override_reason": "",
    }


def _patient(w: SimpleNamespace) -> dict:
    return {
        "first_name": "Grace",
        "last_name": "Hopper",
        "date_of_birth": "1980-01-01",
        "email": "grace@example.com",
        "phone": "0700 900 123",
        "preferred_contact": "email",
        "email_consent": "on",
        "skin_type": "2",
        "notes": "",
    }


def _series(w: SimpleNamespace) -> dict:
    return {
        "date": "2027-01-19",
        "time": "10:00",
        "practitioner": str(w.practitioner.pk),
        "room": "",
        "action": "propose",
    }


FORMS = [
    Form(
        "patient_create",
        "front_desk",
        lambda w: reverse("clinic:patient_create"),
        _patient,
    ),
    Form(
        "patient_edit",
        "front_desk",
        lambda w: reverse("clinic:patient_edit", kwargs={"pk": w.patient.pk}),
        _patient,
    ),
    Form(
        "appointment_book",
        "manager",
        lambda w: reverse(
            "clinic:appointment_book", kwargs={"patient_pk": w.patient.pk}
        ),
        lambda w: {**_slot(w), "notes": "Prefers mornings."},
    ),
    Form(
        "appointment_reschedule",
        "manager",
        lambda w: reverse(
            "clinic:appointment_reschedule", kwargs={"pk": w.appointment.pk}
        ),
        _slot,
    ),
    Form(
        "appointment_cancel",
        "front_desk",
        lambda w: reverse("clinic:appointment_cancel", kwargs={"pk": w.appointment.pk}),
        lambda w: {"reason": "Patient called."},
    ),
    Form(
        "appointment_check_in",
        "front_desk",
        lambda w: reverse(
            "clinic:appointment_check_in", kwargs={"pk": w.appointment.pk}
        ),
        lambda w: {"next": "/"},
    ),
    Form(
        "appointment_no_show",
        "front_desk",
        lambda w: reverse(
            "clinic:appointment_no_show", kwargs={"pk": w.appointment.pk}
        ),
        lambda w: {"next": "/"},
    ),
    Form(
        "appointment_undo_check_in",
        "front_desk",
        lambda w: reverse(
            "clinic:appointment_undo_check_in", kwargs={"pk": w.appointment.pk}
        ),
        lambda w: {"next": "/"},
    ),
    Form(
        "appointment_undo_no_show",
        "front_desk",
        lambda w: reverse(
            "clinic:appointment_undo_no_show", kwargs={"pk": w.appointment.pk}
        ),
        lambda w: {"next": "/"},
    ),
    Form(
        "consultation_record",
        "practitioner",
        lambda w: reverse(
            "clinic:consultation_record",
            kwargs={"appointment_pk": w.consultation.appointment_id},
        ),
        lambda w: {
            "areas": ["face"],
            "goals": ["lines"],
            "hoped_for_results": "Smoother skin.",
            "skin_type": "2",
            "topical_medication": "",
            **dict.fromkeys(CONTRAINDICATIONS, "False"),
            "screening_note": "",
            "decision": "eligible",
            "decision_reason": "",
        },
    ),
    Form(
        "plan_create",
        "practitioner",
        lambda w: reverse(
            "plans:create", kwargs={"consultation_pk": w.consultation.pk}
        ),
        lambda w: {
            "protocol": str(w.plan.protocol_id),
            "practitioner": str(w.practitioner.pk),
            "areas": ["face"],
            "planned_sessions": "6",
            "spacing_days": "28",
            "exception_reason": "",
            "consent": "on",
        },
    ),
    Form(
        "plan_consent",
        "practitioner",
        lambda w: reverse("plans:consent", kwargs={"pk": w.plan.pk}),
        lambda w: {"next": "/", "consents": "on"},
    ),
    Form(
        "plan_complete",
        "practitioner",
        lambda w: reverse("plans:complete", kwargs={"pk": w.plan.pk}),
        lambda w: {"next": "/"},
    ),
    Form(
        "plan_extend",
        "front_desk",
        lambda w: reverse("plans:extend", kwargs={"pk": w.plan.pk}),
        lambda w: {"reason": "Patient asked.", "seen": str(w.plan.planned_sessions)},
    ),
    Form(
        "plan_cancel",
        "front_desk",
        lambda w: reverse("plans:cancel", kwargs={"pk": w.plan.pk}),
        lambda w: {"reason": "Patient moved away."},
    ),
    Form(
        "plan_book",
        "front_desk",
        lambda w: reverse("plans:book", kwargs={"pk": w.plan.pk}),
        _series,
    ),
    Form(
        "session_move",
        "manager",
        lambda w: reverse("plans:session_move", kwargs={"pk": w.upcoming.pk}),
        lambda w: {
            "date": "2026-12-29",
            "time": "10:00",
            "scope": "this",
            "room": "",
            "confirmed": "on",
            "override_reason": "",
            "action": "move",
        },
    ),
    Form(
        "session_change",
        "front_desk",
        lambda w: reverse("plans:session_change", kwargs={"pk": w.upcoming.pk}),
        lambda w: {"practitioner": str(w.practitioner.pk), "room": str(w.room.pk)},
    ),
    Form(
        "session_cancel",
        "front_desk",
        lambda w: reverse("plans:session_cancel", kwargs={"pk": w.upcoming.pk}),
        lambda w: {"reason": "Unwell.", "replace": "on"},
    ),
    Form(
        "session_no_show",
        "front_desk",
        lambda w: reverse("plans:session_no_show", kwargs={"pk": w.upcoming.pk}),
        lambda w: {"next": "/"},
    ),
    Form(
        "record",
        "practitioner",
        lambda w: reverse("plans:record", kwargs={"session_pk": w.upcoming.pk}),
        lambda w: {**_record_fields(w), "action": "save"},
        quiet=MANAGEMENT_FIELDS,
    ),
    Form(
        "record_amend",
        "practitioner",
        lambda w: reverse("plans:record_amend", kwargs={"session_pk": w.signed.pk}),
        lambda w: {**_record_fields(w), "reason": "Typo in the notes."},
        quiet=MANAGEMENT_FIELDS,
    ),
    Form(
        "photo_upload",
        "practitioner",
        lambda w: reverse("plans:photo_upload", kwargs={"session_pk": w.signed.pk}),
        lambda w: {"moment": "after", "area": "face", "note": "Day 0."},
    ),
    Form(
        "photo_remove",
        "practitioner",
        lambda w: reverse("plans:photo_remove", kwargs={"pk": w.photo.pk}),
        lambda w: {"reason": "Another patient's photo."},
    ),
    Form(
        "resend",
        "front_desk",
        lambda w: reverse("aftercare:resend", kwargs={"pk": w.reminder.pk}),
        lambda w: {"next": "/"},
    ),
    Form(
        "send_copy",
        "front_desk",
        lambda w: reverse("aftercare:copy", kwargs={"pk": w.reminder.pk}),
        lambda w: {"next": "/"},
    ),
    Form(
        "outbox_cancel",
        "front_desk",
        lambda w: reverse("aftercare:cancel", kwargs={"pk": w.reminder.pk}),
        lambda w: {"next": "/"},
    ),
    Form(
        "unsubscribe",
        "anonymous",
        lambda w: reverse("aftercare:unsubscribe", kwargs={"token": w.token}),
        lambda w: {"List-Unsubscribe": "One-Click"},
        done_is_200=True,
    ),
    Form(
        "login",
        "anonymous",
        lambda w: reverse("login"),
        lambda w: {"username": "frontdesk", "password": "wrong", "next": "/"},
    ),
]
FORMS_BY_NAME = {form.name: form for form in FORMS}


def client_for(w: SimpleNamespace, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(w.users[role])
    return client


def post(w: SimpleNamespace, form: Form, data: dict, what: str) -> None:
    """POST in a savepoint rolled back after; check the status and the tables."""
    client = client_for(w, form.role)
    if form.name == "photo_upload" and "image" not in data:
        data = {**data, "image": upload(image_bytes())}
    with transaction.atomic():
        before = snapshot()
        response = client.post(form.url(w), data)
        assert response.status_code < 500, what
        after = snapshot()
        refused = response.status_code >= 400 or (
            response.status_code == 200 and not form.done_is_200
        )
        if refused:
            # The form came back (or was refused): nothing may have been written.
            assert after == before, f"{what}: written although refused"
        assert_no_control_characters(after)
        transaction.set_rollback(True)


def _fields(form: Form, w: SimpleNamespace) -> list[str]:
    return [name for name in form.baseline(w) if name not in form.quiet]


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_the_baseline_posts_without_error(world: SimpleNamespace, form: Form):
    post(world, form, form.baseline(world), "baseline")


@pytest.mark.parametrize("value", ALL_VALUES)
@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_every_field_hostile_at_once(world: SimpleNamespace, form: Form, value: str):
    data = dict.fromkeys(_fields(form, world), hostile(value))
    post(world, form, {**form.baseline(world), **data}, value)


@pytest.mark.parametrize("value", SHARP)
@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_one_field_hostile_at_a_time(world: SimpleNamespace, form: Form, value: str):
    for name in _fields(form, world):
        data = {**form.baseline(world), name: hostile(value)}
        post(world, form, data, f"{name}={value!r}"[:80])


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_free_text_fields_take_any_text(world: SimpleNamespace, form: Form):
    """Harmless but odd text in every field with valid input elsewhere."""
    for value in ("emoji-rtl", "html", "sql"):
        data = {**form.baseline(world)}
        for name, current in data.items():
            if isinstance(current, str) and current and not current[0].isdigit():
                if name not in ("action", "next", "scope", "decision", "redness"):
                    data[name] = hostile(value)
        post(world, form, data, value)


# Ids of other people's things -----------------------------------------------------

OTHER_IDS = [
    ("appointment_book", "practitioner", "idle practitioner"),
    ("appointment_book", "room", "idle room"),
    ("session_change", "room", "idle room"),
    ("session_move", "room", "idle room"),
    ("plan_book", "room", "idle room"),
    ("record", "numbing_agent", "photo id"),
    ("record", "products_after", "photo id"),
    ("plan_create", "protocol", "missing"),
]


@pytest.mark.parametrize(("form_name", "name", "which"), OTHER_IDS)
def test_ids_that_are_not_allowed(
    world: SimpleNamespace, form_name: str, name: str, which: str
):
    form = FORMS_BY_NAME[form_name]
    value = {
        "idle room": str(world.idle_room.pk),
        "idle practitioner": str(
            PractitionerFactory(user__username="gone", is_active=False).pk
        ),
        "photo id": str(world.photo.pk),
        "missing": str(MISSING),
    }[which]
    post(world, form, {**form.baseline(world), name: value}, which)


@pytest.mark.parametrize(
    "name",
    [
        "clinic:appointment_detail",
        "clinic:appointment_cancel",
        "plans:session_cancel",
        "plans:record",
        "aftercare:preview",
    ],
)
def test_missing_objects_are_404(world: SimpleNamespace, name: str):
    key = "session_pk" if name == "plans:record" else "pk"
    response = client_for(world, "manager").get(reverse(name, kwargs={key: MISSING}))
    assert response.status_code == 404


# Tampered formsets ----------------------------------------------------------------

MANAGEMENT = {
    "negative": {"TOTAL_FORMS": "-1"},
    "huge": {"TOTAL_FORMS": "99999999999999999999"},
    "abc": {"TOTAL_FORMS": "abc"},
    "nul": {"TOTAL_FORMS": "\x00"},
    "initial-above-total": {"INITIAL_FORMS": "40"},
    "initial-negative": {"INITIAL_FORMS": "-5"},
    "missing": {"TOTAL_FORMS": None, "INITIAL_FORMS": None},
}


def _tampered(data: dict, prefix: str, change: dict) -> dict:
    data = dict(data)
    for key, value in change.items():
        if value is None:
            data.pop(f"{prefix}-{key}", None)
        else:
            data[f"{prefix}-{key}"] = value
    return data


@pytest.mark.parametrize("case", MANAGEMENT)
@pytest.mark.parametrize("form_name", ["record", "record_amend"])
def test_tampered_area_formset(world: SimpleNamespace, form_name: str, case: str):
    form = FORMS_BY_NAME[form_name]
    post(world, form, _tampered(form.baseline(world), "areas", MANAGEMENT[case]), case)


def _rows(w: SimpleNamespace, count: int, *, first_only: bool = False) -> dict:
    data = {
        "s-TOTAL_FORMS": str(count),
        "s-INITIAL_FORMS": "0",
        "s-MIN_NUM_FORMS": "1",
        "s-MAX_NUM_FORMS": "30",
    }
    for i in range(count):
        if first_only and i > 0:
            continue  # An empty row: no date, time or room at all.
        data |= {
            f"s-{i}-date": f"2027-0{i + 1}-1{i}",
            f"s-{i}-time": "10:00",
            f"s-{i}-room": str(w.room.pk),
            f"s-{i}-proposed": "",
        }
    return data


def _tampered_rows(change: dict) -> Callable[[SimpleNamespace], dict]:
    return lambda w: _tampered(_rows(w, 4), "s", change)


SERIES_ROWS = {
    # The plan has four sessions to book.
    "four-rows": lambda w: _rows(w, 4),
    "first-row-only": lambda w: _rows(w, 4, first_only=True),
    "too-few": lambda w: _rows(w, 2),
    "too-many": lambda w: _rows(w, 31),
    **{f"mgmt-{case}": _tampered_rows(change) for case, change in MANAGEMENT.items()},
    "row-year-1": lambda w: {**_rows(w, 4), "s-1-date": "0001-01-01"},
    "row-year-9999": lambda w: {**_rows(w, 4), "s-1-date": "9999-12-31"},
    "row-nul-proposed": lambda w: {**_rows(w, 4), "s-0-proposed": "\x00"},
    "row-idle-room": lambda w: {**_rows(w, 4), "s-2-room": str(w.idle_room.pk)},
    "row-list-date": lambda w: {**_rows(w, 4), "s-0-date": ["2027-01-10", "x"]},
}


@pytest.mark.parametrize("action", ["recheck", "confirm", "\x00", LONG])
@pytest.mark.parametrize("case", SERIES_ROWS)
def test_tampered_series_rows(world: SimpleNamespace, case: str, action: str):
    form = FORMS_BY_NAME["plan_book"]
    data = {
        **form.baseline(world),
        **SERIES_ROWS[case](world),
        "action": action,
        "override_reason": "\x00" if case == "four-rows" else "",
    }
    post(world, form, data, f"{case} {action[:10]!r}")


def test_a_photo_that_is_not_an_image(world: SimpleNamespace):
    from django.core.files.uploadedfile import SimpleUploadedFile

    form = FORMS_BY_NAME["photo_upload"]
    for content in (b"", b"\x00" * 100, b"<svg onload=alert(1)>", b"GIF89a" * 10):
        bad = SimpleUploadedFile("x\x00.jpg", content, content_type="image/jpeg")
        post(world, form, {**form.baseline(world), "image": bad}, repr(content[:10]))


# Query strings --------------------------------------------------------------------

QUERIES = [
    ("clinic:patient_list", {}, ("q", "page")),
    ("clinic:access_log", {}, ("patient", "page")),
    ("clinic:calendar_day", {}, ("date", "by")),
    ("clinic:calendar_week", {}, ("date", "practitioner", "room")),
    ("aftercare:outbox", {}, ("status", "kind", "day", "page")),
    ("plans:my_day", {}, ("practitioner",)),
    ("plans:compare", "plan", ("area", "left", "right")),
    ("aftercare:preview", "reminder", ("part",)),
    ("clinic:appointment_book", "patient", ("date", "time", "practitioner", "room")),
    ("login", {}, ("next",)),
]


def _query_url(w: SimpleNamespace, name: str, kwargs) -> str:
    if kwargs == "plan":
        kwargs = {"pk": w.plan.pk}
    elif kwargs == "reminder":
        kwargs = {"pk": w.reminder.pk}
    elif kwargs == "patient":
        kwargs = {"patient_pk": w.patient.pk}
    return reverse(name, kwargs=kwargs)


@pytest.mark.parametrize("value", ALL_VALUES)
@pytest.mark.parametrize(
    ("name", "kwargs", "params"), QUERIES, ids=[q[0] for q in QUERIES]
)
def test_hostile_query_strings(
    world: SimpleNamespace, name: str, kwargs, params: tuple[str, ...], value: str
):
    client = client_for(world, "anonymous" if name == "login" else "manager")
    url = _query_url(world, name, kwargs)
    for param in params:
        response = client.get(url, {param: hostile(value)})
        assert response.status_code < 500, param
    response = client.get(url, dict.fromkeys(params, hostile(value)))
    assert response.status_code < 500, "all at once"


EXTREME_TIMES = ("0001-01-01", "0001-01-01T00:00", "9999-12-31", "9999-12-31T23:59")


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York"])
def test_extreme_dates_in_zones_far_from_greenwich(
    world: SimpleNamespace, zone: str, settings
):
    """Year 1 east of Greenwich and year 9999 west of it have no UTC time."""
    settings.TIME_ZONE = zone
    client = client_for(world, "manager")
    for value in EXTREME_TIMES:
        for name, kwargs, params in QUERIES:
            url = _query_url(world, name, kwargs)
            response = client.get(url, dict.fromkeys(params, value))
            assert response.status_code < 500, (name, value)
        for form_name in ("record", "record_amend"):
            form = FORMS_BY_NAME[form_name]
            for field_name in ("started_at", "ended_at"):
                data = {**form.baseline(world), field_name: value}
                post(world, form, data, f"{form_name} {field_name}={value}")


@pytest.mark.parametrize(
    "path",
    [
        "/emails/unsubscribe/%00/",
        "/emails/unsubscribe/" + "x" * 5000 + "/",
        "/plans/photos/1/%00/",
        "/patients/99999999999999999999/",
        "/plans/sessions/99999999999999999999/record/",
    ],
    ids=["token-nul", "token-long", "size-nul", "huge-pk", "huge-session-pk"],
)
def test_hostile_paths(world: SimpleNamespace, path: str):
    response = client_for(world, "manager").get(path)
    assert response.status_code < 500
