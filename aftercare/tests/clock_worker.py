"""Run Celery with the clock moved: ``python -m aftercare.tests.clock_worker
<ISO moment> worker ...`` starts ``celery worker ...`` whose time begins at that
moment and ticks on, so a test can send a worker hours or days ahead."""

import sys
from datetime import datetime

import time_machine


def main() -> None:
    moment = datetime.fromisoformat(sys.argv[1])
    with time_machine.travel(moment, tick=True):
        from celery.__main__ import main as celery

        sys.argv = ["celery", *sys.argv[2:]]
        celery()


if __name__ == "__main__":
    main()
