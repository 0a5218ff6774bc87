"""Data migrations of the email rules, run on rules as a clinic may have them."""

import importlib

import pytest
from django.apps import apps

from aftercare.models import Kind, ReminderRule

pytestmark = pytest.mark.django_db

texts = importlib.import_module("aftercare.migrations.0005_texts_for_several_sessions")
files = importlib.import_module("aftercare.migrations.0012_calendar_files_wording")


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
    for kind in ("update", "cancellation"):
        rule = ReminderRule.objects.get(kind=kind)
        assert (rule.subject, rule.body) == (texts.NEW[kind][0], files.NEW[kind])
    confirmation = ReminderRule.objects.get(kind=Kind.CONFIRMATION)
    assert confirmation.body == files.NEW["confirmation"]


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
