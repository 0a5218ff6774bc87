import re
from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from aftercare.models import Reminder
from clinic import services as services_clinic
from clinic.models import (
    CONTRAINDICATIONS,
    Appointment,
    Consultation,
    Patient,
    Practitioner,
    screened,
)
from clinic.scheduling import day_text
from clinic.services import complete_appointment
from clinic.tests.factories import (
    AppointmentFactory,
    PatientFactory,
    RoomFactory,
    TimeOffFactory,
    open_clinic,
)
from clinic.tests.pages import hidden_value, post_as_page
from plans import services
from plans.models import (
    MAX_PLANNED_SESSIONS,
    Protocol,
    TreatmentPlan,
    TreatmentSession,
)
from plans.scheduling import State

# A Monday morning in the clinic's zone (London); series start the next day.
NOW = datetime(2026, 11, 23, 8, 0)
TUESDAY = date(2026, 11, 24)
SPACING = timedelta(days=28)


@pytest.fixture
def frozen_now():
    with time_machine.travel(timezone.make_aware(NOW), tick=False):
        yield timezone.make_aware(NOW)


@pytest.fixture
def clinic_open(practitioner, other_practitioner, room, other_room):
    open_clinic(practitioner, other_practitioner)


pytestmark = pytest.mark.usefixtures("frozen_now", "clinic_open")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def every_four_weeks(first: date, count: int, hour: int = 10) -> list[datetime]:
    """Tuesdays at the same wall-clock time (10:00 stays 10:00 across DST)."""
    return [at(first + SPACING * n, hour) for n in range(count)]


SERIES = every_four_weeks(TUESDAY, 6)  # 24 Nov 2026 ... 13 Apr 2027

# Measured query counts of the main pages; more data must not raise them.
QUERIES_PLAN = 8
QUERIES_WORK = 10  # with the consultations to decide, and whether one may decide
# With the later consultations that may hold the plan, and the one in force at
# the first session (whose medication may need stopping first).
QUERIES_PROPOSE = 23


def make_consultation(
    patient,
    practitioner,
    room,
    *,
    decision: str = Consultation.Decision.ELIGIBLE,
    when: datetime | None = None,
) -> Consultation:
    visit = AppointmentFactory(
        patient=patient,
        practitioner=practitioner,
        room=room,
        start=when or at(date(2026, 11, 16), 10),
        kind=Appointment.Kind.CONSULTATION,
        status=Appointment.Status.COMPLETED,
    )
    return Consultation.objects.create(
        appointment=visit,
        patient=patient,
        areas=["face", "neck"],
        goals=["lines"],
        **screened(),
        decision=decision,
        decision_reason="" if decision == "eligible" else "Active eczema.",
        decided_by=None if decision == "pending" else practitioner.user,
        decided_at=None if decision == "pending" else visit.end,
    )


def make_plan(
    consultation: Consultation,
    practitioner,
    *,
    consented: bool = True,
    planned: int = 6,
    protocol: str = "Standard",
) -> TreatmentPlan:
    protocol = Protocol.objects.get(name=protocol)
    return TreatmentPlan.objects.create(
        patient=consultation.patient,
        consultation=consultation,
        protocol=protocol,
        areas=["face"],
        practitioner=practitioner,
        planned_sessions=planned,
        spacing_days=protocol.target_spacing_days,
        exception_reason="" if planned <= protocol.max_sessions else "Severe scars",
        consent_by=practitioner.user if consented else None,
        consented_at=consultation.decided_at if consented else None,
        created_by=practitioner.user,
    )


def book_sessions(
    plan: TreatmentPlan, starts: list[datetime], room, **appointment
) -> list[TreatmentSession]:
    """Sessions written straight to the tables (no hours checks): for setup."""
    first = max(plan.sessions.values_list("number", flat=True), default=0) + 1
    sessions = [
        TreatmentSession.objects.create(
            plan=plan,
            number=first + n,
            appointment=AppointmentFactory(
                patient=plan.patient,
                practitioner=plan.practitioner,
                room=room,
                start=start,
                kind=Appointment.Kind.TREATMENT,
                **appointment,
            ),
        )
        for n, start in enumerate(starts)
    ]
    plan.status = TreatmentPlan.Status.ACTIVE
    plan.save(update_fields=["status"])
    return sessions


@pytest.fixture
def consultation(patient, practitioner, room):
    return make_consultation(patient, practitioner, room)


@pytest.fixture
def plan(consultation, practitioner):
    """A consented Standard plan of six sessions, none booked yet."""
    return make_plan(consultation, practitioner)


@pytest.fixture
def sessions(plan, room):
    """All six sessions of the plan booked, four weeks apart from tomorrow."""
    return book_sessions(plan, SERIES, room)


def sign_in(client, request, who: str) -> None:
    if who != "anonymous":
        persona = request.getfixturevalue(who)
        client.force_login(getattr(persona, "user", persona))


def starts_of(plan: TreatmentPlan) -> list[datetime]:
    return [
        s.appointment.start
        for s in plan.sessions.select_related("appointment").order_by("number")
    ]


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def treatments() -> int:
    return Appointment.objects.filter(kind=Appointment.Kind.TREATMENT).count()


# Access -------------------------------------------------------------------------

EVERYONE = {"front_desk", "practitioner", "manager"}
BOOKERS = {"front_desk", "manager"}
CLINICIANS = {"practitioner", "manager"}
PRACTITIONERS = {"practitioner"}

# name, method, what the id is, who may use it
PAGES = [
    ("plans:work", "get", None, EVERYONE),
    ("plans:create", "get", "consultation", PRACTITIONERS),
    ("plans:detail", "get", "plan", EVERYONE),
    ("plans:book", "get", "plan", BOOKERS),
    ("plans:consent", "post", "plan", CLINICIANS),
    ("plans:extend", "get", "plan", EVERYONE),
    ("plans:cancel", "get", "plan", BOOKERS),
    ("plans:complete", "post", "plan", CLINICIANS),
    ("plans:session_move", "get", "session", BOOKERS),
    ("plans:session_change", "get", "session", BOOKERS),
    ("plans:session_cancel", "get", "session", BOOKERS),
    ("plans:session_no_show", "post", "session", BOOKERS),
]


# Pages a role uses for some plans but not this one: told why on the plan's
# page (a practitioner discards a plan never booked; this one is).
TOLD_ON_THE_PLAN = {("plans:cancel", "practitioner")}


@pytest.fixture
def half_booked(plan, room):
    """The plan with its first two sessions booked and four still to book."""
    return book_sessions(plan, SERIES[:2], room)


def url_for(name: str, what: str | None, consultation, plan, session) -> str:
    target = {"consultation": consultation, "plan": plan, "session": session}
    return reverse(name, args=[target[what].pk] if what else [])


@pytest.fixture
def new_consultation(patient, practitioner, room) -> Consultation:
    """An eligible consultation with no plan yet (a plan's own stays open)."""
    return make_consultation(
        patient, practitioner, room, when=at(date(2026, 11, 17), 10)
    )


@pytest.mark.parametrize(
    "who", ["anonymous", "outsider", "front_desk", "practitioner", "manager"]
)
@pytest.mark.parametrize("name,method,what,allowed", PAGES)
def test_who_may_use_each_plans_page(
    client,
    request,
    new_consultation,
    plan,
    half_booked,
    who,
    name,
    method,
    what,
    allowed,
):
    sign_in(client, request, who)
    url = url_for(name, what, new_consultation, plan, half_booked[0])
    response = getattr(client, method)(url)
    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    elif (name, who) in TOLD_ON_THE_PLAN:
        assert response.status_code == 302
        assert response["Location"] == plan.get_absolute_url()
    elif who not in allowed:
        assert response.status_code == 403
    elif method == "get":
        assert response.status_code == 200
    else:
        assert response.status_code == 302
        assert response["Location"] == plan.get_absolute_url()


@pytest.mark.parametrize(
    "name,method", [(name, method) for name, method, what, _ in PAGES if what]
)
def test_a_tampered_id_is_404(client, manager, practitioner, half_booked, name, method):
    # A plan is started by a practitioner; the rest of the pages, the manager.
    client.force_login(practitioner.user if name == "plans:create" else manager)
    url = reverse(name, args=[999999])
    response = getattr(client, method)(url, {"reason": "x", "action": "move"})
    assert response.status_code == 404
    if method == "get" and name != "plans:detail":
        # A form sent with a tampered id is refused as well.
        assert client.post(url, {"reason": "x", "action": "move"}).status_code == 404


def test_the_front_desk_cant_create_plans_or_record_consent(
    client, front_desk, consultation, practitioner
):
    plan = make_plan(consultation, practitioner, consented=False)
    client.force_login(front_desk)
    response = client.post(
        reverse("plans:create", args=[consultation.pk]), plan_data(practitioner)
    )
    assert response.status_code == 403
    assert client.post(reverse("plans:consent", args=[plan.pk])).status_code == 403
    assert TreatmentPlan.objects.get() == plan
    plan.refresh_from_db()
    assert not plan.has_consent


def test_practitioners_cant_book_a_series(client, practitioner, plan):
    client.force_login(practitioner.user)
    response = client.post(
        reverse("plans:book", args=[plan.pk]),
        start_data(practitioner, action="propose"),
    )
    assert response.status_code == 403
    assert treatments() == 0
    detail = client.get(plan.get_absolute_url())
    assert reverse("plans:book", args=[plan.pk]) not in detail.content.decode()


# Creating a plan --------------------------------------------------------------------


def plan_data(practitioner, **overrides) -> dict:
    data = {
        "protocol": Protocol.objects.get(name="Standard").pk,
        "practitioner": practitioner.pk,
        "areas": ["face", "neck"],
        "planned_sessions": "6",
        "spacing_days": "28",
        "exception_reason": "",
        "consent": "on",
    }
    data.update(overrides)
    return data


def test_a_practitioner_creates_a_plan_from_an_eligible_consultation(
    client, practitioner, consultation, frozen_now
):
    client.force_login(practitioner.user)
    url = reverse("plans:create", args=[consultation.pk])
    form = client.get(url).context["form"]
    assert form.initial["protocol"].name == "Standard"
    assert form.initial["planned_sessions"] == 6
    assert form.initial["spacing_days"] == 28
    assert form.initial["areas"] == ["face", "neck"]
    assert form.initial["practitioner"] == practitioner

    response = client.post(url, plan_data(practitioner))

    plan = TreatmentPlan.objects.get()
    assert response.status_code == 302
    assert response["Location"] == plan.get_absolute_url()
    assert plan.patient == consultation.patient
    assert plan.consultation == consultation
    assert plan.protocol.name == "Standard"
    assert plan.practitioner == practitioner
    assert plan.areas == ["face", "neck"]
    assert (plan.planned_sessions, plan.spacing_days) == (6, 28)
    assert plan.status == TreatmentPlan.Status.DRAFT
    assert plan.consent_by == practitioner.user
    assert plan.consented_at == frozen_now
    assert plan.created_by == practitioner.user


def test_the_plan_form_offers_the_areas_the_consultation_screened(
    client, practitioner, consultation
):
    client.force_login(practitioner.user)
    url = reverse("plans:create", args=[consultation.pk])

    page = client.get(url)
    offered = [value for value, _label in page.context["form"].fields["areas"].choices]
    response = client.post(url, plan_data(practitioner, areas=["face", "hands"]))

    assert offered == ["face", "neck"]
    assert "add it to the consultation first" in page.content.decode()
    assert response.status_code == 200
    assert response.context["form"].errors["areas"]
    assert not TreatmentPlan.objects.exists()


def test_the_plan_form_asks_why_a_protocol_not_for_the_goals(
    client, practitioner, consultation
):
    consultation.goals = ["surgical_scars"]
    consultation.save(update_fields=["goals"])
    client.force_login(practitioner.user)
    url = reverse("plans:create", args=[consultation.pk])
    # The form says what the consultation hopes for, beside the protocols.
    assert "The consultation hopes for surgical scars." in (
        client.get(url).content.decode()
    )

    refused = client.post(url, plan_data(practitioner))
    explained = client.post(
        url, plan_data(practitioner, exception_reason="Fine lines come first.")
    )

    assert refused.status_code == 200
    assert (
        "The Standard protocol is not for surgical scars."
        in (refused.context["form"].errors["exception_reason"])
    )
    assert explained.status_code == 302
    assert TreatmentPlan.objects.get().exception_reason == "Fine lines come first."


def test_the_plan_form_starts_from_the_protocol_for_the_goals(
    client, practitioner, consultation
):
    consultation.goals = ["stretch_marks"]
    consultation.save(update_fields=["goals"])
    client.force_login(practitioner.user)

    form = client.get(reverse("plans:create", args=[consultation.pk])).context["form"]

    assert form.initial["protocol"].name == "Surgical scars and stretch marks"
    assert form.initial["spacing_days"] == 35


def test_a_consultation_of_several_goals_starts_a_plan_for_one_of_them(
    client, practitioner, consultation
):
    consultation.goals = ["lines", "stretch_marks"]
    consultation.save(update_fields=["goals"])
    client.force_login(practitioner.user)

    response = client.post(
        reverse("plans:create", args=[consultation.pk]), plan_data(practitioner)
    )

    assert response.status_code == 302
    assert TreatmentPlan.objects.get().exception_reason == ""


def test_a_manager_doesnt_start_plans_even_with_the_permission(
    client, manager, practitioner, consultation
):
    # A manager (no practitioner) given the permission by hand: still refused,
    # as picking the protocol is a clinical decision.
    manager.user_permissions.add(Permission.objects.get(codename="add_treatmentplan"))
    client.force_login(manager)
    url = reverse("plans:create", args=[consultation.pk])
    assert client.get(url).status_code == 200

    response = client.post(url, plan_data(practitioner))

    assert response.status_code == 200
    assert "Only a practitioner starts a treatment plan" in response.content.decode()
    assert not TreatmentPlan.objects.exists()


@pytest.mark.parametrize("decision", ["not_eligible", "refer", "pending"])
def test_only_an_eligible_consultation_starts_a_plan(
    client, practitioner, patient, room, decision
):
    consultation = make_consultation(patient, practitioner, room, decision=decision)
    client.force_login(practitioner.user)
    url = reverse("plans:create", args=[consultation.pk])
    for response in [client.get(url), client.post(url, plan_data(practitioner))]:
        assert response.status_code == 302
        assert response["Location"] == consultation.get_absolute_url()
    page = client.post(url, plan_data(practitioner), follow=True)
    assert "Only an eligible consultation can start a plan" in messages_of(page)[0]
    assert not TreatmentPlan.objects.exists()


def test_a_consultation_with_an_open_plan_starts_no_second_one(
    client, practitioner, consultation, plan
):
    client.force_login(practitioner.user)

    page = client.post(
        reverse("plans:create", args=[consultation.pk]),
        plan_data(practitioner),
        follow=True,
    )

    assert "This consultation's plan is still open" in messages_of(page)[0]
    assert list(TreatmentPlan.objects.all()) == [plan]


def test_a_plan_whose_consultation_is_no_longer_eligible_asks_for_review(
    client, front_desk, patient, consultation, plan
):
    Consultation.objects.filter(pk=consultation.pk).update(
        decision=Consultation.Decision.NOT_ELIGIBLE, decision_reason="Pregnant."
    )
    client.force_login(front_desk)

    plan_page = client.get(plan.get_absolute_url()).content.decode()
    patient_page = client.get(patient.get_absolute_url()).content.decode()

    assert (
        "The consultation this plan started from now says not eligible: no "
        "consent or sessions until a practitioner has reviewed it"
    ) in plan_page
    assert reverse("plans:book", args=[plan.pk]) not in plan_page
    assert ">On hold</span></h1>" in plan_page
    assert "Consultation now not eligible: review" in patient_page


def test_the_next_session_of_a_plan_on_hold_says_so(
    client, front_desk, consultation, plan, sessions
):
    client.force_login(front_desk)
    assert '<span class="badge text-bg-info">Next</span>' in (
        client.get(plan.get_absolute_url()).content.decode()
    )
    Consultation.objects.filter(pk=consultation.pk).update(
        decision=Consultation.Decision.NOT_ELIGIBLE, decision_reason="Pregnant."
    )

    page = client.get(plan.get_absolute_url()).content.decode()

    assert '<span class="badge text-bg-warning">Next, on hold</span>' in page
    assert "The sessions booked before stay: check them before each one." in page


def test_a_plan_on_hold_offers_no_consent_or_booking_and_refuses_them(
    client, front_desk, practitioner, patient, consultation
):
    """The practitioner's consent and the front desk's booking page, opened or
    sent after the consultation changed, say why and change nothing."""
    draft = make_plan(consultation, practitioner, consented=False)
    Consultation.objects.filter(pk=consultation.pk).update(
        decision=Consultation.Decision.REFER, decision_reason="Mole."
    )
    why = "now says refer elsewhere: no consent or sessions until"

    client.force_login(practitioner.user)
    page = client.get(draft.get_absolute_url()).content.decode()
    consent = client.post(reverse("plans:consent", args=[draft.pk]), follow=True)
    assert "Not while the consultation is under review." in page
    assert reverse("plans:consent", args=[draft.pk]) not in page
    assert why in messages_of(consent)[0]
    draft.refresh_from_db()
    assert not draft.has_consent

    TreatmentPlan.objects.filter(pk=draft.pk).update(
        consent_by=practitioner.user, consented_at=timezone.now()
    )
    client.force_login(front_desk)
    for response in (
        client.get(book_url(draft), follow=True),
        client.post(book_url(draft), start_data(practitioner), follow=True),
    ):
        assert response.redirect_chain == [(draft.get_absolute_url(), 302)]
        assert why in messages_of(response)[0]
    assert treatments() == 0


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"planned_sessions": "12"}, "12 sessions is outside"),
        ({"spacing_days": "42"}, "42 days apart is outside"),
    ],
)
def test_going_outside_the_protocol_needs_a_reason(
    client, practitioner, consultation, overrides, message
):
    client.force_login(practitioner.user)
    url = reverse("plans:create", args=[consultation.pk])
    # None, an invisible one, or a token one ("." or "x").
    for reason in ("", "\u200b", ".", "x"):
        response = client.post(
            url, plan_data(practitioner, exception_reason=reason, **overrides)
        )
        assert response.status_code == 200
        errors = response.context["form"].errors["exception_reason"]
        assert any(message in e for e in errors)
        asked = "Give a reason, in a few words, to go outside the protocol."
        # Something typed is said to be too short, not asked for as if blank.
        if reason.strip("\u200b"):
            asked += " What is typed is too short to say why."
        assert asked in errors
    assert not TreatmentPlan.objects.exists()

    client.post(
        url,
        plan_data(practitioner, exception_reason="Deep scarring", **overrides),
    )
    assert TreatmentPlan.objects.get().exception_reason == "Deep scarring"


@pytest.mark.parametrize("reason", ["", "Patient travels abroad"])
def test_sessions_closer_than_the_protocols_shortest_spacing_are_refused(
    client, practitioner, consultation, reason
):
    """Not even with a reason: the skin heals between sessions."""
    client.force_login(practitioner.user)

    response = client.post(
        reverse("plans:create", args=[consultation.pk]),
        plan_data(practitioner, spacing_days="21", exception_reason=reason),
    )

    assert response.context["form"].errors["spacing_days"] == [
        "21 days apart is closer than the Standard protocol allows, 28 days at the "
        "least: the skin needs that long to heal between sessions."
    ]
    assert not TreatmentPlan.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"planned_sessions": "-1"}, "planned_sessions", "Plan at least one session."),
        ({"planned_sessions": "0"}, "planned_sessions", "Plan at least one session."),
        ({"spacing_days": "-1"}, "spacing_days", "the days between sessions: 1 or"),
        ({"spacing_days": "1"}, "spacing_days", "1 day apart is closer than the"),
        ({"spacing_days": "280"}, "spacing_days", "120 days apart at the most."),
        ({"planned_sessions": "31"}, "planned_sessions", "30 sessions at the most."),
        ({"planned_sessions": "1"}, "exception_reason", "1 session is outside"),
    ],
)
def test_counts_below_the_protocol_are_worded_for_their_number(
    client, practitioner, consultation, overrides, field, message
):
    client.force_login(practitioner.user)

    response = client.post(
        reverse("plans:create", args=[consultation.pk]),
        plan_data(practitioner, **overrides),
    )

    assert any(message in e for e in response.context["form"].errors[field])


def test_a_reason_typed_for_a_plan_inside_the_protocol_is_not_kept(
    client, practitioner, consultation, frozen_now
):
    """Kept, it would mark the plan "outside the protocol" on every page."""
    client.force_login(practitioner.user)

    client.post(
        reverse("plans:create", args=[consultation.pk]),
        plan_data(practitioner, exception_reason="Patient asked for six."),
    )

    plan = TreatmentPlan.objects.get()
    assert plan.exception_reason == ""
    assert "Outside the protocol" not in (
        client.get(plan.get_absolute_url()).content.decode()
    )


def test_a_course_longer_than_can_be_booked_is_refused(
    client, practitioner, consultation
):
    client.force_login(practitioner.user)

    response = client.post(
        reverse("plans:create", args=[consultation.pk]),
        plan_data(
            practitioner,
            planned_sessions="30",
            spacing_days="120",
            exception_reason="Very slow course, patient travels.",
        ),
    )

    errors = response.context["form"].errors["planned_sessions"]
    assert any("run longer than the three years ahead" in e for e in errors)
    assert not TreatmentPlan.objects.exists()


def test_consent_can_be_recorded_later_by_the_practitioner(
    client, practitioner, consultation, frozen_now
):
    client.force_login(practitioner.user)
    client.post(
        reverse("plans:create", args=[consultation.pk]),
        plan_data(practitioner, consent=""),
    )
    plan = TreatmentPlan.objects.get()
    assert not plan.has_consent
    page = client.get(plan.get_absolute_url()).content.decode()
    assert "The patient consents to this plan" in page

    # The button alone, without the box ticked, records nothing.
    unticked = client.post(reverse("plans:consent", args=[plan.pk]), follow=True)
    assert "to record it: nothing was recorded" in messages_of(unticked)[0]
    plan.refresh_from_db()
    assert not plan.has_consent
    response = client.post(
        reverse("plans:consent", args=[plan.pk]), {"consents": "on"}, follow=True
    )
    assert "Consent recorded." in messages_of(response)
    plan.refresh_from_db()
    assert plan.consent_by == practitioner.user
    assert plan.consented_at == frozen_now

    again = client.post(
        reverse("plans:consent", args=[plan.pk]), {"consents": "on"}, follow=True
    )
    assert "Consent is already recorded for this plan." in messages_of(again)


# Booking a series -------------------------------------------------------------------


def start_data(practitioner, room=None, **overrides) -> dict:
    data = {
        "date": "2026-11-24",
        "time": "10:00",
        "practitioner": practitioner.pk,
        "room": room.pk if room else "",  # empty: any free room
        "action": "propose",
    }
    data.update(overrides)
    return data


def rows_data(response, changes: dict[int, dict] | None = None) -> dict:
    """The proposal table of a booking page as the browser would post it back."""
    rows = response.context["rows"]
    data = {f"s-{key}": value for key, value in rows.management_form.initial.items()}
    for index, form in enumerate(rows.forms):
        row = {
            "date": form.initial["date"].isoformat(),
            "time": form.initial["time"].strftime("%H:%M"),
            "room": form.initial["room"].pk,
            "proposed": form.initial["proposed"],
        }
        row.update((changes or {}).get(index, {}))
        data.update({f"s-{index}-{key}": value for key, value in row.items()})
    return data


def book_url(plan: TreatmentPlan) -> str:
    return reverse("plans:book", args=[plan.pk])


def test_a_plan_at_the_most_sessions_a_plan_may_have_offers_no_more(
    client, front_desk, plan
):
    client.force_login(front_desk)
    assert "Add a session" in client.get(plan.get_absolute_url()).content.decode()
    plan.planned_sessions = MAX_PLANNED_SESSIONS
    plan.save(update_fields=["planned_sessions"])

    page = client.get(plan.get_absolute_url()).content.decode()

    assert "Add a session" not in page


def test_at_the_protocols_most_sessions_only_a_practitioner_is_offered_more(
    client, front_desk, manager, practitioner, plan
):
    plan.planned_sessions = plan.protocol.max_sessions
    plan.save(update_fields=["planned_sessions"])

    def page_of(user) -> str:
        client.force_login(user)
        return client.get(plan.get_absolute_url()).content.decode()

    assert "Add a session" not in page_of(front_desk)
    assert "Add a session" not in page_of(manager)
    assert "Add a session" in page_of(practitioner.user)


def _page_then_extend(client, plan):
    """The plan's page as it shows, then "Add a session" sent as from it."""
    page = client.get(plan.get_absolute_url()).content.decode()
    response = client.post(
        reverse("plans:extend", args=[plan.pk]),
        {"seen": plan.planned_sessions},
        follow=True,
    )
    return page, response


def test_a_plan_on_hold_is_not_extended(client, front_desk, plan, consultation):
    Consultation.objects.filter(pk=consultation.pk).update(
        decision=Consultation.Decision.NOT_ELIGIBLE, decision_reason="Pregnant."
    )
    client.force_login(front_desk)

    page, response = _page_then_extend(client, plan)

    assert "Add a session" not in page
    assert "no consent or sessions until" in response.content.decode()
    plan.refresh_from_db()
    assert plan.planned_sessions == 6


def test_the_front_desk_adds_no_session_before_the_consent_is_recorded(
    client, front_desk, practitioner, plan
):
    TreatmentPlan.objects.filter(pk=plan.pk).update(consented_at=None)
    client.force_login(front_desk)

    page, response = _page_then_extend(client, plan)

    assert "Add a session" not in page
    assert "consent is not recorded yet" in response.content.decode()
    plan.refresh_from_db()
    assert plan.planned_sessions == 6
    client.force_login(practitioner.user)
    assert "Add a session" in client.get(plan.get_absolute_url()).content.decode()


def test_the_practitioner_planning_a_course_sees_what_the_screening_found(
    client, front_desk, practitioner, consultation
):
    from clinic.models import ClinicalAccess

    Consultation.objects.filter(pk=consultation.pk).update(
        pregnant=True,
        screening_note="Breastfeeding until March.",
        decision_reason="Course to start once she has stopped.",
        topical_medication="Tretinoin 0.025% cream",
    )
    client.force_login(practitioner.user)
    new_plan = client.get(reverse("plans:create", args=[consultation.pk]))
    consultation.refresh_from_db()
    plan = make_plan(consultation, practitioner)
    shown_plan = client.get(plan.get_absolute_url())

    for page in (new_plan.content.decode(), shown_plan.content.decode()):
        assert "Pregnant or breastfeeding" in page
        assert "Eligible because: Course to start once she has stopped." in page
        assert "topical medication Tretinoin 0.025% cream" in page
    assert ClinicalAccess.objects.filter(user=practitioner.user).count() == 2
    # Decided otherwise since: its reason is not called a reason to treat.
    Consultation.objects.filter(pk=consultation.pk).update(
        decision=Consultation.Decision.NOT_ELIGIBLE,
        decision_reason="Pregnant again.",
    )
    page = client.get(plan.get_absolute_url()).content.decode()
    assert "Not eligible: Pregnant again." in page
    assert "Eligible because" not in page
    client.force_login(front_desk)
    page = client.get(plan.get_absolute_url()).content.decode()
    assert "Breastfeeding" not in page and "Tretinoin" not in page


def test_refusing_a_patient_whose_sessions_are_booked_says_they_stay(
    client, practitioner, consultation, plan, sessions
):
    from clinic.tests.pages import post_as_page
    from clinic.tests.test_consultations import consultation_data

    client.force_login(practitioner.user)

    response = post_as_page(
        client,
        reverse("clinic:consultation_record", args=[consultation.appointment_id]),
        consultation_data(
            areas=consultation.areas,
            goals=consultation.goals,
            decision="not_eligible",
            decision_reason="Pregnant.",
            pregnant="on",
            screening_note="12 weeks.",
        ),
        follow=True,
    )

    assert (
        "Ada Lovelace still has 6 treatment sessions booked: the plan is on hold, "
        "but the sessions stay (and their emails go) until the front desk cancels "
        "them." in messages_of(response)[-1]
    )
    page = client.get(plan.get_absolute_url()).content.decode()
    assert "No consent or sessions are booked" not in page


def test_a_booking_page_opened_before_a_colleague_changed_the_course_proposes_afresh(
    client, front_desk, manager, practitioner, plan, sessions
):
    """Meanwhile a replacement took the end of the course: the rows proposed
    after the old last session no longer fit; booking them would be refused
    as "out of order" for rows nobody typed."""
    services.cancel_session(session=sessions[5], reason="Moved away", by=manager)
    client.force_login(front_desk)
    page = client.get(book_url(plan))
    proposal = client.post(
        book_url(plan),
        {**start_data(practitioner), "course": hidden_value(page, "course")},
    )
    services.cancel_session(
        session=sessions[2], reason="Unwell", by=manager, replace=True
    )
    live = treatments()

    response = client.post(
        book_url(plan),
        {
            **start_data(practitioner),
            "course": hidden_value(page, "course"),
            **rows_data(proposal),
            "action": "confirm",
        },
    )

    assert response.status_code == 200
    assert any("changed while this page was open" in m for m in messages_of(response))
    assert treatments() == live
    # The fresh proposal comes after the replacement, and books as it is.
    fresh = response.context["proposals"]
    assert fresh[0].start > max(starts_of(plan))
    booked = client.post(
        book_url(plan),
        {
            **start_data(practitioner),
            "course": hidden_value(response, "course"),
            **rows_data(response),
            "action": "confirm",
        },
    )
    assert booked.status_code == 302


def test_a_booking_page_opened_before_the_session_length_changed_proposes_afresh(
    client, front_desk, practitioner, plan
):
    client.force_login(front_desk)
    page = client.get(book_url(plan))
    course = hidden_value(page, "course")
    proposal = client.post(
        book_url(plan), {**start_data(practitioner), "course": course}
    )
    # A manager makes the protocol's sessions 90 minutes long meanwhile.
    plan.protocol.session_minutes = 90
    plan.protocol.save()
    live = treatments()

    response = client.post(
        book_url(plan),
        {
            **start_data(practitioner),
            "course": course,
            **rows_data(proposal),
            "action": "confirm",
        },
    )

    assert response.status_code == 200
    assert any("session length or spacing" in m for m in messages_of(response))
    assert treatments() == live
    fresh = response.context["proposals"]
    assert all(p.end - p.start == timedelta(minutes=90) for p in fresh)


def test_a_book_all_after_another_desk_booked_everything_says_nothing_was_booked(
    client, front_desk, manager, practitioner, plan, sessions
):
    services.cancel_session(session=sessions[5], reason="Moved away", by=manager)
    client.force_login(front_desk)
    proposal = client.post(book_url(plan), start_data(practitioner))
    services.book_series(
        plan=plan,
        proposals=proposal.context["proposals"],
        practitioner=practitioner,
        by=manager,
    )

    response = client.post(
        book_url(plan),
        {**start_data(practitioner), **rows_data(proposal), "action": "confirm"},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == plan.get_absolute_url()
    assert any(
        m.startswith("Nothing was booked: every session of this plan was booked")
        for m in messages_of(response)
    )
    assert len(services.live_appointments(plan)) == 6


def test_a_booking_lost_to_another_desk_goes_back_to_the_plan(
    client, front_desk, manager, practitioner, plan, sessions, monkeypatch
):
    services.cancel_session(session=sessions[5], reason="Moved away", by=manager)
    client.force_login(front_desk)
    proposal = client.post(book_url(plan), start_data(practitioner))
    real = services.book_series

    def other_desk_first(**kwargs):
        # The other desk's Book all commits while this one is on its way.
        real(**{**kwargs, "by": manager})
        return real(**kwargs)

    monkeypatch.setattr(services, "book_series", other_desk_first)

    response = client.post(
        book_url(plan),
        {**start_data(practitioner), **rows_data(proposal), "action": "confirm"},
    )

    assert response.status_code == 302
    assert response["Location"] == plan.get_absolute_url()
    page = client.get(response["Location"])
    assert any("booked already" in m for m in messages_of(page))
    # The other desk's booking, once: nothing booked twice.
    assert len(services.live_appointments(plan)) == 6


def test_the_front_desk_reads_a_managers_spacing_reason_not_the_clinical_one(
    client, front_desk, plan
):
    plan.exception_reason = "Keloid history: longer gaps."
    plan.spacing_notes = (
        "Session 2 would be only 14 days after the previous one. Allowed by "
        "Mo Manager on 02 Mar 2027: Patient abroad for a month"
    )
    plan.save()
    client.force_login(front_desk)

    page = client.get(plan.get_absolute_url()).content.decode()

    assert "Allowed by Mo Manager on 02 Mar 2027: Patient abroad for a month" in page
    assert "Keloid" not in page
    assert "clinical: practitioners see them" in page


def test_a_managers_spacing_exception_warns_while_sessions_are_that_close(
    client, front_desk, plan, sessions
):
    plan.spacing_notes = (
        "Session 2 would be 21 days after session 1. Allowed by Mo Manager on "
        "02 Mar 2027: Patient travelling"
    )
    plan.save()
    client.force_login(front_desk)
    warning = "Sessions closer than the minimum spacing:"
    history = "Spacing below the minimum was allowed earlier; no session is that close"

    # Moved back to its spacing since: the exception is history.
    spaced = client.get(plan.get_absolute_url()).content.decode()
    second = sessions[1].appointment
    earlier = timedelta(days=7)
    Appointment.objects.filter(pk=second.pk).update(
        start=second.start - earlier, end=second.end - earlier
    )
    close = client.get(plan.get_absolute_url()).content.decode()

    assert history in spaced and warning not in spaced
    assert warning in close and history not in close
    # What is true now, then the manager's notes (older ones may no longer hold).
    assert (
        "Sessions closer than the minimum spacing: session 2 is 21 days after the "
        "one before (minimum 28)."
    ) in close
    assert "Allowed by Mo Manager on 02 Mar 2027: Patient travelling" in close


def test_the_booking_page_shows_the_plans_own_spacing_window(client, front_desk, plan):
    # Spacing below the protocol's window, with a practitioner's reason.
    plan.spacing_days = 21
    plan.exception_reason = "Fast healer."
    plan.save()
    client.force_login(front_desk)

    page = client.get(book_url(plan)).content.decode()

    assert "every 21 days (window 21-35)" in page


def test_the_first_session_is_offered_on_a_day_the_practitioner_works(
    client, front_desk, practitioner, plan
):
    """Not working Tuesdays or Wednesdays (and Thursday a bank holiday): the
    page offers Friday, not a day the proposal would move at once."""
    from clinic.models import ClosureDay, WorkingHours

    WorkingHours.objects.filter(practitioner=practitioner, weekday__in=[1, 2]).delete()
    ClosureDay.objects.create(date=TUESDAY + timedelta(days=2), reason="Holiday")
    client.force_login(front_desk)

    start = client.get(book_url(plan))

    assert start.context["start_form"].initial["date"] == TUESDAY + timedelta(days=3)


def test_the_first_session_is_not_offered_on_a_day_the_practitioner_is_away(
    client, front_desk, practitioner, plan
):
    from clinic.models import TimeOff

    TimeOff.objects.create(
        practitioner=practitioner,
        start=at(TUESDAY, 0),
        end=at(TUESDAY + timedelta(days=1), 0),
        reason="Course",
    )
    client.force_login(front_desk)

    start = client.get(book_url(plan))

    assert start.context["start_form"].initial["date"] == TUESDAY + timedelta(days=1)


def test_the_front_desk_books_a_whole_series_in_three_steps(
    client, front_desk, practitioner, room, plan
):
    client.force_login(front_desk)
    start = client.get(book_url(plan))
    assert start.status_code == 200
    assert start.context["unbooked"] == 6
    assert start.context["start_form"].initial["date"] == TUESDAY
    assert start.context["start_form"].initial["practitioner"] == practitioner

    proposal = client.post(book_url(plan), start_data(practitioner))
    proposals = proposal.context["proposals"]
    assert [p.start for p in proposals] == SERIES
    assert [p.state for p in proposals] == [State.AS_PLANNED] * 6
    assert [p.room for p in proposals] == [room] * 6
    assert [p.spacing_days for p in proposals] == [None] + [28] * 5
    assert proposal.content.decode().count("As planned") == 6
    assert "Book all 6 sessions" in proposal.content.decode()
    assert treatments() == 0

    response = client.post(
        book_url(plan),
        {**start_data(practitioner), **rows_data(proposal), "action": "confirm"},
    )

    assert response.status_code == 302
    assert response["Location"] == plan.get_absolute_url()
    assert TreatmentSession.objects.filter(plan=plan).count() == 6
    assert treatments() == 6
    assert starts_of(plan) == SERIES
    assert set(
        Appointment.objects.filter(kind="treatment").values_list("booked_by", flat=True)
    ) == {front_desk.pk}
    plan.refresh_from_db()
    assert plan.status == TreatmentPlan.Status.ACTIVE
    page = client.get(plan.get_absolute_url())
    assert "6 sessions booked for Ada Lovelace." in messages_of(page)
    assert not any("gets no emails" in m for m in messages_of(page))


def test_a_series_booked_for_a_patient_without_emails_says_to_tell_them_otherwise(
    client, front_desk, practitioner, plan
):
    Patient.objects.filter(pk=plan.patient_id).update(email_consent=False)
    client.force_login(front_desk)
    proposal = client.post(book_url(plan), start_data(practitioner))

    response = client.post(
        book_url(plan),
        {**start_data(practitioner), **rows_data(proposal), "action": "confirm"},
        follow=True,
    )

    assert treatments() == 6
    assert (
        "Ada Lovelace gets no emails (no consent to emails): tell them by phone "
        "or in person." in messages_of(response)
    )


def test_the_proposal_marks_a_moved_session_and_says_why(
    client, front_desk, practitioner, other_room, plan
):
    AppointmentFactory(
        practitioner=practitioner,
        room=other_room,
        start=SERIES[1],
        kind=Appointment.Kind.TREATMENT,
        patient__first_name="Grace",
        patient__last_name="Hopper",
    )
    client.force_login(front_desk)
    response = client.post(book_url(plan), start_data(practitioner))
    proposals = response.context["proposals"]
    assert proposals[1].state == State.MOVED
    assert proposals[1].start == at(date(2026, 12, 22), 9)
    assert proposals[2].start == SERIES[2]
    body = response.content.decode()
    assert "Moved 1 h earlier" in body
    assert "Grace Hopper" in body
    # Each date also in words, whatever order the browser shows the field in.
    assert "Tue 22 Dec 2026</div>" in body
    # Each field named for a screen reader, which reads no column heading.
    assert 'aria-label="Session 2 time"' in body


def test_a_changed_date_is_kept_and_the_next_sessions_follow_it(
    client, front_desk, practitioner, room, plan
):
    client.force_login(front_desk)
    proposal = client.post(book_url(plan), start_data(practitioner, room))
    response = client.post(
        book_url(plan),
        {
            **start_data(practitioner, room),
            **rows_data(proposal, {1: {"date": "2026-12-29"}}),
            "action": "recheck",
        },
    )
    proposals = response.context["proposals"]
    assert proposals[1].state == State.CHOSEN
    assert proposals[1].start == at(date(2026, 12, 29), 10)
    assert proposals[1].spacing_days == 35
    assert [p.start for p in proposals[2:]] == every_four_weeks(date(2027, 1, 26), 4)
    assert "Your choice" in response.content.decode()
    assert treatments() == 0

    booked = client.post(
        book_url(plan),
        {**start_data(practitioner, room), **rows_data(response), "action": "confirm"},
    )
    assert booked.status_code == 302
    assert starts_of(plan) == [SERIES[0], *[p.start for p in proposals[1:]]]


def test_a_second_change_keeps_the_first(client, front_desk, practitioner, plan):
    client.force_login(front_desk)
    proposal = client.post(book_url(plan), start_data(practitioner))
    first = client.post(
        book_url(plan),
        {
            **start_data(practitioner),
            **rows_data(proposal, {1: {"date": "2026-12-29"}}),
            "action": "recheck",
        },
    )
    second = client.post(
        book_url(plan),
        {
            **start_data(practitioner),
            **rows_data(first, {4: {"time": "14:00"}}),
            "action": "recheck",
        },
    )
    proposals = second.context["proposals"]
    assert proposals[1].start == at(date(2026, 12, 29), 10)
    assert proposals[1].state == State.CHOSEN
    assert proposals[4].start == at(date(2027, 3, 23), 14)
    assert proposals[4].state == State.CHOSEN


def test_a_row_with_a_bad_date_shows_the_error_and_books_nothing(
    client, front_desk, practitioner, plan
):
    client.force_login(front_desk)
    proposal = client.post(book_url(plan), start_data(practitioner))
    response = client.post(
        book_url(plan),
        {
            **start_data(practitioner),
            **rows_data(proposal, {2: {"date": "2027-02-30"}}),
            "action": "confirm",
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Check the sessions marked below." in messages_of(response)
    assert "Enter a valid date." in body
    assert 'name="s-2-date" value="2027-02-30"' in body
    assert not response.context["bookable"]
    assert treatments() == 0


def test_a_row_with_seconds_in_its_time_is_refused(
    client, front_desk, practitioner, plan
):
    client.force_login(front_desk)
    proposal = client.post(book_url(plan), start_data(practitioner))

    response = client.post(
        book_url(plan),
        {
            **start_data(practitioner),
            **rows_data(proposal, {2: {"time": "10:00:30"}}),
            "action": "confirm",
        },
    )

    assert "Give the time in hours and minutes, like 10:30." in (
        response.content.decode()
    )
    assert treatments() == 0


def test_a_slot_taken_after_the_proposal_books_nothing_and_names_the_session(
    client, front_desk, practitioner, other_room, plan
):
    client.force_login(front_desk)
    proposal = client.post(book_url(plan), start_data(practitioner))
    AppointmentFactory(
        practitioner=practitioner,
        room=other_room,
        start=SERIES[2],
        kind=Appointment.Kind.CONSULTATION,
    )
    response = client.post(
        book_url(plan),
        {**start_data(practitioner), **rows_data(proposal), "action": "confirm"},
    )
    assert response.status_code == 200
    assert "Session 3 (Tue 19 Jan 2027, 10:00) can't be booked any more." in (
        messages_of(response)
    )
    assert treatments() == 0
    assert not TreatmentSession.objects.exists()
    # A fresh proposal works around the new booking.
    fresh = response.context["proposals"]
    assert fresh[2].state == State.MOVED
    assert response.context["bookable"]


def test_a_slot_taken_while_booking_books_nothing_and_names_the_session(
    client, front_desk, practitioner, other_room, plan, monkeypatch
):
    """Someone books session 3's time between the last check and the insert."""
    book_series = services.book_series

    def someone_else_books_first(**kwargs):
        AppointmentFactory(practitioner=practitioner, room=other_room, start=SERIES[2])
        return book_series(**kwargs)

    client.force_login(front_desk)
    proposal = client.post(book_url(plan), start_data(practitioner))
    monkeypatch.setattr(services, "book_series", someone_else_books_first)
    response = client.post(
        book_url(plan),
        {**start_data(practitioner), **rows_data(proposal), "action": "confirm"},
    )
    assert response.status_code == 200
    assert any(
        "Session 3 (Tue 19 Jan 2027, 10:00) can't be booked any more" in m
        for m in messages_of(response)
    )
    assert treatments() == 0
    assert not TreatmentSession.objects.exists()


@pytest.mark.parametrize(
    "management",
    [
        {"s-TOTAL_FORMS": "7"},
        {"s-TOTAL_FORMS": "5"},
        {"s-TOTAL_FORMS": "1000"},
        {"s-TOTAL_FORMS": "many"},
        {"s-TOTAL_FORMS": None, "s-INITIAL_FORMS": None},
    ],
)
def test_a_tampered_table_books_nothing(
    client, front_desk, practitioner, plan, management
):
    client.force_login(front_desk)
    proposal = client.post(book_url(plan), start_data(practitioner))
    data = {**start_data(practitioner), **rows_data(proposal), "action": "confirm"}
    for key in ["date", "time", "room", "proposed"]:
        data[f"s-6-{key}"] = data[f"s-5-{key}"]
    data.update(management)
    response = client.post(book_url(plan), {k: v for k, v in data.items() if v})
    assert response.status_code == 200
    assert "fresh proposal" in " ".join(messages_of(response))
    assert len(response.context["proposals"]) == 6
    assert treatments() == 0


def test_book_all_after_a_row_typed_wrong_keeps_the_rows_as_typed(
    client, front_desk, practitioner, plan
):
    """Rows changed by hand and sent without *Check again*: one typed outside
    hours. Nothing is booked, no fresh proposal throws the other change away,
    and nobody else is blamed."""
    client.force_login(front_desk)
    proposal = client.post(book_url(plan), start_data(practitioner))

    response = client.post(
        book_url(plan),
        {
            **start_data(practitioner),
            **rows_data(proposal, {1: {"time": "15:00"}, 3: {"time": "06:00"}}),
            "action": "confirm",
        },
    )

    assert response.status_code == 200
    said = messages_of(response)
    assert said[0].startswith("Nothing was booked: the sessions marked below")
    assert not any("any more" in m for m in said)
    assert treatments() == 0
    rows = response.context["proposals"]
    assert timezone.localtime(rows[1].start).time() == time(15)
    assert timezone.localtime(rows[3].start).time() == time(6)
    assert not rows[3].is_bookable and rows[1].is_bookable
    assert not response.context["bookable"]


def test_after_a_refused_book_all_untouched_rows_still_follow_a_changed_one(
    client, front_desk, practitioner, plan
):
    """Book all refused for row 1 typed outside hours; row 1 typed again later
    and checked: the rows nobody touched follow it, as on a fresh page."""
    client.force_login(front_desk)
    proposal = client.post(book_url(plan), start_data(practitioner))
    refused = client.post(
        book_url(plan),
        {
            **start_data(practitioner),
            **rows_data(proposal, {0: {"time": "06:00"}}),
            "action": "confirm",
        },
    )
    assert treatments() == 0

    checked = client.post(
        book_url(plan),
        {
            **start_data(practitioner),
            **rows_data(refused, {0: {"date": "2026-12-01", "time": "10:00"}}),
            "action": "recheck",
        },
    )

    rows = checked.context["proposals"]
    assert timezone.localdate(rows[0].start) == date(2026, 12, 1)
    # Session 2 moved along with session 1: four weeks after it, not left behind.
    assert timezone.localdate(rows[1].start) == date(2026, 12, 29)
    assert rows[1].state != State.CHOSEN


def test_book_all_with_a_row_typed_too_close_keeps_the_rows_as_typed(
    client, front_desk, practitioner, plan
):
    """Session 3 typed 22 days after session 2 (the minimum is 28): only a
    manager's reason books it; the front desk's rows stay as typed."""
    client.force_login(front_desk)
    proposal = client.post(book_url(plan), start_data(practitioner))
    close = (SERIES[1] + timedelta(days=22)).date().isoformat()

    response = client.post(
        book_url(plan),
        {
            **start_data(practitioner),
            **rows_data(proposal, {2: {"date": close}}),
            "action": "confirm",
        },
    )

    assert response.status_code == 200
    assert messages_of(response)[0].startswith("Nothing was booked: a session marked")
    assert treatments() == 0
    rows = response.context["proposals"]
    assert timezone.localdate(rows[2].start).isoformat() == close
    assert rows[2].spacing_below_minimum
    assert "too close" in response.content.decode()


def test_check_again_on_a_row_typed_too_close_says_why_and_offers_no_book_all(
    client, front_desk, manager, practitioner, plan
):
    client.force_login(front_desk)
    proposal = client.post(book_url(plan), start_data(practitioner))
    close = (SERIES[1] + timedelta(days=22)).date().isoformat()
    data = {
        **start_data(practitioner),
        **rows_data(proposal, {2: {"date": close}}),
        "action": "recheck",
    }

    checked = client.post(book_url(plan), data)

    assert checked.context["bookable"] is False
    assert "than the plan's minimum of 28 days: pick a later date, or have a " in (
        checked.content.decode()
    )
    # A manager may book it, with a reason: offered.
    client.force_login(manager)
    assert client.post(book_url(plan), data).context["bookable"] is True


def test_sessions_out_of_date_order_book_nothing_even_for_a_manager(
    client, manager, practitioner, plan
):
    client.force_login(manager)
    proposal = client.post(book_url(plan), start_data(practitioner))

    response = client.post(
        book_url(plan),
        {
            **start_data(practitioner),
            # The second session after the third: numbers would not follow dates.
            **rows_data(proposal, {1: {"date": "2027-03-02"}}),
            "override_reason": "Patient asked",
            "action": "confirm",
        },
    )

    assert response.status_code == 200
    assert "Nothing was booked: the sessions marked below" in messages_of(response)[0]
    # The rows stay as typed, the one out of order marked.
    page = response.content.decode()
    assert 'value="2027-03-02"' in page
    assert "not after the one before</span>" in page
    assert treatments() == 0
    # Checked again instead: the row says it comes before, not "-N days".
    checked = client.post(
        book_url(plan),
        {
            **start_data(practitioner),
            # The third session before the second.
            **rows_data(proposal, {2: {"date": "2026-12-01"}}),
            "action": "recheck",
        },
    ).content.decode()
    assert "not after the one before</span>" in checked
    assert " -" not in checked.split("<tbody>")[1].split("</tbody>")[0]
    assert "Some sessions can't be booked as they are" in checked


def test_a_managers_reason_that_is_too_long_is_shown_with_its_error(
    client, manager, practitioner, plan
):
    client.force_login(manager)
    proposal = client.post(book_url(plan), start_data(practitioner))

    response = client.post(
        book_url(plan),
        {
            **start_data(practitioner),
            **rows_data(proposal, {1: {"date": "2026-12-08"}}),
            "override_reason": "x" * 301,
            "action": "confirm",
        },
    )

    assert response.status_code == 200
    assert "Check the manager's reason below." in messages_of(response)
    assert "at most 300 characters" in response.content.decode()
    assert 'value="' + "x" * 301 + '"' in response.content.decode()
    assert treatments() == 0


def test_a_start_in_the_past_is_a_form_error(client, front_desk, practitioner, plan):
    client.force_login(front_desk)
    response = client.post(book_url(plan), start_data(practitioner, date="2026-11-20"))
    assert response.status_code == 200
    assert "That date has already passed." in response.content.decode()
    assert "proposals" not in response.context
    response = client.post(
        book_url(plan), start_data(practitioner, date="2026-11-20", action="confirm")
    )
    assert "That date has already passed." in response.content.decode()
    assert treatments() == 0


def test_booking_needs_the_patients_consent(
    client, front_desk, practitioner, consultation
):
    plan = make_plan(consultation, practitioner, consented=False)
    client.force_login(front_desk)
    response = client.get(book_url(plan))
    assert response.status_code == 302
    assert response["Location"] == plan.get_absolute_url()
    response = client.post(book_url(plan), start_data(practitioner), follow=True)
    assert "Record the patient's consent before booking sessions." in messages_of(
        response
    )
    assert treatments() == 0


def test_a_fully_booked_or_ended_plan_has_nothing_to_book(
    client, front_desk, practitioner, plan, sessions
):
    client.force_login(front_desk)
    response = client.get(book_url(plan), follow=True)
    assert "Every session of this plan is booked." in messages_of(response)
    plan.status = TreatmentPlan.Status.CANCELLED
    plan.save()
    response = client.get(book_url(plan), follow=True)
    assert "This plan has ended" in messages_of(response)[0]


# Changing a series ------------------------------------------------------------------


def move_url(session: TreatmentSession) -> str:
    return reverse("plans:session_move", args=[session.pk])


def move_data(day: str, scope: str = "this", **overrides) -> dict:
    data = {
        "date": day,
        "time": "10:00",
        "scope": scope,
        "room": "",
        "override_reason": "",
        "action": "preview",
    }
    data.update(overrides)
    return data


def previewed(client, url: str, data: dict) -> dict:
    """The move form after its preview, as the browser posts it to move."""
    preview = post_as_page(client, url, {**data, "action": "preview"})
    return {
        **data,
        "seen": hidden_value(preview, "seen"),
        "previewed": preview.context["stamp"],
        "action": "move",
    }


def test_moving_session_3_and_the_following_by_a_week(
    client, front_desk, plan, sessions
):
    client.force_login(front_desk)
    preview = post_as_page(
        client, move_url(sessions[2]), move_data("2027-01-26", "following")
    )
    assert preview.status_code == 200
    planned = preview.context["preview"]
    assert [m.session.number for m in planned.moves] == [3, 4, 5, 6]
    assert not planned.problems
    assert not planned.needs_confirmation
    assert starts_of(plan) == SERIES

    response = post_as_page(
        client,
        move_url(sessions[2]),
        move_data("2027-01-26", "following", action="move"),
    )

    assert response.status_code == 302
    assert response["Location"] == plan.get_absolute_url()
    week = timedelta(days=7)
    assert starts_of(plan) == SERIES[:2] + [at(s.date() + week, 10) for s in SERIES[2:]]
    page = client.get(response["Location"]).content.decode()
    assert "Sessions 3 to 6 moved: session 3 is now on Tue 26 Jan 2027, 10:00." in page
    # Two of them: "5 and 6", not "5 to 6".
    response = post_as_page(
        client,
        move_url(sessions[4]),
        move_data(
            f"{SERIES[4].date() + 2 * week:%Y-%m-%d}", "following", action="move"
        ),
    )
    page = client.get(response["Location"]).content.decode()
    assert "Sessions 5 and 6 moved: session 5 is now on" in page


def test_a_move_from_a_page_opened_before_another_move_is_refused(
    client, front_desk, plan, sessions
):
    """Two tabs on one session: the second move would silently undo the first."""
    client.force_login(front_desk)
    url = move_url(sessions[2])
    # What the page itself sends back.
    seen = hidden_value(client.get(url), "seen")
    assert seen
    first_tab = {**move_data("2027-01-26", "following", action="move"), "seen": seen}
    second_tab = {**move_data("2027-01-21", "following", action="move"), "seen": seen}
    assert client.post(url, first_tab).status_code == 302
    emails = Reminder.objects.count()

    page = client.post(url, second_tab)

    # Shown where the session is now, with what was typed kept.
    assert page.status_code == 200
    assert (
        "Someone changed this session, or one after it, while your page was open "
        "(a colleague, or this form sent twice), so this move was not made: move it "
        "again if it is still needed. Session 3 is now booked for Tue 26 Jan 2027, "
        "10:00 with "
    ) in page.content.decode()
    assert "Tue 26 Jan 2027, 10:00" in page.content.decode()
    form = page.context["form"]
    assert (form["date"].value(), form["scope"].value()) == ("2027-01-21", "following")
    assert page.context["preview"] is None
    assert starts_of(plan)[2] == at(date(2027, 1, 26), 10)
    assert Reminder.objects.count() == emails
    # Sent again from that page, it moves it.
    fresh = {**second_tab, "seen": hidden_value(page, "seen")}
    assert client.post(url, fresh).status_code == 302
    assert starts_of(plan)[2] == at(date(2027, 1, 21), 10)


def test_a_preview_from_a_page_opened_before_another_move_says_so(
    client, front_desk, plan, sessions
):
    client.force_login(front_desk)
    url = move_url(sessions[2])
    seen = hidden_value(client.get(url), "seen")
    moved = {**move_data("2027-01-26", "following", action="move"), "seen": seen}
    assert client.post(url, moved).status_code == 302

    page = client.post(url, {**move_data("2027-01-21", "following"), "seen": seen})

    assert page.status_code == 200
    assert any(
        "Someone moved or changed these sessions while your page was open" in m
        for m in messages_of(page)
    )
    assert page.context["preview"] is not None
    # Previewed from where they are now, a move from this page is made.
    fresh = {**move_data("2027-01-21", "following", action="move")}
    fresh["seen"] = hidden_value(page, "seen")
    assert fresh["seen"] != seen
    assert client.post(url, fresh).status_code == 302
    assert starts_of(plan)[2] == at(date(2027, 1, 21), 10)


def test_a_following_move_from_a_page_opened_before_a_later_session_moved(
    client, front_desk, manager, plan, sessions
):
    """ "And all following" would shift a session a colleague just placed by
    hand, to a date nobody chose or saw."""
    client.force_login(front_desk)
    url = move_url(sessions[1])
    page = move_data("2026-12-29", "following", action="move")
    page["seen"] = hidden_value(client.get(url), "seen")
    colleague = Client()
    colleague.force_login(manager)
    fifth = move_url(sessions[4])
    placed = post_as_page(
        colleague, fifth, move_data("2027-03-16", action="move", time="14:00")
    )
    assert placed.status_code == 302, placed.context["form"].errors
    placed_by_hand = starts_of(plan)

    response = client.post(url, page)

    assert response.status_code == 200
    assert "or one after it, while" in response.content.decode()
    assert starts_of(plan) == placed_by_hand


def test_a_gap_the_move_leaves_as_it_was_is_not_asked_about_again(
    client, front_desk, plan, sessions
):
    """Session 5 already 8 weeks after session 4 (a replacement at the end, say):
    moving session 1 and all following keeps that gap, and asks nothing."""
    later = [s + timedelta(days=28) for s in SERIES[4:]]
    # The last first: PostgreSQL's exclusion constraint checks each update.
    for session, start in reversed(list(zip(sessions[4:], later, strict=True))):
        Appointment.objects.filter(pk=session.appointment_id).update(
            start=start, end=start + timedelta(hours=1)
        )
    client.force_login(front_desk)

    preview = post_as_page(
        client,
        move_url(sessions[0]),
        {**move_data("2026-12-01", "following"), "action": "preview"},
    ).context["preview"]

    assert len(preview.moves) == 6
    assert preview.too_far == []
    assert not preview.needs_confirmation
    # Moving session 5 alone, later still, is asked about: that gap changes.
    alone = post_as_page(
        client,
        move_url(sessions[4]),
        {
            **move_data(f"{later[0].date() + timedelta(days=7):%Y-%m-%d}"),
            "action": "preview",
        },
    ).context["preview"]
    assert any("Session 5 would be" in w for w in alone.too_far)


def test_a_move_beyond_the_window_needs_confirmation(
    client, front_desk, plan, sessions
):
    client.force_login(front_desk)
    # The preview's question is focused.
    preview = post_as_page(
        client,
        move_url(sessions[2]),
        {**move_data("2027-02-02", "following"), "action": "preview"},
    ).content.decode()
    assert re.search(r'<input type="checkbox" name="confirmed"[^>]* autofocus', preview)
    data = previewed(
        client, move_url(sessions[2]), move_data("2027-02-02", "following")
    )
    refused = post_as_page(client, move_url(sessions[2]), data)
    assert refused.status_code == 200
    errors = refused.context["form"].non_field_errors()
    assert "Check the spacing and confirm the move." in errors
    # The spacing is said once, in the preview.
    assert refused.content.decode().count("Session 3 would be 42 days after") == 1
    assert starts_of(plan) == SERIES

    response = post_as_page(client, move_url(sessions[2]), {**data, "confirmed": "on"})
    assert response.status_code == 302
    # Two weeks later at 10:00 local, also across the clocks going forward.
    fortnight = timedelta(days=14)
    moved = [at(s.date() + fortnight, 10) for s in SERIES[2:]]
    assert starts_of(plan) == SERIES[:2] + moved


def test_a_confirmation_is_for_the_move_that_was_previewed(
    client, front_desk, plan, sessions
):
    client.force_login(front_desk)
    url = move_url(sessions[2])
    data = previewed(client, url, move_data("2027-02-02", "following"))

    # The date changed after the preview: confirmed, but never seen.
    response = post_as_page(
        client, url, {**data, "date": "2027-02-16", "confirmed": "on"}
    )

    assert response.status_code == 200
    assert "The move changed since its preview: check it, then confirm." in (
        messages_of(response)
    )
    assert any(
        "56 days after" in warning for warning in response.context["preview"].too_far
    )
    assert starts_of(plan) == SERIES


def test_a_garbled_preview_stamp_moves_nothing_and_previews_again(
    client, front_desk, plan, sessions
):
    client.force_login(front_desk)
    url = move_url(sessions[2])
    data = previewed(client, url, move_data("2027-02-02", "following"))

    # The NUL is taken out on the way in; what is left previewed nothing.
    response = client.post(url, {**data, "previewed": "x\x00y", "confirmed": "on"})

    assert response.status_code == 200
    assert response.context["stamp"] != "xy"
    assert response.context["form"]["confirmed"].value() in (False, None)
    assert starts_of(plan) == SERIES


def test_a_tick_given_for_another_move_is_not_carried_over(
    client, front_desk, plan, sessions
):
    client.force_login(front_desk)
    url = move_url(sessions[2])
    data = previewed(client, url, move_data("2027-02-02", "following"))

    response = post_as_page(
        client, url, {**data, "date": "2027-02-16", "confirmed": "on"}
    )

    assert response.context["form"]["confirmed"].value() in (False, None)
    assert starts_of(plan) == SERIES


@pytest.mark.parametrize(
    "name", ["plans:session_move", "plans:session_change", "plans:session_cancel"]
)
def test_a_cancelled_session_has_no_move_or_change_page(
    client, front_desk, plan, sessions, name
):
    client.force_login(front_desk)
    post_as_page(client, cancel_url(sessions[3]), {"reason": "Holiday"})

    response = client.get(reverse(name, args=[sessions[3].pk]), follow=True)

    assert response.redirect_chain == [(plan.get_absolute_url(), 302)]
    assert "This session is cancelled" in messages_of(response)[-1]


def test_a_managers_reason_in_too_few_words_is_asked_for_beside_the_move(
    client, manager, plan, sessions
):
    client.force_login(manager)
    data = previewed(client, move_url(sessions[2]), move_data("2027-01-12"))

    response = post_as_page(
        client,
        move_url(sessions[2]),
        {**data, "confirmed": "on", "override_reason": "ok"},
    )

    assert response.status_code == 200
    page = response.content.decode()
    # The move is shown again, with the reason's field and what is wrong with it.
    assert response.context["preview"] is not None
    assert "in a few words" in " ".join(
        response.context["form"].errors["override_reason"]
    )
    assert 'name="override_reason"' in page
    assert starts_of(plan) == SERIES


def test_sessions_closer_than_the_minimum_need_a_manager(
    client, front_desk, manager, plan, sessions
):
    client.force_login(front_desk)
    data = previewed(client, move_url(sessions[2]), move_data("2027-01-12"))
    # The front desk is told whom to ask, and offered no move it can't make.
    preview = post_as_page(client, move_url(sessions[2]), {**data, "action": "preview"})
    page = preview.content.decode()
    assert "Only a manager can place sessions closer than the minimum" in page
    assert 'value="move"' not in page
    assert 'name="confirmed"' not in page
    data["confirmed"] = "on"
    refused = post_as_page(client, move_url(sessions[2]), data)
    assert "Sessions closer than the minimum need a manager's reason." in (
        refused.context["form"].non_field_errors()
    )
    assert starts_of(plan) == SERIES

    client.force_login(manager)
    response = post_as_page(
        client, move_url(sessions[2]), {**data, "override_reason": "Patient travels"}
    )
    assert response.status_code == 302
    assert starts_of(plan)[2] == at(date(2027, 1, 12), 10)
    page = client.get(response["Location"]).content.decode()
    assert "Session 3 moved to Tue 12 Jan 2027, 10:00." in page
    # The appointment's history keeps the manager's reason with the move.
    moved = sessions[2].appointment.events.get(action="moved")
    assert (moved.by, moved.reason) == (manager, "Patient travels")
    history = client.get(sessions[2].appointment.get_absolute_url()).content.decode()
    assert "Reason: Patient travels" in history


def test_a_session_cant_be_moved_before_the_one_before_it(
    client, manager, plan, sessions
):
    client.force_login(manager)
    # Session 3 (19 Jan) to before session 2 (22 Dec), on its own.
    response = post_as_page(
        client,
        move_url(sessions[2]),
        move_data("2026-12-15", action="move", confirmed="on", override_reason="Asked"),
    )

    assert response.status_code == 200
    assert (
        response.content.decode().count("Session 3 would not come after session 2") == 1
    )
    # Not also "-35 days after the one before it".
    preview = post_as_page(client, move_url(sessions[2]), move_data("2026-12-15"))
    assert "Session 3 would be" not in preview.content.decode()
    assert starts_of(plan) == SERIES


def test_a_move_into_a_clash_changes_nothing(
    client, front_desk, practitioner, other_room, plan, sessions
):
    AppointmentFactory(
        practitioner=practitioner,
        room=other_room,
        start=at(date(2027, 1, 26), 10, 30),
        patient__first_name="Grace",
        patient__last_name="Hopper",
    )
    client.force_login(front_desk)
    for action in ["preview", "move"]:
        response = post_as_page(
            client,
            move_url(sessions[2]),
            move_data("2027-01-26", "following", action=action, confirmed="on"),
        )
        assert response.status_code == 200
        assert "Grace Hopper" in response.content.decode()
    assert 'value="move"' not in response.content.decode()
    assert "The move can't be made." in response.context["form"].non_field_errors()
    # No "move anyway" tick for a move that can't be made at all.
    preview = post_as_page(
        client, move_url(sessions[2]), move_data("2027-01-26", "following")
    ).content.decode()
    assert 'name="confirmed"' not in preview
    assert "This move can't be made: pick another date or time" in preview
    assert starts_of(plan) == SERIES


def test_moving_into_the_past_is_a_form_error(client, front_desk, plan, sessions):
    client.force_login(front_desk)
    response = client.post(
        move_url(sessions[2]), move_data("2026-11-20", action="move")
    )
    assert "That date has already passed." in response.content.decode()
    assert starts_of(plan) == SERIES


def test_changing_the_room_from_session_4_on(
    client, front_desk, practitioner, other_room, plan, sessions
):
    client.force_login(front_desk)
    response = post_as_page(
        client,
        reverse("plans:session_change", args=[sessions[3].pk]),
        {"practitioner": practitioner.pk, "room": other_room.pk},
    )
    assert response.status_code == 302
    rooms = [s.appointment.room for s in plan.sessions.order_by("number")]
    assert rooms[:3] == [sessions[0].appointment.room] * 3
    assert rooms[3:] == [other_room] * 3


def test_the_change_page_lists_the_sessions_it_changes_as_they_are(
    client, front_desk, practitioner, other_practitioner, plan, sessions
):
    # Sessions 5 and 6 went to another practitioner earlier.
    services.change_resources_from(
        session=sessions[4],
        practitioner=other_practitioner,
        room=sessions[4].appointment.room,
        by=front_desk,
    )
    client.force_login(front_desk)

    page = client.get(reverse("plans:session_change", args=[sessions[3].pk]))

    listed = [s.pk for s in page.context["affected"]]
    assert listed == [s.pk for s in sessions[3:]]
    body = page.content.decode()
    # Sessions 5 and 6 in the table, and the choice in the form.
    assert body.count(str(other_practitioner)) == 3


def test_a_change_from_a_page_opened_before_another_change_is_refused(
    client,
    front_desk,
    manager,
    practitioner,
    other_practitioner,
    other_room,
    plan,
    sessions,
):
    """Two desks: the second change would silently put the first one back."""
    url = reverse("plans:session_change", args=[sessions[3].pk])
    client.force_login(manager)
    managers_page = hidden_value(client.get(url), "seen")
    client.force_login(front_desk)
    first = {
        "practitioner": other_practitioner.pk,
        "room": sessions[3].appointment.room_id,
        "seen": hidden_value(client.get(url), "seen"),
    }
    assert client.post(url, first).status_code == 302

    client.force_login(manager)
    second = {"practitioner": practitioner.pk, "room": other_room.pk}
    response = client.post(url, {**second, "seen": managers_page}, follow=True)

    assert "Someone changed these sessions while your page was open" in (
        response.content.decode()
    )
    # What the manager picked is kept, for a second look and a second send.
    form = response.context["form"]
    assert (form["practitioner"].value(), form["room"].value()) == (
        str(practitioner.pk),
        str(other_room.pk),
    )
    with_whom = [s.appointment.practitioner for s in plan.sessions.order_by("number")]
    assert with_whom[3:] == [other_practitioner] * 3


def cancel_url(session: TreatmentSession) -> str:
    return reverse("plans:session_cancel", args=[session.pk])


def test_cancelling_a_session_without_a_replacement(client, front_desk, plan, sessions):
    client.force_login(front_desk)
    refused = post_as_page(client, cancel_url(sessions[3]), {"reason": "  "})
    assert refused.status_code == 200
    assert "reason" in refused.context["form"].errors

    response = post_as_page(
        client, cancel_url(sessions[3]), {"reason": "Patient on holiday"}
    )

    assert response.status_code == 302
    cancelled = Appointment.objects.get(pk=sessions[3].appointment_id)
    assert cancelled.status == Appointment.Status.CANCELLED
    assert cancelled.cancel_reason == "Patient on holiday"
    assert plan.sessions.count() == 6
    assert (
        Appointment.objects.filter(
            treatment_session__plan=plan, status="booked"
        ).count()
        == 5
    )


def test_cancelling_a_session_between_two_says_the_gap_it_leaves(
    client, front_desk, plan, sessions
):
    """Four weeks apart, the protocol's longest is 35 days: cancelling session 2
    leaves 56 days between sessions 1 and 3. The first and the last leave none."""
    client.force_login(front_desk)

    pages = [client.get(cancel_url(s)).content.decode() for s in sessions]

    assert (
        "If cancelled, it leaves 56 days between the sessions of Tue 24 Nov 2026, "
        "10:00 and Tue 19 Jan 2027, 10:00, longer than the 35 days apart the plan "
        "allows" in pages[1]
    )
    assert move_url(sessions[1]) in pages[1]
    assert "it leaves" not in pages[0]
    assert "it leaves" not in pages[-1]
    # Once one is cancelled, the next one's gap counts from the one before it.
    post_as_page(client, cancel_url(sessions[1]), {"reason": "Unwell"})
    assert "leaves 84 days" in client.get(cancel_url(sessions[2])).content.decode()


def test_a_session_change_without_the_pages_version_changes_nothing(
    client, front_desk, plan, sessions, other_room
):
    """The pages always send the version of the sessions they showed; a post
    without it is refused, not made without the stale-page check."""
    client.force_login(front_desk)
    posts = [
        (cancel_url(sessions[3]), {"reason": "Patient on holiday"}),
        (move_url(sessions[3]), move_data("2027-03-02", action="move")),
        (
            reverse("plans:session_change", args=[sessions[3].pk]),
            {
                "practitioner": sessions[3].appointment.practitioner_id,
                "room": other_room.pk,
            },
        ),
    ]

    for url, data in posts:
        response = client.post(url, data)
        assert response.status_code == 200, url
        assert "This page was changed on its way here" in response.content.decode()
    assert starts_of(plan) == SERIES
    assert not Appointment.objects.filter(
        treatment_session__plan=plan, status=Appointment.Status.CANCELLED
    ).exists()
    assert not Appointment.objects.filter(room=other_room).exists()


def test_cancelling_a_session_with_a_replacement_at_the_end(
    client, front_desk, plan, sessions
):
    client.force_login(front_desk)
    response = post_as_page(
        client,
        cancel_url(sessions[3]),
        {"reason": "Patient on holiday", "replace": "on"},
        follow=True,
    )
    replacement = plan.sessions.get(number=7)
    assert replacement.replaces == sessions[3]
    assert replacement.appointment.start == at(date(2027, 5, 11), 10)
    assert replacement.appointment.status == Appointment.Status.BOOKED
    booked = replacement.appointment
    assert (
        "Session cancelled; a replacement is booked for Tue 11 May 2027, 10:00 "
        f"with {booked.practitioner} in {booked.room}." in messages_of(response)
    )
    assert "in place of 16 Feb" in response.content.decode()


def test_after_a_cancellation_every_page_counts_sessions_as_the_plan_page(
    client, front_desk, plan, sessions
):
    client.force_login(front_desk)
    post_as_page(
        client, cancel_url(sessions[3]), {"reason": "Holiday", "replace": "on"}
    )
    replacement = plan.sessions.get(number=7)
    # The plan page shows it sixth: five live sessions come before it.
    plan_page = client.get(plan.get_absolute_url())
    [row] = [r for r in plan_page.context["rows"] if r["session"] == replacement]
    assert row["position"] == 6

    preview = post_as_page(
        client,
        move_url(replacement),
        {**move_data("2027-05-25"), "action": "preview"},
    )

    assert preview.context["position"] == 6
    assert [m.position for m in preview.context["preview"].moves] == [6]
    assert "<title>Move session 6" in preview.content.decode()
    assert any("Session 6 would be" in w for w in preview.context["preview"].too_far)


def test_a_cancellation_from_a_page_opened_before_a_move_is_refused(
    client, front_desk, plan, sessions
):
    """Two tabs: the cancel page showed the session at its old time; meanwhile a
    colleague moved it. Its reason was about the old time."""
    # An earlier one cancelled: the refusal numbers sessions as the plan page.
    Appointment.objects.filter(pk=sessions[1].appointment_id).update(
        status=Appointment.Status.CANCELLED, cancel_reason="Unwell."
    )
    client.force_login(front_desk)
    cancel_page = hidden_value(client.get(cancel_url(sessions[3])), "seen")
    moved = client.post(
        move_url(sessions[3]),
        {
            **move_data(SERIES[3].date().isoformat(), time="14:00", action="move"),
            "seen": hidden_value(client.get(move_url(sessions[3])), "seen"),
        },
    )
    assert moved.status_code == 302

    response = client.post(
        cancel_url(sessions[3]),
        {"reason": "Can't make the morning", "replace": "on", "seen": cancel_page},
    )

    assert response.status_code == 200
    assert any(
        "Someone changed this session while your page was open" in m
        and "Session 3 is now booked for Tue 16 Feb 2027, 14:00 with" in m
        for m in messages_of(response)
    )
    page = response.content.decode()
    assert "14:00" in page
    # What was typed stays, to send again once read.
    form = response.context["form"]
    assert form["reason"].value() == "Can't make the morning"
    assert form["replace"].value() is True
    sessions[3].appointment.refresh_from_db()
    assert sessions[3].appointment.status == Appointment.Status.BOOKED
    assert plan.sessions.count() == 6


def test_a_replacement_follows_the_practitioner_of_the_courses_last_session(
    client, front_desk, other_practitioner, plan, sessions
):
    """Sessions 4 on changed hands: a replacement at the end goes with them."""
    client.force_login(front_desk)
    changed = post_as_page(
        client,
        reverse("plans:session_change", args=[sessions[3].pk]),
        {
            "practitioner": other_practitioner.pk,
            "room": sessions[3].appointment.room_id,
        },
    )
    assert changed.status_code == 302

    post_as_page(
        client, cancel_url(sessions[1]), {"reason": "Holiday", "replace": "on"}
    )

    replacement = plan.sessions.get(number=7)
    assert replacement.appointment.practitioner == other_practitioner
    assert replacement.replaces == sessions[1]


def test_sessions_booked_later_are_proposed_with_whoever_the_course_went_to(
    client, front_desk, other_practitioner, plan, sessions
):
    """Sessions 4 on changed hands: the last one, cancelled and booked again
    from the plan's page, is proposed with them too, not the plan's first."""
    client.force_login(front_desk)
    post_as_page(
        client,
        reverse("plans:session_change", args=[sessions[3].pk]),
        {
            "practitioner": other_practitioner.pk,
            "room": sessions[3].appointment.room_id,
        },
    )
    post_as_page(client, cancel_url(sessions[5]), {"reason": "Holiday"})

    page = client.get(reverse("plans:book", args=[plan.pk]))

    assert page.context["start_form"]["practitioner"].value() == other_practitioner.pk


def test_a_replacement_goes_with_whom_the_course_goes_on_not_whom_it_was_done_with(
    client, front_desk, practitioner, other_practitioner, plan, sessions
):
    """Sessions 1-5 done with the first practitioner; session 6 handed to a
    colleague, then cancelled with a replacement: the colleague takes it."""
    client.force_login(front_desk)
    post_as_page(
        client,
        reverse("plans:session_change", args=[sessions[5].pk]),
        {
            "practitioner": other_practitioner.pk,
            "room": sessions[5].appointment.room_id,
        },
    )
    Appointment.objects.filter(pk__in=[s.appointment_id for s in sessions[:5]]).update(
        status=Appointment.Status.COMPLETED
    )

    post_as_page(
        client, cancel_url(sessions[5]), {"reason": "Moving house", "replace": "on"}
    )

    replacement = plan.sessions.get(number=7)
    assert replacement.appointment.practitioner == other_practitioner


def test_a_replacement_doesnt_go_to_a_practitioner_who_has_left(
    client, front_desk, practitioner, other_practitioner, plan, sessions
):
    """Sessions 1-5 with one who has left since (they stay on the plan);
    session 6 handed to a colleague, then cancelled with a replacement."""
    client.force_login(front_desk)
    post_as_page(
        client,
        reverse("plans:session_change", args=[sessions[5].pk]),
        {
            "practitioner": other_practitioner.pk,
            "room": sessions[5].appointment.room_id,
        },
    )
    Appointment.objects.filter(pk__in=[s.appointment_id for s in sessions[:5]]).update(
        status=Appointment.Status.COMPLETED
    )
    Practitioner.objects.filter(pk=practitioner.pk).update(is_active=False)

    response = post_as_page(
        client, cancel_url(sessions[5]), {"reason": "Moving house", "replace": "on"}
    )

    assert response.status_code == 302
    replacement = plan.sessions.get(number=7)
    assert replacement.appointment.practitioner == other_practitioner


def test_without_a_free_slot_for_the_replacement_nothing_is_cancelled(
    client, front_desk, practitioner, plan, sessions
):
    TimeOffFactory(
        practitioner=practitioner,
        start=at(date(2027, 5, 10), 0),
        end=at(date(2027, 5, 20), 0),
        reason="Holiday",
    )
    client.force_login(front_desk)
    response = post_as_page(
        client,
        cancel_url(sessions[3]),
        {"reason": "Patient on holiday", "replace": "on"},
    )
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert any("no free slot for a replacement" in e for e in errors)
    sessions[3].appointment.refresh_from_db()
    assert sessions[3].appointment.status == Appointment.Status.BOOKED
    assert plan.sessions.count() == 6


def test_a_no_show_is_marked_by_post_only_after_the_start(
    client, front_desk, plan, sessions
):
    url = reverse("plans:session_no_show", args=[sessions[0].pk])
    client.force_login(front_desk)
    assert client.get(url).status_code == 405

    too_early = client.post(url, follow=True)
    assert "once its start time has passed" in messages_of(too_early)[0]
    sessions[0].appointment.refresh_from_db()
    assert sessions[0].appointment.status == Appointment.Status.BOOKED

    with time_machine.travel(SERIES[0] + timedelta(minutes=30), tick=False):
        client.force_login(front_desk)  # The morning's sign-in has expired.
        response = client.post(url)
    assert response["Location"] == plan.get_absolute_url()
    sessions[0].appointment.refresh_from_db()
    assert sessions[0].appointment.status == Appointment.Status.NO_SHOW


def test_a_session_whose_time_is_over_offers_a_no_show_not_a_cancellation(
    client, front_desk, plan, sessions
):
    cancel = reverse("plans:session_cancel", args=[sessions[0].pk])
    no_show = reverse("plans:session_no_show", args=[sessions[0].pk])
    client.force_login(front_desk)
    before = client.get(plan.get_absolute_url()).content.decode()

    with time_machine.travel(SERIES[0] + timedelta(hours=2), tick=False):
        client.force_login(front_desk)
        after = client.get(plan.get_absolute_url()).content.decode()

    assert cancel in before and no_show not in before
    assert cancel not in after and no_show in after


def test_complete_is_offered_once_no_session_is_still_booked(
    client, practitioner, plan, sessions
):
    complete = reverse("plans:complete", args=[plan.pk])
    with time_machine.travel(SERIES[0] + timedelta(hours=2), tick=False):
        complete_appointment(
            appointment=sessions[0].appointment,
            by=practitioner.user,
            now=SERIES[0] + timedelta(hours=2),
        )
        client.force_login(practitioner.user)
        page = client.get(plan.get_absolute_url()).content.decode()

    assert complete not in page
    assert "The plan is completed once the 5 sessions still booked are done" in page
    # The rest cancelled: nothing is still booked, and it is offered.
    Appointment.objects.filter(
        treatment_session__plan=plan, status=Appointment.Status.BOOKED
    ).update(status=Appointment.Status.CANCELLED, cancel_reason="Moving away.")
    with time_machine.travel(SERIES[0] + timedelta(hours=3), tick=False):
        client.force_login(practitioner.user)
        offered = client.get(plan.get_absolute_url()).content.decode()
    assert complete in offered


def test_booking_the_one_session_added_speaks_of_it(
    client, front_desk, practitioner, plan, room
):
    book_sessions(plan, SERIES, room)
    plan.planned_sessions = 7
    plan.save()
    client.force_login(front_desk)

    page = client.get(book_url(plan)).content.decode()
    proposal = client.post(
        book_url(plan),
        start_data(practitioner) | {"date": "2027-05-11"},
    ).content.decode()

    assert "Session 7" in page
    assert "First session" not in page
    assert "Propose a date" in page
    assert "Book this session" in proposal
    assert "Book all 1 sessions" not in proposal


def test_extending_a_plan_by_one_session(client, front_desk, plan):
    client.force_login(front_desk)
    url = reverse("plans:extend", args=[plan.pk])
    # Within the protocol no reason is asked for.
    assert 'name="reason"' not in client.get(url).content.decode()
    assert client.post(url, {"reason": "", "seen": "6"}).status_code == 302
    plan.refresh_from_db()
    assert plan.planned_sessions == 7

    plan.planned_sessions = 8
    plan.save()
    refused = client.post(url, {"reason": "", "seen": "8"})
    assert refused.status_code == 200
    assert "at most 8 sessions" in refused.content.decode()
    plan.refresh_from_db()
    assert plan.planned_sessions == 8

    # Beyond the protocol is a clinical decision: the front desk is told to ask.
    page = client.get(url)
    assert "only a practitioner can plan more" in page.content.decode()
    assert page.context["refusal"]
    client.post(url, {"reason": "Slow response on the scars", "seen": "8"})
    plan.refresh_from_db()
    assert plan.planned_sessions == 8

    client.force_login(plan.practitioner.user)
    beyond = client.get(url)
    assert not beyond.context["refusal"]
    assert 'name="reason"' in beyond.content.decode()
    short = client.post(url, {"reason": "x", "seen": "8"})
    assert "Say in a few words why the plan needs more sessions." in (
        short.content.decode()
    )
    client.post(url, {"reason": "Slow response on the scars", "seen": "8"})
    plan.refresh_from_db()
    assert plan.planned_sessions == 9
    assert "Slow response on the scars" in plan.exception_reason


def test_add_a_session_waits_for_the_consent(
    client, front_desk, practitioner, consultation
):
    draft = make_plan(consultation, practitioner, consented=False)
    url = reverse("plans:extend", args=[draft.pk])
    client.force_login(front_desk)

    page = client.get(url)

    assert "The patient&#x27;s consent is not recorded yet" in page.content.decode()
    assert 'name="seen"' not in page.content.decode()
    client.force_login(practitioner.user)
    assert 'name="seen"' in client.get(url).content.decode()


def test_a_second_click_on_add_a_session_adds_nothing_more(client, front_desk, plan):
    client.force_login(front_desk)
    url = reverse("plans:extend", args=[plan.pk])
    page = client.get(url)
    assert page.context["form"]["seen"].value() == 6
    assert 'name="seen" value="6"' in page.content.decode()

    first = client.post(url, {"reason": "", "seen": "6"})
    second = client.post(url, {"reason": "", "seen": "6"}, follow=True)

    assert first.status_code == 302
    assert second.redirect_chain == [(plan.get_absolute_url(), 302)]
    assert "it now has 7 sessions planned, and nothing more was added" in (
        second.content.decode()
    )
    plan.refresh_from_db()
    assert plan.planned_sessions == 7


@pytest.mark.parametrize("seen", ["abc", "", "-1"])
def test_add_a_session_with_a_garbled_page_count_says_so(
    client, front_desk, plan, seen
):
    client.force_login(front_desk)
    url = reverse("plans:extend", args=[plan.pk])

    refused = client.post(url, {"reason": "", "seen": seen})

    assert refused.status_code == 200
    assert "This page was changed on its way here" in refused.content.decode()
    plan.refresh_from_db()
    assert plan.planned_sessions == 6


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("plans:extend", "This plan has ended; no session can be added."),
        ("plans:cancel", "This plan has already ended."),
    ],
)
def test_an_ended_plan_offers_no_form_to_extend_or_cancel_it(
    client, front_desk, plan, name, message
):
    plan.status = TreatmentPlan.Status.CANCELLED
    plan.save()
    client.force_login(front_desk)

    response = client.get(reverse(name, args=[plan.pk]), follow=True)

    assert response.redirect_chain == [(plan.get_absolute_url(), 302)]
    assert message in messages_of(response)


def test_cancelling_the_rest_of_a_plan(client, front_desk, plan, sessions, frozen_now):
    client.force_login(front_desk)
    url = reverse("plans:cancel", args=[plan.pk])
    # It says what it will cancel, and that the patient hears of it.
    asked = client.get(url).content.decode()
    assert "6 sessions to cancel" in asked
    assert asked.count("<li>") == 6
    assert "gets one email cancelling them" in asked
    refused = post_as_page(client, url, {"reason": ""})
    assert refused.status_code == 200
    assert refused.context["form"].errors["reason"] == [
        "Give a reason, in a few words."
    ]

    response = post_as_page(client, url, {"reason": "Patient moved away"}, follow=True)

    assert "Plan cancelled; 6 booked sessions cancelled." in messages_of(response)
    plan.refresh_from_db()
    assert plan.status == TreatmentPlan.Status.CANCELLED
    assert plan.ended_reason == "Patient moved away"
    assert plan.ended_at == frozen_now
    assert not Appointment.objects.filter(
        treatment_session__plan=plan, status="booked"
    ).exists()


def test_a_plan_ended_by_a_colleague_at_the_same_moment_sends_to_its_page(
    client, front_desk, plan, sessions, frozen_now, monkeypatch
):
    """Both desks cancel the plan, or one moves a session while the other
    cancels the rest: the page that lost finds it open when it starts, and
    ended once the service holds the plan's lock."""
    client.force_login(front_desk)
    cancel = reverse("plans:cancel", args=[plan.pk])
    real_cancel_plan = services.cancel_plan

    def colleague_first(**kwargs):
        real_cancel_plan(
            plan=TreatmentPlan.objects.get(pk=plan.pk),
            reason="Moved away.",
            by=front_desk,
            seen=kwargs["seen"],
        )
        return real_cancel_plan(**kwargs)

    monkeypatch.setattr(services, "cancel_plan", colleague_first)
    lost = post_as_page(client, cancel, {"reason": "Patient unwell"})

    assert lost.status_code == 302 and lost["Location"] == plan.get_absolute_url()
    assert messages_of(client.get(lost["Location"])) == ["This plan has already ended."]
    plan.refresh_from_db()
    assert plan.ended_reason == "Moved away."


def test_a_move_as_a_colleague_ends_the_plan_sends_to_its_page(
    client, front_desk, plan, sessions, frozen_now, monkeypatch
):
    client.force_login(front_desk)
    real_move_sessions = services.move_sessions

    def colleague_first(**kwargs):
        services.cancel_plan(
            plan=TreatmentPlan.objects.get(pk=plan.pk),
            reason="Moved away.",
            by=front_desk,
        )
        return real_move_sessions(**kwargs)

    monkeypatch.setattr(services, "move_sessions", colleague_first)
    moved = post_as_page(
        client,
        move_url(sessions[2]),
        move_data("2027-01-26", "following", action="move"),
    )

    assert moved.status_code == 302
    assert moved["Location"] == plan.get_absolute_url()
    assert "This plan has ended." in messages_of(client.get(moved["Location"]))


def test_cancelling_the_rest_from_a_page_listing_other_sessions_cancels_nothing(
    client, front_desk, plan, sessions, frozen_now
):
    """Two tabs: the cancel page listed six sessions; meanwhile a colleague moved
    one. What the desk confirmed is not what would be cancelled."""
    client.force_login(front_desk)
    url = reverse("plans:cancel", args=[plan.pk])
    listed = hidden_value(client.get(url), "seen")
    moved = client.post(
        move_url(sessions[5]),
        {
            **move_data(SERIES[5].date().isoformat(), time="14:00", action="move"),
            "seen": hidden_value(client.get(move_url(sessions[5])), "seen"),
        },
    )
    assert moved.status_code == 302

    response = client.post(url, {"reason": "Patient moved away", "seen": listed})

    assert response.status_code == 200
    assert any("while your page was open" in m for m in messages_of(response))
    # The list as it is now, and the reason typed, to send again once read.
    assert "14:00" in response.content.decode()
    assert response.context["form"]["reason"].value() == "Patient moved away"
    plan.refresh_from_db()
    assert plan.is_open
    assert (
        Appointment.objects.filter(
            treatment_session__plan=plan, status="booked"
        ).count()
        == 6
    )
    again = client.post(
        url, {"reason": "Patient moved away", **response.context["form"].data}
    )
    assert again.status_code == 302
    plan.refresh_from_db()
    assert plan.status == TreatmentPlan.Status.CANCELLED


def test_a_practitioner_discards_a_plan_nothing_is_booked_for(
    client, practitioner, plan
):
    """Started by mistake: the consultation can start the right one after."""
    client.force_login(practitioner.user)
    url = reverse("plans:cancel", args=[plan.pk])
    assert "Discard this plan" in client.get(plan.get_absolute_url()).content.decode()
    assert '<h1 class="h3 mb-1">Discard this plan</h1>' in (
        client.get(url).content.decode()
    )

    response = post_as_page(
        client, url, {"reason": "Wrong protocol picked"}, follow=True
    )

    assert messages_of(response) == ["Plan discarded: it had no session booked."]
    plan.refresh_from_db()
    assert plan.status == TreatmentPlan.Status.CANCELLED


def test_a_practitioner_leaves_a_plan_with_bookings_to_the_front_desk(
    client, practitioner, plan, sessions
):
    client.force_login(practitioner.user)
    url = reverse("plans:cancel", args=[plan.pk])

    assert (
        "Discard this plan" not in client.get(plan.get_absolute_url()).content.decode()
    )
    # From a page opened before the sessions were booked: told on the plan's
    # page, where they are.
    for response in (
        client.get(url, follow=True),
        client.post(url, {"reason": "Changed my mind"}, follow=True),
    ):
        assert response.redirect_chain == [(plan.get_absolute_url(), 302)]
        assert messages_of(response) == [
            "Sessions of this plan are booked: the front desk cancels the rest."
        ]
    plan.refresh_from_db()
    assert plan.status == TreatmentPlan.Status.ACTIVE


def test_a_sessions_cancel_from_its_appointment_page_is_the_plans_with_a_replacement(
    client, front_desk, sessions
):
    appointment = sessions[1].appointment
    client.force_login(front_desk)
    plans_cancel = reverse("plans:session_cancel", args=[sessions[1].pk])

    page = client.get(appointment.get_absolute_url()).content.decode()
    opened = client.get(reverse("clinic:appointment_cancel", args=[appointment.pk]))

    assert f'href="{plans_cancel}"' in page
    assert reverse("clinic:appointment_cancel", args=[appointment.pk]) not in page
    assert opened["Location"] == plans_cancel
    offered = client.get(plans_cancel).content.decode()
    assert "Book a replacement session at the end of the course" in offered


def test_a_discarded_plans_consultation_offers_a_new_plan_on_the_patient_page(
    client, practitioner, patient, consultation
):
    draft = make_plan(consultation, practitioner, consented=False)
    client.force_login(practitioner.user)
    before = client.get(patient.get_absolute_url()).content.decode()
    assert "no plan yet" not in before

    post_as_page(
        client,
        reverse("plans:cancel", args=[draft.pk]),
        {"reason": "Started by mistake"},
    )

    page = client.get(patient.get_absolute_url()).content.decode()
    assert "no plan yet" in page
    assert reverse("plans:create", args=[consultation.pk]) in page


def test_a_practitioner_leaves_a_plan_whose_sessions_were_all_cancelled_to_the_desk(
    client, practitioner, plan, sessions
):
    """Booked once, then cancelled: a course the front desk ends, not a plan
    started by mistake."""
    Appointment.objects.filter(treatment_session__plan=plan).update(
        status=Appointment.Status.CANCELLED,
        cancel_reason="Patient's request",
        cancelled_at=timezone.now(),
    )
    client.force_login(practitioner.user)

    page = client.get(plan.get_absolute_url()).content.decode()
    response = client.post(
        reverse("plans:cancel", args=[plan.pk]), {"reason": "No"}, follow=True
    )

    assert "Discard this plan" not in page
    assert messages_of(response) == [
        "Sessions of this plan were booked: the front desk cancels the rest."
    ]
    plan.refresh_from_db()
    assert plan.is_open


def test_the_front_desk_leaves_a_plan_never_booked_to_the_practitioner(
    client, front_desk, plan
):
    client.force_login(front_desk)
    url = reverse("plans:cancel", args=[plan.pk])

    page = client.get(plan.get_absolute_url()).content.decode()
    response = client.post(url, {"reason": "Not wanted"}, follow=True)

    assert url not in page
    assert response.redirect_chain == [(plan.get_absolute_url(), 302)]
    assert "the practitioner discards it" in messages_of(response)[0]
    plan.refresh_from_db()
    assert plan.is_open


def test_completing_a_plan_needs_every_session_done(
    client, practitioner, plan, sessions
):
    url = reverse("plans:complete", args=[plan.pk])
    client.force_login(practitioner.user)
    assert client.get(url).status_code == 405

    refused = client.post(url, follow=True)
    assert "Sessions are still booked" in messages_of(refused)[0]
    plan.refresh_from_db()
    assert plan.status == TreatmentPlan.Status.ACTIVE

    Appointment.objects.filter(treatment_session__plan=plan).update(
        status=Appointment.Status.COMPLETED
    )
    response = client.post(url, follow=True)
    assert "Plan completed." in messages_of(response)
    plan.refresh_from_db()
    assert plan.status == TreatmentPlan.Status.COMPLETED


# Plan page ---------------------------------------------------------------------------


def test_the_plan_page_shows_progress_and_spacing_flags(client, front_desk, plan, room):
    done = Appointment.Status.COMPLETED
    book_sessions(
        plan,
        [
            at(date(2026, 8, 25), 10),
            at(date(2026, 9, 15), 10),  # 21 days: too close
            at(date(2026, 10, 27), 10),  # 42 days: too far
        ],
        room,
        status=done,
    )
    book_sessions(plan, [at(TUESDAY, 10)], room)  # 28 days: fine
    client.force_login(front_desk)
    response = client.get(plan.get_absolute_url())
    body = response.content.decode()
    assert "3 of 6 done" in body and "next: session 4" in body
    assert [r.get("spacing_days") for r in response.context["rows"]] == [
        None,
        21,
        42,
        28,
    ]
    assert [r.get("spacing_flag") for r in response.context["rows"]] == [
        None,
        "short",
        "long",
        "",
    ]
    assert "below 28" in body
    assert "over 35" in body
    assert response.context["rows"][3]["phase"] == "next"
    assert response.context["next_due"] == TUESDAY
    assert "2 sessions of 6 still to book.</span>" in body
    # The practitioner, who doesn't book, is told who does.
    client.force_login(plan.practitioner.user)
    assert "2 sessions of 6 still to book. The front desk books them." in (
        client.get(plan.get_absolute_url()).content.decode()
    )


def _cancelled(plan: TreatmentPlan, start: datetime, room) -> TreatmentSession:
    [session] = book_sessions(
        plan, [start], room, status="cancelled", cancel_reason="Unwell"
    )
    return session


def test_the_plan_page_uses_a_fixed_number_of_queries(
    client, front_desk, plan, room, django_assert_max_num_queries
):
    book_sessions(plan, SERIES[:2], room)
    client.force_login(front_desk)
    with django_assert_max_num_queries(QUERIES_PLAN):
        small = client.get(plan.get_absolute_url())
    assert len(small.context["rows"]) == 2

    lost = _cancelled(plan, at(date(2027, 1, 5), 10), room)
    _cancelled(plan, at(date(2027, 1, 6), 10), room)
    book_sessions(plan, SERIES[2:], room)
    replacement = book_sessions(plan, [at(date(2027, 5, 11), 10)], room)[0]
    replacement.replaces = lost
    replacement.save()
    with django_assert_max_num_queries(QUERIES_PLAN):
        large = client.get(plan.get_absolute_url())
    assert len(large.context["rows"]) == 9
    assert "another booked in its place" in large.content.decode()


# Work lists ------------------------------------------------------------------------


def _work(practitioner, room, n: int) -> dict:
    """One of each kind of work, for patients of day ``n``."""
    day = date(2026, 10, 1) + timedelta(days=n)

    def eligible(hour: int, **kwargs) -> Consultation:
        return make_consultation(
            PatientFactory(), practitioner, room, when=at(day, hour), **kwargs
        )

    def series(plan: TreatmentPlan, hour: int) -> list[TreatmentSession]:
        first = at(TUESDAY + timedelta(days=n), hour)
        return book_sessions(plan, [first + SPACING * k for k in range(6)], room)

    def cancel(session: TreatmentSession) -> None:
        session.appointment.status = Appointment.Status.CANCELLED
        session.appointment.cancel_reason = "Unwell"
        session.appointment.save()

    waiting = eligible(9)
    eligible(10, decision="refer")
    unbooked = make_plan(eligible(11), practitioner)
    at_risk = make_plan(eligible(12), practitioner)
    cancel(series(at_risk, 9)[4])
    # A cancelled session that was replaced puts nothing at risk.
    fine = make_plan(eligible(13), practitioner)
    lost = series(fine, 11)[0]
    cancel(lost)
    [replacement] = book_sessions(fine, [at(date(2027, 6, 1) + timedelta(n), 11)], room)
    replacement.replaces = lost
    replacement.save()
    # The last session was weeks ago and nothing is booked since.
    overdue = make_plan(eligible(14), practitioner)
    book_sessions(overdue, [at(day - timedelta(days=21), 15)], room, status="completed")
    # The practitioner later changed the decision behind a booked plan.
    reconsidered = make_plan(eligible(15), practitioner)
    series(reconsidered, 13)
    Consultation.objects.filter(pk=reconsidered.consultation_id).update(
        decision="not_eligible", decision_reason="Started isotretinoin."
    )
    return {
        "waiting": waiting,
        "unbooked": unbooked,
        "at_risk": at_risk,
        "overdue": overdue,
        "reconsidered": reconsidered,
    }


def test_the_work_lists(client, front_desk, practitioner, room):
    work = _work(practitioner, room, 0)
    client.force_login(front_desk)
    response = client.get(reverse("plans:work"))
    assert list(response.context["waiting"]) == [work["waiting"]]
    assert work["unbooked"] in response.context["unbooked"]
    assert work["at_risk"] in response.context["unbooked"]
    at_risk = dict(response.context["at_risk"])
    assert set(at_risk) == {work["at_risk"], work["overdue"], work["reconsidered"]}
    assert at_risk[work["reconsidered"]] == [
        "The consultation behind this plan no longer says eligible: ask the "
        "practitioner before the next session."
    ]
    lost = Appointment.objects.get(
        treatment_session__plan=work["at_risk"], status=Appointment.Status.CANCELLED
    )
    lost_day = day_text(timezone.localdate(lost.start))
    assert at_risk[work["at_risk"]] == [
        f"The session of {lost_day} was cancelled and has no replacement."
    ]
    assert at_risk[work["overdue"]] == [
        "The next session was due by Thu 15 Oct 2026 and is not booked."
    ]
    body = response.content.decode()
    assert work["waiting"].patient.get_absolute_url() in body
    # Who acts on it, for a desk that can't.
    assert "The practitioner starts each plan" in body
    assert reverse("plans:book", args=[work["unbooked"].pk]) in body
    # Stacked on a tablet, the list the desk can't act on comes last; not so
    # for the practitioner, who starts the plans.
    last = 'class="col-xl-4 order-last order-xl-0"'
    assert body.index(last) < body.index("Eligible, no plan yet")
    client.force_login(practitioner.user)
    assert last not in client.get(reverse("plans:work")).content.decode()
    client.force_login(front_desk)
    # Missed rather than cancelled: said so.
    Appointment.objects.filter(pk=lost.pk).update(status=Appointment.Status.NO_SHOW)
    again = dict(client.get(reverse("plans:work")).context["at_risk"])
    assert again[work["at_risk"]] == [
        f"The session of {lost_day} was missed and has no replacement."
    ]


def test_a_consultation_begun_since_leaves_the_patient_waiting_for_a_plan(
    client, front_desk, practitioner, room
):
    waiting = make_consultation(
        PatientFactory(), practitioner, room, when=at(date(2026, 10, 1), 9)
    )
    # Another consultation since, with nothing asked yet: the first one stands.
    later = make_consultation(
        waiting.patient, practitioner, room, when=at(date(2026, 10, 8), 9)
    )
    Consultation.objects.filter(pk=later.pk).update(
        decision="pending",
        decided_by=None,
        decided_at=None,
        **dict.fromkeys(CONTRAINDICATIONS, None),
    )
    client.force_login(front_desk)
    assert list(client.get(reverse("plans:work")).context["waiting"]) == [waiting]

    # A yes found there: the plan waits for its decision.
    Consultation.objects.filter(pk=later.pk).update(
        pregnant=True, screening_note="Due in May."
    )
    assert list(client.get(reverse("plans:work")).context["waiting"]) == []


def test_the_work_lists_name_consultations_checked_in_without_a_decision(
    client, front_desk, practitioner, room, frozen_now
):
    from clinic.tests.factories import AppointmentFactory

    waiting = AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=frozen_now - timedelta(days=2),
        kind=Appointment.Kind.CONSULTATION,
        status=Appointment.Status.CHECKED_IN,
        patient__last_name="Waiting",
    )
    AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=frozen_now + timedelta(hours=2),
        kind=Appointment.Kind.CONSULTATION,
        status=Appointment.Status.CHECKED_IN,
        patient__last_name="Early",
    )
    decide = reverse("clinic:consultation_record", args=[waiting.pk])

    client.force_login(practitioner.user)
    page = client.get(reverse("plans:work")).content.decode()
    assert "Waiting" in page and "Early" not in page
    assert decide in page
    client.force_login(front_desk)
    page = client.get(reverse("plans:work")).content.decode()
    assert "Waiting" in page and decide not in page


def test_the_work_lists_use_a_fixed_number_of_queries(
    client, front_desk, practitioner, room, django_assert_max_num_queries
):
    client.force_login(front_desk)
    _work(practitioner, room, 0)
    with django_assert_max_num_queries(QUERIES_WORK):
        small = client.get(reverse("plans:work"))
    assert len(small.context["at_risk"]) == 3

    for n in range(1, 5):
        _work(practitioner, room, n)
    with django_assert_max_num_queries(QUERIES_WORK):
        large = client.get(reverse("plans:work"))
    assert len(large.context["waiting"]) == 5
    assert len(large.context["at_risk"]) == 15


def test_the_booking_proposal_uses_a_fixed_number_of_queries(
    client,
    front_desk,
    practitioner,
    patient,
    room,
    other_room,
    consultation,
    django_assert_max_num_queries,
):
    RoomFactory(name="Room 3")
    client.force_login(front_desk)
    short = make_plan(consultation, practitioner, planned=5)
    with django_assert_max_num_queries(QUERIES_PROPOSE):
        small = client.post(book_url(short), start_data(practitioner))
    assert len(small.context["proposals"]) == 5

    # A busier calendar and a longer course.
    for day in range(60):
        for hour in (12, 14, 16):
            AppointmentFactory(
                practitioner=practitioner,
                room=other_room,
                start=at(TUESDAY + timedelta(days=day), hour),
            )
    # A second course for the patient, from a consultation of its own.
    long = make_plan(
        make_consultation(patient, practitioner, room, when=at(date(2026, 11, 17), 10)),
        practitioner,
        planned=10,
        protocol="Surgical scars and stretch marks",
    )
    with django_assert_max_num_queries(QUERIES_PROPOSE):
        large = client.post(book_url(long), start_data(practitioner))
    assert len(large.context["proposals"]) == 10
    assert all(p.is_bookable for p in large.context["proposals"])


def test_two_sessions_on_one_day_show_no_spacing_and_the_warning(
    client, front_desk, plan, room
):
    first, second = SERIES[0], SERIES[0] + timedelta(hours=4)
    book_sessions(plan, [first, second], room)
    client.force_login(front_desk)

    page = client.get(plan.get_absolute_url()).content.decode()

    assert "0 days" in page
    assert f"below {plan.protocol.min_spacing_days}</span>" in page


def test_the_admin_shows_a_plans_reasons_but_never_rewrites_them(client, manager, plan):
    manager.is_staff = True
    manager.save()
    client.force_login(manager)
    url = reverse("admin:plans_treatmentplan_change", args=[plan.pk])

    page = client.get(url)
    client.post(url, {"exception_reason": "x" * 50_000, "ended_reason": "Ended."})

    assert page.status_code == 200
    assert 'name="exception_reason"' not in page.content.decode()
    assert 'name="ended_reason"' not in page.content.decode()
    plan.refresh_from_db()
    assert (plan.exception_reason, plan.ended_reason) == ("", "")


def test_a_session_booked_after_a_cancellation_replaces_it_in_the_work_lists(
    front_desk, practitioner, plan, sessions
):
    from plans.services.worklists import series_at_risk

    services.cancel_session(
        session=sessions[4], reason="Patient unwell.", by=front_desk
    )
    assert "no replacement" in " ".join(
        dict(series_at_risk(timezone.now())).get(plan, [])
    )
    request = services.SeriesRequest(
        first_start=at(SERIES[-1].date() + timedelta(days=28), 10),
        practitioner=practitioner,
        room=None,
        chosen={},
    )
    [booked] = services.book_series(
        plan=plan,
        proposals=services.propose_for_plan(plan=plan, request=request),
        practitioner=practitioner,
        by=front_desk,
    )
    # Two more sessions, still to book: the list of plans to book says so.
    for _ in range(2):
        services.extend_plan(plan=plan, by=practitioner.user)

    assert booked.replaces == sessions[4]
    assert plan not in dict(series_at_risk(timezone.now()))


def test_booking_the_one_session_left_says_so_in_the_singular(
    client, front_desk, practitioner, consultation
):
    one = make_plan(consultation, practitioner, planned=5)
    book_sessions(one, SERIES[:4], RoomFactory(name="Room 9"))
    client.force_login(front_desk)
    first = (SERIES[3] + timedelta(days=28)).date().isoformat()
    proposal = client.post(book_url(one), start_data(practitioner, date=first))

    client.post(
        book_url(one),
        {**start_data(practitioner, date=first), **rows_data(proposal)}
        | {"action": "confirm"},
    )

    assert "1 session booked for Ada Lovelace." in messages_of(
        client.get(one.get_absolute_url())
    )


def test_an_ended_plan_shows_what_was_done_not_a_current_session(
    client, front_desk, plan, sessions
):
    services.cancel_plan(plan=plan, reason="Patient moved away.", by=front_desk)
    client.force_login(front_desk)

    page = client.get(plan.get_absolute_url()).content.decode()

    assert "0 of 6 done" in page
    assert "next: session" not in page


def test_a_series_starts_within_a_year_and_a_move_within_three(
    client, front_desk, practitioner, plan, sessions
):
    client.force_login(front_desk)
    far = (TUESDAY + timedelta(days=4 * 366)).isoformat()
    other = make_plan(
        make_consultation(
            PatientFactory(),
            practitioner,
            RoomFactory(name="Room 8"),
            when=at(TUESDAY, 7),
        ),
        practitioner,
    )

    series = client.post(book_url(other), start_data(practitioner, date=far))
    move = client.post(move_url(sessions[2]), move_data(far))

    assert series.context["start_form"].errors["date"] == [
        "Start the series within a year."
    ]
    assert move.context["form"].errors["date"] == ["Book at most three years ahead."]
    assert starts_of(plan) == SERIES


def test_a_course_booked_over_a_year_ahead_books_its_next_session_after_it(
    client, front_desk, practitioner, plan, room
):
    from plans.tests.record_factories import add_session

    last = TUESDAY + timedelta(weeks=57)
    add_session(plan, at(last, 10), room)
    client.force_login(front_desk)

    next_one = client.post(
        book_url(plan),
        start_data(practitioner, date=(last + SPACING).isoformat()),
    )
    too_far = client.post(
        book_url(plan),
        start_data(practitioner, date=(last + timedelta(days=400)).isoformat()),
    )

    assert next_one.context["start_form"].is_valid()
    assert next_one.context["rows"]
    assert too_far.context["start_form"].errors["date"] == [
        f"Book the next session within a year of the one before it, on "
        f"{last:%a} {last.day} {last:%b %Y}."
    ]


def test_a_first_session_too_soon_to_stop_a_skin_medication_is_pointed_out(
    client, front_desk, practitioner, plan
):
    """NOW is Mon 23 Nov, 08:00: Tuesday is a day away, a week on is enough."""
    Consultation.objects.filter(pk=plan.consultation_id).update(
        topical_medication="Tretinoin 0.05% cream"
    )
    client.force_login(front_desk)
    warning = "stop a skin medication 3 to 5 days before each session"

    tomorrow = client.post(book_url(plan), start_data(practitioner)).content.decode()
    next_week = client.post(
        book_url(plan), start_data(practitioner, date="2026-12-01")
    ).content.decode()

    assert warning in tomorrow
    assert "Tretinoin" not in tomorrow  # The practitioners' to see.
    assert warning not in next_week


def test_the_warning_follows_the_medication_of_the_latest_consultation(
    client, front_desk, practitioner, patient, room, plan
):
    """The plan's consultation named none; one since names a medication (the
    pre-care email asks to stop it): booking a first session tomorrow is
    pointed out. Had the later one said none, it would not be."""
    later = make_consultation(
        patient, practitioner, room, when=at(date(2026, 11, 20), 9)
    )
    Consultation.objects.filter(pk=later.pk).update(
        topical_medication="Tretinoin 0.05% cream"
    )
    client.force_login(front_desk)
    warning = "stop a skin medication 3 to 5 days before each session"

    assert (
        warning
        in client.post(book_url(plan), start_data(practitioner)).content.decode()
    )

    Consultation.objects.filter(pk=later.pk).update(topical_medication="")
    Consultation.objects.filter(pk=plan.consultation_id).update(
        topical_medication="Tretinoin 0.05% cream"
    )
    assert (
        warning
        not in client.post(book_url(plan), start_data(practitioner)).content.decode()
    )


def test_the_plan_page_tells_the_practitioner_of_a_medication_changed_since(
    client, front_desk, practitioner, patient, room, plan, sessions
):
    Consultation.objects.filter(pk=plan.consultation_id).update(
        topical_medication="Tretinoin 0.025% cream"
    )
    later = make_consultation(
        patient, practitioner, room, when=at(date(2026, 11, 20), 9)
    )
    Consultation.objects.filter(pk=later.pk).update(topical_medication="Adapalene gel")
    client.force_login(practitioner.user)

    page = client.get(plan.get_absolute_url()).content.decode()

    assert "topical medication Tretinoin 0.025% cream" in page
    # The consultation a click away.
    assert (
        f'<a class="alert-link" href="{plan.consultation.get_absolute_url()}">'
        "consultation of"
    ) in page
    assert (
        "<strong>Since the consultation of 20 Nov 2026, 09:00:</strong> topical "
        "medication "
        "Adapalene gel, stopped 3-5 days before each session (what the next "
        "session's pre-care email says)." in page
    )
    Consultation.objects.filter(pk=later.pk).update(topical_medication="")
    page = client.get(plan.get_absolute_url()).content.decode()
    assert "20 Nov 2026, 09:00:</strong> no topical medication" in page
    # The front desk's page shows no clinical detail.
    client.force_login(front_desk)
    assert "Adapalene" not in client.get(plan.get_absolute_url()).content.decode()


def test_the_plan_page_names_a_medication_a_later_consultation_added(
    client, front_desk, practitioner, patient, room, plan, sessions
):
    """The plan's consultation found nothing and named no medication."""
    later = make_consultation(
        patient, practitioner, room, when=at(date(2026, 11, 20), 9)
    )
    Consultation.objects.filter(pk=later.pk).update(topical_medication="Adapalene gel")
    client.force_login(practitioner.user)

    page = client.get(plan.get_absolute_url()).content.decode()

    assert "no yes in the screening, no topical medication." in page
    assert (
        "<strong>Since the consultation of 20 Nov 2026, 09:00:</strong> topical "
        "medication Adapalene gel" in page
    )


def test_a_session_moved_too_soon_to_stop_a_skin_medication_is_pointed_out(
    client, front_desk, plan, sessions
):
    Consultation.objects.filter(pk=plan.consultation_id).update(
        topical_medication="Tretinoin 0.05% cream"
    )
    client.force_login(front_desk)
    warning = "stop a skin medication 3 to 5 days before each session"

    soon = post_as_page(client, move_url(sessions[0]), move_data("2026-11-25"))
    later = post_as_page(client, move_url(sessions[0]), move_data("2026-12-01"))

    assert warning in soon.content.decode()
    assert "Tretinoin" not in soon.content.decode()
    assert warning not in later.content.decode()


def test_sessions_moved_along_stay_within_three_years(client, manager, plan, sessions):
    client.force_login(manager)
    # Session 3 just inside the horizon: sessions 4 to 6 would follow beyond it.
    edge = (NOW + timedelta(days=3 * 366 - 10)).date().isoformat()

    response = post_as_page(
        client,
        move_url(sessions[2]),
        move_data(edge, "following", action="move", confirmed="on"),
    )

    assert response.status_code == 200
    assert "Book at most three years ahead." in response.content.decode()
    assert starts_of(plan) == SERIES


def test_the_reasons_for_going_outside_the_protocol_are_the_practitioners(
    client, front_desk, practitioner, plan
):
    """The front desk learns the plan is outside the protocol, not why."""
    TreatmentPlan.objects.filter(pk=plan.pk).update(
        exception_reason="Deep scarring after a burn in 2019."
    )

    client.force_login(front_desk)
    desk = client.get(plan.get_absolute_url()).content.decode()
    client.force_login(practitioner.user)
    theirs = client.get(plan.get_absolute_url()).content.decode()

    assert "Outside the protocol, for reasons recorded on the plan" in desk
    assert "burn" not in desk
    assert "Outside the protocol: Deep scarring after a burn in 2019." in theirs


def test_a_manager_is_not_offered_to_record_consent(client, manager, consultation):
    plan = make_plan(consultation, consultation.appointment.practitioner)
    TreatmentPlan.objects.filter(pk=plan.pk).update(consent_by=None, consented_at=None)
    client.force_login(manager)

    page = client.get(plan.get_absolute_url()).content.decode()
    refused = client.post(reverse("plans:consent", args=[plan.pk]), follow=True)

    assert "Record consent" not in page
    assert "A practitioner records the patient" in refused.content.decode()
    plan.refresh_from_db()
    assert not plan.has_consent


def test_a_plan_with_nothing_booked_says_it_has_not_started(
    client, front_desk, plan, room
):
    client.force_login(front_desk)

    empty = client.get(plan.get_absolute_url()).content.decode()
    book_sessions(plan, SERIES[:1], room)
    started = client.get(plan.get_absolute_url()).content.decode()

    assert "Not started: nothing booked" in empty
    assert "next: session 1" not in empty
    # Booked, none done yet: not read as one done.
    assert "0 of 6 done" in started and "next: session 1" in started


def test_a_later_eligible_consultation_with_a_course_under_way_offers_other_areas(
    client, practitioner, plan
):
    from plans.tests.factories import ConsultationFactory

    later = ConsultationFactory(
        patient=plan.patient,
        appointment__start=plan.consultation.appointment.start + timedelta(days=3),
    )
    client.force_login(practitioner.user)

    page = client.get(plan.patient.get_absolute_url()).content.decode()

    assert "with a course under way (face" in page
    assert "a plan from it is for other areas only" in page
    assert "Start a treatment plan" not in page
    assert reverse("plans:create", args=[later.pk]) in page


def test_a_replacement_cancelled_in_turn_is_not_said_to_stand_in(
    client, front_desk, manager, plan, sessions
):
    from plans.services import cancel_session

    replacement = cancel_session(
        session=sessions[1], reason="Unwell.", by=front_desk, replace=True
    )
    client.force_login(front_desk)
    assert "another booked in its place" in (
        client.get(plan.get_absolute_url()).content.decode()
    )
    cancel_session(session=replacement, reason="Away.", by=front_desk)

    page = client.get(plan.get_absolute_url()).content.decode()
    assert "another booked in its place" not in page
    assert "in place of" in page
    # A manager reads records: the button says so.
    client.force_login(manager)
    page = client.get(plan.get_absolute_url()).content.decode()
    assert ">Open the record<" in page and ">Record<" not in page


def test_a_plan_on_hold_with_nothing_booked_is_shown_as_on_hold_not_to_book(
    client, front_desk, plan, consultation
):
    Consultation.objects.filter(pk=consultation.pk).update(
        decision=Consultation.Decision.REFER, decision_reason="Mole to check."
    )
    client.force_login(front_desk)

    page = client.get(reverse("plans:work")).content.decode()

    assert "on hold: its consultation now says refer elsewhere" in page
    assert reverse("plans:book", args=[plan.pk]) not in page
    assert "the plan waits for the practitioner; nothing is booked." in page
    assert "before the next session" not in page


def test_a_plan_held_by_a_later_refusal_is_shown_as_on_hold_not_to_book(
    client, front_desk, plan
):
    from plans.tests.factories import ConsultationFactory

    ConsultationFactory(
        patient=plan.patient,
        appointment__start=plan.consultation.appointment.start + timedelta(days=1),
        decision=Consultation.Decision.NOT_ELIGIBLE,
        decision_reason="Pregnant.",
    )
    client.force_login(front_desk)

    page = client.get(reverse("plans:work")).content.decode()

    assert "on hold: a later consultation says not eligible or refer" in page
    assert reverse("plans:book", args=[plan.pk]) not in page


def test_a_later_refusal_puts_the_plan_at_risk_until_an_eligible_one_follows(
    practitioner, plan, sessions
):
    from plans.services.worklists import series_at_risk
    from plans.tests.factories import ConsultationFactory

    after = plan.consultation.appointment.start
    refused = ConsultationFactory(
        patient=plan.patient,
        appointment__start=after + timedelta(days=1),
        decision=Consultation.Decision.REFER,
        decision_reason="Mole to check first.",
    )
    assert dict(series_at_risk(timezone.now()))[plan] == [
        "A later consultation says not eligible or refer: ask the practitioner "
        "before the next session."
    ]

    # Eligible again, after the check.
    ConsultationFactory(patient=plan.patient, appointment__start=after + timedelta(2))

    assert refused.decision == "refer"
    assert plan not in dict(series_at_risk(timezone.now()))


def test_the_front_desk_is_told_of_a_later_refusal_only(
    client, front_desk, practitioner, plan
):
    from plans.tests.factories import ConsultationFactory

    ConsultationFactory(
        patient=plan.patient,
        appointment__start=plan.consultation.appointment.start + timedelta(days=1),
        pregnant=True,
        screening_note="Pregnant.",
        decision_reason="Shallow needling, GP agrees.",
    )
    client.force_login(front_desk)
    assert "A later consultation" not in (
        client.get(plan.get_absolute_url()).content.decode()
    )
    client.force_login(practitioner.user)
    assert "says eligible</strong>, with a yes in its screening." in (
        client.get(plan.get_absolute_url()).content.decode()
    )


def test_a_later_consultation_not_decided_yet_with_a_yes_holds_the_plan_back(
    practitioner, patient
):
    from plans.services.worklists import eligible_without_plan
    from plans.tests.factories import ConsultationFactory

    earlier = ConsultationFactory(patient=patient)
    ConsultationFactory(
        patient=patient,
        decision=Consultation.Decision.PENDING,
        decided_by=None,
        decided_at=None,
        pregnant=True,
        screening_note="Pregnant, 12 weeks.",
    )

    assert services.why_no_plan(earlier).startswith(
        "A later consultation, on "
    ) and "has a yes in its screening and is not decided yet" in (
        services.why_no_plan(earlier)
    )
    assert earlier not in eligible_without_plan()


def test_a_session_left_checked_in_on_a_past_day_is_at_risk(front_desk, plan, sessions):
    from plans.services.worklists import series_at_risk

    first = sessions[0].appointment
    with time_machine.travel(first.start - timedelta(minutes=5), tick=False):
        services_clinic.check_in_appointment(
            appointment=first, by=front_desk, now=first.start - timedelta(minutes=5)
        )
    same_day = first.end + timedelta(hours=1)
    next_day = first.start + timedelta(days=1)

    assert plan not in dict(series_at_risk(same_day))
    assert dict(series_at_risk(next_day))[plan] == [
        "A session of a day that is over is still checked in: the practitioner "
        "records it, or it is taken back and marked a no-show."
    ]
