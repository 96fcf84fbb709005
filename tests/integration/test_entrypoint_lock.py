"""The entrypoint's migration lock against the real test PostgreSQL.

``airflow db migrate`` itself is exercised in containers by
test_docker_image.py; here the command is replaced by a recorder so the lock's
behaviour (held during the command, waited for, given up on, released) can be
checked directly and quickly.
"""

from __future__ import annotations

import subprocess
import urllib.parse

import psycopg2
import pytest

from airflow_mesos.clock import FakeClock
from airflow_mesos.entrypoint import CONN_VAR, MIGRATION_LOCK_ID, EntrypointError, migrate_with_lock

pytestmark = pytest.mark.integration


@pytest.fixture()
def env(pg_dsn) -> dict[str, str]:
    # The SQLAlchemy form the entrypoint builds, with a password the trusting
    # test server ignores.
    parts = urllib.parse.urlsplit(pg_dsn)
    url = f"postgresql+psycopg2://{parts.username}:not-needed@{parts.hostname}:{parts.port}{parts.path}"
    return {CONN_VAR: url}


@pytest.fixture()
def observer(pg_dsn):
    """A second session, to see and to take the lock from outside."""
    connection = psycopg2.connect(pg_dsn)
    connection.autocommit = True
    yield connection
    connection.close()


def lock_is_free(connection) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        (taken,) = cursor.fetchone()
        if taken:
            cursor.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
        return taken


def test_the_command_runs_while_the_lock_is_held(env, observer):
    seen: list[tuple[list[str], bool]] = []

    def run(command, env):
        seen.append((command, lock_is_free(observer)))
        return subprocess.CompletedProcess(command, 0)

    migrate_with_lock(env, timeout=5, run=run)

    assert seen == [(["airflow", "db", "migrate"], False)]
    assert lock_is_free(observer)


def test_a_failed_migration_is_reported_and_releases_the_lock(env, observer):
    def run(command, env):
        return subprocess.CompletedProcess(command, 3)

    with pytest.raises(EntrypointError, match=r"`airflow db migrate` failed with exit code 3"):
        migrate_with_lock(env, timeout=5, run=run)
    assert lock_is_free(observer)


def test_waits_for_the_holder_and_gives_up_after_the_timeout(env, observer):
    def run(command, env):
        pytest.fail("the migration ran although another session held the lock")

    clock = FakeClock()
    with observer.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
    try:
        with pytest.raises(EntrypointError) as caught:
            migrate_with_lock(env, timeout=3, run=run, clock=clock, poll_interval=1)
    finally:
        with observer.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
    message = str(caught.value)
    assert message.startswith("gave up after 3 s (AIRFLOW_MESOS_DB_MIGRATE_TIMEOUT) waiting for the migration lock")
    assert ":***@" in message and "not-needed" not in message
    assert clock.sleeps == [1, 1, 1]


def test_an_unreachable_database_is_a_clear_error(env):
    # Port 1 on loopback: nothing listens there.
    url = env[CONN_VAR]
    parts = urllib.parse.urlsplit(url)
    unreachable = {CONN_VAR: url.replace(f":{parts.port}/", ":1/")}
    with pytest.raises(EntrypointError) as caught:
        migrate_with_lock(unreachable, timeout=5, run=lambda command, env: pytest.fail("ran"))
    message = str(caught.value)
    assert message.startswith(f"cannot connect to postgresql+psycopg2://{parts.username}:***@{parts.hostname}:1/")
    assert "not-needed" not in message
