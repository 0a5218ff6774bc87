"""The models' own get_FOO_display(), faster than Django's, says the same."""

from aftercare.models import Kind, Reminder
from clinic.models import Appointment, choice_label


def test_choice_labels_are_what_django_would_show():
    for model, field in (
        (Appointment, "kind"),
        (Appointment, "status"),
        (Reminder, "kind"),
        (Reminder, "status"),
    ):
        for value, label in model._meta.get_field(field).flatchoices:
            row = model(**{field: value})
            assert getattr(row, f"get_{field}_display")() == str(label)


def test_a_value_outside_the_choices_is_shown_as_it_is():
    assert Appointment(status="retired").get_status_display() == "retired"
    assert choice_label(Kind, None) is None
