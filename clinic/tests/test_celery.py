"""The Celery app really runs: a worker process starts on the configured broker
(Redis in CI, kombu's filesystem transport by default) and answers."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.redis
def test_healthz_reaches_the_redis_broker(client, db):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    response = client.get(reverse("healthz"))
    assert response.json() == {"database": "ok", "broker": "ok"}


@pytest.mark.slow
def test_a_worker_process_starts_and_answers_on_the_broker(tmp_path):
    env = {**os.environ, "CLINIC_VAR_DIR": str(tmp_path)}
    celery = [sys.executable, "-m", "celery", "-A", "clinic"]
    worker = subprocess.Popen(
        [
            *celery,
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            f"--hostname=check-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        answer = ""
        while time.monotonic() < deadline:
            ping = subprocess.run(
                [
                    *celery,
                    "inspect",
                    "ping",
                    "--timeout=2",
                    f"--destination=check-{os.getpid()}@{os.uname().nodename}",
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            answer = ping.stdout
            if "pong" in answer:
                break
        assert "pong" in answer
    finally:
        worker.terminate()
        worker.wait(timeout=30)
