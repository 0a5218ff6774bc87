"""Requests per second under load: the app served by gunicorn as the Procfile
runs it (two sync workers, one per core), with wrk on loopback.

Four pages of the same server, signed in as the front desk: a trivial view
returning two bytes (bench.urls: Django's own cost per request, middleware and
URL resolving, the limit for any page), the same behind sign-in (the session
and the user read, the limit for any staff page), the week calendar and the
dashboard.
The server runs with DEBUG off and the production static files storage (after
collectstatic into the run's folder), on the benchmark database.

A sync worker serves one request at a time and closes the connection after it.
Four connections keep both workers busy (one request in hand, one waiting
while wrk reconnects) without measuring a long queue; one wrk thread is plenty
for a few thousand requests a second and leaves the cores to the server.
"""

import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.test import Client
from django.urls import reverse

from bench import BenchmarkFailed, Figures
from bench.calendar import week_url
from bench.data import Clinic
from bench.urls import SIGNED_IN_PATH, TRIVIAL_PATH

HOST = "127.0.0.1"
WORKERS = 2
WRK_THREADS = 1
WRK_CONNECTIONS = 4
WRK_SECONDS = 10
WARMUP_SECONDS = 2
STARTUP_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20


def http_full(clinic: Clinic) -> Figures:
    wrk = find_wrk()
    cookie = session_cookie(clinic)
    pages = {
        "http_trivial_rps": TRIVIAL_PATH,
        "http_signed_in_trivial_rps": SIGNED_IN_PATH,
        "http_calendar_rps": week_url(clinic),
        "http_dashboard_rps": reverse("clinic:dashboard"),
    }
    figures = {}
    with server() as base_url:
        for name, path in pages.items():
            check_ok(base_url, path, cookie)
            run_wrk(wrk, base_url + path, cookie, seconds=WARMUP_SECONDS)
            result = run_wrk(wrk, base_url + path, cookie, seconds=WRK_SECONDS)
            _progress(f"{path}: {result.describe()}")
            figures[name] = round(result.requests_per_s)
    return figures


def find_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchmarkFailed(
            "the HTTP benchmark needs wrk, the load generator: apt-get install wrk"
        )
    return wrk


def session_cookie(clinic: Clinic) -> str:
    """The Cookie header of a signed-in front desk session, saved in the
    benchmark database where the server's workers find it."""
    client = Client()
    client.force_login(clinic.front_desk)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


def server_environment() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.server_settings",
        "DEBUG": "0",
        # The session cookie was signed with this process's key.
        "SECRET_KEY": settings.SECRET_KEY,
        # Plain HTTP on loopback; in production TLS ends in front of gunicorn.
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
    }


@contextmanager
def server() -> Iterator[str]:
    """gunicorn on a free loopback port until the block ends; yields its URL."""
    env = server_environment()
    project = Path(settings.BASE_DIR)
    log_path = Path(settings.VAR_DIR) / "gunicorn.log"
    _progress("collecting static files for the production storage")
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    if collected.returncode != 0:
        raise BenchmarkFailed(f"collectstatic failed:\n{collected.stderr}")
    port = _free_port()
    base_url = f"http://{HOST}:{port}"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "clinic.wsgi:application",
                f"--workers={WORKERS}",
                "--worker-class=sync",
                f"--bind={HOST}:{port}",
                # No control socket in the home folder, shared with other servers.
                "--no-control-socket",
                f"--graceful-timeout={STOP_TIMEOUT_S // 2}",
            ],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Ctrl-C stops the benchmark, whose finally stops the server.
            start_new_session=True,
        )
    try:
        _wait_until_serving(process, port, log_path)
        _progress(f"gunicorn ({WORKERS} sync workers) serving at {base_url}")
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def check_ok(base_url: str, path: str, cookie: str) -> None:
    """The page answers 200 to the signed-in user (wrk counts a redirect to the
    sign-in page as a success)."""
    status, location = _get(base_url, path, cookie)
    if status != 200:
        redirect = f", redirecting to {location}" if location else ""
        raise BenchmarkFailed(
            f"GET {path} on gunicorn answered {status}, not 200{redirect}"
        )


@dataclass
class WrkResult:
    requests_per_s: float
    latency: str
    errors: int
    socket_errors: str

    def describe(self) -> str:
        text = f"{self.requests_per_s:,.0f} requests/s, mean latency {self.latency}"
        if self.socket_errors:
            text += f", socket errors: {self.socket_errors}"
        return text


def run_wrk(wrk: str, url: str, cookie: str, *, seconds: int) -> WrkResult:
    done = subprocess.run(
        [
            wrk,
            f"--threads={WRK_THREADS}",
            f"--connections={WRK_CONNECTIONS}",
            f"--duration={seconds}s",
            f"--header=Cookie: {cookie}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    )
    if done.returncode != 0:
        raise BenchmarkFailed(f"wrk failed on {url}:\n{done.stderr}{done.stdout}")
    result = parse_wrk(done.stdout)
    if result.errors:
        raise BenchmarkFailed(
            f"{result.errors} responses to {url} were errors (not 2xx or 3xx)"
        )
    return result


def parse_wrk(output: str) -> WrkResult:
    rate = re.search(r"^Requests/sec:\s*([\d.]+)", output, re.MULTILINE)
    if rate is None:
        raise BenchmarkFailed(f"no Requests/sec in wrk's output:\n{output}")
    latency = re.search(r"^\s*Latency\s+(\S+)", output, re.MULTILINE)
    errors = re.search(r"^\s*Non-2xx or 3xx responses:\s*(\d+)", output, re.MULTILINE)
    socket_errors = re.search(r"^\s*Socket errors:\s*(.+)$", output, re.MULTILINE)
    return WrkResult(
        requests_per_s=float(rate.group(1)),
        latency=latency.group(1) if latency else "?",
        errors=int(errors.group(1)) if errors else 0,
        socket_errors=socket_errors.group(1).strip() if socket_errors else "",
    )


def _get(base_url: str, path: str, cookie: str) -> tuple[int, str]:
    port = int(base_url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request("GET", path, headers={"Cookie": cookie})
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Location") or ""
    finally:
        connection.close()


def _wait_until_serving(process: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkFailed(
                f"gunicorn stopped (exit code {process.returncode}):\n"
                f"{log_path.read_text()[-3000:]}"
            )
        try:
            status, _ = _get(f"http://{HOST}:{port}", TRIVIAL_PATH, "")
        except OSError:
            time.sleep(0.2)
            continue
        if status == 200:
            return
        raise BenchmarkFailed(
            f"gunicorn answered {status} to {TRIVIAL_PATH}:\n"
            f"{log_path.read_text()[-3000:]}"
        )
    raise BenchmarkFailed(
        f"gunicorn did not serve within {STARTUP_TIMEOUT_S} s:\n"
        f"{log_path.read_text()[-3000:]}"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
