"""Data migrations of the email rules, run on rules as a clinic may have them."""

import importlib

import pytest
from django.apps import apps

from aftercare.models import Kind, Reminder, ReminderRule

pytestmark = pytest.mark.django_db

texts = importlib.import_module("aftercare.migrations.0005_texts_for_several_sessions")
files = importlib.import_module("aftercare.migrations.0012_calendar_files_wording")
wording = importlib.import_module("aftercare.migrations.0014_booking_emails_wording")
any_day = importlib.import_module("aftercare.migrations.0015_texts_true_on_any_day")
pre_care = importlib.import_module("aftercare.migrations.0016_pre_care_with_medication")
agree = importlib.import_module("aftercare.migrations.0017_aftercare_texts_agree")
rebook = importlib.import_module("aftercare.migrations.0019_cancellation_rebook_note")
signs = importlib.import_module("aftercare.migrations.0026_guide_warning_signs")
kinder = importlib.import_module("aftercare.migrations.0027_kinder_default_texts")


def test_default_booking_texts_are_reworded_and_edited_ones_kept():
    update = ReminderRule.objects.get(kind=Kind.UPDATE)
    update.subject, update.body = texts.OLD["update"]
    update.save()
    cancellation = ReminderRule.objects.get(kind=Kind.CANCELLATION)
    cancellation.subject = texts.OLD["cancellation"][0]
    cancellation.body = "Hello {first_name}, sorry: we had to cancel."
    cancellation.save()

    texts.forwards(apps, None)

    update.refresh_from_db()
    cancellation.refresh_from_db()
    assert (update.subject, update.body) == texts.NEW["update"]
    assert cancellation.subject == texts.NEW["cancellation"][0]
    assert cancellation.body == "Hello {first_name}, sorry: we had to cancel."

    texts.backwards(apps, None)

    update.refresh_from_db()
    assert (update.subject, update.body) == texts.OLD["update"]


def test_a_fresh_clinic_starts_with_the_new_texts():
    update = ReminderRule.objects.get(kind=Kind.UPDATE)
    assert (update.subject, update.body) == (
        texts.NEW["update"][0],
        wording.NEW["update"],
    )
    confirmation = ReminderRule.objects.get(kind=Kind.CONFIRMATION)
    assert confirmation.body == wording.NEW["confirmation"]
    for kind, fields in any_day.CHANGES.items():
        rule = ReminderRule.objects.get(kind=kind)
        for field, (_old, new) in fields.items():
            if field == "body" and kind in agree.BODIES:
                new = agree.BODIES[kind][1]  # reworded again since
            if (kind, field) == ("cancellation", "body"):
                new = rebook.NEW  # its last line a placeholder since
            if (kind, field) == ("aftercare_guide", "body"):
                new = signs.AFTER  # with the signs to call about since
            if field == "body" and kind in kinder.BODIES:
                new = kinder.BODIES[kind][1]  # and kinder since
            assert getattr(rule, field) == new, (kind, field)


def test_texts_true_on_any_day_replace_the_defaults_only():
    for kind, fields in any_day.CHANGES.items():
        ReminderRule.objects.filter(kind=kind).update(
            **{field: old for field, (old, _new) in fields.items()}
        )
    ReminderRule.objects.filter(kind=Kind.REMINDER).update(subject="Tomorrow!")

    any_day.forwards(apps, None)

    assert ReminderRule.objects.get(kind=Kind.REMINDER).subject == "Tomorrow!"
    twelve = ReminderRule.objects.get(kind=Kind.AFTERCARE_12H).body
    assert "until tomorrow" not in twelve.lower()
    assert "Until a full day has passed" in twelve
    any_day.backwards(apps, None)
    assert ReminderRule.objects.get(kind=Kind.AFTERCARE_GUIDE).subject == (
        "Caring for your skin after today's session"
    )


def test_booking_texts_read_right_for_one_appointment_unless_edited():
    for kind, body in wording.OLD.items():
        ReminderRule.objects.filter(kind=kind).update(body=body)
    ReminderRule.objects.filter(kind=Kind.CANCELLATION).update(body="Cancelled.")

    wording.forwards(apps, None)

    update = ReminderRule.objects.get(kind=Kind.UPDATE).body
    assert update == wording.NEW["update"]
    assert "new details" in update and "new time" not in update
    assert ReminderRule.objects.get(kind=Kind.CANCELLATION).body == "Cancelled."
    wording.backwards(apps, None)
    assert ReminderRule.objects.get(kind=Kind.UPDATE).body == wording.OLD["update"]


def test_texts_speak_of_calendar_files_unless_a_manager_edited_them():
    for kind, body in files.OLD.items():
        ReminderRule.objects.filter(kind=kind).update(body=body)
    ReminderRule.objects.filter(kind=Kind.UPDATE).update(body="Hello, it moved.")

    files.forwards(apps, None)

    assert (
        ReminderRule.objects.get(kind=Kind.CONFIRMATION).body
        == (files.NEW["confirmation"])
    )
    assert (
        ReminderRule.objects.get(kind=Kind.CANCELLATION).body
        == (files.NEW["cancellation"])
    )
    assert ReminderRule.objects.get(kind=Kind.UPDATE).body == "Hello, it moved."
    files.backwards(apps, None)
    assert (
        ReminderRule.objects.get(kind=Kind.CONFIRMATION).body
        == (files.OLD["confirmation"])
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_copies_asked_for_twice_before_the_rule_leave_one_waiting():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    from clinic.tests.factories import AppointmentFactory

    before = [("aftercare", "0010_copies_on_request")]
    appointment = AppointmentFactory()
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("aftercare", "Reminder")
    now = timezone.now()
    fields = {
        "patient_id": appointment.patient_id,
        "appointment_id": appointment.pk,
        "kind": "confirmation",
        "due_at": now,
    }
    original = old.objects.create(**fields, status="sent", sent_at=now)
    first = old.objects.create(**fields, copy_of_id=original.pk)
    second = old.objects.create(**fields, copy_of_id=original.pk)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    statuses = dict(
        Reminder.objects.filter(copy_of=original.pk).values_list("pk", "status")
    )
    assert statuses == {first.pk: "scheduled", second.pk: "cancelled"}


def test_pre_care_no_longer_says_nothing_is_needed_above_a_medication_to_stop():
    rule = ReminderRule.objects.get(kind=Kind.PRE_CARE)
    assert rule.body == pre_care.NEW  # a fresh clinic's
    assert "Nothing special is needed" not in rule.body
    ReminderRule.objects.filter(kind=Kind.PRE_CARE).update(body=pre_care.OLD)
    pre_care.forwards(apps, None)
    assert ReminderRule.objects.get(kind=Kind.PRE_CARE).body == pre_care.NEW

    ReminderRule.objects.filter(kind=Kind.PRE_CARE).update(body="Our own words.")
    pre_care.forwards(apps, None)
    assert ReminderRule.objects.get(kind=Kind.PRE_CARE).body == "Our own words."


def test_aftercare_texts_agree_on_their_times_unless_edited():
    # A fresh clinic's (the guide has the warning signs since: 0026).
    assert agree.BODIES["aftercare_guide"][1] == signs.BEFORE
    # (and the 12 h email names no products since: 0027).
    assert agree.BODIES["aftercare_12h"][1] == kinder.BODIES["aftercare_12h"][0]
    guide = ReminderRule.objects.get(kind=Kind.AFTERCARE_GUIDE).body
    assert "next 12 hours" not in guide
    assert "Until 12 hours after your session" in guide
    assert "Until 48 hours after it: no harsh skin-care products" in guide
    twelve = ReminderRule.objects.get(kind=Kind.AFTERCARE_12H).body
    assert "harsh skin-care products wait until two days have passed" in twelve
    twenty_four = ReminderRule.objects.get(kind=Kind.AFTERCARE_24H).body
    assert "Still avoid for one more day: harsh skin-care products" in twenty_four

    for kind, (old, _new) in agree.BODIES.items():
        ReminderRule.objects.filter(kind=kind).update(body=old)
    ReminderRule.objects.filter(kind=Kind.AFTERCARE_12H).update(body="Our words.")
    agree.forwards(apps, None)

    assert (
        ReminderRule.objects.get(kind=Kind.AFTERCARE_GUIDE).body
        == (agree.BODIES["aftercare_guide"][1])
    )
    assert ReminderRule.objects.get(kind=Kind.AFTERCARE_12H).body == "Our words."
    agree.backwards(apps, None)
    assert (
        ReminderRule.objects.get(kind=Kind.AFTERCARE_GUIDE).body
        == (agree.BODIES["aftercare_guide"][0])
    )


def test_the_cancellation_text_takes_its_rebook_note_only_where_unedited():
    rule = ReminderRule.objects.get(kind=Kind.CANCELLATION)
    rule.body = rebook.OLD
    rule.save()

    rebook.forwards(apps, None)
    assert ReminderRule.objects.get(kind=Kind.CANCELLATION).body == rebook.NEW
    rebook.backwards(apps, None)
    assert ReminderRule.objects.get(kind=Kind.CANCELLATION).body == rebook.OLD

    ReminderRule.objects.filter(kind=Kind.CANCELLATION).update(body="Our words.")
    rebook.forwards(apps, None)
    assert ReminderRule.objects.get(kind=Kind.CANCELLATION).body == "Our words."


def test_the_guide_says_when_to_call_unless_edited():
    guide = ReminderRule.objects.get(kind=Kind.AFTERCARE_GUIDE)
    assert guide.body == signs.AFTER  # a fresh clinic's
    assert "you see pus, yellow crusts or blisters, or you have a fever" in guide.body
    assert "Any small spots of dried blood are normal." in guide.body

    signs.backwards(apps, None)
    assert ReminderRule.objects.get(kind=Kind.AFTERCARE_GUIDE).body == signs.BEFORE
    signs.forwards(apps, None)
    assert ReminderRule.objects.get(kind=Kind.AFTERCARE_GUIDE).body == signs.AFTER

    ReminderRule.objects.filter(kind=Kind.AFTERCARE_GUIDE).update(body="Our words.")
    signs.forwards(apps, None)
    assert ReminderRule.objects.get(kind=Kind.AFTERCARE_GUIDE).body == "Our words."


def test_the_cancellation_and_12h_texts_read_better_unless_edited():
    for kind, (_old, new) in kinder.BODIES.items():
        assert ReminderRule.objects.get(kind=kind).body == new  # a fresh clinic's
    ReminderRule.objects.filter(kind=Kind.CANCELLATION).update(body="Our words.")
    ReminderRule.objects.filter(kind=Kind.AFTERCARE_12H).update(
        body=kinder.BODIES["aftercare_12h"][0]
    )

    kinder.forwards(apps, None)

    assert ReminderRule.objects.get(kind=Kind.CANCELLATION).body == "Our words."
    twelve = ReminderRule.objects.get(kind=Kind.AFTERCARE_12H).body
    assert twelve == kinder.BODIES["aftercare_12h"][1]
    assert "recovery gel" not in twelve
    kinder.backwards(apps, None)
    assert (
        ReminderRule.objects.get(kind=Kind.AFTERCARE_12H).body
        == (kinder.BODIES["aftercare_12h"][0])
    )
