"""Settings for worker processes started by aftercare/tests/test_worker.py: the
project's settings, with a slow email backend that records what it sends."""

from clinic.settings import *  # noqa: F403
from clinic.settings import env

EMAIL_BACKEND = "aftercare.tests.slow_backend.SlowEmailBackend"
CLINIC_TEST_SENT_LOG = env.str("CLINIC_TEST_SENT_LOG")
CLINIC_TEST_SEND_SECONDS = env.float("CLINIC_TEST_SEND_SECONDS", default=0.2)
