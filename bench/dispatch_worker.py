"""Email dispatchers in processes of their own, as Celery workers run, started
together for the two-worker dispatch benchmark.

Nothing from Django is imported at module level: a spawned process imports
this module before it has set Django up.
"""

import multiprocessing
import queue
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from multiprocessing.process import BaseProcess
from typing import Any

from bench import BenchmarkFailed

READY = "ready"
REPORT = "report"
ERROR = "error"


class Workers:
    """The parent's side: start them together, then collect their reports."""

    def __init__(
        self, processes: list[BaseProcess], barrier: Any, messages: Any, timeout: float
    ) -> None:
        self._processes = processes
        self._barrier = barrier
        self._messages = messages
        self._timeout = timeout

    def go(self) -> None:
        """Wait until every dispatcher is ready, then let them all start."""
        self._collect(READY)
        self._barrier.wait(self._timeout)

    def reports(self) -> list:
        """Each dispatcher's DispatchReport, in the order they started."""
        reports = self._collect(REPORT)
        return [reports[process.name] for process in self._processes]

    def _collect(self, kind: str) -> dict[str, Any]:
        """One message of ``kind`` from each dispatcher; fails at once when one
        reports an error or stops without a word."""
        received: dict[str, Any] = {}
        deadline = time.monotonic() + self._timeout
        while len(received) < len(self._processes):
            try:
                name, got, payload = self._messages.get(timeout=1)
            except queue.Empty:
                silent = [
                    p
                    for p in self._processes
                    if p.name not in received and p.exitcode is not None
                ]
                # Its last words may have been on their way.
                if silent and self._messages.empty():
                    raise BenchmarkFailed(
                        f"{silent[0].name} stopped (exit code {silent[0].exitcode})"
                    ) from None
                if time.monotonic() > deadline:
                    raise BenchmarkFailed(
                        f"no {kind} from every dispatcher after {self._timeout} s"
                    ) from None
                continue
            if got == ERROR:
                raise BenchmarkFailed(f"{name} failed:\n{payload}")
            received[name] = payload
        return received


@contextmanager
def start(
    count: int,
    *,
    database_name: str,
    overrides: dict,
    now: datetime,
    timeout: float,
) -> Iterator[Workers]:
    """Start ``count`` dispatchers, which wait until ``go()``."""
    # Spawned, not forked: a fresh interpreter shares no database connection,
    # socket or thread with this one.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(count + 1)
    messages = context.Queue()
    processes = [
        context.Process(
            target=_main,
            args=(database_name, overrides, now, barrier, messages, timeout),
            name=f"dispatcher {n + 1}",
            daemon=True,
        )
        for n in range(count)
    ]
    for process in processes:
        process.start()
    try:
        yield Workers(processes, barrier, messages, timeout)
    finally:
        # Frees dispatchers still waiting when go() was never called.
        barrier.abort()
        for process in processes:
            process.join(timeout)
            if process.is_alive():
                process.kill()
                process.join()


def _main(
    database_name: str,
    overrides: dict,
    now: datetime,
    barrier: Any,
    messages: Any,
    timeout: float,
) -> None:
    from django.db import connection  # Connects only when first used.

    name = multiprocessing.current_process().name
    try:
        import django

        django.setup()

        from django.conf import settings

        from bench.dispatch import dispatch_all

        settings.DEBUG = False  # As `python -m bench` runs.
        for setting, value in overrides.items():
            setattr(settings, setting, value)
        # Under pytest the parent uses the test database, which the settings
        # this process loaded don't name.
        connection.settings_dict["NAME"] = database_name
        connection.ensure_connection()
        messages.put((name, READY, None))
        barrier.wait(timeout)
        messages.put((name, REPORT, dispatch_all(now)))
    except Exception:
        messages.put((name, ERROR, traceback.format_exc()))
    finally:
        connection.close()
