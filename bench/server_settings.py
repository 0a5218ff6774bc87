"""Settings of the server under load: the product's, plus the trivial page of
bench.urls. Everything else comes from the environment, as in production."""

from clinic.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
