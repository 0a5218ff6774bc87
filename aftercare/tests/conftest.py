# The real broker and the loopback SMTP server, for every test that starts processes.
from aftercare.tests.test_worker import broker, sink  # noqa: F401
