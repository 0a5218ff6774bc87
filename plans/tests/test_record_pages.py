from datetime import date, datetime, time, timedelta
from decimal import Decimal
from io import BytesIO, StringIO
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from clinic.models import Appointment, ClinicalAccess, Consultation, Practitioner
from clinic.services import check_in_appointment, consultation_in_force
from clinic.tests.factories import AppointmentFactory, PatientFactory
from clinic.tests.pages import hidden_value, post_as_page
from plans import photos as photos_service
from plans import records
from plans.models import (
    Amendment,
    Photo,
    PhotoRemoval,
    Product,
    SessionRecord,
    TreatmentPlan,
)
from plans.services import PlanError, cancel_plan
from plans.tests.factories import ConsultationFactory
from plans.tests.record_factories import (
    add_session,
    draft,
    entries,
    image_bytes,
    make_plan,
    photo,
    product,
    signed,
    upload,
)

pytestmark = pytest.mark.django_db

# A Tuesday afternoon in the clinic's zone (London): the 10:00 session is over.
NOW = datetime(2026, 11, 24, 15, 0)
TODAY = NOW.date()


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


# Earlier sessions of the course, four weeks apart, and the next one.
FIRST, SECOND, NEXT = date(2026, 9, 29), date(2026, 10, 27), date(2026, 12, 22)

# Measured query counts of the main pages; more data must not raise them.
QUERIES_RECORD = 21
SIGNED = (
    "Session completed and signed. Later changes are amendments, each with its "
    "reason; photos can still be added, and one removed with a reason."
)
QUERIES_RECORD_FORM = 20  # with the consultation whose medication holds
QUERIES_MY_DAY = (
    14  # with the one insert of its access-log lines, and the consultations in force
)
QUERIES_COMPARE = 10


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(timezone.make_aware(NOW), tick=False):
        yield timezone.make_aware(NOW)


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path) -> Path:
    settings.CLINIC_PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return settings.CLINIC_PRIVATE_MEDIA_ROOT


@pytest.fixture
def plan(practitioner, patient):
    return make_plan(
        practitioner,
        patient=patient,
        consultation__topical_medication="Tretinoin 0.025% cream",
        consultation__keloid_tendency=True,
        consultation__screening_note="Small raised scar on the chin, 2019.",
        consultation__decision_reason="One small scar: avoid the chin.",
    )


@pytest.fixture
def course(plan, practitioner, room):
    """Sessions 1 and 2 signed; session 3 is today at 10:00; session 4 is next."""
    first = add_session(plan, at(FIRST), room)
    second = add_session(plan, at(SECOND), room)
    signed(first, practitioner.user, areas={"face": ("0.75", 2)})
    signed(
        second,
        practitioner.user,
        areas={"face": ("1.00", 2), "neck": ("0.50", 2)},
        device="Dermapen 4",
        numbing_agent=product("Lidocaine 4% cream"),
        numbing_minutes=30,
        redness="moderate",
    )
    today = add_session(plan, at(TODAY), room)
    later = add_session(plan, at(NEXT), room)
    return [first, second, today, later]


@pytest.fixture
def today(course):
    return course[2]


@pytest.fixture
def signed_today(today, practitioner):
    """Today's session signed, with a "before" photo taken before signing."""
    photo(today, practitioner.user)
    signed(today, practitioner.user, areas={"face": ("1.25", 3)})
    return today


def sign_in(client, request, who: str) -> None:
    if who != "anonymous":
        persona = request.getfixturevalue(who)
        client.force_login(getattr(persona, "user", persona))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def photo_refusal(response) -> list[str]:
    """Why a photo was not added, as the record page says it beside its form."""
    assert 'id="add-photo"' in response.content.decode()
    assert "The photo was not added." in response.content.decode()
    return response.context["photo_refused"]


def record_url(session) -> str:
    return reverse("plans:record", args=[session.pk])


def amend_url(session) -> str:
    return reverse("plans:record_amend", args=[session.pk])


def upload_url(session) -> str:
    return reverse("plans:photo_upload", args=[session.pk])


def file_url(photo: Photo, size: str = "full") -> str:
    return reverse("plans:photo_file", args=[photo.pk, size])


def compare_url(plan) -> str:
    return reverse("plans:compare", args=[plan.pk])


def record_data(
    action: str = "save",
    areas: tuple = (("face", "1.00", "2"),),
    **fields,
) -> dict:
    """What the record (or amend) form posts; fields=None leaves a field out."""
    data = {
        "started_at": "2026-11-24T10:00",
        "ended_at": "2026-11-24T10:55",
        "device": "Dermapen 4",
        "cartridge_lot": "LOT-2611",
        "numbing_agent": product("Lidocaine 4% cream").pk,
        "numbing_other": "",
        "numbing_minutes": "30",
        "products_after": [product("Hyaluronic acid serum").pk],
        "redness": "mild",
        "adverse_events": "",
        "notes": "",
        "action": action,
        "areas-TOTAL_FORMS": str(len(areas)),
        "areas-INITIAL_FORMS": "0",
        "areas-MIN_NUM_FORMS": "0",
        "areas-MAX_NUM_FORMS": "5",
    }
    for n, (area, depth, passes) in enumerate(areas):
        data |= {
            f"areas-{n}-area": area,
            f"areas-{n}-depth_mm": depth,
            f"areas-{n}-passes": passes,
        }
    data |= fields
    return {k: v for k, v in data.items() if v is not None}


def jpeg_upload(**kwargs):
    return upload(image_bytes(size=(1200, 800), **kwargs))


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# Who may open what ------------------------------------------------------------------

CLINICIANS = {"practitioner", "manager"}
# Pages only a practitioner opens, not the manager of the tests.
PRACTITIONER_ONLY = {"amend", "photo_upload"}

# name, method, what a clinician gets
PAGES = [
    ("record", "get", 200),
    ("amend", "get", 200),
    ("photo_upload", "post", 302),
    ("photo_full", "get", 200),
    ("photo_thumb", "get", 200),
    ("compare", "get", 200),
    ("my_day", "get", 200),
]


def page_url(name: str, session, photo: Photo) -> str:
    return {
        "record": lambda: record_url(session),
        "amend": lambda: amend_url(session),
        "photo_upload": lambda: upload_url(session),
        "photo_full": lambda: file_url(photo, "full"),
        "photo_thumb": lambda: file_url(photo, "thumb"),
        "compare": lambda: compare_url(session.plan),
        "my_day": lambda: reverse("plans:my_day"),
    }[name]()


@pytest.mark.parametrize(
    "who", ["anonymous", "outsider", "front_desk", "practitioner", "manager"]
)
@pytest.mark.parametrize("name,method,status", PAGES)
def test_who_may_open_each_record_page_and_photo(
    client, request, signed_today, who, name, method, status
):
    shown = signed_today.photos.get()
    sign_in(client, request, who)
    url = page_url(name, signed_today, shown)

    response = getattr(client, method)(url)

    allowed = CLINICIANS - ({"manager"} if name in PRACTITIONER_ONLY else set())
    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    elif who not in allowed:
        assert response.status_code == 403
        assert b"Lovelace" not in response.content
    else:
        assert response.status_code == status
    if who not in allowed:
        assert not ClinicalAccess.objects.exists()
        assert Photo.objects.count() == 1


@pytest.mark.parametrize("who", ["outsider", "front_desk"])
def test_no_one_but_clinicians_can_change_a_record_or_add_a_photo(
    client, request, today, private_root, who
):
    sign_in(client, request, who)

    saved = client.post(record_url(today), record_data(action="sign"))
    uploaded = client.post(
        upload_url(today), {"image": jpeg_upload(), "moment": "before", "area": "face"}
    )

    assert (saved.status_code, uploaded.status_code) == (403, 403)
    assert not SessionRecord.objects.filter(session=today).exists()
    assert not Photo.objects.exists()
    assert stored_files(private_root) == []


@pytest.mark.parametrize(
    "name,method",
    [
        ("plans:record", "get"),
        ("plans:record", "post"),
        ("plans:record_amend", "get"),
        ("plans:photo_upload", "post"),
        ("plans:compare", "get"),
    ],
)
def test_an_unknown_session_or_plan_is_404(
    client, practitioner, signed_today, name, method
):
    client.force_login(practitioner.user)
    response = getattr(client, method)(reverse(name, args=[999999]))
    assert response.status_code == 404
    assert not ClinicalAccess.objects.exists()


@pytest.mark.parametrize("size", ["full", "thumb"])
def test_an_unknown_photo_is_404_for_clinicians_and_403_for_others(
    client, manager, front_desk, signed_today, size
):
    unknown = reverse("plans:photo_file", args=[999999, size])
    client.force_login(manager)
    assert client.get(unknown).status_code == 404
    # Refused before the lookup: the front desk can't tell which ids exist.
    client.force_login(front_desk)
    assert client.get(unknown).status_code == 403
    assert client.get(file_url(signed_today.photos.get(), size)).status_code == 403
    assert not ClinicalAccess.objects.exists()


@pytest.mark.parametrize("size", ["original", "FULL", "thumb.jpg", "..", "1"])
def test_a_photo_size_other_than_full_or_thumb_is_404(
    client, practitioner, signed_today, size
):
    client.force_login(practitioner.user)
    shown = signed_today.photos.get()

    response = client.get(f"/plans/photos/{shown.pk}/{size}/")

    assert response.status_code == 404
    assert not ClinicalAccess.objects.exists()


def test_the_front_desk_sees_the_session_is_completed_but_not_the_record(
    client, front_desk, plan, signed_today
):
    client.force_login(front_desk)

    response = client.get(plan.get_absolute_url())

    assert response.status_code == 200
    body = response.content.decode()
    assert ">Completed</span>" in body
    assert ">Record<" not in body
    assert record_url(signed_today) not in body
    assert "/plans/photos/" not in body
    assert compare_url(plan) not in body
    assert "1.25 mm" not in body
    patient_page = client.get(plan.patient.get_absolute_url()).content.decode()
    assert record_url(signed_today) not in patient_page
    assert "/plans/photos/" not in patient_page
    assert not ClinicalAccess.objects.exists()


def test_a_practitioner_finds_the_record_from_the_plan(
    client, practitioner, plan, signed_today
):
    client.force_login(practitioner.user)
    body = client.get(plan.get_absolute_url()).content.decode()
    assert record_url(signed_today) in body


# The access log -------------------------------------------------------------------


def test_each_opening_of_a_record_photo_or_comparison_is_logged(
    client, practitioner, patient, signed_today
):
    shown = signed_today.photos.get()
    client.force_login(practitioner.user)

    client.get(record_url(signed_today))
    client.get(file_url(shown, "thumb") + "?in=page")  # the record page's own
    client.get(file_url(shown, "full"))  # its link, opened
    client.get(file_url(shown, "thumb"))
    client.get(compare_url(signed_today.plan))
    client.get(file_url(shown, "full") + "?in=page")  # the comparison's own
    client.get(amend_url(signed_today))
    client.get(record_url(signed_today))

    rows = list(ClinicalAccess.objects.order_by("id"))
    day = f"{timezone.localtime(signed_today.appointment.start):%d %b %Y}"
    # The images a page shows come with its line; opened on their own, not.
    assert [(r.what, r.object_id) for r in rows] == [
        (f"session record, {day}", signed_today.pk),
        ("photo (full)", shown.pk),
        ("photo (thumb)", shown.pk),
        (f"photo comparison ({shown.get_area_display()})", signed_today.plan.pk),
        (f"session record (amend), {day}", signed_today.pk),
        (f"session record, {day}", signed_today.pk),
    ]
    assert {(r.user, r.patient) for r in rows} == {(practitioner.user, patient)}
    assert rows[0].at == timezone.now()


def test_a_pages_image_opened_long_after_the_page_is_logged(
    client, practitioner, patient, signed_today, frozen_now
):
    """ "in=page" is no way around the log: without a line for the patient in
    the last five minutes, an image gets its own."""
    shown = signed_today.photos.get()
    client.force_login(practitioner.user)

    client.get(file_url(shown, "thumb") + "?in=page")
    client.get(file_url(shown, "thumb") + "?in=page")
    with time_machine.travel(frozen_now + timedelta(minutes=6), tick=False):
        client.get(file_url(shown, "full") + "?in=page")

    assert list(
        ClinicalAccess.objects.order_by("id").values_list("what", flat=True)
    ) == ["photo (thumb)", "photo (full)"]


def test_a_page_that_doesnt_show_the_photo_doesnt_cover_its_opening(
    client, practitioner, course, signed_today
):
    shown = signed_today.photos.get()
    client.force_login(practitioner.user)

    # Another session's record, and the consultation: neither shows the photo.
    client.get(record_url(course[0]))
    client.get(file_url(shown, "full") + "?in=page")
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        client.get(signed_today.plan.consultation.get_absolute_url())
        client.get(file_url(shown, "thumb") + "?in=page")

    photo_lines = ClinicalAccess.objects.filter(what__startswith="photo (")
    assert list(photo_lines.order_by("id").values_list("what", "object_id")) == [
        ("photo (full)", shown.pk),
        ("photo (thumb)", shown.pk),
    ]


@pytest.mark.parametrize(
    "who,status",
    [
        ("anonymous", 302),
        ("outsider", 403),
        ("front_desk", 403),
        ("practitioner", 403),
        ("manager", 200),
    ],
)
def test_only_managers_see_the_access_log(client, request, who, status):
    sign_in(client, request, who)
    assert client.get(reverse("clinic:access_log")).status_code == status


def test_the_access_log_filters_by_patient(
    client, manager, practitioner, patient, signed_today
):
    other = PatientFactory(first_name="Grace", last_name="Hopper")
    ClinicalAccess.objects.create(
        user=practitioner.user, patient=other, what="session record", object_id=1
    )
    client.force_login(practitioner.user)
    client.get(record_url(signed_today))
    client.force_login(manager)

    everyone = client.get(reverse("clinic:access_log"))
    one = client.get(reverse("clinic:access_log"), {"patient": patient.pk})
    nonsense = client.get(reverse("clinic:access_log"), {"patient": "x' OR 1=1"})

    assert len(everyone.context["page"].object_list) == 2
    assert [e.patient for e in one.context["page"].object_list] == [patient]
    assert one.context["patient"] == patient
    assert "Grace Hopper" not in one.content.decode()
    assert "Ada Lovelace" in one.content.decode()
    assert len(nonsense.context["page"].object_list) == 2


# Recording a session --------------------------------------------------------------


def numbed_last_time(course, *, other: str, minutes: int) -> None:
    """Session 2's signed record with no agent from the list."""
    SessionRecord.objects.filter(session=course[1]).update(
        numbing_agent=None, numbing_other=other, numbing_minutes=minutes
    )


def test_a_numbing_agent_named_by_hand_comes_with_its_minutes_from_last_time(
    client, practitioner, course
):
    """Minutes copied without the agent made records read "None, 20 min"."""
    numbed_last_time(course, other="Ice pack", minutes=20)
    client.force_login(practitioner.user)

    form = client.get(record_url(course[2])).context["form"]

    assert (form.initial["numbing_other"], form.initial["numbing_minutes"]) == (
        "Ice pack",
        20,
    )


def test_a_draft_with_minutes_from_last_time_but_no_agent_is_refused(
    client, practitioner, course
):
    numbed_last_time(course, other="", minutes=20)
    client.force_login(practitioner.user)
    # The page as it came, its copied minutes untouched.
    data = record_data(numbing_agent="", numbing_minutes="20")

    response = client.post(record_url(course[2]), data)

    assert response.status_code == 200
    assert "Name the numbing agent these minutes are for" in (response.content.decode())
    assert not SessionRecord.objects.filter(session=course[2]).exists()


def test_the_record_form_starts_from_the_plan_and_the_last_session(
    client, practitioner, today
):
    client.force_login(practitioner.user)

    response = client.get(record_url(today))

    assert response.status_code == 200
    areas = response.context["areas"]
    assert [f.initial for f in areas.forms[:2]] == [
        {"area": "face", "passes": 2},
        {"area": "neck", "passes": 2},
    ]
    form = response.context["form"]
    assert form.initial["started_at"] == at(TODAY)
    assert form.initial["ended_at"] == at(TODAY, 11)
    assert form.initial["device"] == "Dermapen 4"
    assert form.initial["numbing_minutes"] == 30
    assert response.context["previous"].session.number == 2
    body = response.content.decode()
    assert "Complete and sign" in body
    assert "Tretinoin 0.025% cream" in body
    assert "Tendency to keloid" in body
    assert "Face: 1.00 mm × 2" in body  # the previous session at a glance


def test_a_practitioner_saves_a_draft_then_signs_and_the_record_locks(
    client, practitioner, today, frozen_now
):
    client.force_login(practitioner.user)
    url = record_url(today)

    saved = post_as_page(
        client,
        url,
        record_data(areas=(("face", "1.00", "2"), ("neck", "0.50", "1"))),
        follow=True,
    )

    record = SessionRecord.objects.get(session=today)
    assert saved.redirect_chain == [(url, 302)]
    assert "Draft saved." in messages_of(saved)
    assert not record.is_signed
    assert [(a.area, a.depth_mm, a.passes) for a in record.areas.all()] == [
        ("face", Decimal("1.00"), 2),
        ("neck", Decimal("0.50"), 1),
    ]
    assert [p.name for p in record.products_after.all()] == ["Hyaluronic acid serum"]
    assert record.ended_at == at(TODAY, 10, 55)
    today.appointment.refresh_from_db()
    assert today.appointment.status == Appointment.Status.BOOKED
    # The draft comes back for editing, with its own areas.
    again = client.get(url)
    assert [f.initial["depth_mm"] for f in again.context["areas"].forms[:2]] == [
        Decimal("1.00"),
        Decimal("0.50"),
    ]

    done = post_as_page(client, url, record_data(action="sign"), follow=True)

    record.refresh_from_db()
    assert record.signed_despite == ""
    assert done.redirect_chain == [(url, 302)]
    assert SIGNED in messages_of(done)
    assert record.signed_by == practitioner.user
    assert record.signed_at == frozen_now
    today.appointment.refresh_from_db()
    assert today.appointment.status == Appointment.Status.COMPLETED

    locked = client.get(url)
    assert locked.context["form"] is None
    body = locked.content.decode()
    assert "Signed" in body
    assert "Face: 1.00 mm, 2 passes" in body
    assert amend_url(today) in body
    assert "Complete and sign" not in body


def now_not_eligible(plan, practitioner) -> None:
    """The practitioner changed the consultation after the plan began."""
    consultation = plan.consultation
    consultation.decision = consultation.Decision.NOT_ELIGIBLE
    consultation.decision_reason = "Keloid tendency confirmed by the GP's letter."
    consultation.decided_by = practitioner.user
    consultation.save()


def test_a_session_is_signed_despite_a_changed_consultation_only_when_ticked(
    client, practitioner, plan, today
):
    now_not_eligible(plan, practitioner)
    client.force_login(practitioner.user)
    url = record_url(today)

    page = client.get(url).content.decode()
    refused = post_as_page(client, url, record_data(action="sign"))

    assert "The consultation this plan started from now says not eligible" in page
    # One full stop, after the reason's own or the quote.
    assert "Keloid tendency confirmed by the GP&#x27;s letter.”. " not in page
    assert "Keloid tendency confirmed by the GP&#x27;s letter.” <a" in page
    Consultation.objects.filter(pk=plan.consultation_id).update(
        decision_reason="Rosacea, see a dermatologist"
    )
    assert "Rosacea, see a dermatologist”. <a" in client.get(url).content.decode()
    assert 'name="despite_decision"' in page
    assert refused.status_code == 200
    assert "tick that you have, and sign" in refused.content.decode()
    assert not SessionRecord.objects.filter(session=today).exists()
    today.appointment.refresh_from_db()
    assert today.appointment.status == Appointment.Status.BOOKED

    signed = post_as_page(
        client, url, record_data(action="sign", despite_decision="on")
    )

    assert signed.status_code == 302
    record = SessionRecord.objects.get(session=today)
    assert record.is_signed
    # The record keeps what the practitioner signed against, for good.
    assert record.signed_despite == "not_eligible"
    assert "Signed although the consultation said not eligible" in (
        client.get(url).content.decode()
    )


def test_a_draft_is_saved_whatever_the_consultation_says(
    client, practitioner, plan, today
):
    now_not_eligible(plan, practitioner)
    client.force_login(practitioner.user)

    saved = post_as_page(client, record_url(today), record_data())

    assert saved.status_code == 302
    assert not SessionRecord.objects.get(session=today).is_signed


def test_my_day_warns_of_a_consultation_that_no_longer_says_eligible(
    client, practitioner, plan, day
):
    now_not_eligible(plan, practitioner)
    client.force_login(practitioner.user)

    body = client.get(reverse("plans:my_day")).content.decode()

    assert body.count("The consultation now says not eligible") == 1
    assert "Keloid tendency confirmed by the GP&#x27;s letter." in body


def test_a_later_consultations_screening_is_shown_before_treating(
    client, practitioner, plan, today
):
    # Screened again since the plan began: pregnant, and still judged eligible.
    ConsultationFactory(
        patient=plan.patient,
        pregnant=True,
        screening_note="Pregnant, 10 weeks.",
        decision_reason="Shallow needling only, after the GP's letter.",
    )
    client.force_login(practitioner.user)

    my_day = client.get(reverse("plans:my_day")).content.decode()
    record = client.get(record_url(today)).content.decode()

    for page in (my_day, record):
        assert page.count("A later consultation, on") == 1
        assert (
            "says eligible</strong>, with a yes in its screening: pregnant or "
            "breastfeeding. This plan started from an earlier one"
        ) in page


def test_the_plan_page_says_a_later_consultation_refers_the_patient(
    client, practitioner, front_desk, plan, today
):
    later = ConsultationFactory(
        patient=plan.patient,
        decision="refer",
        decision_reason="Suspicious mole: dermatology first.",
        active_infection=True,
        screening_note="Inflamed lesion on the cheek.",
    )
    url = plan.get_absolute_url()

    client.force_login(front_desk)
    desk = client.get(url).content.decode()
    client.force_login(practitioner.user)
    clinician = client.get(url).content.decode()

    assert "says refer elsewhere</strong>. This plan started from an earlier " in desk
    assert "a practitioner reviews it before the next session" in desk
    assert later.get_absolute_url() not in desk
    assert "says refer elsewhere</strong>, with a yes in its screening." in clinician
    assert later.get_absolute_url() in clinician


def test_a_later_consultation_with_another_medication_is_shown_before_treating(
    client, practitioner, plan, today
):
    later = ConsultationFactory(
        patient=plan.patient, topical_medication="Adapalene gel"
    )
    client.force_login(practitioner.user)

    page = client.get(record_url(today)).content.decode()

    assert "says eligible</strong>; topical medication: Adapalene gel." in page
    # Its time too: a patient may be seen twice in a day.
    held = timezone.localtime(later.appointment.start)
    assert f"A later consultation, on {held:%-d %b %Y at %H:%M}, says" in page


def test_before_treating_the_medication_shown_is_the_one_the_pre_care_email_named(
    client, practitioner, plan, today
):
    """A later decided consultation's medication holds for the sessions after
    it: the record page and My day name it, as the pre-care email does."""
    later = ConsultationFactory(
        patient=plan.patient, topical_medication="Adapalene gel"
    )
    # Not decided yet: says nothing so far.
    ConsultationFactory(
        patient=plan.patient,
        topical_medication="Hydroquinone 4%",
        decision=Consultation.Decision.PENDING,
    )
    client.force_login(practitioner.user)

    record = client.get(record_url(today)).content.decode()
    my_day = client.get(reverse("plans:my_day")).content.decode()

    assert consultation_in_force(today.appointment).topical_medication == (
        "Adapalene gel"
    )
    day = f"{timezone.localtime(later.appointment.start):%-d %b %Y, %H:%M}"
    assert (
        "<strong>Topical medication:</strong> Adapalene gel, since the "
        f"consultation of {day} (the patient stops it" in record
    )
    assert "Topical medication: Adapalene gel, since the consultation of" in my_day
    assert "Topical medication:</strong> Tretinoin" not in record
    assert "Topical medication: Tretinoin" not in my_day
    # The undecided one is pointed out (the banner), not yet said to hold.
    assert "Topical medication:</strong> Hydroquinone" not in record
    assert "is not decided yet</strong>" in record


def test_a_medication_stopped_since_the_plan_began_is_said_to_be_stopped(
    client, practitioner, plan, today
):
    later = ConsultationFactory(patient=plan.patient, topical_medication="")
    client.force_login(practitioner.user)

    record = client.get(record_url(today)).content.decode()
    my_day = client.get(reverse("plans:my_day")).content.decode()

    day = f"{timezone.localtime(later.appointment.start):%-d %b %Y, %H:%M}"
    said = (
        f"none since the consultation of {day} (the plan's consultation named "
        "Tretinoin 0.025% cream)."
    )
    assert f"<strong>Topical medication:</strong> {said}" in record
    assert f"Topical medication: {said}" in my_day
    assert "stops it 3-5 days before" not in record


def test_a_later_consultation_saying_nothing_new_adds_no_warning(
    client, practitioner, plan, today
):
    ConsultationFactory(patient=plan.patient)  # eligible, nothing to declare
    client.force_login(practitioner.user)

    assert "A later consultation" not in client.get(record_url(today)).content.decode()


def test_a_record_signed_before_the_end_it_was_given_ends_when_signed(
    client, practitioner, front_desk, plan, room, course, frozen_now
):
    """Seen early and signed straight after: the booking's length would end
    the session after now. Left as given, the end is when it was signed; an end
    typed in is kept, and refused when ahead."""
    late = add_session(plan, at(TODAY, 16, 30), room)
    check_in_appointment(
        appointment=late.appointment,
        by=front_desk,
        now=frozen_now - timedelta(minutes=25),
    )
    client.force_login(practitioner.user)
    url = record_url(late)
    form = client.get(url).context["form"]
    assert form.initial["started_at"] == at(TODAY, 14, 35)
    assert form.initial["ended_at"] == at(TODAY, 15, 35)
    times = {"started_at": "2026-11-24T14:35"}

    typed_ahead = post_as_page(
        client, url, record_data(action="sign", ended_at="2026-11-24T15:40") | times
    )
    signed = post_as_page(
        client,
        url,
        record_data(action="sign", ended_at="2026-11-24T15:35") | times,
        follow=True,
    )

    assert "can&#x27;t be in the future" in typed_ahead.content.decode()
    record = SessionRecord.objects.get(session=late)
    assert record.is_signed
    assert record.ended_at == frozen_now
    assert any(
        "It is recorded as ending at 15:00, when it was signed" in m
        for m in messages_of(signed)
    )


def test_a_patient_checked_in_early_is_signed_off_early(
    client, practitioner, front_desk, plan, room, course, frozen_now
):
    # Booked at 17:00, here at 14:00 and treated then.
    late = add_session(plan, at(TODAY, 17), room)
    client.force_login(practitioner.user)
    url = record_url(late)
    data = record_data(
        action="sign", started_at="2026-11-24T14:00", ended_at="2026-11-24T14:50"
    )

    refused = post_as_page(client, url, data)

    assert "check the patient in first if they are being seen early" in (
        refused.content.decode()
    )
    assert not SessionRecord.objects.filter(session=late).exists()
    check_in_appointment(appointment=late.appointment, by=front_desk, now=frozen_now)
    # The form now starts from the check-in, not the booked 17:00.
    form = client.get(url).context["form"]
    assert form.initial["started_at"] == at(TODAY, 15)
    assert form.initial["ended_at"] == at(TODAY, 16)
    # Checked in at 15:00 for a session from 14:00: the times are confirmed.
    done = post_as_page(
        client,
        url,
        data
        | {
            "times_checked": "on",
            "times_checked_for": "2026-11-24T14:00|2026-11-24T14:50",
        },
        follow=True,
    )
    assert SIGNED in messages_of(done)
    late.appointment.refresh_from_db()
    assert late.appointment.status == Appointment.Status.COMPLETED


def test_posting_to_a_signed_record_changes_nothing(client, practitioner, signed_today):
    client.force_login(practitioner.user)
    before = SessionRecord.objects.get(session=signed_today)

    response = client.post(
        record_url(signed_today),
        record_data(action="save", areas=(("neck", "2.00", "3"),), notes="Sneaky"),
        follow=True,
    )

    assert response.redirect_chain == [(record_url(signed_today), 302)]
    assert (
        "This record was signed while your page was open, so your changes were "
        "not saved: amend it to change it."
    ) in messages_of(response)
    after = SessionRecord.objects.get(session=signed_today)
    assert (after.notes, after.updated_at, after.signed_at) == (
        before.notes,
        before.updated_at,
        before.signed_at,
    )
    assert [a.area for a in after.areas.all()] == ["face"]
    assert not Amendment.objects.exists()


def test_a_cancelled_session_shows_its_draft_but_takes_no_record_or_photo(
    client, practitioner, today
):
    client.force_login(practitioner.user)
    url = record_url(today)
    post_as_page(client, url, record_data(notes="Before photos taken."))
    Appointment.objects.filter(pk=today.appointment.pk).update(
        status=Appointment.Status.CANCELLED, cancel_reason="Cold sore on the lip."
    )

    page = client.get(url)
    refused = post_as_page(client, url, record_data(notes="Changed"), follow=True)

    body = page.content.decode()
    assert page.context["form"] is None
    assert "This session was cancelled (Cold sore on the lip.)" in body
    assert "Before photos taken." in body
    assert "Never: a draft" in body
    assert ">Cancelled</span>" in body
    assert ">Draft</span>" not in body
    assert upload_url(today) not in body
    assert "there is nothing to record on it" in refused.content.decode()
    # What was typed is shown, the draft as it was kept.
    assert "Changed" in refused.content.decode()
    assert SessionRecord.objects.get(session=today).notes == "Before photos taken."


def test_a_record_typed_from_a_booking_moved_meanwhile_is_not_saved(
    client, practitioner, today
):
    """The form started from the booked times: after a move they are the old
    booking's, and aftercare would run from them."""
    client.force_login(practitioner.user)
    url = record_url(today)
    opened = client.get(url).context["form"]["seen"].value()
    appointment = today.appointment
    Appointment.objects.filter(pk=appointment.pk).update(
        start=appointment.start + timedelta(hours=1),
        end=appointment.end + timedelta(hours=1),
    )

    late = client.post(url, record_data(notes="Tolerated well.", seen=opened))

    assert late.status_code == 200
    assert any("the session's move" in m for m in messages_of(late)), messages_of(late)
    assert not SessionRecord.objects.filter(session=today).exists()
    # The form starts again from the booking as it is now, as a fresh page does.
    form = late.context["form"]
    moved = timezone.localtime(appointment.start + timedelta(hours=1))
    moved = moved.replace(tzinfo=None)  # as the form shows it, on the wall clock
    assert form["started_at"].value() == moved
    assert form["ended_at"].value() == moved + (appointment.end - appointment.start)


def test_a_draft_saved_by_someone_else_meanwhile_is_not_overwritten(
    client, practitioner, today
):
    client.force_login(practitioner.user)
    url = record_url(today)
    opened = client.get(url).context["form"]["seen"].value()
    assert opened.startswith("new|")
    # A colleague saves the draft first, with a note of their own.
    client.post(url, record_data(notes="Allergic to lidocaine", seen=opened))

    late = client.post(
        url,
        record_data(
            notes="Tolerated well.",
            areas=(("face", "1.5", "3"), ("neck", "0.50", "2")),
            seen=opened,
        ),
    )

    assert late.status_code == 200
    assert any(
        m.startswith("This record was saved while your page was open")
        for m in messages_of(late)
    )
    record = SessionRecord.objects.get(session=today)
    assert record.notes == "Allergic to lidocaine"
    assert [(a.area, str(a.depth_mm)) for a in record.areas.all()] == [("face", "1.00")]
    # What they typed is shown beside the saved draft, to copy from.
    assert late.context["unsaved"] == [
        ("Notes", "Tolerated well."),
        ("Areas treated", "Face: 1.50 mm, 3 passes\nNeck: 0.50 mm, 2 passes"),
    ]
    # With the page's script: only the fields typed in.
    scripted = client.post(
        url,
        record_data(
            notes="Tolerated well.",
            areas=(("face", "1.5", "3"),),
            seen=opened,
            changed_fields="areas-0-depth_mm,areas-0-passes",
        ),
    )
    assert scripted.context["unsaved"] == [("Areas treated", "Face: 1.50 mm, 3 passes")]
    assert "Face: 1.50 mm, 3 passes<br>Neck: 0.50 mm, 2 passes" in (
        late.content.decode()
    )
    # The page now shows the colleague's draft, and saving from it works.
    assert not late.context["form"].is_bound
    assert late.context["form"].initial["notes"] == "Allergic to lidocaine"
    current = late.context["form"]["seen"].value()
    client.post(
        url, record_data(notes="Allergic to lidocaine; patch test", seen=current)
    )
    record.refresh_from_db()
    assert record.notes == "Allergic to lidocaine; patch test"


def test_a_deeper_needle_than_last_time_is_allowed_with_a_warning(
    client, practitioner, today
):
    client.force_login(practitioner.user)

    response = post_as_page(
        client,
        record_url(today),
        record_data(areas=(("face", "1.50", "2"),)),
        follow=True,
    )

    assert "Face: 1.50 mm is deeper than last time (1.00 mm)." in messages_of(response)
    assert SessionRecord.objects.get(session=today).areas.get().depth_mm == Decimal(
        "1.50"
    )


@pytest.mark.parametrize(
    "data,error",
    [
        ({"areas": (("face", "3.00", "2"),)}, "is 2.5 mm at the most"),
        ({"areas": (("face", "0.10", "2"),)}, "0.25 mm at the least"),
        ({"areas": (("face", "1.234", "2"),)}, "with at most two decimals"),
        ({"areas": (("face", "12.5", "2"),)}, "is 2.5 mm at the most"),
        ({"areas": (("face", "1e1", "2"),)}, "is 2.5 mm at the most"),
        ({"numbing_minutes": "-5"}, "numbing time in whole minutes, 0 to 120."),
        ({"numbing_minutes": "500"}, "numbing time in whole minutes, 0 to 120."),
        ({"ended_at": "2026-11-24T09:00"}, "The end must be after the start."),
        ({"ended_at": "2026-11-24T16:00"}, "can&#x27;t be in the future"),
        (
            {"areas": (("face", "1.00", "2"), ("face", "1.50", "1"))},
            "Each area can be listed once.",
        ),
    ],
)
def test_bad_values_are_explained_and_nothing_is_saved(
    client, practitioner, today, data, error
):
    client.force_login(practitioner.user)

    response = post_as_page(
        client, record_url(today), record_data(action="sign", **data)
    )

    assert response.status_code == 200
    assert error in response.content.decode()
    if "less than" in error:
        # One limit, said once: not also "at most two decimals" of 1e1.
        assert "two decimals" not in response.content.decode()
    assert not SessionRecord.objects.filter(session=today).exists()
    today.appointment.refresh_from_db()
    assert today.appointment.status == Appointment.Status.BOOKED


def test_signing_without_areas_or_times_says_what_is_missing(
    client, practitioner, today
):
    client.force_login(practitioner.user)

    response = post_as_page(
        client,
        record_url(today),
        # The page's one empty row, as it comes with no area picked.
        record_data(action="sign", areas=(("", "", "2"),), started_at="", ended_at=""),
    )

    assert response.status_code == 200
    assert (
        "Before signing, add the start and end times and at least one treated area"
        in response.content.decode()
    )
    # A refused signature saves nothing; the typed values stay in the form.
    assert not SessionRecord.objects.filter(session=today).exists()


def test_a_new_record_has_no_redness_chosen_and_a_draft_may_leave_it_open(
    client, practitioner, today
):
    import re

    client.force_login(practitioner.user)
    page = client.get(record_url(today)).content.decode()

    radios = re.findall(r'<input[^>]*name="redness"[^>]*>', page)
    assert len(radios) == 4
    assert not any("checked" in radio for radio in radios)

    post_as_page(client, record_url(today), record_data(redness=None))
    assert SessionRecord.objects.get(session=today).redness == ""
    response = post_as_page(
        client, record_url(today), record_data(action="sign", redness=None)
    )
    assert "Before signing, add the redness seen." in response.content.decode()
    assert not SessionRecord.objects.get(session=today).is_signed


def test_a_manager_reads_a_record_but_writes_signs_and_amends_none(
    client, manager, practitioner, today
):
    """No draft either: a practitioner would open a form filled in by someone
    else, with nothing saying who, and sign it as their own."""
    client.force_login(manager)
    url = record_url(today)
    page = client.get(url).content.decode()
    assert "Save draft" not in page and "Complete and sign" not in page
    assert "Nothing recorded for this session yet" in page

    for action in ("save", "sign"):
        response = post_as_page(client, url, record_data(action=action))
        assert response.status_code == 403
        assert "Only a practitioner records a session" in response.content.decode()
    assert not SessionRecord.objects.filter(session=today).exists()
    today.appointment.refresh_from_db()
    assert today.appointment.status == Appointment.Status.BOOKED

    client.force_login(practitioner.user)
    post_as_page(client, url, record_data(action="save", notes="Typed by her."))
    client.force_login(manager)
    page = client.get(url).content.decode()
    assert "Typed by her." in page and "Save draft" not in page
    response = post_as_page(client, url, record_data(notes="Typed by a manager."))
    assert response.status_code == 403
    assert SessionRecord.objects.get(session=today).notes == "Typed by her."

    client.force_login(practitioner.user)
    post_as_page(client, url, record_data(action="sign"))
    client.force_login(manager)
    assert "Amend" not in client.get(url).content.decode()
    response = post_as_page(
        client,
        amend_url(today),
        record_data(notes="Seen by manager.", reason="Audit note."),
    )
    assert response.status_code == 403
    assert not Amendment.objects.exists()
    with pytest.raises(records.PlanError, match="Only a practitioner can amend"):
        records.amend_record(
            record=SessionRecord.objects.get(session=today),
            changes={"notes": "Seen by manager."},
            entries=None,
            products=None,
            reason="Audit note.",
            by=manager,
        )


def test_a_superuser_who_is_no_practitioner_writes_no_record_or_photo(
    client, admin_user, today, private_root
):
    """Rights that pass every permission check are not a practitioner's."""
    client.force_login(admin_user)
    url = record_url(today)
    page = client.get(url).content.decode()
    assert "Save draft" not in page and "Add photo" not in page

    response = post_as_page(client, url, record_data(action="save"))
    upload_response = client.post(
        upload_url(today),
        {"image": jpeg_upload(), "moment": "before", "area": "face", "note": ""},
        follow=True,
    )

    assert response.status_code == 403
    assert not SessionRecord.objects.filter(session=today).exists()
    assert "Only a practitioner adds a photo to a session." in (
        upload_response.content.decode()
    )
    assert not Photo.objects.exists()
    assert stored_files(private_root) == []


def test_a_cancelled_session_cant_be_recorded_from_the_page(
    client, practitioner, plan, other_room
):
    session = add_session(
        plan, at(TODAY, 12), other_room, status=Appointment.Status.CANCELLED
    )
    client.force_login(practitioner.user)

    response = client.post(record_url(session), record_data(action="save"))

    assert response.status_code == 200
    assert "there is nothing to record on it" in response.content.decode()
    assert not SessionRecord.objects.filter(session=session).exists()


# Amending ---------------------------------------------------------------------------


def test_an_unsigned_record_is_edited_not_amended(client, practitioner, today):
    draft(today)
    client.force_login(practitioner.user)

    response = client.get(amend_url(today), follow=True)

    assert response.redirect_chain == [(record_url(today), 302)]
    assert "This record is not signed yet: edit it directly." in messages_of(response)


def test_the_amend_form_shows_the_signed_values(client, practitioner, signed_today):
    client.force_login(practitioner.user)

    response = client.get(amend_url(signed_today))

    assert response.status_code == 200
    assert response.context["areas"].forms[0].initial == {
        "area": "face",
        "depth_mm": Decimal("1.25"),
        "passes": 3,
    }
    assert 'value="2026-11-24T10:00"' in response.content.decode()


def test_an_amendment_without_a_reason_is_refused(client, practitioner, signed_today):
    client.force_login(practitioner.user)

    for reason in ("", "   "):
        response = client.post(
            amend_url(signed_today),
            record_data(areas=(("face", "1.25", "3"),), notes="Later.", reason=reason),
        )
        assert response.status_code == 200
        assert response.context["reason"].errors["reason"] == [
            "An amendment needs a reason, in a few words."
        ]

    assert not Amendment.objects.exists()
    assert SessionRecord.objects.get(session=signed_today).notes == ""


def test_a_depth_without_its_area_asks_for_the_area(client, practitioner, today):
    client.force_login(practitioner.user)

    response = client.post(record_url(today), record_data(areas=(("", "1.00", "2"),)))

    assert response.status_code == 200
    assert "Pick the area this depth is for." in response.content.decode()
    assert "This field is required." not in response.content.decode()


FACES = (("face", "1.25", "3"),)


def amended_by_a_colleague(client, colleague, session, seen: int) -> None:
    """A colleague amends the device (its serial) from a form opened at ``seen``."""
    client.force_login(colleague.user)
    client.post(
        amend_url(session),
        record_data(
            areas=FACES, device="Dermapen 4 (serial 99)", reason="Serial.", seen=seen
        ),
    )


def test_a_record_names_who_signed_and_amended_it_as_the_pages_name_them(
    client, practitioner, other_practitioner, signed_today
):
    """ "Dr Priya Patel", as everywhere else, not "Priya Patel"."""
    Practitioner.objects.filter(pk__in=[practitioner.pk, other_practitioner.pk]).update(
        title=Practitioner.Title.PHYSICIAN
    )
    amended_by_a_colleague(client, other_practitioner, signed_today, 0)

    page = client.get(record_url(signed_today)).content.decode()

    practitioner.refresh_from_db()
    other_practitioner.refresh_from_db()
    assert f"by {practitioner}" in page and str(practitioner).startswith("Dr ")
    assert f"by {other_practitioner}: Serial." in page


def test_two_amendments_from_forms_opened_together_dont_undo_each_other(
    client, practitioner, other_practitioner, signed_today
):
    # Both open the amend form on the record as signed.
    client.force_login(practitioner.user)
    seen = client.get(amend_url(signed_today)).context["reason"]["seen"].value()
    assert seen == 0
    amended_by_a_colleague(client, other_practitioner, signed_today, seen)

    client.force_login(practitioner.user)
    response = client.post(
        amend_url(signed_today),
        record_data(
            areas=FACES, device="", notes="Itching.", reason="Note.", seen=seen
        ),
        follow=True,
    )

    assert response.status_code == 200
    assert any(
        "Someone amended this record while you had it open (a colleague, or this "
        "form sent twice)." in message
        for message in messages_of(response)
    )
    record = SessionRecord.objects.get(session=signed_today)
    assert (record.device, record.notes) == ("Dermapen 4 (serial 99)", "")
    assert Amendment.objects.count() == 1
    assert response.context["reason"]["seen"].value() == 1
    # What they typed, and why, is kept beside the record as it is now.
    unsaved = dict(response.context["unsaved"])
    assert unsaved["Notes"] == "Itching."
    assert unsaved["Reason"] == "Note."
    assert response.context["reason"]["reason"].value() == "Note."
    assert response.context["form"]["device"].value() == "Dermapen 4 (serial 99)"


def test_a_refused_amendment_lists_only_the_fields_typed_in(
    client, practitioner, other_practitioner, signed_today
):
    """Not the colleague's amendment, which the page sent back as it showed it:
    copying that would undo it."""
    client.force_login(practitioner.user)
    page = client.get(amend_url(signed_today))
    assert 'name="changed_fields"' in page.content.decode()
    seen = page.context["reason"]["seen"].value()
    amended_by_a_colleague(client, other_practitioner, signed_today, seen)

    client.force_login(practitioner.user)
    response = client.post(
        amend_url(signed_today),
        record_data(areas=FACES, cartridge_lot="LOT-7", reason="Lot.", seen=seen)
        | {"changed_fields": "cartridge_lot,reason"},
        follow=True,
    )

    assert dict(response.context["unsaved"]) == {
        "Cartridge lot": "LOT-7",
        "Reason": "Lot.",
    }


def test_an_amendment_without_the_pages_version_changes_nothing(
    client, practitioner, signed_today
):
    """The record pages always send the version they showed: a post without it
    would otherwise put back what a colleague saved meanwhile."""
    client.force_login(practitioner.user)

    response = client.post(
        amend_url(signed_today),
        record_data(notes="Without the page's version.", reason="Notes."),
    )

    assert response.status_code == 200
    assert "This page was changed on its way here" in response.content.decode()
    assert not Amendment.objects.exists()


def test_a_draft_without_the_pages_version_is_not_saved(client, practitioner, today):
    client.force_login(practitioner.user)

    response = client.post(record_url(today), record_data(notes="Without it."))

    assert response.status_code == 200
    assert "This page was changed on its way here" in response.content.decode()
    assert not SessionRecord.objects.filter(session=today).exists()


def test_an_amendment_is_kept_and_shown_with_before_and_after(
    client, practitioner, signed_today
):
    client.force_login(practitioner.user)
    record = SessionRecord.objects.get(session=signed_today)
    original = record.ended_at

    response = post_as_page(
        client,
        amend_url(signed_today),
        record_data(
            areas=(("face", "1.25", "3"), ("neck", "0.75", "2")),
            notes="Patient reported mild itching.",
            reason="Forgot the neck.",
        ),
        follow=True,
    )

    assert response.redirect_chain == [(record_url(signed_today), 302)]
    amendment = Amendment.objects.get()
    assert amendment.by == practitioner.user
    assert amendment.reason == "Forgot the neck."
    changed = {c["field"]: (c["before"], c["after"]) for c in amendment.changes}
    assert changed["areas"] == (
        "Face 1.25 mm x3",
        "Face 1.25 mm x3, Neck 0.75 mm x2",
    )
    assert changed["notes"] == ("—", "Patient reported mild itching.")
    assert changed["ended_at"] == ("24 Nov 2026 11:00", "24 Nov 2026 10:55")
    record.refresh_from_db()
    assert record.is_signed
    assert record.ended_at != original
    body = response.content.decode()
    assert "Amendments" in body
    assert "Forgot the neck." in body
    assert "Face 1.25 mm x3, Neck 0.75 mm x2" in body
    assert "Patient reported mild itching." in body


def test_an_amendment_that_changes_nothing_is_refused_on_the_page(
    client, practitioner, signed_today
):
    client.force_login(practitioner.user)
    record = SessionRecord.objects.get(session=signed_today)

    response = post_as_page(
        client,
        amend_url(signed_today),
        record_data(
            areas=(("face", "1.25", "3"),),
            ended_at="2026-11-24T11:00",
            device="",
            cartridge_lot="",
            numbing_agent="",
            numbing_minutes="",
            products_after=[],
            redness="none",
            reason="Just checking.",
        ),
    )

    assert response.status_code == 200
    assert "Nothing was changed." in response.content.decode()
    assert not Amendment.objects.exists()
    assert SessionRecord.objects.get(pk=record.pk).updated_at == record.updated_at


def test_a_product_taken_off_the_list_stays_on_older_records(
    client, practitioner, plan, room, signed_today
):
    gel, cream = product("Recovery gel"), product("Lidocaine 4% cream")
    record = SessionRecord.objects.get(session=signed_today)
    record.numbing_agent = cream
    record.save()
    record.products_after.set([gel])
    Product.objects.filter(pk__in=[gel.pk, cream.pk]).update(is_active=False)
    client.force_login(practitioner.user)

    form = client.get(amend_url(signed_today)).context["form"]
    assert gel in form.fields["products_after"].queryset
    assert cream in form.fields["numbing_agent"].queryset
    # The browser sends back what the form shows, with one note added.
    response = post_as_page(
        client,
        amend_url(signed_today),
        record_data(
            areas=(("face", "1.25", "3"),),
            ended_at="2026-11-24T11:00",
            device="",
            cartridge_lot="",
            numbing_agent=cream.pk,
            numbing_minutes="",
            products_after=[gel.pk],
            redness="none",
            notes="Called the next day: all fine.",
            reason="Follow-up call.",
        ),
    )

    assert response.status_code == 302
    assert [c["field"] for c in Amendment.objects.get().changes] == ["notes"]
    assert list(record.products_after.all()) == [gel]
    # Not offered for new records.
    fresh = add_session(plan, at(TODAY, 12), room)
    form = client.get(record_url(fresh)).context["form"]
    assert gel not in form.fields["products_after"].queryset
    assert cream not in form.fields["numbing_agent"].queryset


# Photos through the pages -----------------------------------------------------------


def test_a_fake_image_gets_a_clear_message_and_nothing_is_saved(
    client, practitioner, today, private_root
):
    client.force_login(practitioner.user)
    fake = upload(b"<?php echo 'not a photo'; ?>", name="holiday.jpg")

    response = client.post(
        upload_url(today),
        {"image": fake, "moment": "before", "area": "face"},
        follow=True,
    )

    assert response.redirect_chain == [(record_url(today), 302)]
    assert photo_refusal(response) == [
        "That file is not a photo we can read (use JPEG, PNG or WebP)."
    ]
    assert not Photo.objects.exists()
    assert stored_files(private_root) == []


@pytest.mark.parametrize(
    "data,message",
    [
        ({"moment": "before", "area": "face"}, "Photo: Choose the photo to add."),
        (
            {"image": "empty", "moment": "before", "area": "face"},
            "Photo: The file is empty: choose the photo again.",
        ),
        (
            {"image": "photo", "moment": "during", "area": "face"},
            "Before or after: Pick one of the choices offered",
        ),
        (
            {"image": "photo", "moment": "after", "area": "elbow"},
            "Area: Pick one of the choices offered",
        ),
    ],
)
def test_an_incomplete_photo_form_is_explained(
    client, practitioner, today, private_root, data, message
):
    client.force_login(practitioner.user)
    files = {"empty": upload(b""), "photo": jpeg_upload()}
    if "image" in data:
        data = data | {"image": files[data["image"]]}

    response = client.post(upload_url(today), data, follow=True)

    assert any(m.startswith(message) for m in photo_refusal(response))
    assert not Photo.objects.exists()
    assert stored_files(private_root) == []
    # "Again" only for a file that was chosen.
    assert ("Choose the file again." in response.content.decode()) == ("image" in data)


def test_a_refused_photo_keeps_what_was_typed_beside_the_form(
    client, practitioner, today, private_root
):
    client.force_login(practitioner.user)

    response = client.post(
        upload_url(today),
        {
            "image": upload(b"not a photo", name="cheek.jpg"),
            "moment": "after",
            "area": "neck",
            "note": "Left cheek, flash off",
        },
        follow=True,
    )

    form = response.context["photo_form"]
    assert (form["moment"].value(), form["area"].value(), form["note"].value()) == (
        "after",
        "neck",
        "Left cheek, flash off",
    )
    assert messages_of(response) == []  # said beside the form, not at the top
    assert "Choose the file again." in response.content.decode()
    # Said once: the page opened again starts afresh.
    assert client.get(record_url(today)).context["photo_refused"] == []


def test_the_photo_form_starts_on_the_plans_first_area(client, practitioner, today):
    today.plan.areas = ["neck", "face"]
    today.plan.save()
    client.force_login(practitioner.user)

    page = client.get(record_url(today))

    assert page.context["photo_form"]["area"].value() == "neck"


def test_an_oversize_upload_is_refused_on_the_page(
    client, settings, practitioner, today, private_root
):
    settings.CLINIC_PHOTO_MAX_BYTES = 1024
    client.force_login(practitioner.user)

    response = client.post(
        upload_url(today),
        {"image": jpeg_upload(), "moment": "before", "area": "face"},
        follow=True,
    )

    assert any("too large" in m for m in photo_refusal(response))
    assert not Photo.objects.exists()
    assert stored_files(private_root) == []


def test_the_same_photo_sent_twice_is_added_once(client, practitioner, today):
    client.force_login(practitioner.user)
    data = image_bytes(size=(1200, 800))

    def sent():
        return client.post(
            upload_url(today),
            {"image": upload(data), "moment": "before", "area": "face"},
            follow=True,
        )

    assert messages_of(sent()) == ["Photo added."]
    again = sent()

    first = Photo.objects.get()
    refusal = " ".join(photo_refusal(again))
    added = f"{timezone.localtime(first.uploaded_at):%H:%M}"
    assert (
        f"This file is on the session already, as Before · Face added at {added}."
        in (refusal)
    )
    # Nothing to choose again: it is there.
    assert "Choose the file again" not in again.content.decode()
    assert Photo.objects.count() == 1


def test_a_real_photo_is_added_and_its_thumbnail_served(
    client, practitioner, today, private_root
):
    client.force_login(practitioner.user)

    response = client.post(
        upload_url(today),
        {"image": jpeg_upload(), "moment": "after", "area": "neck", "note": "Left"},
        follow=True,
    )

    added = Photo.objects.get()
    assert messages_of(response) == ["Photo added."]
    assert (added.session, added.moment, added.area) == (today, "after", "neck")
    assert added.uploaded_by == practitioner.user
    assert file_url(added, "thumb") in response.content.decode()
    assert file_url(added, "full") in response.content.decode()

    thumb = client.get(file_url(added, "thumb"))

    assert thumb.status_code == 200
    assert thumb["Content-Type"] == "image/jpeg"
    assert thumb["Cache-Control"] == "private, no-store"
    # Shown on its own, Chromium styles its image page inline: allowed for an
    # image, and nothing else is.
    policy = thumb["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in policy
    assert "default-src 'none'" in policy and "script-src" not in policy
    image = Image.open(BytesIO(b"".join(thumb.streaming_content)))
    assert image.size == (480, 320)
    assert len(stored_files(private_root)) == 2


def test_photos_can_be_added_to_a_signed_record(client, practitioner, signed_today):
    client.force_login(practitioner.user)
    client.post(
        upload_url(signed_today),
        {"image": jpeg_upload(), "moment": "after", "area": "face"},
    )
    assert signed_today.photos.count() == 2


def test_the_upload_page_only_takes_posts(client, practitioner, today):
    client.force_login(practitioner.user)
    assert client.get(upload_url(today)).status_code == 405


# Comparison -------------------------------------------------------------------------


@pytest.fixture
def photographed(course, practitioner, other_practitioner, other_room):
    """Before and after photos of the face at three sessions, the neck at one."""
    first, second, today, _ = course
    signed(today, practitioner.user)
    by = practitioner.user
    photos = {
        "first before": photo(first, by, "before"),
        "first after": photo(first, by, "after"),
        "second before": photo(second, by, "before"),
        "second after": photo(second, by, "after"),
        "neck before": photo(second, by, "before", "neck"),
        "neck after": photo(second, by, "after", "neck"),
        "today before": photo(today, by, "before"),
        "today after": photo(today, by, "after"),
    }
    other_plan = make_plan(other_practitioner)
    elsewhere = add_session(other_plan, at(SECOND, 14), other_room)
    signed(elsewhere, other_practitioner.user)
    photos["elsewhere"] = photo(elsewhere, other_practitioner.user, "after")
    return photos


def test_the_comparison_shows_the_first_before_beside_the_latest_after(
    client, practitioner, plan, photographed
):
    client.force_login(practitioner.user)

    response = client.get(compare_url(plan))

    assert response.status_code == 200
    context = response.context
    assert context["area"] == "face"
    assert [a.value for a in context["areas"]] == ["face", "neck"]
    assert context["left"] == photographed["first before"]
    assert context["right"] == photographed["today after"]
    assert (context["left"].number, context["right"].number) == (1, 3)
    assert [p.pk for p in context["strip"]] == [
        photographed[k].pk
        for k in (
            "first before",
            "first after",
            "second before",
            "second after",
            "today before",
            "today after",
        )
    ]
    body = response.content.decode()
    assert file_url(photographed["first before"]) in body
    assert file_url(photographed["today after"]) in body
    assert "Session 1 · 29 Sep 2026 · Before" in body
    assert "Session 3 · 24 Nov 2026 · After" in body


def test_the_comparison_sides_can_be_picked(client, practitioner, plan, photographed):
    client.force_login(practitioner.user)

    response = client.get(
        compare_url(plan),
        {
            "left": photographed["second before"].pk,
            "right": photographed["second after"].pk,
        },
    )

    assert response.context["left"] == photographed["second before"]
    assert response.context["right"] == photographed["second after"]
    body = response.content.decode()
    # The strip says which photos are on show, in words and for screen readers.
    assert body.count('aria-current="true"') == 2
    assert "Shown left" in body and "Shown right" in body
    left, right = photographed["second before"].pk, photographed["second after"].pk
    assert f'href="?area=face&amp;left={left}&amp;right={right}"' not in body
    assert 'aria-current="page" href="?area=face"' in body


@pytest.mark.parametrize(
    "left,right",
    [
        ("elsewhere", "elsewhere"),  # another patient's photo
        ("neck before", "neck after"),  # another area of this plan
        ("junk", "-1"),
        ("999999", ""),
    ],
)
def test_photo_ids_from_elsewhere_are_ignored(
    client, practitioner, plan, photographed, left, right
):
    client.force_login(practitioner.user)

    def pk(key: str) -> str:
        return str(photographed[key].pk) if key in photographed else key

    response = client.get(compare_url(plan), {"left": pk(left), "right": pk(right)})

    assert response.context["left"] == photographed["first before"]
    assert response.context["right"] == photographed["today after"]
    assert file_url(photographed["elsewhere"]) not in response.content.decode()


def test_the_comparison_shows_one_area_at_a_time(
    client, practitioner, plan, photographed
):
    client.force_login(practitioner.user)

    neck = client.get(compare_url(plan), {"area": "neck"})
    unknown = client.get(compare_url(plan), {"area": "elbow"})

    assert neck.context["left"] == photographed["neck before"]
    assert neck.context["right"] == photographed["neck after"]
    assert len(neck.context["strip"]) == 2
    assert unknown.context["area"] == "face"


def test_a_plan_without_photos_says_so(client, practitioner, plan, course):
    client.force_login(practitioner.user)

    response = client.get(compare_url(plan))

    assert response.status_code == 200
    assert response.context["area"] is None
    assert "No photos in this plan yet" in response.content.decode()


# The practitioner's day ---------------------------------------------------------------


@pytest.fixture
def day(course, practitioner, other_practitioner, room, other_room):
    """Today for the practitioner: session 3 of the course, a first session of
    another plan, a consultation and a cancelled session; others' and tomorrow's
    appointments are not theirs."""
    newcomer = make_plan(practitioner, areas=("chest",), planned=4)
    first_of_new = add_session(newcomer, at(TODAY, 12), room)
    consultation = AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=at(TODAY, 14),
        kind=Appointment.Kind.CONSULTATION,
    )
    add_session(newcomer, at(TODAY, 16), room, status=Appointment.Status.CANCELLED)
    add_session(make_plan(other_practitioner), at(TODAY, 10), other_room)
    add_session(newcomer, at(TODAY + timedelta(days=1), 10), room)
    return {"course": course[2], "first": first_of_new, "consultation": consultation}


def test_my_day_lists_todays_sessions_with_what_to_know(client, practitioner, day):
    client.force_login(practitioner.user)

    response = client.get(reverse("plans:my_day"))

    assert response.status_code == 200
    rows = response.context["rows"]
    assert [r["appointment"] for r in rows] == [
        day["course"].appointment,
        day["first"].appointment,
        day["consultation"],
    ]
    assert [r.get("number") for r in rows] == [3, 1, None]
    assert rows[0]["previous"].session.number == 2
    assert rows[1]["previous"] is None
    body = response.content.decode()
    assert "Standard: session 3 of 6" in body
    assert "Standard: session 1 of 4" in body
    assert "Topical medication: Tretinoin 0.025% cream" in body
    assert "Tendency to keloid or raised scars" in body
    assert "Face 1.00 mm × 2; Neck 0.50 mm × 2" in body
    assert "numbing Lidocaine 4% cream 30 min" in body
    assert "redness moderate" in body
    assert "First session of the plan." in body
    assert record_url(day["course"]) in body
    assert "Record session" in body
    # The consultation opens on its form, for the practitioner to write.
    assert reverse("clinic:consultation_record", args=[day["consultation"].pk]) in body


def test_my_day_shows_the_front_desks_notes_of_each_booking(client, practitioner, day):
    Appointment.objects.filter(pk=day["consultation"].pk).update(
        notes="Says she may be pregnant."
    )
    client.force_login(practitioner.user)

    body = client.get(reverse("plans:my_day")).content.decode()

    assert "Notes from the booking:</strong> Says she may be pregnant." in body


def test_my_day_shows_what_is_already_recorded(client, practitioner, day):
    signed(day["course"], practitioner.user)
    draft(day["first"], areas={"chest": ("0.50", 2)})
    client.force_login(practitioner.user)

    body = client.get(reverse("plans:my_day")).content.decode()

    assert "Open record" in body
    assert "Continue record" in body
    assert "Record session" not in body
    # The session just signed doesn't count as its own predecessor.
    assert "Standard: session 3 of 6" in body


def test_a_manager_picks_whose_day_to_see(client, manager, practitioner, day):
    client.force_login(manager)

    nobody = client.get(reverse("plans:my_day"))
    chosen = client.get(reverse("plans:my_day"), {"practitioner": practitioner.pk})

    assert nobody.context["practitioner"] is None
    assert "Pick a practitioner" in nobody.content.decode()
    # The picker doesn't look as if it showed someone already.
    assert '<option value="" selected>Choose a practitioner' in (
        nobody.content.decode()
    )
    assert chosen.context["practitioner"] == practitioner
    assert '<option value="" selected>' not in chosen.content.decode()
    assert len(chosen.context["rows"]) == 3


def test_a_practitioner_opens_their_own_day_without_a_picker(
    client, other_practitioner, day
):
    client.force_login(other_practitioner.user)

    response = client.get(reverse("plans:my_day"))

    assert response.context["practitioner"] == other_practitioner
    assert len(response.context["rows"]) == 1
    assert response.context["practitioners"] == []


# Query counts -----------------------------------------------------------------------


def grow_course(plan, practitioner, room, sessions: int) -> None:
    """More signed sessions before today, each with areas, products and photos."""
    for n in range(sessions):
        session = add_session(plan, at(date(2026, 3, 3) + timedelta(weeks=4 * n)), room)
        signed(
            session,
            practitioner.user,
            areas={"face": ("1.00", 2), "neck": ("0.50", 1), "chest": ("0.75", 1)},
            products=["Recovery gel", "Peptide serum"],
        )
        photo(session, practitioner.user, "before")
        photo(session, practitioner.user, "after")
        photo(session, practitioner.user, "after", "neck")


def test_signing_a_colleagues_draft_asks_that_it_was_read(
    client, practitioner, other_practitioner, today
):
    client.force_login(other_practitioner.user)
    post_as_page(client, record_url(today), record_data(notes="Written by Grace."))
    client.force_login(practitioner.user)
    url = record_url(today)

    page = client.get(url).content.decode()
    refused = post_as_page(client, url, record_data(action="sign"))
    signed_now = post_as_page(client, url, record_data(action="sign", draft_read="on"))

    assert f"Draft last saved by {other_practitioner}" in page
    assert f"I have read {other_practitioner}'s draft" in page
    body = refused.content.decode()
    assert f"{other_practitioner} wrote this draft: read it, tick" in body
    # Still asked on the page that refused (nothing was saved).
    assert 'name="draft_read"' in body
    assert signed_now.status_code == 302
    record = SessionRecord.objects.get(session=today)
    assert (record.signed_by, record.last_saved_by) == (
        practitioner.user,
        practitioner.user,
    )


def test_signing_a_session_booked_with_a_colleague_asks_that_you_stood_in(
    client, practitioner, other_practitioner, today
):
    """The record puts the signer's name to the treatment: the one booked to
    give it didn't."""
    url = record_url(today)
    client.force_login(practitioner.user)
    # Their own session asks nothing of the kind.
    assert "in place of" not in client.get(url).content.decode()
    client.force_login(other_practitioner.user)

    page = client.get(url).content.decode()
    refused = post_as_page(client, url, record_data(action="sign"))
    signed = post_as_page(client, url, record_data(action="sign", stood_in="on"))

    assert f"I treated this patient in place of {practitioner}" in page
    assert f"This session is booked with {practitioner}: if you treated" in (
        refused.content.decode()
    )
    assert signed.status_code == 302
    record = SessionRecord.objects.get(session=today)
    assert record.signed_by == other_practitioner.user
    # The record says so, the booking naming the colleague.
    shown = client.get(url).content.decode()
    assert f"by {other_practitioner}, in place of {practitioner}, who it was" in shown


def test_signing_with_a_form_error_asks_about_the_colleagues_draft_at_once(
    client, practitioner, other_practitioner, today
):
    client.force_login(other_practitioner.user)
    post_as_page(client, record_url(today), record_data(notes="Written by Grace."))
    client.force_login(practitioner.user)

    refused = post_as_page(
        client,
        record_url(today),
        record_data(action="sign", ended_at="2026-11-24T09:00"),
    )

    body = refused.content.decode()
    errors = refused.context["form"].errors
    assert "ended_at" in errors or "__all__" in errors
    # The form's error and what signing asks to read, on one try.
    assert f"{other_practitioner} wrote this draft: read it, tick" in body
    assert not SessionRecord.objects.get(session=today).is_signed


def test_the_record_page_uses_a_fixed_number_of_queries(
    client, practitioner, plan, room, today, django_assert_max_num_queries
):
    client.force_login(practitioner.user)
    url = record_url(today)
    with django_assert_max_num_queries(QUERIES_RECORD_FORM):
        page = client.get(url)
    # On a tablet the photos come below the form: a link at the top goes there.
    assert 'href="#photos"' in page.content.decode()
    assert 'id="photos"' in page.content.decode()
    signed(today, practitioner.user)
    with django_assert_max_num_queries(QUERIES_RECORD):
        assert client.get(url).status_code == 200

    grow_course(plan, practitioner, room, 5)
    record = SessionRecord.objects.get(session=today)
    for n in range(4):
        records.amend_record(
            record=record,
            changes={"notes": f"Note {n}"},
            entries=entries({"face": (f"1.{n}0", 2), "neck": ("0.50", 1)}),
            products=[product("Recovery gel")],
            reason=f"Reason {n}",
            by=practitioner.user,
            now=timezone.now(),
        )
        photo(today, practitioner.user, "after", "neck")
    for shown in Photo.objects.all()[:2]:
        photos_service.remove_photo(
            photo=shown, reason="Blurred.", by=practitioner.user
        )
    with django_assert_max_num_queries(QUERIES_RECORD):
        large = client.get(url)
    assert len(large.context["photos"]) == 2
    assert len(large.context["photo_removals"]) == 2
    assert large.content.decode().count("Reason ") == 4

    fresh = add_session(plan, at(TODAY, 12), room)
    with django_assert_max_num_queries(QUERIES_RECORD_FORM):
        assert client.get(record_url(fresh)).status_code == 200


def test_my_day_uses_a_fixed_number_of_queries(
    client, practitioner, plan, room, day, django_assert_max_num_queries
):
    client.force_login(practitioner.user)
    with django_assert_max_num_queries(QUERIES_MY_DAY):
        small = client.get(reverse("plans:my_day"))
    assert len(small.context["rows"]) == 3

    grow_course(plan, practitioner, room, 5)
    for hour in (17, 18):
        newcomer = make_plan(practitioner)
        earlier = add_session(newcomer, at(SECOND, hour), room)
        signed(earlier, practitioner.user)
        add_session(newcomer, at(TODAY, hour), room)
    with django_assert_max_num_queries(QUERIES_MY_DAY):
        large = client.get(reverse("plans:my_day"))
    assert len(large.context["rows"]) == 5
    assert [r.get("number") for r in large.context["rows"]] == [8, 1, None, 2, 2]


def test_the_comparison_uses_a_fixed_number_of_queries(
    client, practitioner, plan, room, photographed, django_assert_max_num_queries
):
    client.force_login(practitioner.user)
    with django_assert_max_num_queries(QUERIES_COMPARE):
        small = client.get(compare_url(plan))
    assert len(small.context["strip"]) == 6

    grow_course(plan, practitioner, room, 5)
    with django_assert_max_num_queries(QUERIES_COMPARE):
        large = client.get(compare_url(plan))
    assert len(large.context["strip"]) == 16
    assert large.context["left"].number == 1


# Done when: the demo, as a new user would try it ------------------------------------


def local_text(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_the_demo_session_is_recorded_photographed_signed_and_compared(
    client, db, private_root
):
    call_command("seed_demo", stdout=StringIO())
    plan = TreatmentPlan.objects.get(status=TreatmentPlan.Status.ACTIVE)
    session = plan.sessions.select_related("appointment").get(number=1)
    appointment = session.appointment
    practitioner = User.objects.get(username="dr.patel")
    front_desk = User.objects.get(username="frontdesk")
    assert plan.practitioner.user == practitioner

    # After the session the practitioner opens it from their day.
    with time_machine.travel(appointment.end + timedelta(minutes=20), tick=False):
        client.force_login(practitioner)
        my_day = client.get(reverse("plans:my_day")).content.decode()
        assert record_url(session) in my_day
        assert "session 1 of 6" in my_day
        assert "Adapalene 0.1% gel at night" in my_day

        url = record_url(session)
        form = client.get(url).context["areas"]
        assert form.forms[0].initial["area"] == "face"
        data = record_data(
            areas=(("face", "1.00", "3"),),
            started_at=local_text(appointment.start),
            ended_at=local_text(appointment.end - timedelta(minutes=5)),
            products_after=[product("Hyaluronic acid serum").pk],
        )
        saved = post_as_page(client, url, data, follow=True)
        assert messages_of(saved) == ["Draft saved."]
        for moment, color in (("before", "red"), ("after", "pink")):
            response = post_as_page(
                client,
                upload_url(session),
                {"image": jpeg_upload(color=color), "moment": moment, "area": "face"},
                follow=True,
            )
            assert messages_of(response) == ["Photo added."]
        signed_response = post_as_page(
            client, url, data | {"action": "sign"}, follow=True
        )
        assert "Session completed and signed." in messages_of(signed_response)[0]

        compare = client.get(compare_url(plan))
        before = Photo.objects.get(moment=Photo.Moment.BEFORE)
        after = Photo.objects.get(moment=Photo.Moment.AFTER)
        assert (compare.context["left"], compare.context["right"]) == (before, after)
        assert "Session 1 ·" in compare.content.decode()

        record = SessionRecord.objects.get(session=session)
        assert record.signed_by == practitioner
        assert record.areas.get().depth_mm == Decimal("1.00")
        appointment.refresh_from_db()
        assert appointment.status == Appointment.Status.COMPLETED

        # The front desk sees the session completed, and no photo.
        client.force_login(front_desk)
        plan_page = client.get(plan.get_absolute_url()).content.decode()
        assert ">Completed</span>" in plan_page
        assert "/plans/photos/" not in plan_page
        for shown in (before, after):
            for size in ("full", "thumb"):
                assert client.get(file_url(shown, size)).status_code == 403
        assert client.get(compare_url(plan)).status_code == 403
        assert client.get(url).status_code == 403


# Removing a photo -------------------------------------------------------------------


def remove_url(shown: Photo) -> str:
    return reverse("plans:photo_remove", args=[shown.pk])


def test_a_wrong_photo_is_removed_with_its_files_and_kept_in_the_amendments(
    client,
    practitioner,
    signed_today,
    private_root,
    django_capture_on_commit_callbacks,
):
    shown = signed_today.photos.get()
    assert len(stored_files(private_root)) == 2  # the photo and its thumbnail
    client.force_login(practitioner.user)
    assert remove_url(shown) in client.get(record_url(signed_today)).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            remove_url(shown), {"reason": "Another patient's photo."}, follow=True
        )

    assert response.redirect_chain == [(record_url(signed_today), 302)]
    assert "Photo removed." in messages_of(response)
    assert not Photo.objects.exists()
    assert stored_files(private_root) == []
    amendment = Amendment.objects.get()
    assert amendment.reason == "Another patient's photo."
    assert amendment.by == practitioner.user
    [change] = amendment.changes
    assert change["field"] == "photos"
    assert change["before"].startswith("Before, Face (")
    assert change["after"] == "—"
    assert PhotoRemoval.objects.get().photo == change["before"]


def test_a_photo_is_removed_only_with_a_reason_and_by_a_practitioner(
    client, practitioner, manager, signed_today
):
    shown = signed_today.photos.get()
    client.force_login(practitioner.user)

    response = client.post(remove_url(shown), {"reason": "  "})

    assert response.status_code == 200
    assert "Say why the photo is removed." in response.content.decode()
    client.force_login(manager)
    assert client.post(remove_url(shown), {"reason": "Audit."}).status_code == 403
    assert "Remove</a>" not in client.get(record_url(signed_today)).content.decode()
    assert Photo.objects.count() == 1
    assert not Amendment.objects.exists()


def test_a_photo_removed_from_a_draft_leaves_a_trace_but_no_amendment(
    client, practitioner, today, private_root, django_capture_on_commit_callbacks
):
    shown = photo(today, practitioner.user)
    uploaded = timezone.localtime(shown.uploaded_at)
    described = f"Before, Face ({uploaded:%-d %b %Y, %H:%M:%S})"
    client.force_login(practitioner.user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            remove_url(shown), {"reason": "Another patient's photo."}, follow=True
        )

    assert not Photo.objects.exists()
    assert stored_files(private_root) == []
    assert not Amendment.objects.exists()
    removal = PhotoRemoval.objects.get()
    assert (removal.session, removal.photo, removal.reason, removal.by) == (
        today,
        described,
        "Another patient's photo.",
        practitioner.user,
    )
    page = response.content.decode()
    assert "Removed photos" in page
    assert f"{described}: removed by {practitioner}" in page
    assert "No photos now: the removed ones are listed below." in page


def test_a_photo_removed_already_is_answered_on_its_record(
    client, practitioner, other_practitioner, today, django_capture_on_commit_callbacks
):
    shown = photo(today, practitioner.user)
    client.force_login(practitioner.user)
    url = remove_url(shown)
    for reason in ("x", "...........", "1234567"):
        short = client.post(url, {"reason": reason})
        assert "Say in a few words why the photo is removed." in (
            short.content.decode()
        )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"reason": "Out of focus."})
    client.force_login(other_practitioner.user)

    again = client.post(url, {"reason": "Blurred."}, follow=True)

    assert again.redirect_chain == [(record_url(today), 302)]
    assert any(
        m.startswith(
            # Named as the practitioner everywhere ("Dr Priya Patel").
            f"This photo was removed already, by {practitioner} on "
        )
        for m in messages_of(again)
    ), messages_of(again)
    assert PhotoRemoval.objects.count() == 1
    assert client.get(remove_url(shown)).status_code == 302
    assert client.get(reverse("plans:photo_remove", args=[999999])).status_code == 404


def test_a_removed_photo_is_named_to_the_second_with_its_note(
    client, practitioner, today
):
    shown = photo(today, practitioner.user, note="Left cheek, flash off")
    uploaded = timezone.localtime(shown.uploaded_at)
    client.force_login(practitioner.user)

    post_as_page(client, remove_url(shown), {"reason": "Blurred."})

    assert PhotoRemoval.objects.get().photo == (
        f"Before, Face ({uploaded:%-d %b %Y, %H:%M:%S}): Left cheek, flash off"
    )


def test_a_photo_added_after_signing_is_in_the_records_history(
    practitioner, signed_today
):
    photo(signed_today, practitioner.user, moment=Photo.Moment.AFTER)

    amendment = Amendment.objects.get()
    assert amendment.reason == "Photo added after the record was signed."
    [change] = amendment.changes
    assert change["before"] == "—"
    assert change["after"].startswith("After, Face (")


def test_a_manager_adds_no_photo_to_a_signed_record(
    client, manager, signed_today, private_root
):
    client.force_login(manager)
    assert "Add photo" not in client.get(record_url(signed_today)).content.decode()

    response = client.post(
        upload_url(signed_today),
        {"image": jpeg_upload(), "moment": "after", "area": "face", "note": ""},
        follow=True,
    )

    assert response.status_code == 403
    assert signed_today.photos.count() == 1
    assert not Amendment.objects.exists()
    assert len(stored_files(private_root)) == 2  # the earlier photo only


@pytest.mark.parametrize(("total", "initial"), [("0", "2"), ("-1", "2"), ("0", "0")])
def test_a_count_of_area_rows_cut_on_its_way_deletes_no_area(
    client, practitioner, today, total, initial
):
    client.force_login(practitioner.user)
    url = record_url(today)
    post_as_page(
        client, url, record_data(areas=(("face", "0.50", "2"), ("neck", "0.75", "1")))
    )

    response = post_as_page(
        client,
        url,
        {
            **record_data(areas=(("face", "0.50", "2"), ("neck", "0.75", "1"))),
            "areas-TOTAL_FORMS": total,
            "areas-INITIAL_FORMS": initial,
        },
    )

    assert response.status_code == 200
    assert "This page was changed on its way here" in response.content.decode()
    record = SessionRecord.objects.get(session=today)
    assert sorted(a.area for a in record.areas.all()) == ["face", "neck"]


def test_tampered_products_and_area_counts_are_refused_in_words(
    client, practitioner, today
):
    client.force_login(practitioner.user)
    url = record_url(today)
    sent = "7" * 5000

    products = client.post(url, record_data(products_after=[sent]))
    counts = client.post(
        url, {**record_data(), "areas-TOTAL_FORMS": "", "areas-INITIAL_FORMS": ""}
    )

    assert sent not in products.content.decode()
    assert products.context["form"].errors["products_after"] == [
        "Pick one of the choices offered: that one is not among them."
    ]
    page = counts.content.decode()
    assert "This page was changed on its way here" in page
    assert "bug report" not in page
    assert "Hidden field" not in page
    letters = client.post(url, {**record_data(), "areas-TOTAL_FORMS": "abc"})
    assert "This page was changed on its way here" in letters.content.decode()
    assert "Hidden field" not in letters.content.decode()
    assert not SessionRecord.objects.filter(session=today).exists()


@pytest.mark.parametrize("started", ["draft", "photo"])
def test_a_session_the_practitioner_began_recording_stays_checked_in_and_booked(
    client, plan, practitioner, front_desk, room, started, mailoutbox
):
    """Its notes or photos are clinical records of a visit that happened: the
    front desk can neither take the check-in back nor cancel the session."""
    # Under way: 14:30 to 15:30, and it is 15:00.
    session = add_session(plan, at(TODAY, 14, 30), room)
    check_in_appointment(
        appointment=session.appointment, by=front_desk, now=at(TODAY, 14, 25)
    )
    if started == "draft":
        draft(session)
    else:
        photo(session, practitioner.user)
    client.force_login(front_desk)
    appointment = session.appointment
    detail = client.get(appointment.get_absolute_url()).content.decode()

    undo = client.post(
        reverse("clinic:appointment_undo_check_in", args=[appointment.pk]),
        follow=True,
    )
    cancel_url = reverse("plans:session_cancel", args=[session.pk])
    cancel = post_as_page(
        client, cancel_url, {"reason": "Entered by mistake"}, follow=True
    )

    assert "Undo check-in" not in detail
    assert "Cancel</a>" not in detail
    refusal = "started this session&#x27;s record (a draft or photos)"
    assert refusal in undo.content.decode()
    assert cancel.redirect_chain == [(plan.get_absolute_url(), 302)]
    assert "started this session's record" in messages_of(cancel)[0]
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CHECKED_IN
    assert mailoutbox == []


def test_a_draft_of_notes_is_saved_before_the_needling_without_a_depth(
    client, practitioner, today
):
    """Notes typed before the session: the area the page offers has no depth
    yet, and inventing one to save them would put a wrong depth on record."""
    client.force_login(practitioner.user)
    url = record_url(today)

    saved = post_as_page(
        client,
        url,
        record_data(areas=(("face", "", "2"),), notes="Nervous."),
        follow=True,
    )
    signed = post_as_page(
        client, url, record_data(action="sign", areas=(("face", "", "2"),))
    )

    assert saved.redirect_chain == [(url, 302)]
    # Said, not dropped without a word.
    assert any(
        m.startswith("Saved, except Face, which has no depth yet: type its depth")
        for m in messages_of(saved)
    )
    record = SessionRecord.objects.get(session=today)
    assert record.notes == "Nervous."
    assert not record.areas.exists()
    page = client.get(url)
    assert page.context["areas"].forms[0].initial["area"] == "face"
    # Signing still needs the depth.
    assert signed.status_code == 200
    record.refresh_from_db()
    assert not record.is_signed


def test_notes_written_ahead_of_a_session_dont_hold_it_in_the_calendar(
    client, plan, front_desk, room
):
    """A draft before the day is a plan of the session, not a record of one:
    the session can still be cancelled (and the plan with it)."""
    ahead = add_session(plan, at(TODAY + timedelta(days=3), 10), room)
    draft(ahead, areas={})
    client.force_login(front_desk)

    response = post_as_page(
        client,
        reverse("plans:session_cancel", args=[ahead.pk]),
        {"reason": "Patient unwell"},
    )

    assert response.status_code == 302
    ahead.appointment.refresh_from_db()
    assert ahead.appointment.status == Appointment.Status.CANCELLED


def test_a_plan_with_a_past_session_begun_on_record_is_not_cancelled_whole(
    client, plan, front_desk, room
):
    """Refused in words (it was a server error): the session's record stays."""
    yesterday = add_session(plan, at(TODAY - timedelta(days=1), 10), room)
    draft(yesterday)
    client.force_login(front_desk)

    response = post_as_page(
        client,
        reverse("plans:cancel", args=[plan.pk]),
        {"reason": "Moving abroad"},
        follow=True,
    )

    assert response.status_code == 200
    assert "is over and still booked" in response.content.decode()
    plan.refresh_from_db()
    assert plan.is_open


def test_a_session_checked_in_early_and_begun_on_record_stays(
    client, plan, practitioner, front_desk, room
):
    """Seen early: the booked start hasn't come, but the record has begun."""
    later = add_session(plan, at(TODAY, 16, 30), room)
    check_in_appointment(
        appointment=later.appointment, by=front_desk, now=at(TODAY, 14, 55)
    )
    photo(later, practitioner.user)
    client.force_login(front_desk)

    cancel = post_as_page(
        client,
        reverse("plans:session_cancel", args=[later.pk]),
        {"reason": "Entered by mistake"},
        follow=True,
    )

    assert "started this session's record" in messages_of(cancel)[0]
    later.appointment.refresh_from_db()
    assert later.appointment.status == Appointment.Status.CHECKED_IN


def test_a_plan_with_a_missed_session_still_booked_is_not_cancelled_whole(
    plan, front_desk, room
):
    """Cancelling the past session would email the patient about it."""
    add_session(plan, at(TODAY - timedelta(days=1), 10), room)

    with pytest.raises(PlanError, match="is over and still booked"):
        cancel_plan(plan=plan, reason="Moving abroad", by=front_desk)

    plan.refresh_from_db()
    assert plan.is_open


def test_the_photo_form_waits_for_the_day_of_the_session(client, practitioner, course):
    """Offered before, it would refuse the photo and lose the chosen file."""
    later = course[3]
    client.force_login(practitioner.user)

    page = client.get(record_url(later)).content.decode()

    assert "Photos are added on the day of the session, from Tue 22 Dec 2026" in page
    assert reverse("plans:photo_upload", args=[later.pk]) not in page
    today = client.get(record_url(course[2])).content.decode()
    assert reverse("plans:photo_upload", args=[course[2].pk]) in today


def test_a_start_well_before_the_check_in_is_flagged(
    client, practitioner, front_desk, today
):
    """Allowed (a check-in is sometimes clicked late), but aftercare runs from
    these times: a mistyped hour is pointed out."""
    check_in_appointment(
        appointment=today.appointment, by=front_desk, now=at(TODAY, 9, 55)
    )
    client.force_login(practitioner.user)

    response = post_as_page(
        client,
        record_url(today),
        record_data(started_at="2026-11-24T08:55", ended_at="2026-11-24T09:45"),
        follow=True,
    )

    assert any("before the patient was checked in" in m for m in messages_of(response))
    assert SessionRecord.objects.filter(session=today).exists()


def test_signing_a_session_of_a_few_minutes_asks_to_confirm_the_times_first(
    client, practitioner, today
):
    """Aftercare runs from the end: 10:00-10:01 typed for 10:00-11:00 would
    send the 12 h email an hour early."""
    client.force_login(practitioner.user)
    typed = record_data(
        action="sign", started_at="2026-11-24T10:00", ended_at="2026-11-24T10:01"
    )

    asked = post_as_page(client, record_url(today), typed)

    assert "recorded as lasting 1 minute: check the times" in asked.content.decode()
    assert not SessionRecord.objects.filter(session=today).exists()
    ticked = typed | {
        "times_checked": "on",
        "times_checked_for": "2026-11-24T10:00|2026-11-24T10:01",
    }
    post_as_page(client, record_url(today), ticked)
    assert SessionRecord.objects.get(session=today).is_signed


def test_signing_times_well_before_the_check_in_asks_to_confirm_them_first(
    client, practitioner, front_desk, today
):
    check_in_appointment(
        appointment=today.appointment, by=front_desk, now=at(TODAY, 9, 55)
    )
    client.force_login(practitioner.user)
    typed = record_data(
        action="sign", started_at="2026-11-24T08:55", ended_at="2026-11-24T09:45"
    )

    asked = post_as_page(client, record_url(today), typed)

    assert asked.status_code == 200
    page = asked.content.decode()
    assert "before the patient was checked in (09:55)" in page
    assert 'name="times_checked"' in page
    assert not SessionRecord.objects.filter(session=today).exists()  # nothing saved

    ticked = typed | {
        "times_checked": "on",
        "times_checked_for": "2026-11-24T08:55|2026-11-24T09:45",
    }
    # Ticked, then the start changed: asked again, for the new times.
    changed = post_as_page(
        client, record_url(today), ticked | {"started_at": "2026-11-24T08:30"}
    )
    assert changed.status_code == 200
    assert "recorded as starting at 08:30" in changed.content.decode()
    assert not SessionRecord.objects.filter(session=today).exists()

    signed_now = post_as_page(client, record_url(today), ticked, follow=True)

    assert signed_now.redirect_chain[-1][1] == 302
    assert SessionRecord.objects.get(session=today).is_signed
    # Confirmed: not questioned again beside the success.
    assert not any(
        "before the patient was checked in" in m for m in messages_of(signed_now)
    )


def test_signing_refused_for_another_reason_asks_about_the_times_at_once(
    client, practitioner, front_desk, today
):
    check_in_appointment(
        appointment=today.appointment, by=front_desk, now=at(TODAY, 9, 55)
    )
    client.force_login(practitioner.user)
    # Ends in the future (refused) and starts well before the check-in (asked).
    typed = record_data(
        action="sign", started_at="2026-11-24T08:55", ended_at="2026-11-24T16:00"
    )

    page = post_as_page(client, record_url(today), typed).content.decode()

    assert "The end of the session can&#x27;t be in the future." in page
    assert "recorded as starting at 08:55, before the patient was checked in" in page
    assert 'name="times_checked"' in page
    assert not SessionRecord.objects.filter(session=today).exists()


def test_signing_a_session_that_ended_before_the_check_in_asks_to_confirm_it(
    client, practitioner, front_desk, today
):
    # Started within the check-in's slack, but over before the patient arrived.
    check_in_appointment(
        appointment=today.appointment, by=front_desk, now=at(TODAY, 9, 55)
    )
    client.force_login(practitioner.user)
    typed = record_data(
        action="sign", started_at="2026-11-24T09:30", ended_at="2026-11-24T09:54"
    )

    asked = post_as_page(client, record_url(today), typed)

    page = asked.content.decode()
    assert (
        "The session is recorded as ending at 09:54, before the patient was checked "
        "in (09:55): check the times."
    ) in page
    assert "recorded as starting" not in page
    assert not SessionRecord.objects.filter(session=today).exists()
    ticked = typed | {
        "times_checked": "on",
        "times_checked_for": "2026-11-24T09:30|2026-11-24T09:54",
    }
    post_as_page(client, record_url(today), ticked)
    assert SessionRecord.objects.get(session=today).is_signed


NECK_WITHOUT_DEPTH = (("face", "1.00", "2"), ("neck", "", "2"))


@pytest.mark.parametrize(
    ("areas", "typed", "status"),
    [
        ((("face", "1.00", "2"),), "notes,areas-0-depth_mm", 204),
        # The neck, typed in, has no depth yet: kept out of the draft, so not
        # "saved" (the page asks before the photo).
        (NECK_WITHOUT_DEPTH, "notes,areas-1-passes", 409),
        # The page's own rows waiting for their depth (a "before" photo comes
        # before the needling): nothing typed is lost.
        (NECK_WITHOUT_DEPTH, "notes", 204),
    ],
)
def test_the_draft_saved_before_a_photo_answers_saved_only_when_all_of_it_is(
    client, practitioner, today, areas, typed, status
):
    client.force_login(practitioner.user)

    response = post_as_page(
        client,
        record_url(today),
        record_data(areas=areas, notes="Tolerated well.") | {"changed_fields": typed},
        HTTP_X_DRAFT_BEFORE_PHOTO="1",
    )

    assert response.status_code == status
    assert SessionRecord.objects.get(session=today).notes == "Tolerated well."


def test_a_record_sent_after_the_sign_in_ended_shows_what_was_typed(
    client, practitioner, today
):
    """Nothing is saved, and nothing typed is lost behind the sign-in page."""
    client.force_login(practitioner.user)
    url = record_url(today)
    data = record_data(notes="Mild erythema, settled after 10 minutes.")
    data["seen"] = client.get(url).context["form"]["seen"].value()
    data["changed_fields"] = "notes,areas-0-depth_mm"
    client.logout()

    response = client.post(url, data, HTTP_REFERER=f"http://testserver{url}")

    assert response.status_code == 200
    # Typed clinical notes: not kept by the browser or a proxy.
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert "Your sign-in had ended" in page
    assert "Mild erythema, settled after 10 minutes." in page
    assert "Areas 0 depth mm" in page
    assert "Dermapen" not in page  # not typed in: not listed
    assert f'href="/accounts/login/?next={url.replace("/", "%2F")}"' in page
    assert not SessionRecord.objects.filter(session=today).exists()
    # A button alone, or a page whose script says nothing was typed (its
    # prefilled values and stamps aside), goes to the sign-in page as before.
    button = client.post(reverse("plans:consent", args=[today.plan.pk]))
    untouched = client.post(url, data | {"changed_fields": ""})
    for response in (button, untouched):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_amending_the_start_to_well_before_the_check_in_asks_to_confirm_it(
    client, practitioner, signed_today
):
    """As signing does: aftercare runs from these times."""
    Appointment.objects.filter(pk=signed_today.appointment_id).update(
        checked_in_at=at(TODAY, 9, 55)
    )
    client.force_login(practitioner.user)
    typed = record_data(
        areas=FACES,
        started_at="2026-11-24T08:00",
        ended_at="2026-11-24T09:45",
        reason="Start time.",
    )

    asked = post_as_page(client, amend_url(signed_today), typed)

    assert asked.status_code == 200
    page = asked.content.decode()
    assert "recorded as starting at 08:00, before the patient was checked in" in page
    assert 'name="times_checked"' in page
    assert not Amendment.objects.exists()
    ticked = typed | {
        "times_checked": "on",
        "times_checked_for": "2026-11-24T08:00|2026-11-24T09:45",
    }
    saved = post_as_page(client, amend_url(signed_today), ticked, follow=True)
    assert saved.redirect_chain[-1][1] == 302
    assert Amendment.objects.count() == 1


def test_my_day_is_logged_as_an_opening_of_each_sessions_clinical_details(
    client, practitioner, today
):
    """It shows the medication, the screening and the last session's depths."""
    client.force_login(practitioner.user)

    client.get(reverse("plans:my_day"))

    logged = ClinicalAccess.objects.get()
    assert (logged.user, logged.patient, logged.object_id) == (
        practitioner.user,
        today.plan.patient,
        today.pk,
    )
    assert logged.what == "My day (session of 24 Nov 2026)"


def test_each_area_rows_inputs_are_named_for_screen_readers(
    client, practitioner, today
):
    client.force_login(practitioner.user)

    page = client.get(record_url(today)).content.decode()

    for name in ("Area", "Needle depth (mm)", "Passes", "Remove this area"):
        assert f'aria-label="{name}, row 1"' in page


def test_a_signed_record_doesnt_show_todays_consultation_as_its_own(
    client, practitioner, signed_today
):
    consultation = signed_today.plan.consultation
    # Decided at the consultation in September, long before today's session.
    type(consultation).objects.filter(pk=consultation.pk).update(
        updated_at=at(FIRST) - timedelta(days=7)
    )
    client.force_login(practitioner.user)

    as_signed = client.get(record_url(signed_today)).content.decode()
    my_day = client.get(reverse("plans:my_day")).content.decode()
    with time_machine.travel(timezone.make_aware(NOW) + timedelta(hours=3)):
        consultation.topical_medication = "Isotretinoin (started today)"
        consultation.save()
        changed = client.get(record_url(signed_today)).content.decode()

    # Before treating, the medication and screening are pointed out; once signed,
    # the record is what was done.
    assert "Topical medication" not in as_signed
    assert "after this record was signed" not in as_signed
    assert "Tretinoin" not in my_day.split("session 3 of")[1].split("card-body")[0]
    assert "Isotretinoin" not in changed
    assert "was changed on 24 Nov 2026, 18:00, after this record was signed" in changed


def test_a_plan_area_left_without_depth_in_a_draft_is_offered_again(
    client, practitioner, today
):
    """Face done, neck still to come: the draft keeps the face; the neck stays on
    the page to fill in, not dropped because another area was saved."""
    today.plan.areas = ["face", "neck"]
    today.plan.save(update_fields=["areas"])
    client.force_login(practitioner.user)
    url = record_url(today)

    post_as_page(
        client, url, record_data(areas=(("face", "1.00", "2"), ("neck", "", "2")))
    )

    rows = [f.initial for f in client.get(url).context["areas"].forms]
    assert [(r["area"], r.get("depth_mm")) for r in rows[:2]] == [
        ("face", Decimal("1.00")),
        ("neck", None),
    ]
    assert list(
        SessionRecord.objects.get(session=today).areas.values_list("area", flat=True)
    ) == ["face"]


def test_a_record_and_its_photos_keep_to_the_areas_the_consultation_screened(
    client, practitioner, today
):
    consultation = today.plan.consultation
    consultation.areas = ["face", "neck"]
    consultation.save(update_fields=["areas"])
    client.force_login(practitioner.user)

    page = client.get(record_url(today))
    offered = [v for v, _label in page.context["areas"].forms[0].fields["area"].choices]
    photo_areas = [v for v, _label in page.context["photo_form"].fields["area"].choices]
    # Posted anyway (a page from before, or by hand): refused in words.
    refused = post_as_page(
        client, record_url(today), record_data(areas=(("chest", "0.50", "2"),))
    )
    photo = client.post(
        upload_url(today),
        {"image": jpeg_upload(), "moment": "before", "area": "chest"},
        follow=True,
    )

    assert offered == ["", "face", "neck"]
    assert photo_areas == ["face", "neck"]
    assert refused.status_code == 200
    assert not SessionRecord.objects.filter(session=today).exists()
    assert not today.photos.exists()
    assert photo.status_code == 200


def test_the_areas_rule_refuses_in_the_services_too(practitioner, today):
    from plans import photos as photo_service

    today.plan.consultation.areas = ["face"]
    today.plan.consultation.save(update_fields=["areas"])

    with pytest.raises(
        PlanError, match="did not look at neck: its screening covers face"
    ):
        records.save_record(
            record=SessionRecord(session=today),
            entries=entries({"neck": ("0.50", 2)}),
            products=[],
        )
    with pytest.raises(PlanError, match="did not look at hands"):
        photo_service.add_photo(
            session=today,
            upload=jpeg_upload(),
            moment="before",
            area="hands",
            note="",
            by=practitioner.user,
        )


def test_notes_typed_on_a_session_cancelled_meanwhile_are_shown_not_dropped(
    client, practitioner, front_desk, course
):
    today = course[3]  # Next month's, which may still be cancelled.
    client.force_login(practitioner.user)
    page = client.get(record_url(today))
    from plans import services as plan_services

    plan_services.cancel_session(session=today, reason="Patient ill", by=front_desk)

    response = client.post(
        record_url(today),
        {
            **record_data(notes="Reacted to lidocaine last time: use none."),
            "seen": hidden_value(page, "seen"),
        },
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "This session was cancelled while your page was open" in body
    assert "Reacted to lidocaine last time: use none." in body
    assert "Face: 1.00 mm, 2 passes" in body
    assert not SessionRecord.objects.filter(session=today).exists()


def test_a_practitioner_account_not_set_up_yet_is_told_what_is_missing(client):
    from clinic import roles
    from clinic.tests.factories import UserFactory

    newcomer = UserFactory(username="lee.new", role=roles.PRACTITIONER)
    client.force_login(newcomer)

    for url in (reverse("clinic:dashboard"), reverse("plans:my_day")):
        page = client.get(url).content.decode()
        assert "is not set up as a practitioner yet" in page, url
        assert "Settings → Practitioners" in page


def test_signing_after_a_later_refusal_asks_that_it_was_read(
    client, practitioner, plan, today
):
    ConsultationFactory(
        patient=plan.patient,
        decision=Consultation.Decision.REFER,
        decision_reason="Isotretinoin last month.",
    )
    client.force_login(practitioner.user)
    url = record_url(today)

    page = client.get(url).content.decode()
    refused = post_as_page(client, url, record_data(action="sign"))
    signed_now = post_as_page(
        client, url, record_data(action="sign", despite_decision="on")
    )

    assert "I have read that the later consultation says refer elsewhere" in page
    assert "A later consultation of the patient says refer elsewhere." in (
        refused.content.decode()
    )
    assert signed_now.status_code == 302
    assert SessionRecord.objects.get(session=today).signed_despite == "refer"
