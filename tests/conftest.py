"""Session fixtures for the real services the tests use.

``scripts/test`` starts dockerd, ZooKeeper and PostgreSQL and exports where
they are (``DOCKER_HOST``, ``AIRFLOW_MESOS_TEST_ZK``, ``AIRFLOW_MESOS_TEST_PG``).
A test that asks for one of them while it is not running fails with a message
that says how to start it: it is never skipped.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

# Airflow reads AIRFLOW_HOME once, at first import; give the test session its
# own so no test writes into the developer's ~/airflow.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-mesos-test-home-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

HOW = "run the suite with scripts/test, which starts dockerd, ZooKeeper and PostgreSQL"


@pytest.fixture(scope="session")
def docker_client():
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # the SDK raises several unrelated types here
        pytest.fail(f"no Docker engine at DOCKER_HOST={os.environ.get('DOCKER_HOST')!r} ({exc}); {HOW}")
    return client


@pytest.fixture(scope="session")
def busybox_image(docker_client) -> str:
    from airflow_mesos.local.images import ensure_busybox_image

    return ensure_busybox_image(docker_client)


@pytest.fixture(scope="session")
def python_image(docker_client) -> str:
    from airflow_mesos.local.images import ensure_python_image

    return ensure_python_image(docker_client)


@pytest.fixture(scope="session")
def zk_hosts() -> str:
    hosts = os.environ.get("AIRFLOW_MESOS_TEST_ZK")
    if not hosts:
        pytest.fail(f"AIRFLOW_MESOS_TEST_ZK is not set; {HOW}")
    return hosts


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    dsn = os.environ.get("AIRFLOW_MESOS_TEST_PG")
    if not dsn:
        pytest.fail(f"AIRFLOW_MESOS_TEST_PG is not set; {HOW}")
    return dsn
