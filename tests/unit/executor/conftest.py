"""Fixtures shared by the executor's unit tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def airflow_conf(monkeypatch):
    """Airflow's own ``conf`` with no ``[mesos]`` option set from this environment (the provider defaults) and an
    Execution API URL; a test sets its options with ``monkeypatch.setenv``."""
    from airflow.configuration import conf

    for name in list(os.environ):
        if name.startswith("AIRFLOW__MESOS__") or "___MESOS__" in name:
            monkeypatch.delenv(name)
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "http://airflow-api:8080/execution/")
    return conf
