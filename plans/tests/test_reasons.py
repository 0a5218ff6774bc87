"""Reasons a record keeps are words: not blank, invisible or a token like "x"."""

import pytest

from clinic.forms import BookAppointmentForm, CancelForm
from plans.forms import (
    AmendForm,
    CancelSessionForm,
    MoveSessionForm,
    OverrideForm,
    ReasonForm,
)

# A zero-width space, a no-break space, dots, a letter, two letters.
HOLLOW = ["\u200b", "\u00a0", "...", "x", "ok"]


@pytest.mark.parametrize("reason", HOLLOW)
@pytest.mark.parametrize(
    "form_class", [CancelForm, CancelSessionForm, ReasonForm, AmendForm]
)
def test_a_required_reason_needs_words(form_class, reason):
    form = form_class(data={"reason": reason, "seen": "0"})

    assert not form.is_valid()
    # A no-break space is trimmed away: then it is asked for as when empty,
    # in the same words.
    assert "in a few words" in " ".join(form.errors["reason"])
    assert "required" not in " ".join(form.errors["reason"])


@pytest.mark.parametrize(
    "reason",
    # A business trip, pregnancy, a cold, medicine; a short word.
    ["出差", "妊娠", "감기", "दवा", "ill"],
)
def test_a_short_reason_in_any_script_is_words(reason):
    form = CancelForm(data={"reason": reason, "seen": "0"})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["reason"] == reason


@pytest.mark.parametrize(
    "form_class", [CancelForm, CancelSessionForm, ReasonForm, AmendForm]
)
def test_a_reason_in_words_is_kept_trimmed(form_class):
    form = form_class(data={"reason": "  Patient is unwell. ", "seen": "0"})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["reason"] == "Patient is unwell."


@pytest.mark.parametrize("reason", [r for r in HOLLOW if r.strip()])
def test_a_managers_reason_to_override_needs_words_when_given(db, reason):
    booking = BookAppointmentForm(data={"override_reason": reason}, can_override=True)
    spacing = OverrideForm(data={"override_reason": reason})
    move = MoveSessionForm(data={"override_reason": reason})

    for form in (booking, spacing, move):
        form.is_valid()
        assert "in a few words" in " ".join(form.errors["override_reason"])


def test_no_override_reason_is_fine(db):
    assert OverrideForm(data={"override_reason": ""}).is_valid()
    booking = BookAppointmentForm(data={"override_reason": ""}, can_override=True)
    booking.is_valid()
    assert "override_reason" not in booking.errors


@pytest.mark.parametrize(
    "form_class,field,limit",
    [
        ("clinic.forms.ConsultationForm", "screening_note", 2000),
        ("clinic.forms.ConsultationForm", "hoped_for_results", 2000),
        ("clinic.forms.PatientForm", "notes", 5000),
        ("plans.forms.PlanForm", "exception_reason", 2000),
        ("plans.forms.RecordForm", "notes", 10000),
        ("plans.forms.RecordForm", "adverse_events", 5000),
    ],
)
def test_typed_texts_have_a_limit_the_page_and_the_form_keep(
    db, form_class, field, limit
):
    from django.utils.module_loading import import_string

    form = import_string(form_class)()
    bound = form.fields[field]

    assert bound.max_length == limit
    assert bound.widget.attrs["maxlength"] == str(limit)
    assert bound.clean("a" * limit) == "a" * limit
    with pytest.raises(Exception, match="at most"):
        bound.clean("a" * (limit + 1))


def test_a_protocols_spacing_is_at_most_that_of_a_plan(db):
    from django.core.exceptions import ValidationError

    from plans.models import Protocol

    protocol = Protocol.objects.get(name="Standard")
    protocol.max_spacing_days = protocol.target_spacing_days = 32767

    with pytest.raises(ValidationError) as excinfo:
        protocol.full_clean()

    assert set(excinfo.value.message_dict) == {
        "max_spacing_days",
        "target_spacing_days",
    }
