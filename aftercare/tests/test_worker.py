"""The outbox with real processes: Celery workers started as subprocesses on the
real broker (Redis in CI), all sharing the test's PostgreSQL database, and
sending to a real SMTP server on loopback.

Workers get the test database through DATABASE_URL, so the tests commit their
data (``transaction=True``); the seeded rules and roles come back after each
test through ``serialized_rollback``. Every wait is a bounded polling loop, and
every process a test starts is stopped before it ends.
"""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from aftercare import services
from aftercare.models import Kind, Reminder
from aftercare.tasks import dispatch_due_reminders
from aftercare.tests.slow_backend import read_sent_log
from aftercare.tests.smtp_sink import Sink, running_sink
from clinic.models import Appointment
from clinic.services import complete_appointment
from clinic.tests.factories import AppointmentFactory, PatientFactory
from clinic.tests.threads import at_once

ROOT = Path(__file__).resolve().parents[2]
Status = Reminder.Status

# Processes and waiting


def wait_for(
    condition: Callable[[], bool],
    *,
    what: str,
    timeout: float = 30,
    nudge: Callable[[], object] | None = None,
    log: Callable[[], str] = lambda: "",
) -> None:
    """Poll until ``condition()``; ``nudge()`` once a second meanwhile."""
    deadline = time.monotonic() + timeout
    next_nudge = time.monotonic()
    while not condition():
        now = time.monotonic()
        if now > deadline:
            raise AssertionError(f"Gave up waiting for {what}.\n{log()[-3000:]}")
        if nudge is not None and now >= next_nudge:
            nudge()
            next_nudge = now + 1
        time.sleep(0.05)


def shared_database_url() -> str:
    """The database this test runs in, for processes to share it."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"])
    host = db["HOST"] or "localhost"
    port = db["PORT"] or 5432
    return f"postgres://{auth}@{host}:{port}/{quote(db['NAME'])}"


class Worker:
    def __init__(self, process: subprocess.Popen, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no cleanup, nothing recorded."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@contextmanager
def celery_worker(
    tmp_path: Path,
    name: str,
    env: dict[str, str],
    *,
    beat: bool = False,
    clock: datetime | None = None,
) -> Iterator[Worker]:
    """A worker process; with ``clock``, its time starts there and ticks on."""
    runner = ["celery"]
    if clock is not None:
        runner = ["aftercare.tests.clock_worker", clock.isoformat()]
    command = [
        sys.executable,
        "-m",
        *runner,
        "-A",
        "clinic",
        "worker",
        "--pool=solo",
        "--loglevel=INFO",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        f"--hostname={name}-{os.getpid()}@%h",
    ]
    if beat:
        command.append("--beat")
    log_path = tmp_path / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield Worker(process, log_path)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def worker_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        "DATABASE_URL": shared_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CLINIC_VAR_DIR": str(tmp_path),
        "CLINIC_QUIET_HOURS": "",
        **extra,
    }


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The test broker's Redis database, emptied before and after: no nudge or
    unacknowledged task of another test leaks in."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


def broker_idle(client: redis.Redis) -> bool:
    """No task waiting, none taken and not yet finished (acks are late)."""
    return client.llen("celery") == 0 and client.hlen("unacked") == 0


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running_sink() as sink:
        yield sink


# Test data


def due_rows(
    count: int, *, due_at: datetime, patients: int = 1, kind: str = Kind.AFTERCARE_10D
) -> list[Reminder]:
    """``count`` emails due at ``due_at``, spread over ``patients`` patients (each
    with a treatment session; further emails are further schedule versions)."""
    appointments = [
        AppointmentFactory(patient=PatientFactory(), kind=Appointment.Kind.TREATMENT)
        for _ in range(patients)
    ]
    return Reminder.objects.bulk_create(
        Reminder(
            patient_id=appointments[n % patients].patient_id,
            appointment=appointments[n % patients],
            kind=kind,
            version=n // patients,
            due_at=due_at,
        )
        for n in range(count)
    )


def statuses(rows: list[Reminder]) -> set[str]:
    return set(
        Reminder.objects.filter(pk__in=[r.pk for r in rows]).values_list(
            "status", flat=True
        )
    )


# 1. Integration: complete a session, 12 hours later a worker sends the 12 h email


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_sends_the_12h_aftercare_email_once_12_hours_after_the_session(
    tmp_path, broker, sink, mailoutbox
):
    # The session ended 12 h 1 min ago and was completed then; the guide went
    # out right away (dispatched here, at that time).
    ended = timezone.now() - timedelta(hours=12, minutes=1)
    appointment = AppointmentFactory(
        kind=Appointment.Kind.TREATMENT, start=ended - timedelta(hours=1), end=ended
    )
    complete_appointment(
        appointment=appointment,
        by=appointment.practitioner.user,
        ended_at=ended,
        now=ended,
    )
    services.dispatch_due(now=ended)
    [guide] = mailoutbox
    assert guide.subject == "Caring for your skin after your session"
    # Completing nudged the dispatcher through the broker: the nudge waits there.
    assert broker.llen("celery") >= 1
    rows = {r.kind: r for r in Reminder.objects.filter(appointment=appointment)}
    twelve_hours = rows[Kind.AFTERCARE_12H]

    # Now a worker runs, nudged again and again: one sweep after another.
    env = worker_env(tmp_path, EMAIL_URL=f"smtp://127.0.0.1:{sink.port}")
    with celery_worker(tmp_path, "integration", env) as worker:
        wait_for(
            lambda: statuses([twelve_hours]) == {Status.SENT},
            what="the 12 h email to be sent",
            nudge=dispatch_due_reminders.delay,
            log=worker.log,
        )
        dispatch_due_reminders.delay()
        dispatch_due_reminders.delay()
        wait_for(
            lambda: broker_idle(broker),
            what="the worker to finish its tasks",
            log=worker.log,
        )

    [message] = sink.messages
    twelve_hours.refresh_from_db()
    assert message["Message-ID"] == twelve_hours.message_id
    assert message["Subject"] == "Aftercare: makeup is fine again (mineral only)"
    assert message["To"].addresses[0].addr_spec == appointment.patient.email
    assert twelve_hours.attempts == 1
    assert dict(
        Reminder.objects.filter(appointment=appointment).values_list("kind", "status")
    ) == {
        Kind.AFTERCARE_GUIDE: Status.SENT,
        Kind.AFTERCARE_12H: Status.SENT,
        Kind.AFTERCARE_24H: Status.SCHEDULED,
        Kind.AFTERCARE_48H: Status.SCHEDULED,
        Kind.AFTERCARE_10D: Status.SCHEDULED,
    }
    for kind, hours in ((Kind.AFTERCARE_24H, 24), (Kind.AFTERCARE_10D, 240)):
        assert rows[kind].due_at == ended + timedelta(hours=hours)


# 2. Concurrency: two dispatchers over 1,000 due rows


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_dispatchers_at_once_send_each_of_1000_emails_exactly_once(mailoutbox):
    # Each thread has its own database connection; both send into one outbox.
    now = timezone.now()
    rows = due_rows(1000, due_at=now, patients=10)
    outcome = at_once(
        *[lambda: services.dispatch_due(now=now, batch_size=50)] * 2, timeout=60
    )
    reports, crashed = outcome.results, outcome.crashed

    assert crashed == []
    assert len(reports) == 2
    # Both took part, and between them claimed every row once.
    assert all(report.sent > 0 for report in reports)
    assert sum(report.claimed for report in reports) == 1000
    assert sum(report.sent for report in reports) == 1000
    assert statuses(rows) == {Status.SENT}
    arrived = Counter(m.extra_headers["Message-ID"] for m in mailoutbox)
    assert len(mailoutbox) == 1000
    assert set(arrived.values()) == {1}
    assert set(arrived) == set(Reminder.objects.values_list("message_id", flat=True))


# 3. Crash: a worker killed mid-batch


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_killed_mid_batch_loses_nothing_and_resends_nothing(tmp_path, broker):
    sent_log = tmp_path / "sent.jsonl"
    env = worker_env(
        tmp_path,
        DJANGO_SETTINGS_MODULE="aftercare.tests.worker_settings",
        CLINIC_TEST_SENT_LOG=str(sent_log),
        CLINIC_TEST_SEND_SECONDS="0.2",
        CLINIC_EMAIL_LEASE_SECONDS="3",
    )
    # One patient per email, so the log tells which row each message was.
    earlier = due_rows(5, due_at=timezone.now(), patients=5)
    held: list[Reminder] = []
    held_to: set[str] = set()

    def sent_to(addresses: set[str]) -> list[str]:
        return [m["to"] for m in read_sent_log(sent_log) if m["to"] in addresses]

    with celery_worker(tmp_path, "doomed", env) as doomed:
        dispatch_due_reminders.delay()
        wait_for(
            lambda: statuses(earlier) == {Status.SENT},
            what="the first emails to be sent",
            log=doomed.log,
        )
        held += due_rows(20, due_at=timezone.now(), patients=20)
        held_to |= {row.patient.email for row in held}
        dispatch_due_reminders.delay()
        wait_for(
            lambda: len(sent_to(held_to)) >= 3,
            what="the worker to be in the middle of the next batch",
            log=doomed.log,
        )
        doomed.kill()

    # It claimed all 20 and sent some of them; none is recorded as sent.
    assert statuses(held) == {Status.SENDING}
    sent_before_the_crash = sent_to(held_to)
    assert 3 <= len(sent_before_the_crash) < 20
    # More emails come due while no worker runs.
    later = due_rows(5, due_at=timezone.now(), patients=5)

    with celery_worker(tmp_path, "restarted", env) as restarted:
        wait_for(
            lambda: (
                statuses(held) == {Status.UNKNOWN} and statuses(later) == {Status.SENT}
            ),
            what="the held emails to become unknown and the later ones sent",
            nudge=dispatch_due_reminders.delay,
            log=restarted.log,
        )

    # Held rows: maybe sent, maybe not. Staff decide; nothing was sent again.
    assert sent_to(held_to) == sent_before_the_crash
    assert len(set(sent_before_the_crash)) == len(sent_before_the_crash)
    for row in Reminder.objects.filter(pk__in=[r.pk for r in held]):
        assert row.last_error == (
            "The sending worker stopped before it recorded the result."
        )
        assert row.lease_until is None
        assert row.sent_at is None
    # Every other email went out exactly once, as recorded on its row.
    log = read_sent_log(sent_log)
    others = Reminder.objects.filter(pk__in=[r.pk for r in earlier + later])
    logged = [(m["to"], m["message_id"]) for m in log if m["to"] not in held_to]
    assert sorted(logged) == sorted((r.patient.email, r.message_id) for r in others)
    # Nothing lost: every row ends sent or unknown.
    assert statuses(earlier + held + later) == {Status.SENT, Status.UNKNOWN}


# 4. Redis emptied: the database is the schedule


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_emails_still_go_out_after_redis_is_emptied(tmp_path, broker, sink):
    env = worker_env(
        tmp_path,
        EMAIL_URL=f"smtp://127.0.0.1:{sink.port}",
        CLINIC_DISPATCH_INTERVAL="5",
    )
    # Pending emails, and the nudge for them waiting in Redis, with no worker.
    pending = due_rows(10, due_at=timezone.now(), patients=2)
    dispatch_due_reminders.delay()
    assert broker.llen("celery") == 1

    # FLUSHDB on the broker's own database: everything the app keeps in Redis
    # (FLUSHALL would also empty other databases on a shared server).
    broker.flushdb()
    assert broker.dbsize() == 0

    # Nobody nudges again: beat, in the worker, finds the due rows.
    with celery_worker(tmp_path, "beat", env, beat=True) as worker:
        wait_for(
            lambda: statuses(pending) == {Status.SENT},
            what="beat to send the pending emails",
            log=worker.log,
        )
        # And while both keep running, Redis is emptied again with emails
        # pending in the database: they still go out when due.
        soon = timezone.now() + timedelta(seconds=2)
        pending_too = due_rows(10, due_at=soon, patients=2)
        broker.flushdb()
        wait_for(
            lambda: statuses(pending_too) == {Status.SENT},
            what="beat to send the emails that came due after the flush",
            log=worker.log,
        )

    arrived = sink.message_ids()
    assert sink.count() == 20
    assert set(arrived.values()) == {1}
    assert set(arrived) == {
        r.message_id for r in Reminder.objects.filter(status=Status.SENT)
    }
