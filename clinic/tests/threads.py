"""Run calls at the same moment, each in its own thread with its own database
connection: for the tests of what two desks (or workers) do at once."""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection


@dataclass
class AtOnce:
    results: list = field(default_factory=list)
    # Exceptions of the ``refusal`` types: the answers a test expects.
    refused: list[BaseException] = field(default_factory=list)
    # Any other exception: a test asserts there is none.
    crashed: list[BaseException] = field(default_factory=list)


def at_once(
    *calls: Callable[[], object],
    refusal: type[BaseException] | tuple[type[BaseException], ...] = (),
    timeout: float = 30,
) -> AtOnce:
    """Release every call together (a barrier) and wait for all of them."""
    barrier = threading.Barrier(len(calls))
    outcome = AtOnce()

    def run(call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            outcome.results.append(call())
        except refusal as error:
            outcome.refused.append(error)
        except BaseException as error:  # noqa: BLE001 - the test reports it
            outcome.crashed.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    stuck = sum(thread.is_alive() for thread in threads)
    if stuck:
        # A deadlock, or a lock never released: a failure, not a quiet pass.
        raise AssertionError(f"{stuck} of {len(threads)} calls still running")
    return outcome
