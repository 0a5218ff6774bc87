"""Run the benchmarks on a throwaway database: `python -m bench`.

Figures go to stdout as `name: value` lines, progress to stderr. The database is
a SQLite file in a temporary folder, or, when BENCH_DATABASE_URL names a
PostgreSQL server (postgres://user:password@host:5432/), a database
`clinic_bench` created on that server for the run and dropped afterwards.

To add a benchmark, write a function that takes the `bench.data.Clinic` and
returns `{figure name: value}`, and list it below.
"""

import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from bench import BenchmarkFailed, Figures

if TYPE_CHECKING:
    from bench.data import Clinic

# Measured on the clinic with staff, rooms, hours and patients but no appointments.
EMPTY_CLINIC_BENCHMARKS = [
    "bench.calendar.week_empty",
    "bench.calendar.day_empty",
    "bench.series.propose_empty",
    "bench.pages.search_empty",
    "bench.pages.dashboard_empty",
    # It adds the sample plan and its emails, which the outbox then shows.
    "bench.pages.plan_empty",
    "bench.pages.outbox_empty",
]
# Measured once two years of appointments, plans, records and emails have been
# added.
FULL_CLINIC_BENCHMARKS = [
    "bench.calendar.week_full",
    "bench.calendar.day_full",
    "bench.pages.search_full",
    "bench.pages.dashboard_full",
    "bench.pages.plan_full",
    "bench.pages.outbox_full",
    "bench.load.http_full",
    "bench.series.propose_full",
    # It books series, which changes the calendar the others measure.
    "bench.series.book_full",
    # Last: it sends 10,000 emails (about a minute), and the rows stay behind.
    "bench.dispatch.dispatch_full",
]

BENCH_DATABASE = "clinic_bench"


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    # Load the settings in development mode (plain static files storage, no
    # HTTPS redirect); run() turns DEBUG off before measuring anything.
    os.environ["DEBUG"] = "1"
    try:
        with throwaway_database() as database_url:
            os.environ["DATABASE_URL"] = database_url
            run()
    except BenchmarkFailed as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    return 0


def run() -> None:
    import django

    django.setup()

    from django.conf import settings

    # DEBUG would log every query and keep template debug information, which
    # slows the pages down and bloats memory during the bulk inserts.
    settings.DEBUG = False
    # Django's test client sends requests to the host "testserver".
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    # Each page benchmark signs the front desk in; the sign-in log is noise here.
    logging.getLogger("axes").setLevel(logging.WARNING)

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone
    from django.utils.module_loading import import_string

    from bench import data, history, outbox

    progress(f"migrating a fresh {connection.vendor} database")
    call_command("migrate", verbosity=0)

    progress("building the clinic: staff, rooms, hours, patients")
    started = time.perf_counter()
    clinic = data.build_clinic(now=timezone.now())
    build_seconds = time.perf_counter() - started
    for path in EMPTY_CLINIC_BENCHMARKS:
        measure(path, import_string(path), clinic)

    progress("building two years of appointments")
    started = time.perf_counter()
    appointments = data.build_appointments(clinic)
    progress("building treatment plans, sessions and session records")
    plans = history.build_plans(clinic)
    progress("building the patient emails")
    emails = outbox.build_emails(clinic)
    with connection.cursor() as cursor:
        # Fresh planner statistics, as a long-running database would have.
        cursor.execute("ANALYZE")
    build_seconds += time.perf_counter() - started
    report(
        {
            "bench_appointments": appointments,
            "bench_plans": plans.plans,
            "bench_session_records": plans.records,
            "bench_emails": emails,
            "bench_data_build_s": round(build_seconds, 1),
        }
    )

    for path in FULL_CLINIC_BENCHMARKS:
        measure(path, import_string(path), clinic)


def measure(
    path: str, benchmark: Callable[["Clinic"], Figures], clinic: "Clinic"
) -> None:
    progress(f"running {path}")
    started = time.perf_counter()
    report(benchmark(clinic))
    progress(f"{path} took {time.perf_counter() - started:.1f} s")


def report(figures: Figures) -> None:
    for name, value in figures.items():
        print(f"{name}: {value}", flush=True)


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


@contextmanager
def throwaway_database() -> Iterator[str]:
    """Yield the DATABASE_URL of an empty database that is gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="clinic-bench-") as folder:
        # Keep mail, broker and media files of the run out of the project's var/.
        os.environ["CLINIC_VAR_DIR"] = folder
        server = os.environ.get("BENCH_DATABASE_URL", "").strip()
        if not server:
            yield f"sqlite:///{folder}/bench.sqlite3"
            return
        admin_url, bench_url = _postgres_urls(server)
        progress(f"creating database {BENCH_DATABASE} on {_host(server)}")
        _execute(admin_url, f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")
        _execute(admin_url, f"CREATE DATABASE {BENCH_DATABASE}")
        try:
            yield bench_url
        finally:
            from django.conf import settings

            if settings.configured:
                from django.db import connections

                connections.close_all()
            progress(f"dropping database {BENCH_DATABASE}")
            _execute(admin_url, f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")


def _postgres_urls(server: str) -> tuple[str, str]:
    """The URL to create and drop databases with, and the benchmark database's."""
    parts = urlsplit(server)
    if not parts.scheme.startswith(("postgres", "pgsql", "psql")):
        raise BenchmarkFailed(
            "BENCH_DATABASE_URL must be a PostgreSQL URL such as "
            f"postgres://postgres@127.0.0.1:5432/, not {parts.scheme}://..."
        )
    maintenance = parts.path.strip("/") or "postgres"
    if maintenance == BENCH_DATABASE:
        maintenance = "postgres"
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path=f"/{maintenance}"))
    bench_url = urlunsplit(parts._replace(path=f"/{BENCH_DATABASE}"))
    return admin_url, bench_url


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def _execute(url: str, sql: str) -> None:
    import psycopg2

    try:
        connection = psycopg2.connect(url)
    except psycopg2.Error as exc:
        raise BenchmarkFailed(f"cannot connect to {_host(url)}: {exc}") from exc
    connection.autocommit = True  # CREATE/DROP DATABASE refuse transactions
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


if __name__ == "__main__":
    sys.exit(main())
