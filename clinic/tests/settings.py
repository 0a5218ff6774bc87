"""The settings the tests run on (pytest.ini): the clinic's own, with DEBUG on
unless set, as `make run RUN_DEBUG=1` has them. The settings default to
production (DEBUG off, a SECRET_KEY required). Test tweaks that don't depend on
the environment are in conftest.py."""

import os

os.environ.setdefault("DEBUG", "1")

from clinic.settings import *  # noqa: E402, F403
