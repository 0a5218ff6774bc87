from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clinic import services
from clinic.forms import ConsultationForm
from clinic.models import (
    CONTRAINDICATIONS,
    Appointment,
    ClinicalAccess,
    Consultation,
    PatientChange,
    screened,
)
from clinic.tests.factories import (
    AppointmentFactory,
    PatientFactory,
    UserFactory,
    open_clinic,
)
from clinic.tests.pages import post_as_page

# A Monday morning in the clinic's zone; the consultation took place last Friday.
NOW = datetime(2026, 11, 23, 8, 0)
FRIDAY = date(2026, 11, 20)


@pytest.fixture
def frozen_now():
    with time_machine.travel(timezone.make_aware(NOW), tick=False):
        yield timezone.make_aware(NOW)


@pytest.fixture
def clinic_open(practitioner, room):
    open_clinic(practitioner)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


@pytest.fixture
def visit(patient, practitioner, room, clinic_open, frozen_now):
    """Last Friday's consultation appointment, not yet written up."""
    return AppointmentFactory(
        patient=patient,
        practitioner=practitioner,
        room=room,
        start=at(FRIDAY, 10),
        kind=Appointment.Kind.CONSULTATION,
    )


def consultation_data(**overrides) -> dict:
    data = {
        "areas": ["face", "neck"],
        "goals": ["lines", "acne_scars"],
        "hoped_for_results": "Smoother cheeks by the spring",
        "skin_type": "4",
        "topical_medication": "",
        # Each screening question asked, and answered no.
        **dict.fromkeys(CONTRAINDICATIONS, "False"),
        "screening_note": "",
        "decision": "eligible",
        "decision_reason": "",
    }
    data.update(overrides)
    return data


def record_url(appointment: Appointment) -> str:
    return reverse("clinic:consultation_record", args=[appointment.pk])


def recorded(appointment: Appointment, by, **fields) -> Consultation:
    """A consultation written straight to the table: for setup."""
    values = {
        "areas": ["face"],
        "goals": ["lines"],
        **screened(),
        "decision": Consultation.Decision.ELIGIBLE,
        "decided_by": by,
        "decided_at": appointment.end,
    }
    values.update(fields)
    return Consultation.objects.create(
        appointment=appointment, patient=appointment.patient, **values
    )


# Recording -----------------------------------------------------------------------


def test_a_practitioner_records_an_eligible_consultation(
    client, practitioner, patient, visit, frozen_now
):
    client.force_login(practitioner.user)
    assert client.get(record_url(visit)).status_code == 200

    response = post_as_page(
        client,
        record_url(visit),
        consultation_data(
            topical_medication="Tretinoin 0.025% cream",
            keloid_tendency="True",
            screening_note="Small raised scar on the chin only; avoid that spot.",
            decision_reason="Keloid on the chin only: treat the cheeks.",
        ),
    )

    consultation = Consultation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == patient.get_absolute_url()
    assert consultation.appointment == visit
    assert consultation.patient == patient
    assert consultation.areas == ["face", "neck"]
    assert consultation.goals == ["lines", "acne_scars"]
    assert consultation.hoped_for_results == "Smoother cheeks by the spring"
    assert consultation.topical_medication == "Tretinoin 0.025% cream"
    assert consultation.keloid_tendency is True
    assert consultation.pregnant is False
    assert consultation.is_eligible
    assert consultation.decided_by == practitioner.user
    assert consultation.decided_at == frozen_now


def test_the_patients_skin_type_follows_the_consultation(
    client, practitioner, patient, visit
):
    assert patient.skin_type is None
    client.force_login(practitioner.user)
    post_as_page(client, record_url(visit), consultation_data(skin_type="5"))
    patient.refresh_from_db()
    assert patient.skin_type == 5
    # In the patient's history of details, with who and how.
    [change] = PatientChange.objects.filter(patient=patient)
    assert (change.by, change.how) == (practitioner.user, "at a consultation")
    assert change.changes[0]["after"] == "Type V - very rarely burns, tans darkly"


def test_an_older_consultation_edited_leaves_the_latest_skin_type(
    client, practitioner, patient, visit, room
):
    """The skin type guides depths: the latest consultation's stands."""
    earlier = AppointmentFactory(
        patient=patient,
        practitioner=practitioner,
        room=room,
        start=visit.start - timedelta(days=14),
        kind=Appointment.Kind.CONSULTATION,
    )
    recorded(earlier, practitioner.user, skin_type=3)
    client.force_login(practitioner.user)
    post_as_page(client, record_url(visit), consultation_data(skin_type="2"))

    post_as_page(client, record_url(earlier), consultation_data(skin_type="5"))

    patient.refresh_from_db()
    assert patient.skin_type == 2
    assert Consultation.objects.get(appointment=earlier).skin_type == 5


def test_the_form_starts_from_the_patients_known_skin_type(
    client, practitioner, patient, visit
):
    patient.skin_type = 2
    patient.save()
    client.force_login(practitioner.user)
    response = client.get(record_url(visit))
    assert response.context["form"].initial["skin_type"] == 2


def test_the_patient_page_then_offers_to_start_a_treatment_plan(
    client, practitioner, patient, visit
):
    client.force_login(practitioner.user)
    response = post_as_page(client, record_url(visit), consultation_data(), follow=True)
    body = response.content.decode()
    consultation = Consultation.objects.get()
    assert "Consultation saved: eligible. The patient's treatment plans are below" in (
        body.replace("&#x27;", "'")
    )
    assert "Start a treatment plan" in body
    assert reverse("plans:create", args=[consultation.pk]) in body


# Blank, invisible (a zero-width space), or a token ("." or "ok").
HOLLOW = ["  ", "\u200b", ".", "ok"]


@pytest.mark.parametrize("note", HOLLOW)
def test_a_yes_in_the_screening_needs_a_note(
    client, practitioner, patient, visit, note
):
    client.force_login(practitioner.user)
    response = client.post(
        record_url(visit), consultation_data(isotretinoin="True", screening_note=note)
    )
    assert response.status_code == 200
    assert "screening_note" in response.context["form"].errors
    assert "needs your note" in response.content.decode()
    assert not Consultation.objects.exists()
    patient.refresh_from_db()
    assert patient.skin_type is None


@pytest.mark.parametrize("reason", HOLLOW)
@pytest.mark.parametrize("decision", ["not_eligible", "refer"])
def test_not_eligible_or_refer_needs_a_reason(
    client, practitioner, visit, decision, reason
):
    client.force_login(practitioner.user)
    response = client.post(
        record_url(visit),
        consultation_data(decision=decision, decision_reason=reason),
    )
    assert response.status_code == 200
    assert "decision_reason" in response.context["form"].errors
    assert "Give the reason" in response.content.decode()
    assert not Consultation.objects.exists()


def test_not_eligible_with_a_reason_goes_to_the_consultation(
    client, practitioner, patient, visit, frozen_now
):
    client.force_login(practitioner.user)
    response = post_as_page(
        client,
        record_url(visit),
        consultation_data(
            decision="not_eligible", decision_reason="Active eczema on both cheeks."
        ),
    )
    consultation = Consultation.objects.get()
    assert response["Location"] == consultation.get_absolute_url()
    assert consultation.decision == Consultation.Decision.NOT_ELIGIBLE
    assert consultation.decided_by == practitioner.user
    assert consultation.decided_at == frozen_now
    page = client.get(patient.get_absolute_url()).content.decode()
    assert "Start a treatment plan" not in page


def test_an_undecided_consultation_has_no_decider(client, practitioner, visit):
    client.force_login(practitioner.user)
    post_as_page(client, record_url(visit), consultation_data(decision="pending"))
    consultation = Consultation.objects.get()
    assert consultation.decided_by is None
    assert consultation.decided_at is None


def test_editing_keeps_the_decision_stamp_until_the_decision_changes(
    client, practitioner, other_practitioner, visit, frozen_now
):
    as_posted = consultation_data()
    consultation = recorded(
        visit,
        practitioner.user,
        areas=as_posted["areas"],
        goals=as_posted["goals"],
        skin_type=as_posted["skin_type"],
    )
    first_stamp = consultation.decided_at
    client.force_login(other_practitioner.user)

    post_as_page(
        client,
        record_url(visit),
        consultation_data(hoped_for_results="Also the neck lines"),
    )
    consultation.refresh_from_db()
    assert Consultation.objects.count() == 1
    assert consultation.hoped_for_results == "Also the neck lines"
    assert consultation.decided_by == practitioner.user
    assert consultation.decided_at == first_stamp

    post_as_page(
        client,
        record_url(visit),
        consultation_data(decision="refer", decision_reason="Dermatologist first."),
    )
    consultation.refresh_from_db()
    assert consultation.decided_by == other_practitioner.user
    assert consultation.decided_at == frozen_now


def test_a_screening_changed_after_the_decision_names_who_changed_it(
    client, practitioner, other_practitioner, visit, frozen_now
):
    """The page said "decided by" the first practitioner above a screening she
    never saw: whoever changes what the decision rests on decides again."""
    as_posted = consultation_data(
        pregnant="True",
        anticoagulants="True",
        screening_note="12 weeks; on warfarin.",
        decision_reason="The course starts after the birth; warfarin stopped by then.",
    )
    first = Client()
    first.force_login(practitioner.user)
    assert post_as_page(first, record_url(visit), as_posted).status_code == 302
    client.force_login(other_practitioner.user)
    later = frozen_now + timedelta(minutes=10)
    # The form says whose decision it is, and what saving a change does.
    form_page = client.get(record_url(visit)).content.decode()
    assert f"by {practitioner.user.get_full_name()}. Saving a change" in form_page

    with time_machine.travel(later, tick=False):
        post_as_page(client, record_url(visit), consultation_data())

    consultation = Consultation.objects.get()
    assert not consultation.pregnant
    assert (consultation.decided_by, consultation.decided_at) == (
        other_practitioner.user,
        later,
    )


def test_a_change_keeps_what_the_consultation_said_before_and_who_changed_it(
    client, front_desk, practitioner, other_practitioner, visit, frozen_now
):
    """A colleague's later finding doesn't silently replace the decision and
    screening that a plan and signed sessions rested on."""
    first = Client()
    first.force_login(practitioner.user)
    post_as_page(first, record_url(visit), consultation_data())
    consultation = Consultation.objects.get()
    assert not consultation.changes.exists()  # written once, nothing changed
    client.force_login(other_practitioner.user)
    later = frozen_now + timedelta(minutes=10)

    with time_machine.travel(later, tick=False):
        post_as_page(
            client,
            record_url(visit),
            consultation_data(
                decision="refer",
                decision_reason="Cold sore on the upper lip today.",
                active_infection="True",
                # Not asked again: the answer given before is not kept as if it was.
                pregnant="",
                screening_note="Cold sore.",
            ),
        )

    [change] = consultation.changes.all()
    assert (change.changed_by, change.changed_at) == (other_practitioner.user, later)
    assert change.values == [
        ["Active infection, cold sores or active acne in the area", "no", "yes"],
        ["Pregnant or breastfeeding", "no", "not asked"],
        ["Practitioner's note on the screening", "(empty)", "Cold sore."],
        ["Decision", "Eligible", "Refer elsewhere"],
        ["Reason", "(empty)", "Cold sore on the upper lip today."],
        # Whose decision it was, which the page no longer names above.
        [
            "Decided by",
            f"{practitioner}, 23 Nov 2026, 08:00",
            f"{other_practitioner}, 23 Nov 2026, 08:10",
        ],
    ]
    page = client.get(consultation.get_absolute_url()).content.decode()
    assert "changed by " + other_practitioner.user.get_full_name() in page
    assert "Eligible</span> → Refer elsewhere" in page
    # The front desk sees the decision, not the clinical history.
    client.force_login(front_desk)
    page = client.get(consultation.get_absolute_url()).content.decode()
    assert "Cold sore" not in page and "changed by" not in page


def test_a_page_opened_before_a_colleagues_decision_is_told_of_it(
    client, practitioner, other_practitioner, visit, frozen_now
):
    """Still "not decided yet" on a page opened before a colleague decided:
    the save says what happened, not that the choice is not offered."""
    client.force_login(other_practitioner.user)
    opened = client.get(record_url(visit)).context["form"].initial["seen"]
    recorded(visit, practitioner.user)

    response = client.post(
        record_url(visit),
        consultation_data(seen=opened, decision="pending", decision_reason=""),
    )

    page = response.content.decode()
    assert "Someone saved this consultation while your page was open" in page
    assert "Pick one of the choices" not in page
    assert Consultation.objects.get().decided_by == practitioner.user


def test_a_page_opened_before_a_colleagues_save_does_not_undo_it(
    client, practitioner, other_practitioner, visit, frozen_now
):
    recorded(visit, practitioner.user)
    client.force_login(other_practitioner.user)
    opened = client.get(record_url(visit)).context["form"].initial["seen"]
    # Meanwhile, in another tab: a pregnancy, so not eligible after all.
    colleague = Client()
    colleague.force_login(practitioner.user)
    with time_machine.travel(frozen_now + timedelta(minutes=2), tick=False):
        post_as_page(
            colleague,
            record_url(visit),
            consultation_data(
                pregnant="True",
                screening_note="Pregnant, 12 weeks.",
                decision="not_eligible",
                decision_reason="Pregnant: after the baby is born.",
            ),
        )

    with time_machine.travel(frozen_now + timedelta(minutes=5), tick=False):
        response = post_as_page(
            client,
            record_url(visit),
            consultation_data(
                seen=opened, hoped_for_results="Smoother cheeks\nbefore June."
            ),
        )

    assert response.status_code == 200
    page = response.content.decode()
    assert "while your page was open (a colleague, or this form sent twice)" in page
    consultation = Consultation.objects.get()
    assert consultation.pregnant
    assert consultation.screening_note == "Pregnant, 12 weeks."
    assert consultation.decision == Consultation.Decision.NOT_ELIGIBLE
    # What they typed is shown, to copy from: the fields that differ from what
    # is saved now, with choices in words.
    assert dict(response.context["unsaved"]) == {
        "Results hoped for": "Smoother cheeks\nbefore June.",
        "Pregnant or breastfeeding": "No",
        "Practitioner's note on the screening": "(empty)",
        "Decision": "Eligible",
        "Reason": "(empty)",
    }
    assert "Smoother cheeks<br>before June." in page
    # The form shows what is saved now, and saves from there.
    form = response.context["form"]
    assert not form.is_bound
    assert form.initial["decision"] == Consultation.Decision.NOT_ELIGIBLE
    again = form.initial["seen"]
    response = post_as_page(
        client,
        record_url(visit),
        consultation_data(
            pregnant="True",
            screening_note="Pregnant, 12 weeks.",
            decision="refer",
            decision_reason="Obstetrician first.",
            seen=again,
        ),
    )
    assert response.status_code == 302
    assert Consultation.objects.get().decision == Consultation.Decision.REFER


def test_a_second_new_consultation_from_an_old_page_is_refused(
    client, practitioner, visit, frozen_now
):
    client.force_login(practitioner.user)
    opened = client.get(record_url(visit)).context["form"].initial["seen"]
    client.post(record_url(visit), consultation_data(seen=opened))

    response = client.post(
        record_url(visit), consultation_data(hoped_for_results="Other", seen=opened)
    )

    assert response.status_code == 200
    assert "Someone saved" in response.content.decode()
    assert response.context["unsaved"] == [("Results hoped for", "Other")]
    assert Consultation.objects.get().hoped_for_results == (
        "Smoother cheeks by the spring"
    )


# Refused ------------------------------------------------------------------------


def test_eligible_despite_a_yes_in_the_screening_needs_the_reason(
    client, practitioner, visit
):
    client.force_login(practitioner.user)

    response = post_as_page(
        client,
        record_url(visit),
        consultation_data(
            pregnant="True", isotretinoin="True", screening_note="Due in March."
        ),
    )

    assert response.status_code == 200
    assert response.context["form"].errors["decision_reason"] == [
        "Eligible despite a yes in the screening (isotretinoin (e.g. Roaccutane) "
        "in the last 6 months; pregnant or breastfeeding): give the reason it is "
        "safe to treat, in a few words."
    ]
    assert not Consultation.objects.exists()


def test_eligible_needs_every_screening_question_answered(client, practitioner, visit):
    client.force_login(practitioner.user)
    # The form as a practitioner leaves it who asked all but two questions.
    data = consultation_data(pregnant="", anticoagulants="")
    del data["recent_sunburn"]

    response = post_as_page(client, record_url(visit), data)

    assert response.status_code == 200
    errors = response.context["form"].errors
    asked = ["Ask this and answer it before deciding eligible."]
    assert [errors.get(name) for name in CONTRAINDICATIONS] == [
        None,
        None,
        asked,
        None,
        asked,
        asked,
    ]
    assert not Consultation.objects.exists()


def test_a_question_not_asked_yet_is_told_apart_from_a_no(client, practitioner, visit):
    client.force_login(practitioner.user)
    data = consultation_data(decision="pending", isotretinoin="True")
    data["screening_note"] = "Finished a course in August."
    del data["pregnant"], data["anticoagulants"]

    response = post_as_page(client, record_url(visit), data, follow=True)

    consultation = Consultation.objects.get()
    assert (consultation.isotretinoin, consultation.pregnant) == (True, None)
    assert (consultation.anticoagulants, consultation.recent_sunburn) == (None, False)
    page = response.content.decode()
    assert (
        "Not asked yet: Pregnant or breastfeeding; Takes anticoagulants or has a "
        "bleeding disorder."
    ) in page
    assert "Not screened yet" not in page
    # The form shows them unanswered again, the others as answered.
    form = client.get(record_url(visit)).content.decode()
    assert (
        'value="True" class="form-check-input" id="id_isotretinoin_0" checked' in form
    )
    assert 'value="True" class="form-check-input" id="id_pregnant_0">' in form
    assert 'value="False" class="form-check-input" id="id_pregnant_1">' in form


def test_a_consultation_with_nothing_asked_yet_says_so(client, practitioner, visit):
    consultation = recorded(
        visit,
        practitioner.user,
        decision=Consultation.Decision.PENDING,
        decided_by=None,
        decided_at=None,
        **dict.fromkeys(CONTRAINDICATIONS, None),
    )
    client.force_login(practitioner.user)

    page = client.get(consultation.get_absolute_url()).content.decode()

    assert "Not screened yet." in page
    assert "Not asked yet" not in page


def test_control_characters_are_refused_in_words_and_line_breaks_kept(
    practitioner, visit
):
    # What a form sends has them taken out already (TypedTextCleanedMiddleware):
    # the model refuses them behind it.
    consultation = Consultation(
        appointment=visit,
        patient=visit.patient,
        areas=["face"],
        goals=["lines"],
        topical_medication="Tretinoin\x1b[31m 0.05%",
        hoped_for_results="Smoother cheeks,\r\n\tand neck.",
        **screened(),
    )

    with pytest.raises(ValidationError) as refused:
        consultation.full_clean()

    assert refused.value.message_dict == {
        "topical_medication": [
            "Remove the control characters from the text: they can't be seen, and "
            "would go into emails and calendar files as typed."
        ]
    }


def test_a_changed_decision_doesnt_keep_the_reason_given_for_the_other(
    client, practitioner, visit
):
    client.force_login(practitioner.user)
    acne = "Active acne on the chin: come back once it settles."
    post_as_page(
        client,
        record_url(visit),
        consultation_data(decision="not_eligible", decision_reason=acne),
    )

    # Eligible with no yes needs no reason: the old one is not kept as one.
    post_as_page(
        client,
        record_url(visit),
        consultation_data(decision="eligible", decision_reason=acne),
    )
    consultation = Consultation.objects.get()
    assert (consultation.decision, consultation.decision_reason) == ("eligible", "")

    # Eligible despite a yes, then referred with that reason left as it was.
    post_as_page(
        client,
        record_url(visit),
        consultation_data(
            pregnant="True",
            screening_note="Breastfeeding.",
            decision_reason="Her GP agrees.",
        ),
    )
    refused = post_as_page(
        client,
        record_url(visit),
        consultation_data(
            pregnant="True",
            screening_note="Breastfeeding.",
            decision="refer",
            decision_reason="Her GP agrees.",
        ),
    )

    assert refused.context["form"].errors["decision_reason"] == [
        "This reason was given for \u201celigible\u201d: give the reason for the new "
        "decision, in a few words."
    ]
    consultation.refresh_from_db()
    assert (consultation.decision, consultation.decision_reason) == (
        "eligible",
        "Her GP agrees.",
    )


def test_text_saved_with_other_line_endings_is_not_a_change(
    client, practitioner, other_practitioner, visit
):
    # Saved another way (lines ending \n); the browser sends them as \r\n.
    consultation = recorded(
        visit,
        other_practitioner.user,
        **screened("pregnant"),
        screening_note="Breastfeeding.\nUntil March.",
        decision_reason="Her GP agrees.\nReviewed today.",
    )
    client.force_login(practitioner.user)
    as_sent = consultation_data(
        areas=["face"],
        goals=["lines"],
        skin_type="",
        hoped_for_results="",
        pregnant="True",
        screening_note="Breastfeeding.\r\nUntil March.",
        decision_reason="Her GP agrees.\r\nReviewed today.",
    )

    post_as_page(client, record_url(visit), as_sent)
    refused = post_as_page(
        client, record_url(visit), as_sent | {"decision": "not_eligible"}
    )

    consultation.refresh_from_db()
    # Nothing logged, and the decision still the colleague's.
    assert list(consultation.changes.values_list("values", flat=True)) == []
    assert consultation.decided_by == other_practitioner.user
    # The eligible reason, sent with another decision, is the same reason.
    assert "This reason was given for" in refused.content.decode()


def test_an_answer_can_be_taken_back_to_not_asked(client, practitioner, visit):
    recorded(visit, practitioner.user, decision="refer", decision_reason="Review.")
    client.force_login(practitioner.user)
    data = consultation_data(
        decision="refer", decision_reason="Review.", pregnant="", keloid_tendency=""
    )
    del data["keloid_tendency"]  # not sent at all: not asked either

    page = client.get(record_url(visit)).content.decode()
    post_as_page(client, record_url(visit), data)

    consultation = Consultation.objects.get()
    assert (consultation.pregnant, consultation.keloid_tendency) == (None, None)
    assert consultation.anticoagulants is False
    # Each question offers all three; a decision recorded is not taken back.
    assert page.count(" Not asked yet</label>") == len(CONTRAINDICATIONS)
    assert 'value="pending"' not in page


def test_a_medication_is_kept_on_one_line(client, practitioner, visit):
    client.force_login(practitioner.user)

    post_as_page(
        client,
        record_url(visit),
        consultation_data(topical_medication=" Tretinoin\t0.025%\r\ncream "),
    )

    assert Consultation.objects.get().topical_medication == "Tretinoin 0.025% cream"


def test_a_refusal_needs_no_whole_screening(client, practitioner, visit):
    client.force_login(practitioner.user)
    data = consultation_data(
        decision="not_eligible",
        decision_reason="Pregnant: come back after breastfeeding.",
        pregnant="True",
        screening_note="Due in March.",
    )
    del data["isotretinoin"], data["keloid_tendency"]

    response = post_as_page(client, record_url(visit), data)

    assert response.status_code == 302
    consultation = Consultation.objects.get()
    assert consultation.decision == Consultation.Decision.NOT_ELIGIBLE
    assert consultation.not_asked == [
        "Isotretinoin (e.g. Roaccutane) in the last 6 months",
        "Tendency to keloid or raised scars",
    ]


def test_the_database_holds_eligible_to_a_whole_screening(practitioner, visit):
    with pytest.raises(IntegrityError), transaction.atomic():
        recorded(visit, practitioner.user, keloid_tendency=None)
    recorded(visit, practitioner.user, keloid_tendency=False)


def test_the_database_holds_eligible_despite_the_screening_to_a_reason(
    practitioner, visit
):
    with pytest.raises(IntegrityError), transaction.atomic():
        recorded(
            visit, practitioner.user, pregnant=True, screening_note="Due in March."
        )
    recorded(
        visit,
        practitioner.user,
        pregnant=True,
        screening_note="Gave birth in May; not breastfeeding.",
        decision_reason="No longer pregnant or breastfeeding.",
    )


@pytest.mark.parametrize(
    "typed", ["None", "n/a", " NO. ", "-", "Nothing", "N.A.", "n. a."]
)
def test_no_medication_typed_in_words_is_kept_as_none(
    client, practitioner, visit, typed
):
    client.force_login(practitioner.user)

    post_as_page(client, record_url(visit), consultation_data(topical_medication=typed))

    assert Consultation.objects.get().topical_medication == ""


@pytest.mark.parametrize(
    "typed",
    [
        "Not taking any",
        "None currently",
        "no meds",
        "N/A at the moment",
        "Never",
        "?",
        "0",
        "Patient denies any",
        "Pt. denies",
        "Stopped tretinoin last month",
        "Previously adapalene",
        "Client denies any",
        "The patient denies any",
        "Tretinoin 0.05% cream - stopped 2 weeks ago",
        "Was on tretinoin until October",
        "Off tretinoin since October",
        "Tretinoin (discontinued)",
        "NKA",
    ],
)
def test_none_said_in_other_words_is_asked_about_not_sent_as_a_medication(
    client, practitioner, visit, typed
):
    """Or the pre-care email would ask the patient to "stop Not taking any"."""
    client.force_login(practitioner.user)

    response = post_as_page(
        client, record_url(visit), consultation_data(topical_medication=typed)
    )

    assert response.status_code == 200
    assert "Leave this empty when the patient uses no topical medication" in (
        response.content.decode()
    )
    assert not Consultation.objects.exists()


@pytest.mark.parametrize(
    "typed",
    [
        "Tretinoin 0.05% cream",
        "Nonsteroidal gel",
        "Adapalene 0.1% gel since March",
        "Azelaic acid 15% (Finacea), mornings",
    ],
)
def test_a_named_medication_is_kept_as_typed(client, practitioner, visit, typed):
    client.force_login(practitioner.user)

    post_as_page(client, record_url(visit), consultation_data(topical_medication=typed))

    assert Consultation.objects.get().topical_medication == typed


def test_a_screening_not_decided_yet_is_not_called_clear(client, practitioner, visit):
    """Unticked boxes before a decision may be questions not asked yet."""
    consultation = recorded(
        visit,
        practitioner.user,
        decision=Consultation.Decision.PENDING,
        decided_by=None,
        decided_at=None,
    )
    client.force_login(practitioner.user)

    page = client.get(consultation.get_absolute_url()).content.decode()
    assert "Nothing against treatment" not in page
    assert "not decided yet" in page

    Consultation.objects.filter(pk=consultation.pk).update(
        decision=Consultation.Decision.ELIGIBLE, decided_by=practitioner.user
    )
    page = client.get(consultation.get_absolute_url()).content.decode()
    assert "Nothing against treatment." in page


def test_a_follow_up_consultation_starts_from_the_medication_last_told_of(
    client, practitioner, patient, room, visit
):
    """Left empty, the pre-care emails (which follow the latest consultation)
    would stop asking the patient to pause it."""
    recorded(visit, practitioner.user, topical_medication="Hydroquinone 4% cream")
    follow_up = AppointmentFactory(
        patient=patient,
        practitioner=practitioner,
        room=room,
        start=visit.start + timedelta(days=2),
        kind=Appointment.Kind.CONSULTATION,
    )
    client.force_login(practitioner.user)

    form = client.get(record_url(follow_up))

    assert form.context["form"]["topical_medication"].value() == (
        "Hydroquinone 4% cream"
    )
    assert "From the consultation of 20 Nov 2026: check it is still right" in (
        form.content.decode()
    )
    # Emptied by the practitioner: no medication.
    post_as_page(client, record_url(follow_up), consultation_data())
    assert Consultation.objects.get(appointment=follow_up).topical_medication == ""
    # The next one starts from that "none", not from the older medication.
    third = AppointmentFactory(
        patient=patient,
        practitioner=practitioner,
        room=room,
        start=visit.start + timedelta(days=4),
        kind=Appointment.Kind.CONSULTATION,
    )
    form = client.get(record_url(third))
    assert form.context["form"]["topical_medication"].value() == ""
    assert "check it is still right" not in form.content.decode()


WRITTEN_BY_PRACTITIONER = "Only a practitioner records a consultation"


def test_a_decided_consultation_is_changed_by_a_practitioner_only(
    client, manager, practitioner, visit
):
    recorded(visit, practitioner.user)
    client.force_login(manager)

    response = post_as_page(
        client,
        record_url(visit),
        consultation_data(pregnant="True", screening_note="Asked."),
    )

    assert response.status_code == 403
    assert WRITTEN_BY_PRACTITIONER in response.content.decode()
    assert not Consultation.objects.get().pregnant


def test_a_manager_is_not_offered_a_consultations_form(
    client, manager, practitioner, visit
):
    client.force_login(manager)
    assert (
        record_url(visit) not in client.get(visit.get_absolute_url()).content.decode()
    )
    before = client.get(record_url(visit), follow=True)
    assert before.redirect_chain == [(visit.get_absolute_url(), 302)]
    assert WRITTEN_BY_PRACTITIONER in before.content.decode()

    consultation = recorded(visit, practitioner.user)
    detail = client.get(consultation.get_absolute_url())
    form = client.get(record_url(visit), follow=True)

    assert detail.status_code == 200
    assert record_url(visit) not in detail.content.decode()
    assert form.redirect_chain == [(consultation.get_absolute_url(), 302)]
    assert WRITTEN_BY_PRACTITIONER in form.content.decode()
    client.force_login(practitioner.user)
    assert (
        record_url(visit)
        in client.get(consultation.get_absolute_url()).content.decode()
    )


@pytest.mark.parametrize("decision", ["eligible", "pending"])
def test_only_a_practitioner_writes_a_consultation(client, manager, visit, decision):
    """Not even notes with the decision left open: the screening and the
    medication are what a practitioner decides and signs sessions on, and what
    the patient's pre-care emails tell them to stop."""
    client.force_login(manager)

    response = post_as_page(
        client, record_url(visit), consultation_data(decision=decision)
    )

    assert response.status_code == 403
    assert WRITTEN_BY_PRACTITIONER in response.content.decode()
    assert not Consultation.objects.exists()
    with pytest.raises(services.BookingError, match=WRITTEN_BY_PRACTITIONER):
        services.record_consultation(
            consultation=Consultation(
                appointment=visit, patient=visit.patient, decision=decision
            ),
            by=manager,
        )
    assert not Consultation.objects.exists()


def test_a_treatment_appointment_cant_hold_a_consultation(
    client, practitioner, patient, room, frozen_now
):
    treatment = AppointmentFactory(
        patient=patient,
        practitioner=practitioner,
        room=room,
        start=at(FRIDAY, 14),
        kind=Appointment.Kind.TREATMENT,
    )
    client.force_login(practitioner.user)
    assert client.get(record_url(treatment)).status_code == 404
    assert client.post(record_url(treatment), consultation_data()).status_code == 404
    assert not Consultation.objects.exists()


def test_unknown_ids_are_404(client, practitioner, db):
    client.force_login(practitioner.user)
    url = reverse("clinic:consultation_record", args=[999999])
    assert client.get(url).status_code == 404
    url = reverse("clinic:consultation_detail", args=[999999])
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("status", ["cancelled", "no_show"])
def test_a_cancelled_or_missed_consultation_cant_be_recorded(
    client, practitioner, patient, visit, status
):
    visit.status = status
    visit.cancel_reason = "Patient called" if status == "cancelled" else ""
    visit.save()
    client.force_login(practitioner.user)
    response = client.post(record_url(visit), consultation_data())
    opened = client.get(record_url(visit))
    # What was typed is shown, nothing saved, with the way back.
    body = response.content.decode()
    assert response.status_code == 200
    assert "book a new one for the patient" in body
    assert "Smoother cheeks by the spring" in body
    assert visit.get_absolute_url() in body
    # The page offers no form to fill in either.
    assert opened["Location"] == visit.get_absolute_url()
    assert not Consultation.objects.exists()
    patient.refresh_from_db()
    assert patient.skin_type is None


@pytest.fixture
def tomorrows(patient, practitioner, room, clinic_open, frozen_now) -> Appointment:
    return AppointmentFactory(
        patient=patient,
        practitioner=practitioner,
        room=room,
        start=at(date(2026, 11, 24), 10),
        kind=Appointment.Kind.CONSULTATION,
    )


def test_the_decision_waits_for_the_consultation_but_notes_can_be_saved(
    client, practitioner, tomorrows
):
    client.force_login(practitioner.user)

    refused = post_as_page(client, record_url(tomorrows), consultation_data())

    assert refused.status_code == 200
    assert (
        "The decision is made at the consultation: it starts Tue 24 Nov 2026, 10:00, "
        "or once the patient is checked in." in refused.content.decode()
    )
    assert not Consultation.objects.exists()
    notes = post_as_page(
        client, record_url(tomorrows), consultation_data(decision="pending")
    )
    assert notes.status_code == 302
    assert Consultation.objects.get().decision == Consultation.Decision.PENDING


def test_a_patient_checked_in_early_can_be_decided_on(client, practitioner, tomorrows):
    tomorrows.status = Appointment.Status.CHECKED_IN
    tomorrows.save()
    client.force_login(practitioner.user)

    response = post_as_page(client, record_url(tomorrows), consultation_data())

    assert response.status_code == 302
    assert Consultation.objects.get().is_eligible


@pytest.mark.parametrize("status", ["cancelled", "no_show"])
def test_an_eligible_consultation_whose_appointment_was_lost_starts_no_plan(
    client, practitioner, patient, visit, status
):
    consultation = recorded(visit, practitioner.user)
    visit.status = status
    visit.cancel_reason = "Patient called" if status == "cancelled" else ""
    visit.save()
    client.force_login(practitioner.user)

    page = client.get(patient.get_absolute_url()).content.decode()
    start = client.get(reverse("plans:create", args=[consultation.pk]), follow=True)

    assert "Start a treatment plan" not in page
    assert not Consultation.objects.eligible().exists()
    assert "book a new consultation to start a plan" in start.content.decode()


# Access ------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client, practitioner, visit):
    consultation = recorded(visit, practitioner.user)
    for url in [record_url(visit), consultation.get_absolute_url()]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    # A form sent without a sign-in (one that ended): nothing saved, what was
    # sent shown back with the way to sign in, nothing of the record's.
    response = client.post(record_url(visit), consultation_data())
    assert response.status_code == 200
    page = response.content.decode()
    assert "Your sign-in had ended" in page
    assert str(visit.patient) not in page
    assert Consultation.objects.count() == 1


def test_the_front_desk_cant_record_a_consultation(client, front_desk, visit):
    client.force_login(front_desk)
    assert client.get(record_url(visit)).status_code == 403
    assert client.post(record_url(visit), consultation_data()).status_code == 403
    assert not Consultation.objects.exists()


def test_a_user_without_a_role_sees_no_consultation(
    client, outsider, practitioner, visit
):
    consultation = recorded(visit, practitioner.user)
    client.force_login(outsider)
    assert client.get(record_url(visit)).status_code == 403
    assert client.get(consultation.get_absolute_url()).status_code == 403


SCREENING = {
    "hoped_for_results": "Fade the acne marks",
    "topical_medication": "Adapalene gel",
    "isotretinoin": True,
    "screening_note": "Last isotretinoin dose in March; wait until September.",
    "decision_reason": "The course starts in September, 6 months after the last dose.",
}


def test_the_front_desk_sees_the_decision_but_not_the_screening(
    client, front_desk, practitioner, visit
):
    consultation = recorded(visit, practitioner.user, **SCREENING)
    client.force_login(front_desk)
    response = client.get(consultation.get_absolute_url())
    body = response.content.decode()
    assert response.status_code == 200
    assert "Eligible" in body
    assert "Face" in body
    for private in [
        "Fade the acne marks",
        "Adapalene gel",
        "Isotretinoin",
        "wait until September",
        "Screening",
    ]:
        assert private not in body, private
    assert record_url(visit) not in body


def test_practitioners_see_the_screening(client, practitioner, visit):
    consultation = recorded(visit, practitioner.user, **SCREENING)
    client.force_login(practitioner.user)
    body = client.get(consultation.get_absolute_url()).content.decode()
    assert "Fade the acne marks" in body
    assert "Adapalene gel" in body
    assert "Isotretinoin" in body
    assert "wait until September" in body
    assert record_url(visit) in body


def test_the_reason_for_a_decision_is_for_clinicians_and_their_reading_logged(
    client, front_desk, practitioner, visit
):
    consultation = recorded(
        visit,
        practitioner.user,
        decision=Consultation.Decision.NOT_ELIGIBLE,
        decision_reason="Pregnant: revisit after breastfeeding.",
    )

    client.force_login(front_desk)
    desk = client.get(consultation.get_absolute_url()).content.decode()
    client.force_login(practitioner.user)
    clinician = client.get(consultation.get_absolute_url()).content.decode()

    assert "Pregnant" not in desk
    assert "Recorded for the practitioners" in desk
    assert "Pregnant: revisit after breastfeeding." in clinician
    assert list(ClinicalAccess.objects.values_list("user", "what", "object_id")) == [
        (practitioner.user.pk, "consultation", consultation.pk)
    ]


# The patient page -------------------------------------------------------------------


def _history(patient, practitioner, room, count: int) -> None:
    """``count`` consultations, each with a plan of two booked sessions."""
    from plans.models import Protocol, TreatmentPlan, TreatmentSession

    standard = Protocol.objects.get(name="Standard")
    existing = patient.consultations.count()
    for n in range(existing, existing + count):
        visit = AppointmentFactory(
            patient=patient,
            practitioner=practitioner,
            room=room,
            start=at(date(2025, 1, 6) + timedelta(days=n), 10),
            status=Appointment.Status.COMPLETED,
        )
        consultation = recorded(visit, practitioner.user)
        plan = TreatmentPlan.objects.create(
            patient=patient,
            consultation=consultation,
            protocol=standard,
            areas=["face"],
            practitioner=practitioner,
            planned_sessions=6,
            spacing_days=28,
            consent_by=practitioner.user,
            consented_at=visit.end,
            status=TreatmentPlan.Status.ACTIVE,
        )
        for number in (1, 2):
            session = AppointmentFactory(
                patient=patient,
                practitioner=practitioner,
                room=room,
                start=at(date(2027, 1, 4) + timedelta(days=7 * number), 9 + n),
                kind=Appointment.Kind.TREATMENT,
            )
            TreatmentSession.objects.create(
                plan=plan, appointment=session, number=number
            )
    # And one eligible consultation still waiting for its plan.
    waiting = AppointmentFactory(
        patient=patient,
        practitioner=practitioner,
        room=room,
        start=at(date(2026, 6, 1) + timedelta(days=existing), 10),
        status=Appointment.Status.COMPLETED,
    )
    recorded(waiting, practitioner.user)


@pytest.mark.parametrize("who", ["front_desk", "practitioner"])
def test_the_patient_page_uses_a_fixed_number_of_queries(
    client,
    request,
    who,
    practitioner,
    room,
    frozen_now,
    django_assert_max_num_queries,
):
    patient = PatientFactory()
    user = request.getfixturevalue(who)
    client.force_login(getattr(user, "user", user))
    url = patient.get_absolute_url()

    _history(patient, practitioner, room, 1)
    with django_assert_max_num_queries(13):
        small = client.get(url)
    assert len(small.context["consultations"]) == 2

    _history(patient, practitioner, room, 6)
    # And changes of the details, by several members of staff.
    for n in range(5):
        PatientChange.objects.create(
            patient=patient,
            at=frozen_now,
            by=UserFactory(),
            changes=[
                {"field": "phone", "label": "phone", "before": "", "after": f"{n}"}
            ],
        )
    with django_assert_max_num_queries(13):
        large = client.get(url)
    assert len(large.context["consultations"]) == 9
    assert len(large.context["changes"]) == 5
    body = large.content.decode()
    # Of the two eligible consultations without a plan, the later one would
    # start it, but its area is in the courses under way.
    assert body.count("its areas are in the course under way") == 1
    assert "Plan other areas" not in body
    assert body.count("0 of 6 done") == 7


def test_a_choice_sent_twice_is_kept_once_in_the_choices_order(db):
    form = ConsultationForm(
        data={"areas": ["neck", "face", "neck"], "goals": ["texture", "texture"]}
    )
    form.is_valid()

    assert form.cleaned_data["areas"] == ["face", "neck"]
    assert form.cleaned_data["goals"] == ["texture"]


def test_opening_a_recorded_consultations_form_is_logged_as_reading_it(
    client, practitioner, other_practitioner, visit
):
    client.force_login(other_practitioner.user)
    client.get(record_url(visit))  # nothing recorded yet: nothing to read
    consultation = recorded(visit, practitioner.user, topical_medication="Adapalene")

    page = client.get(record_url(visit))
    # A save from an old page shows the consultation as saved: read again.
    stale = client.post(record_url(visit), consultation_data(seen="whatever"))

    assert "Adapalene" in page.content.decode()
    assert "Adapalene" in stale.content.decode()
    assert (
        list(ClinicalAccess.objects.values_list("user", "what", "object_id"))
        == [(other_practitioner.user.pk, "consultation", consultation.pk)] * 2
    )


def test_the_form_says_what_is_missing_and_takes_no_reason_without_a_decision(
    client, practitioner, visit
):
    client.force_login(practitioner.user)

    response = client.post(
        record_url(visit),
        consultation_data(
            areas=[], goals=[], decision="pending", decision_reason="Wait and see."
        ),
    )

    form = response.context["form"]
    assert form.errors["areas"] == ["Tick at least one area."]
    assert form.errors["goals"] == ["Tick at least one goal."]
    assert form.errors["decision_reason"] == [
        "A reason goes with a decision: pick one, or leave the reason empty until then."
    ]
    assert not Consultation.objects.exists()


def test_a_page_version_lost_on_its_way_is_refused_in_words(
    client, practitioner, visit
):
    client.force_login(practitioner.user)

    # Sent without the hidden version the page holds (post_as_page adds it).
    response = client.post(record_url(visit), consultation_data())

    assert response.status_code == 200
    assert "This page was changed on its way here" in response.content.decode()
    assert not Consultation.objects.exists()


def test_screening_answers_read_mid_sentence_with_brands_kept():
    consultation = Consultation(pregnant=True, isotretinoin=True)

    assert consultation.flags_in_a_sentence == (
        "isotretinoin (e.g. Roaccutane) in the last 6 months; pregnant or breastfeeding"
    )
