import pytest
from django.test import Client, override_settings

from bench import BenchmarkFailed, load
from bench.__main__ import FULL_CLINIC_BENCHMARKS
from bench.urls import SIGNED_IN_PATH, TRIVIAL_PATH

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:41234/calendar/week/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    45.21ms   10.02ms 120.33ms   80.00%
    Req/Sec    88.40     12.11   110.00     70.00%
  884 requests in 10.01s, 18.61MB read
  Socket errors: connect 0, read 3, write 0, timeout 0
Requests/sec:     88.31
Transfer/sec:      1.86MB
"""


def test_it_runs_before_the_series_and_dispatch_benchmarks():
    assert FULL_CLINIC_BENCHMARKS.index("bench.load.http_full") < (
        FULL_CLINIC_BENCHMARKS.index("bench.series.propose_full")
    )


def test_it_reads_the_rate_latency_and_errors_from_wrk():
    result = load.parse_wrk(WRK_OUTPUT)

    assert result.requests_per_s == 88.31
    assert result.latency == "45.21ms"
    assert result.errors == 0
    assert result.describe() == (
        "88 requests/s, mean latency 45.21ms, "
        "socket errors: connect 0, read 3, write 0, timeout 0"
    )


def test_it_counts_error_responses():
    output = WRK_OUTPUT.replace(
        "Requests/sec", "  Non-2xx or 3xx responses: 17\nRequests/sec"
    )

    assert load.parse_wrk(output).errors == 17


def test_output_without_a_rate_fails_the_benchmark():
    with pytest.raises(BenchmarkFailed, match="no Requests/sec"):
        load.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_without_wrk_it_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(load.shutil, "which", lambda name: None)

    with pytest.raises(BenchmarkFailed, match="apt-get install wrk"):
        load.find_wrk()


def test_the_server_runs_with_debug_off_and_the_benchmark_urls():
    env = load.server_environment()

    assert env["DJANGO_SETTINGS_MODULE"] == "bench.server_settings"
    assert env["DEBUG"] == "0"
    assert env["SECRET_KEY"]


@override_settings(ROOT_URLCONF="bench.urls")
def test_the_trivial_page_answers_without_the_database(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get(TRIVIAL_PATH)

    assert response.status_code == 200
    assert response.content == b"ok"


@override_settings(ROOT_URLCONF="bench.urls")
def test_the_signed_in_trivial_page_reads_only_the_session_and_the_user(
    db, front_desk, django_assert_num_queries
):
    client = Client()
    assert client.get(SIGNED_IN_PATH).status_code == 302
    client.force_login(front_desk)

    with django_assert_num_queries(2):
        response = client.get(SIGNED_IN_PATH)

    assert response.status_code == 200
    assert response.content == b"ok"


def test_the_product_has_no_trivial_page(client):
    assert client.get(TRIVIAL_PATH).status_code == 404
    assert client.get(SIGNED_IN_PATH).status_code == 404
