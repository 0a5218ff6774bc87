"""Patient-email dispatch: 10,000 due emails sent through Django's SMTP backend
to a sink on loopback, by one dispatcher and by two at once, against the limit
of one smtplib connection sending the same messages already rendered: the bytes
the one-worker run delivered, sent again, so the limit is the wire alone (no
database, templates or MIME serialisation).

The emails are a clinic's usual mix (reminders, pre-care, confirmations with a
calendar file, the aftercare steps), each for a patient with an address and
consent, due a minute ago, so the dispatcher sends every one: the benchmark
fails unless the sink received each message exactly once and every row is
recorded as sent.

One dispatcher runs in this process (its queries are counted); two run in
processes of their own, as two Celery workers would, started together. (Two
threads would take turns at Python's interpreter lock.) On SQLite the two take
turns at the write lock; PostgreSQL is the real case.
"""

import smtplib
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Max
from django.test.utils import override_settings

from aftercare import services
from aftercare.models import Kind, Reminder
from aftercare.services.planning import PRE_CARE_LEAST_NOTICE
from bench import BenchmarkFailed, Figures, dispatch_worker
from bench.data import BATCH_SIZE, Clinic
from bench.smtp_sink import Received, SmtpSink
from clinic.models import Appointment

REMINDERS = 10_000
# How long the emails have waited: well inside every kind's staleness limit.
DUE_FOR = timedelta(minutes=1)
# Long enough for 10,000 emails on a slow machine; a stuck worker fails the run.
WORKER_TIMEOUT_S = 600

# Which appointments an email of each kind is about.
UPCOMING = "upcoming"
UPCOMING_TREATMENTS = "upcoming treatments"
COMPLETED_TREATMENTS = "completed treatments"
# Per ten emails: three reminders, a pre-care email, a confirmation (with its
# .ics), and one of each aftercare step.
MIX = (
    (Kind.REMINDER, UPCOMING),
    (Kind.AFTERCARE_GUIDE, COMPLETED_TREATMENTS),
    (Kind.PRE_CARE, UPCOMING_TREATMENTS),
    (Kind.AFTERCARE_12H, COMPLETED_TREATMENTS),
    (Kind.REMINDER, UPCOMING),
    (Kind.AFTERCARE_24H, COMPLETED_TREATMENTS),
    (Kind.CONFIRMATION, UPCOMING),
    (Kind.AFTERCARE_48H, COMPLETED_TREATMENTS),
    (Kind.REMINDER, UPCOMING),
    (Kind.AFTERCARE_10D, COMPLETED_TREATMENTS),
)


def dispatch_full(clinic: Clinic) -> Figures:
    return measure(clinic, reminders=REMINDERS)


def measure(clinic: Clinic, *, reminders: int, two_workers: bool = True) -> Figures:
    """The figures for ``reminders`` due emails.

    ``two_workers=False`` leaves out the run with two dispatchers, which needs
    a database other processes can open (not SQLite in memory, as in tests).
    """
    now = clinic.now
    with SmtpSink() as sink, override_settings(**smtp_settings(sink)):
        _send_what_is_already_due(now, sink)
        ids = _create_due_reminders(clinic, count=reminders)

        with _counting_queries() as queries:
            started = time.perf_counter()
            report = dispatch_all(now)
            seconds = time.perf_counter() - started
        messages = _check_sent(ids, sink, [report.sent])
        _progress(f"one worker sent {report.sent:,} emails in {seconds:.1f} s")
        figures = {
            "dispatch_1w_per_s": round(reminders / seconds),
            "dispatch_queries_per_reminder": round(queries.count / reminders, 3),
        }

        # The limit: the very messages the dispatcher rendered, sent again over
        # one bare connection.
        seconds = _send_bare(messages, sink)
        _check_arrived(sink, {m.message_id for m in messages})
        figures["smtp_baseline_per_s"] = round(reminders / seconds)

        if two_workers:
            _reset(ids, now)
            seconds, sent = _run_processes(2, now=now, sink=sink)
            _check_sent(ids, sink, sent)
            _progress(
                f"two workers sent {' + '.join(f'{n:,}' for n in sent)} emails "
                f"in {seconds:.1f} s"
            )
            figures["dispatch_2w_per_s"] = round(reminders / seconds)
    return figures


def smtp_settings(sink: SmtpSink) -> dict:
    """Django's real SMTP backend, pointed at the sink."""
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": sink.host,
        "EMAIL_PORT": sink.port,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
    }


def dispatch_all(now: datetime) -> services.DispatchReport:
    """What beat does every half minute, until nothing is left to claim."""
    total = services.DispatchReport()
    while True:
        report = services.dispatch_due(now=now)
        if not report.claimed:
            return total
        total.claimed += report.claimed
        total.sent += report.sent
        total.failed += report.failed
        total.retried += report.retried
        total.skipped += report.skipped
        total.unknown += report.unknown
        total.errors += report.errors


def _send_what_is_already_due(now: datetime, sink: SmtpSink) -> None:
    """Earlier benchmarks book and cancel series, which plans emails due now;
    send them first so that the measured runs send only their own."""
    report = dispatch_all(now)
    sink.take()
    if report.claimed:
        _progress(f"sent {report.sent} of {report.claimed} emails already due first")


def _create_due_reminders(clinic: Clinic, *, count: int) -> list[int]:
    now = clinic.now
    kinds = [MIX[n % len(MIX)] for n in range(count)]
    emailable = Appointment.objects.filter(patient__email_consent=True).exclude(
        patient__email=""
    )
    # Far enough ahead for a pre-care email to go, however long the run takes.
    upcoming = emailable.filter(
        status=Appointment.Status.BOOKED,
        start__gt=now + PRE_CARE_LEAST_NOTICE + timedelta(hours=1),
    ).order_by("start", "pk")
    pools = {
        UPCOMING: upcoming,
        UPCOMING_TREATMENTS: upcoming.filter(kind=Appointment.Kind.TREATMENT),
        COMPLETED_TREATMENTS: emailable.filter(
            status=Appointment.Status.COMPLETED,
            kind=Appointment.Kind.TREATMENT,
            end__lte=now,
        ).order_by("-end", "-pk"),
    }
    # Each kind takes its own appointments from its pool, and every row starts a
    # new version of its appointment's emails (as a move does), so no two rows
    # share the (appointment, kind, version) key.
    found: dict[Kind, list[tuple[int, int]]] = {}
    for (kind, pool), needed in Counter(kinds).items():
        found[kind] = list(pools[pool].values_list("pk", "patient_id")[:needed])
        if len(found[kind]) < needed:
            raise BenchmarkFailed(
                f"only {len(found[kind])} {pool} appointments of patients with "
                f"email consent for {needed} {kind} emails"
            )
    versions = _next_versions({pk for pairs in found.values() for pk, _ in pairs})
    appointments = {kind: iter(pairs) for kind, pairs in found.items()}
    rows = []
    for kind, _ in kinds:
        appointment_id, patient_id = next(appointments[kind])
        rows.append(
            Reminder(
                patient_id=patient_id,
                appointment_id=appointment_id,
                kind=kind,
                version=versions.get(appointment_id, 0),
                due_at=now - DUE_FOR,
                # As plan_booking writes a single booking's confirmation.
                series=[appointment_id] if kind == Kind.CONFIRMATION else [],
            )
        )
    created = Reminder.objects.bulk_create(rows, batch_size=BATCH_SIZE)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(Reminder._meta.db_table)}")
    _progress(
        f"{count:,} emails due: "
        + ", ".join(
            f"{n:,} {kind}" for kind, n in Counter(r.kind for r in rows).items()
        )
    )
    return [r.pk for r in created]


def _next_versions(appointment_ids: set[int]) -> dict[int, int]:
    """The version after the latest email of each appointment that has one."""
    rows = (
        Reminder.objects.filter(appointment_id__in=appointment_ids)
        .values("appointment_id")
        .annotate(latest=Max("version"))
        .values_list("appointment_id", "latest")
    )
    return {pk: latest + 1 for pk, latest in rows}


def _send_bare(messages: list[Received], sink: SmtpSink) -> float:
    """Seconds to send the messages over one smtplib connection."""
    with smtplib.SMTP(sink.host, sink.port) as smtp:
        started = time.perf_counter()
        for message in messages:
            smtp.sendmail(message.sender, message.recipients, message.data)
        return time.perf_counter() - started


def _run_processes(
    count: int, *, now: datetime, sink: SmtpSink
) -> tuple[float, list[int]]:
    """Seconds from the moment ``count`` dispatcher processes start together
    until the last one is done, and how many emails each sent."""
    with dispatch_worker.start(
        count,
        database_name=connection.settings_dict["NAME"],
        overrides=smtp_settings(sink),
        now=now,
        timeout=WORKER_TIMEOUT_S,
    ) as workers:
        # Returns once every dispatcher is ready and all start at once.
        workers.go()
        started = time.perf_counter()
        reports = workers.reports()
        seconds = time.perf_counter() - started
    for report in reports:
        if report.failed or report.retried or report.skipped or report.unknown:
            raise BenchmarkFailed(f"a dispatcher did not send everything: {report}")
    return seconds, [report.sent for report in reports]


def _check_arrived(sink: SmtpSink, expected: set[str]) -> list[Received]:
    """What the sink received since the last check: each expected message once."""
    received = sink.take()
    ids = Counter(message.message_id for message in received)
    twice = [message_id for message_id, n in ids.items() if n > 1]
    if twice:
        raise BenchmarkFailed(f"{len(twice):,} messages arrived more than once")
    if set(ids) != expected:
        missing = len(expected - set(ids))
        unexpected = len(set(ids) - expected)
        raise BenchmarkFailed(
            f"the sink received {len(received):,} messages, expected "
            f"{len(expected):,} ({missing:,} missing, {unexpected:,} unexpected)"
        )
    return received


def _check_sent(ids: list[int], sink: SmtpSink, sent: list[int]) -> list[Received]:
    """Every row sent, each message arrived once: what arrived."""
    rows = Reminder.objects.filter(pk__in=ids)
    statuses = Counter(rows.values_list("status", flat=True))
    if statuses != {Reminder.Status.SENT: len(ids)} or sum(sent) != len(ids):
        raise BenchmarkFailed(
            f"dispatchers reported {sum(sent):,} of {len(ids):,} emails sent, "
            f"the rows say {dict(statuses)}"
        )
    return _check_arrived(sink, set(rows.values_list("message_id", flat=True)))


def _reset(ids: list[int], now: datetime) -> None:
    """Make the sent rows due again, as if never sent."""
    Reminder.objects.filter(pk__in=ids).update(
        status=Reminder.Status.SCHEDULED,
        attempts=0,
        sent_at=None,
        message_id="",
        lease_until=None,
        updated_at=now,
    )


@dataclass
class _QueryCount:
    count: int = 0


@contextmanager
def _counting_queries() -> Iterator[_QueryCount]:
    """Count the statements this thread's connection runs.

    Not CaptureQueriesContext: it keeps only the last 9,000 queries, fewer than
    a per-email query over 10,000 emails would make, and its recording slows
    the run down.
    """
    counted = _QueryCount()

    def count(
        execute: Callable, sql: str, params: Any, many: bool, context: dict
    ) -> Any:
        counted.count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield counted


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
