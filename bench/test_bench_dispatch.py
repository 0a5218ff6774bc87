import smtplib
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from aftercare.models import Reminder
from bench import BenchmarkFailed, data, dispatch, history, outbox
from bench.__main__ import FULL_CLINIC_BENCHMARKS
from bench.smtp_sink import SmtpSink

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Europe/London"))
REMINDERS = 50


@pytest.fixture
def clinic(db) -> data.Clinic:
    clinic = data.build_clinic(now=NOW, practitioners=3, rooms=2, patients=20)
    data.build_appointments(clinic, days_back=14, days_forward=14)
    return clinic


def assert_each_email_sent_once() -> None:
    reminders = Reminder.objects.all()

    assert reminders.count() == REMINDERS
    assert set(reminders.values_list("status", flat=True)) == {"sent"}
    assert set(reminders.values_list("attempts", flat=True)) == {1}
    assert len(set(reminders.values_list("message_id", flat=True))) == REMINDERS


def test_it_runs_after_the_other_full_clinic_benchmarks():
    assert FULL_CLINIC_BENCHMARKS[-1] == "bench.dispatch.dispatch_full"


def test_one_dispatcher_sends_each_email_once_and_is_measured(clinic):
    figures = dispatch.measure(clinic, reminders=REMINDERS, two_workers=False)

    assert set(figures) == {
        "smtp_baseline_per_s",
        "dispatch_1w_per_s",
        "dispatch_queries_per_reminder",
    }
    assert all(value > 0 for value in figures.values())
    assert_each_email_sent_once()


def test_it_sends_only_its_own_emails_beside_the_clinics_history(clinic):
    history.build_plans(clinic)
    outbox.build_emails(clinic)
    before = dict(Reminder.objects.values_list("pk", "status"))

    dispatch.measure(clinic, reminders=REMINDERS, two_workers=False)

    assert dict(Reminder.objects.filter(pk__in=before).values_list("pk", "status")) == (
        before
    )
    added = Reminder.objects.exclude(pk__in=before)
    assert added.count() == REMINDERS
    assert set(added.values_list("status", flat=True)) == {"sent"}


def test_the_emails_are_a_mix_of_kinds(clinic):
    dispatch.measure(clinic, reminders=REMINDERS, two_workers=False)
    kinds = set(Reminder.objects.values_list("kind", flat=True))

    assert kinds == {kind for kind, _ in dispatch.MIX}


# The dispatcher processes have connections of their own, which see only
# committed rows; the migrations' roles and email rules are put back afterwards.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_dispatcher_processes_send_each_email_once(clinic):
    figures = dispatch.measure(clinic, reminders=REMINDERS)

    assert figures["dispatch_2w_per_s"] > 0
    assert_each_email_sent_once()


def test_the_sink_keeps_each_message_as_it_was_sent():
    messages = [
        f"Message-ID: <{n}@example.com>\r\nSubject: Hi\r\n\r\n.\r\n..\r\nBye\r\n"
        for n in range(3)
    ]
    with SmtpSink() as sink, smtplib.SMTP(sink.host, sink.port) as smtp:
        for message in messages:
            smtp.sendmail("clinic@example.com", ["patient@example.com"], message)
        smtp.sendmail("clinic@example.com", ["a@example.com", "b@example.com"], "")
        smtp.noop()  # Answered only after the sink has kept the last message.
        received = sink.take()

    assert [m.message_id for m in received] == [
        "<0@example.com>",
        "<1@example.com>",
        "<2@example.com>",
        None,
    ]
    assert [m.data.decode() for m in received[:3]] == messages
    assert received[3].data == b"\r\n"
    assert {m.sender for m in received} == {"clinic@example.com"}
    assert received[0].recipients == ["patient@example.com"]
    assert received[3].recipients == ["a@example.com", "b@example.com"]
    assert sink.take() == []


def test_a_message_that_did_not_arrive_fails_the_benchmark():
    with SmtpSink() as sink, pytest.raises(BenchmarkFailed, match="1 missing"):
        dispatch._check_arrived(sink, {"<lost@example.com>"})
