"""The outbox at scale with real processes: two Celery workers and beat on the
real broker, sharing the test's PostgreSQL database, over thousands of due
emails; each goes out exactly once.

Built on the helpers of test_worker.py: the same shared database, the same
bounded waits, every process stopped before the test ends.
"""

import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db.models import Count
from django.utils import timezone

from aftercare.models import Reminder
from aftercare.tests.smtp_sink import HOST, running_sink
from aftercare.tests.test_worker import (
    ROOT,
    Worker,
    broker_idle,
    due_rows,
    wait_for,
    worker_env,
)

Status = Reminder.Status

EMAILS = 3000
# Seconds each SMTP server takes to accept a message, as a real one over a network.
PACE = 0.007


@contextmanager
def celery(
    tmp_path: Path, name: str, env: dict[str, str], *arguments: str
) -> Iterator[Worker]:
    """``celery -A clinic <arguments>`` as a process logging to ``<name>.log``."""
    log_path = tmp_path / f"{name}.log"
    command = [sys.executable, "-m", "celery", "-A", "clinic", *arguments]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    running = Worker(process, log_path)
    try:
        yield running
    finally:
        stop(running)


def stop(*running: Worker) -> None:
    """SIGTERM to all at once, then wait for each: a worker's warm shutdown
    lets the tasks it is running finish."""
    for each in running:
        if each.process.poll() is None:
            each.process.terminate()
    for each in running:
        try:
            each.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            each.kill()


def worker_arguments(name: str) -> list[str]:
    return [
        "worker",
        "--pool=prefork",
        "--concurrency=2",
        "--loglevel=INFO",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        f"--hostname={name}@%h",
    ]


def tally() -> Counter:
    """How many emails are in each status."""
    counts = Reminder.objects.values_list("status").annotate(Count("id")).order_by()
    return Counter(dict(counts))


def settled() -> bool:
    """No email is waiting or being sent."""
    waiting = [Status.SCHEDULED, Status.SENDING]
    return not Reminder.objects.filter(status__in=waiting).exists()


def reported_sent(log: str) -> int:
    """The emails a worker's dispatch tasks reported sending, from its log."""
    return sum(int(n) for n in re.findall(r"succeeded in .*'sent': (\d+)", log))


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_and_beat_send_each_of_3000_due_emails_exactly_once(
    tmp_path,
    broker,
):
    rows = due_rows(EMAILS, due_at=timezone.now(), patients=30)
    assert tally() == {Status.SCHEDULED: EMAILS}
    env = worker_env(tmp_path, CLINIC_DISPATCH_INTERVAL="5")

    # Each worker sends to a server of its own: where a message arrived tells
    # which worker sent it. A worker takes at most two ticks at once (two
    # processes, one prefetched task each), so the other worker gets the third
    # tick at the latest, 10 s after the first. The servers' pace makes sure
    # emails are still waiting then: two dispatchers sending for 15 s between
    # them, at 7 ms a message at best, and holding at most 200 claimed each,
    # cannot have claimed more than about 2,550 of the 3,000.
    with (
        running_sink(pace=PACE) as sink_a,
        running_sink(pace=PACE) as sink_b,
        celery(
            tmp_path,
            "worker-a",
            {**env, "EMAIL_URL": f"smtp://{HOST}:{sink_a.port}"},
            *worker_arguments("a"),
        ) as worker_a,
        celery(
            tmp_path,
            "worker-b",
            {**env, "EMAIL_URL": f"smtp://{HOST}:{sink_b.port}"},
            *worker_arguments("b"),
        ) as worker_b,
    ):
        wait_for(
            lambda: "ready." in worker_a.log() and "ready." in worker_b.log(),
            what="both workers to start",
            log=lambda: worker_a.log() + worker_b.log(),
        )
        # Beat only once both listen. Nobody nudges and nothing here
        # dispatches: beat's ticks alone do.
        with celery(
            tmp_path,
            "beat",
            env,
            "beat",
            "--loglevel=INFO",
            f"--schedule={tmp_path / 'beat-schedule'}",
        ) as beat:

            def logs() -> str:
                return worker_a.log() + worker_b.log() + beat.log()

            wait_for(
                settled,
                what="beat and the workers to send every email",
                # About 15 s on an idle machine; slack for a busy one.
                timeout=120,
                log=logs,
            )
            stop(beat)
        # A tick taken as the last emails were sent may still be running.
        wait_for(
            lambda: broker_idle(broker),
            what="the workers to finish their last ticks",
            log=logs,
        )
        stop(worker_a, worker_b)

    assert "Sending due task dispatch-patient-emails" in beat.log()
    assert tally() == {Status.SENT: EMAILS}
    assert set(Reminder.objects.values_list("attempts", flat=True)) == {1}
    # Both workers sent a share, as each reported, and between them each email
    # arrived exactly once.
    assert sink_a.count() > 0
    assert sink_b.count() > 0
    assert reported_sent(worker_a.log()) == sink_a.count()
    assert reported_sent(worker_b.log()) == sink_b.count()
    arrived = sink_a.message_ids() + sink_b.message_ids()
    assert sum(arrived.values()) == EMAILS
    assert set(arrived.values()) == {1}
    assert set(arrived) == {
        row.message_id
        for row in Reminder.objects.filter(pk__in=[row.pk for row in rows])
    }
