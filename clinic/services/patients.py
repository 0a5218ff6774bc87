"""Registering patients one at a time."""

from django.db import connection, transaction

# Any fixed number, the same in every process: the PostgreSQL advisory lock that
# registrations take in turn.
REGISTRATION_LOCK = 7_210_001


def hold_registration_lock() -> None:
    """Inside a transaction: hold off other registrations until it ends, so two
    sent at once (a form sent twice) can't both find no namesake and both
    register. On SQLite the transaction began IMMEDIATE and holds the database's
    write lock already."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("hold_registration_lock() needs a transaction")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REGISTRATION_LOCK])
