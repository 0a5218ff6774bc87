from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.urls import reverse

from clinic.models import Appointment, Consultation
from clinic.tests.factories import clinic_time
from plans import records
from plans.forms import AreaFormSet, PhotoForm, RecordForm
from plans.forms.records import AreaForm
from plans.models import Amendment, Product, SessionRecord, TreatedArea
from plans.services import PlanError
from plans.tests.factories import ConsultationFactory
from plans.tests.record_factories import (
    add_session,
    draft,
    entries,
    make_plan,
    product,
    signed,
)

pytestmark = pytest.mark.django_db

START = clinic_time(2026, 11, 24, 10)  # a Tuesday; the session ends at 11:00
LATER = clinic_time(2026, 11, 24, 15)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def plan(practitioner, patient):
    return make_plan(practitioner, patient=patient)


@pytest.fixture
def session(plan, room):
    return add_session(plan, START, room)


def amend(record: SessionRecord, by, *, reason: str = "Typo.", **kwargs) -> Amendment:
    kwargs.setdefault("changes", {})
    kwargs.setdefault("entries", None)
    kwargs.setdefault("products", None)
    return records.amend_record(
        record=record, reason=reason, by=by, now=LATER, **kwargs
    )


# Drafts ---------------------------------------------------------------------------


def test_a_draft_keeps_areas_depths_passes_and_products(session):
    record = draft(
        session,
        areas={"face": ("1.25", 3), "neck": ("0.50", 2)},
        products=["Hyaluronic acid serum", "Recovery gel"],
        device="Dermapen 4",
        cartridge_lot="LOT-42",
        numbing_agent=product("Lidocaine 4% cream"),
        numbing_minutes=30,
        redness="mild",
        pinpoint_bleeding=True,
    )

    record = SessionRecord.objects.get(session=session)
    assert [(a.area, a.depth_mm, a.passes) for a in record.areas.all()] == [
        ("face", Decimal("1.25"), 3),
        ("neck", Decimal("0.50"), 2),
    ]
    assert sorted(p.name for p in record.products_after.all()) == [
        "Hyaluronic acid serum",
        "Recovery gel",
    ]
    assert record.device == "Dermapen 4"
    assert record.numbing_agent.name == "Lidocaine 4% cream"
    assert (record.started_at, record.ended_at) == (START, START + timedelta(hours=1))
    assert not record.is_signed
    session.appointment.refresh_from_db()
    assert session.appointment.status == Appointment.Status.BOOKED


def test_saving_a_draft_again_replaces_its_areas_and_products(session):
    record = draft(session, areas={"face": ("1.00", 2)}, products=["Recovery gel"])

    records.save_record(
        record=record,
        entries=entries({"neck": ("0.75", 1)}),
        products=[product("Peptide serum")],
        now=LATER,
    )

    assert [(a.area, a.depth_mm) for a in record.areas.all()] == [
        ("neck", Decimal("0.75"))
    ]
    assert [p.name for p in record.products_after.all()] == ["Peptide serum"]


def test_an_area_listed_twice_is_refused(session):
    record = SessionRecord(session=session, started_at=START)
    twice = entries({"face": ("1.00", 2)}) * 2
    with pytest.raises(PlanError, match="Each area can be listed once"):
        records.save_record(record=record, entries=twice, products=[], now=LATER)
    assert not SessionRecord.objects.exists()


@pytest.mark.parametrize("depth", ["0.10", "0.24", "2.51", "2.75"])
def test_the_database_refuses_a_depth_out_of_range(session, depth):
    record = draft(session)
    with pytest.raises(IntegrityError), transaction.atomic():
        TreatedArea.objects.create(
            record=record, area="neck", depth_mm=Decimal(depth), passes=1
        )
    assert list(record.areas.values_list("area", flat=True)) == ["face"]


@pytest.mark.parametrize("depth", ["0.25", "2.50"])
def test_the_ends_of_the_depth_range_are_allowed(session, depth):
    record = draft(session, areas={"face": (depth, 1)})
    assert record.areas.get().depth_mm == Decimal(depth)


def area_data(depth: str, passes: str = "2") -> dict:
    return {
        "areas-TOTAL_FORMS": "1",
        "areas-INITIAL_FORMS": "0",
        "areas-0-area": "face",
        "areas-0-depth_mm": depth,
        "areas-0-passes": passes,
    }


@pytest.mark.parametrize(
    "depth,message",
    [
        ("0.1", "A needle depth is 0.25 mm at the least."),
        ("2.6", "A needle depth is 2.5 mm at the most."),
        ("-1", "A needle depth is 0.25 mm at the least."),
        ("10", "A needle depth is 2.5 mm at the most."),
        ("deep", "Give the depth in millimetres with at most two decimals"),
        ("1,5", "Give the depth in millimetres with at most two decimals"),
        ("NaN", "Give the depth in millimetres with at most two decimals"),
        ("Infinity", "Give the depth in millimetres with at most two decimals"),
    ],
)
def test_the_form_refuses_a_depth_out_of_range_in_words(depth, message):
    formset = AreaFormSet(area_data(depth), prefix="areas")
    assert not formset.is_valid()
    [error] = formset.errors[0]["depth_mm"]
    assert error.startswith(message)


@pytest.mark.parametrize(
    ("typed", "depth"), [("1.250", "1.25"), ("0.2500", "0.25"), ("2.5", "2.5")]
)
def test_a_depth_with_trailing_zeros_is_that_depth(typed, depth):
    formset = AreaFormSet(area_data(typed), prefix="areas")
    assert formset.is_valid(), formset.errors
    assert formset.cleaned_data[0]["depth_mm"] == Decimal(depth)


@pytest.mark.parametrize("passes", ["0", "11", "two", "1.5"])
def test_the_form_refuses_passes_out_of_range(passes):
    formset = AreaFormSet(area_data("1.00", passes=passes), prefix="areas")
    assert not formset.is_valid()
    assert formset.errors[0]["passes"] == [
        "Give the passes as a whole number, 1 to 10."
    ]


def test_the_form_refuses_an_area_listed_twice():
    data = area_data("1.00") | {
        "areas-TOTAL_FORMS": "2",
        "areas-1-area": "face",
        "areas-1-depth_mm": "1.50",
        "areas-1-passes": "1",
    }
    formset = AreaFormSet(data, prefix="areas")
    assert not formset.is_valid()
    assert formset.non_form_errors() == ["Each area can be listed once."]


def test_the_form_gives_depths_and_passes_as_entries():
    formset = AreaFormSet(area_data("1.25", passes="3"), prefix="areas")
    assert formset.is_valid()
    assert formset.entries() == entries({"face": ("1.25", 3)})


def test_an_end_before_the_start_is_refused(session):
    record = SessionRecord(
        session=session, started_at=START, ended_at=START - timedelta(minutes=5)
    )
    with pytest.raises(PlanError, match="The end must be after the start"):
        records.save_record(
            record=record,
            entries=entries({"face": ("1.00", 2)}),
            products=[],
            now=LATER,
        )
    assert not SessionRecord.objects.exists()
    assert not TreatedArea.objects.exists()


def test_the_database_refuses_an_end_before_the_start(session):
    record = draft(session)
    record.ended_at = record.started_at
    with pytest.raises(IntegrityError), transaction.atomic():
        record.save()


def test_a_draft_saved_mid_session_may_keep_the_planned_end(session):
    record = SessionRecord(
        session=session, started_at=START, ended_at=START + timedelta(hours=1)
    )
    records.save_record(
        record=record,
        entries=entries({"face": ("1.00", 2)}),
        products=[],
        now=START + timedelta(minutes=30),
    )
    assert SessionRecord.objects.get().ended_at == START + timedelta(hours=1)


def record_form(session, **data) -> RecordForm:
    return RecordForm(
        {"redness": "none", **data}, instance=SessionRecord(session=session)
    )


def test_the_form_refuses_an_end_before_the_start(session):
    backwards = record_form(
        session, started_at="2026-11-24T10:00", ended_at="2026-11-24T09:30"
    )
    assert not backwards.is_valid()
    assert "The end must be after the start." in backwards.errors["ended_at"]


def test_the_form_wants_a_numbing_agent_from_the_list_or_another_not_both(session):
    form = record_form(
        session,
        numbing_agent=product("Lidocaine 4% cream").pk,
        numbing_other="Home-made cream",
    )
    assert not form.is_valid()
    assert "not both" in str(form.errors["numbing_other"])


@pytest.mark.parametrize(
    "moment",
    [
        "2027-03-28T01:30",  # skipped: the clocks go forward
        "2027-10-31T01:30",  # happens twice: the clocks go back
    ],
)
def test_a_record_time_on_the_night_the_clocks_change_is_refused_in_words(
    session, moment
):
    form = record_form(session, started_at=moment)

    assert not form.is_valid()
    assert form.errors["started_at"] == [
        "The clocks change that night, so this time doesn't exist or happens "
        "twice: give a time outside the hour they change."
    ]


def test_numbing_minutes_belong_to_a_named_agent(session):
    unnamed = record_form(session, numbing_minutes="30")
    named = record_form(session, numbing_minutes="30", numbing_other="Numbing gel")

    assert not unnamed.is_valid()
    assert "Name the numbing agent" in str(unnamed.errors["numbing_minutes"])
    assert "numbing_minutes" not in named.errors


def test_a_record_kept_with_unnamed_numbing_minutes_still_saves_other_changes(
    session,
):
    # Signed before the rule: amended as it is.
    kept = SessionRecord(session=session, numbing_minutes=30, signed_at=LATER)
    form = RecordForm(
        {"redness": "none", "numbing_minutes": "30", "notes": "Amended note."},
        instance=kept,
    )

    form.is_valid()
    assert "numbing_minutes" not in form.errors


def test_the_page_takes_the_depths_the_form_takes():
    depth = AreaForm().fields["depth_mm"]
    assert depth.widget.attrs["step"] == "0.01"
    assert depth.clean("1.27") == Decimal("1.27")
    # A tablet offers its gallery as well as its camera.
    assert "capture" not in PhotoForm().fields["image"].widget.attrs


@pytest.mark.parametrize(
    "status", [Appointment.Status.CANCELLED, Appointment.Status.NO_SHOW]
)
def test_a_cancelled_or_missed_session_cant_be_recorded(plan, room, status):
    session = add_session(plan, START, room, status=status)
    with pytest.raises(PlanError, match="nothing to record"):
        draft(session)
    assert not SessionRecord.objects.exists()


# Signing --------------------------------------------------------------------------


def test_signing_completes_the_session_and_stamps_who_and_when(session, practitioner):
    record = draft(session)

    signed_record = records.sign_record(record=record, by=practitioner.user, now=LATER)

    record.refresh_from_db()
    assert record.is_signed
    assert record.signed_by == practitioner.user
    assert record.signed_at == LATER
    assert signed_record.signed_at == LATER
    session.appointment.refresh_from_db()
    assert session.appointment.status == Appointment.Status.COMPLETED


def test_a_signed_record_is_locked(session, practitioner):
    record = signed(session, practitioner.user)

    record.notes = "Changed afterwards."
    with pytest.raises(PlanError, match="amend it to change it"):
        records.save_record(
            record=record,
            entries=entries({"neck": ("2.00", 1)}),
            products=[],
            now=LATER,
        )

    record.refresh_from_db()
    assert record.notes == ""
    assert [a.area for a in record.areas.all()] == ["face"]


def test_a_session_cant_be_signed_twice(session, practitioner, other_practitioner):
    record = signed(session, practitioner.user)

    with pytest.raises(PlanError, match="already completed and signed"):
        records.sign_record(record=record, by=other_practitioner.user, now=LATER)

    record.refresh_from_db()
    assert record.signed_by == practitioner.user


@pytest.mark.parametrize("who", ["manager", "front_desk", "outsider"])
def test_only_a_practitioner_can_sign(request, session, who):
    record = draft(session)
    with pytest.raises(PlanError, match="Only a practitioner"):
        records.sign_record(record=record, by=request.getfixturevalue(who), now=LATER)

    record.refresh_from_db()
    assert not record.is_signed
    session.appointment.refresh_from_db()
    assert session.appointment.status == Appointment.Status.BOOKED


def test_signing_needs_times_areas_and_redness_and_says_so(session, practitioner):
    empty = records.save_record(
        record=SessionRecord(session=session), entries=[], products=[], now=LATER
    )

    with pytest.raises(PlanError) as refused:
        records.sign_record(record=empty, by=practitioner.user, now=LATER)

    assert refused.value.messages == [
        "Before signing, add the start and end times, at least one treated "
        "area with its needle depth and the redness seen."
    ]
    empty.refresh_from_db()
    assert not empty.is_signed
    session.appointment.refresh_from_db()
    assert session.appointment.status == Appointment.Status.BOOKED


def test_a_colleagues_draft_is_signed_once_the_signer_has_read_it(
    session, practitioner, other_practitioner
):
    record = draft(session, by=other_practitioner.user, now=LATER)

    with pytest.raises(PlanError) as refused:
        records.sign_record(
            record=record,
            by=practitioner.user,
            now=LATER,
            drafted_by=other_practitioner.user,
        )
    assert refused.value.messages == [
        f"{other_practitioner} wrote this draft: read it, tick that you have, and "
        "sign it in your name (or save it as a draft for them to sign)."
    ]
    record.refresh_from_db()
    assert record.signed_at is None and record.last_saved_by == other_practitioner.user

    records.sign_record(
        record=record,
        by=practitioner.user,
        now=LATER,
        drafted_by=other_practitioner.user,
        draft_read=True,
    )
    record.refresh_from_db()
    assert record.signed_by == practitioner.user


def test_a_later_refusal_is_read_before_signing_and_kept_on_the_record(
    session, practitioner, other_practitioner
):
    """The plan's consultation still says eligible; a later one refers the
    patient. Every problem is said at once."""
    ConsultationFactory(
        patient=session.plan.patient,
        decision=Consultation.Decision.REFER,
        decision_reason="Isotretinoin last month.",
    )
    record = draft(session, by=other_practitioner.user, now=LATER, redness="")

    with pytest.raises(PlanError) as refused:
        records.sign_record(
            record=record,
            by=practitioner.user,
            now=LATER,
            drafted_by=other_practitioner.user,
        )
    assert refused.value.messages == [
        f"{other_practitioner} wrote this draft: read it, tick that you have, and "
        "sign it in your name (or save it as a draft for them to sign).",
        "A later consultation of the patient says refer elsewhere. Read it before "
        "signing; if the session took place, tick that you have, and sign.",
        "Before signing, add the redness seen.",
    ]

    SessionRecord.objects.filter(pk=record.pk).update(redness="mild")
    records.sign_record(
        record=record,
        by=practitioner.user,
        now=LATER,
        drafted_by=other_practitioner.user,
        draft_read=True,
        despite_decision=True,
    )
    record.refresh_from_db()
    assert (record.signed_by, record.signed_despite) == (practitioner.user, "refer")


def test_ones_own_draft_is_signed_without_the_tick(session, practitioner):
    record = draft(session, by=practitioner.user, now=LATER)

    records.sign_record(
        record=record, by=practitioner.user, now=LATER, drafted_by=practitioner.user
    )

    record.refresh_from_db()
    assert record.signed_by == practitioner.user


def test_signing_says_every_problem_at_once(session, practitioner):
    record = draft(session, redness="", now=LATER)

    with pytest.raises(PlanError) as refused:
        records.sign_record(
            record=record, by=practitioner.user, now=record.ended_at - MINUTE
        )

    assert refused.value.messages == [
        "Before signing, add the redness seen.",
        "The end of the session can't be in the future.",
    ]


def test_a_record_is_signed_only_once_the_redness_seen_is_chosen(session, practitioner):
    """Never assumed: a new record has none, a draft may wait for it, and the
    database refuses a signed record without it."""
    from django.db import IntegrityError, transaction

    assert SessionRecord().redness == ""
    record = draft(session, redness="", now=LATER)

    with pytest.raises(PlanError) as refused:
        records.sign_record(record=record, by=practitioner.user, now=LATER)
    assert refused.value.messages == ["Before signing, add the redness seen."]

    with pytest.raises(IntegrityError), transaction.atomic():
        SessionRecord.objects.filter(pk=record.pk).update(
            signed_at=LATER, signed_by=practitioner.user
        )
    record.redness = "mild"
    record.save()
    assert records.sign_record(record=record, by=practitioner.user, now=LATER)


def test_signing_needs_at_least_one_area(session, practitioner):
    record = draft(session, areas={})
    with pytest.raises(PlanError, match="at least one treated area"):
        records.sign_record(record=record, by=practitioner.user, now=LATER)


def test_a_session_cant_be_signed_before_it_ended(session, practitioner):
    record = draft(session)
    with pytest.raises(PlanError, match="can't be in the future"):
        records.sign_record(
            record=record, by=practitioner.user, now=START + timedelta(minutes=30)
        )
    record.refresh_from_db()
    assert not record.is_signed


def test_a_session_on_a_later_day_is_signed_on_its_day(session, practitioner):
    record = draft(session)

    with pytest.raises(PlanError) as refused:
        records.sign_record(
            record=record, by=practitioner.user, now=START - timedelta(days=2)
        )

    assert refused.value.messages == [
        "This session is booked for Tue 24 Nov 2026, 10:00: it is signed once it "
        "has taken place (a draft can be saved now)."
    ]


@pytest.mark.parametrize(
    ("started_at", "message"),
    [
        (START - timedelta(days=4), "booked for Tue 24 Nov 2026, 10:00"),
        (START - timedelta(hours=9), "can't last over 8 hours"),
    ],
)
def test_a_session_cant_be_signed_with_implausible_times(
    session, practitioner, started_at, message
):
    record = draft(session)
    SessionRecord.objects.filter(pk=record.pk).update(
        started_at=started_at, ended_at=START + timedelta(hours=1)
    )
    record.refresh_from_db()

    with pytest.raises(PlanError, match=message):
        records.sign_record(record=record, by=practitioner.user, now=LATER)

    record.refresh_from_db()
    assert not record.is_signed


def test_a_session_cancelled_after_its_draft_cant_be_signed(session, practitioner):
    record = draft(session)
    Appointment.objects.filter(pk=session.appointment_id).update(
        status=Appointment.Status.CANCELLED, cancel_reason="Unwell."
    )
    with pytest.raises(PlanError, match="cancelled"):
        records.sign_record(record=record, by=practitioner.user, now=LATER)
    record.refresh_from_db()
    assert not record.is_signed


# Amendments -----------------------------------------------------------------------


@pytest.fixture
def record(session, practitioner):
    return signed(
        session,
        practitioner.user,
        areas={"face": ("1.00", 2)},
        products=["Recovery gel"],
        device="Dermapen 4",
        notes="Tolerated well.",
    )


def test_an_amendment_needs_a_reason(record, practitioner):
    for reason in ("", "   "):
        with pytest.raises(PlanError, match="needs a reason"):
            amend(record, practitioner.user, reason=reason, changes={"notes": "New"})
    assert not Amendment.objects.exists()
    record.refresh_from_db()
    assert record.notes == "Tolerated well."


def test_an_amendment_records_each_changed_field_before_and_after(
    record, other_practitioner
):
    colleague = other_practitioner.user
    amendment = amend(
        record,
        colleague,
        reason="  Wrong device noted.  ",
        changes={
            "device": "Dermapen 5",
            "notes": "Tolerated well.",  # unchanged: not listed
            "pinpoint_bleeding": True,
            "numbing_agent": product("Lidocaine 4% cream"),
            "ended_at": START + timedelta(minutes=50),
        },
        entries=entries({"face": ("1.25", 2), "neck": ("0.50", 1)}),
        products=[product("Recovery gel"), product("Peptide serum")],
    )

    assert amendment.by == colleague
    assert amendment.at == LATER
    assert amendment.reason == "Wrong device noted."
    assert [(c["field"], c["before"], c["after"]) for c in amendment.changes] == [
        ("device", "Dermapen 4", "Dermapen 5"),
        ("numbing_agent", "—", "Lidocaine 4% cream"),
        ("pinpoint_bleeding", "no", "yes"),
        ("ended_at", "24 Nov 2026 11:00", "24 Nov 2026 10:50"),
        ("areas", "Face 1.00 mm x2", "Face 1.25 mm x2, Neck 0.50 mm x1"),
        ("products_after", "Recovery gel", "Peptide serum, Recovery gel"),
    ]
    assert amendment.changes[0]["label"] == "device"

    record.refresh_from_db()
    assert record.is_signed
    assert record.device == "Dermapen 5"
    assert record.pinpoint_bleeding
    assert record.ended_at == START + timedelta(minutes=50)
    assert [(a.area, a.depth_mm) for a in record.areas.all()] == [
        ("face", Decimal("1.25")),
        ("neck", Decimal("0.50")),
    ]
    assert sorted(p.name for p in record.products_after.all()) == [
        "Peptide serum",
        "Recovery gel",
    ]


def test_an_amendment_that_changes_nothing_is_refused(record, practitioner):
    with pytest.raises(PlanError, match="Nothing was changed"):
        amend(
            record,
            practitioner.user,
            changes={"device": "Dermapen 4", "notes": "Tolerated well."},
            entries=entries({"face": ("1.00", 2)}),
            products=[product("Recovery gel")],
        )
    assert not Amendment.objects.exists()


def test_the_same_depth_written_differently_is_not_a_change(record, practitioner):
    with pytest.raises(PlanError, match="Nothing was changed"):
        amend(record, practitioner.user, entries=entries({"face": ("1", 2)}))


def test_an_amendment_cant_make_the_times_impossible(record, practitioner):
    with pytest.raises(PlanError, match="The end must be after the start"):
        amend(
            record,
            practitioner.user,
            changes={"ended_at": START - timedelta(minutes=1)},
        )
    assert not Amendment.objects.exists()
    record.refresh_from_db()
    assert record.ended_at == START + timedelta(hours=1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # A typing slip in the year: far from the booked day.
        ({"started_at": clinic_time(1, 1, 1, 0)}, "booked for Tue 24 Nov 2026"),
        ({"ended_at": START + timedelta(days=2)}, "booked for Tue 24 Nov 2026"),
        ({"started_at": START - timedelta(hours=9)}, "can't last over 8 hours"),
    ],
)
def test_an_amendment_keeps_the_times_on_the_booked_day(
    record, practitioner, changes, message
):
    with pytest.raises(PlanError, match=message):
        amend(record, practitioner.user, changes=changes)

    assert not Amendment.objects.exists()
    record.refresh_from_db()
    assert (record.started_at, record.ended_at) == (START, START + timedelta(hours=1))


def test_an_amendment_cant_take_away_every_area(record, practitioner):
    with pytest.raises(PlanError, match="keeps at least one treated area"):
        amend(record, practitioner.user, entries=[])

    assert not Amendment.objects.exists()
    assert list(record.areas.values_list("area", flat=True)) == ["face"]


def test_an_unsigned_record_is_edited_not_amended(session, practitioner):
    record = draft(session)
    with pytest.raises(PlanError, match="not signed yet"):
        amend(record, practitioner.user, changes={"notes": "New"})


def test_amendments_keep_their_history_in_order(
    record, practitioner, other_practitioner
):
    colleague = other_practitioner.user
    first = records.amend_record(
        record=record,
        changes={"notes": "Tolerated well, slight itching."},
        entries=None,
        products=None,
        reason="Patient called back.",
        by=practitioner.user,
        now=LATER,
    )
    second = records.amend_record(
        record=record,
        changes={"notes": "Tolerated well, itching gone next day."},
        entries=None,
        products=None,
        reason="Follow-up call.",
        by=colleague,
        now=LATER + timedelta(days=1),
    )

    history = list(record.amendments.all())
    assert history == [first, second]
    assert [(a.by, a.reason) for a in history] == [
        (practitioner.user, "Patient called back."),
        (colleague, "Follow-up call."),
    ]
    assert history[1].changes[0]["before"] == "Tolerated well, slight itching."
    assert history[1].changes[0]["after"] == "Tolerated well, itching gone next day."


# Previous session and depth warnings --------------------------------------------


def at(day: int, month: int = 11) -> datetime:
    return clinic_time(2026, month, day, 10)


def test_previous_record_is_the_latest_earlier_signed_one_of_the_same_plan(
    plan, practitioner, other_practitioner, room, other_room
):
    first = add_session(plan, at(29, 9), room)
    second = add_session(plan, at(27, 10), room)
    unsigned = add_session(plan, at(10), room)
    today = add_session(plan, at(24), room)
    later = add_session(plan, at(22, 12), room)
    signed(first, practitioner.user)
    expected = signed(second, practitioner.user)
    draft(unsigned)
    signed(later, practitioner.user, now=at(22, 12) + timedelta(hours=2))
    other_plan = make_plan(other_practitioner, patient=plan.patient)
    signed(add_session(other_plan, at(17), other_room), other_practitioner.user)

    assert records.previous_record(today) == expected
    assert records.previous_record(first) is None


def test_depth_warnings_flag_areas_deeper_than_last_time(
    plan, practitioner, room, session
):
    before = add_session(plan, at(27, 10), room)
    signed(before, practitioner.user, areas={"face": ("1.00", 2), "neck": ("0.50", 2)})
    previous = records.previous_record(session)

    warnings = records.depth_warnings(
        entries({"face": ("1.25", 2), "neck": ("0.50", 2), "chest": ("2.00", 1)}),
        previous,
    )

    assert warnings == ["Face: 1.25 mm is deeper than last time (1.00 mm)."]
    # Typed with one decimal, said with two, as the record shows it.
    assert records.depth_warnings(entries({"face": ("1.5", 2)}), previous) == [
        "Face: 1.50 mm is deeper than last time (1.00 mm)."
    ]
    assert records.depth_warnings(entries({"face": ("0.75", 2)}), previous) == []
    assert records.depth_warnings(entries({"face": ("2.00", 2)}), None) == []


def test_a_product_on_a_record_cant_be_deleted_only_taken_out_of_use(
    session, practitioner
):
    record = signed(session, practitioner.user, products=["Recovery gel"])
    gel = product("Recovery gel")

    with pytest.raises(ProtectedError):
        gel.delete()

    record.refresh_from_db()
    assert [p.name for p in record.products_after.all()] == ["Recovery gel"]
    # Unused products go as before.
    Product.objects.create(name="Unused balm", category="recovery").delete()


def test_the_admin_refuses_to_delete_a_product_on_a_record_with_words(
    admin_client, session, practitioner
):
    signed(session, practitioner.user, products=["Recovery gel"])
    url = reverse("admin:plans_product_delete", args=[product("Recovery gel").pk])

    response = admin_client.post(url, {"post": "yes"}, follow=True)

    assert (
        "Recovery gel is on session records, which must keep saying what was used, "
        "so it can't be deleted: untick \u201cin use\u201d instead."
    ) in [str(m) for m in response.context["messages"]]
    assert Product.objects.filter(name="Recovery gel").exists()
    page = admin_client.get(
        reverse("admin:plans_product_change", args=[product("Recovery gel").pk])
    ).content.decode()
    assert url not in page  # no delete link, and why, before anyone tries
    assert "On session records: it keeps its name and category" in page


def rename(client, item: Product, **changes):
    data = {"name": item.name, "category": item.category, "is_active": "on"}
    return client.post(
        reverse("admin:plans_product_change", args=[item.pk]), data | changes
    )


def test_a_product_on_a_signed_record_keeps_its_name_and_category(
    admin_client, session, practitioner
):
    record = signed(session, practitioner.user, products=["Recovery gel"])
    gel = product("Recovery gel")
    admin = admin_client

    for changes, instead in [
        ({"name": "Plain water"}, "add the new name as a new product"),
        ({"category": "serum"}, "add it, in its other category, as a new product"),
    ]:
        response = rename(admin, gel, **changes)

        assert response.status_code == 200
        assert "Recovery gel is on session records" in response.content.decode()
        assert instead in response.content.decode()
    record.refresh_from_db()
    assert [p.name for p in record.products_after.all()] == ["Recovery gel"]
    gel.refresh_from_db()
    assert (gel.name, gel.category) == ("Recovery gel", "recovery")


def test_a_numbing_agent_on_a_draft_record_keeps_its_name_too(admin_client, session):
    agent = Product.objects.filter(category="numbing").first()
    SessionRecord.objects.create(session=session, numbing_agent=agent)

    response = rename(admin_client, agent, name="Plain water")

    assert response.status_code == 200
    agent.refresh_from_db()
    assert agent.name != "Plain water"


def test_a_product_on_a_record_can_be_taken_out_of_use(
    admin_client, session, practitioner
):
    signed(session, practitioner.user, products=["Recovery gel"])
    gel = product("Recovery gel")
    data = {"name": gel.name, "category": gel.category}  # "in use" unticked

    response = admin_client.post(
        reverse("admin:plans_product_change", args=[gel.pk]), data
    )

    assert response.status_code == 302
    gel.refresh_from_db()
    assert not gel.is_active


def test_an_unused_product_can_be_renamed(admin_client):
    balm = Product.objects.create(name="Unused balm", category="recovery")

    response = rename(admin_client, balm, name="Barrier balm")

    assert response.status_code == 302
    balm.refresh_from_db()
    assert balm.name == "Barrier balm"


def test_a_product_in_other_capitals_is_the_same_product(admin_client):
    existing = product("Recovery gel")

    response = admin_client.post(
        reverse("admin:plans_product_add"),
        {"name": "RECOVERY GEL", "category": existing.category, "is_active": "on"},
    )

    assert response.status_code == 200
    assert "This category has a product of this name already." in (
        response.content.decode()
    )
    assert Product.objects.filter(name__iexact="recovery gel").count() == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("<b>Gel</b>", "Remove &lt; &gt; from the name."),
        ("1%", "A name needs at least one letter."),
        ("Gel\u200b", "Remove the control or invisible characters from the name."),
    ],
)
def test_a_product_name_is_one_staff_can_read(admin_client, name, message):
    response = admin_client.post(
        reverse("admin:plans_product_add"),
        {"name": name, "category": Product.Category.SERUM, "is_active": "on"},
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Product.objects.filter(name=name).exists()


def test_a_product_named_before_names_were_checked_can_still_be_taken_out_of_use(
    admin_client, session, practitioner
):
    Product.objects.create(name="Gel [10 ml]", category=Product.Category.RECOVERY)
    signed(session, practitioner.user, products=["Gel [10 ml]"])
    gel = Product.objects.get(name="Gel [10 ml]")

    response = admin_client.post(
        reverse("admin:plans_product_change", args=[gel.pk]),
        {"name": gel.name, "category": gel.category},
    )

    assert response.status_code == 302
    gel.refresh_from_db()
    assert not gel.is_active


def test_the_database_refuses_a_product_in_other_capitals(db):
    from django.db import IntegrityError, transaction

    existing = product("Recovery gel")
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(name="recovery GEL", category=existing.category)
