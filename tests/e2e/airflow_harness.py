"""The end-to-end tests' Airflow: :mod:`airflow_mesos.localrun.deployment` with the tests' defaults.

The deployment (its own database on the PostgreSQL that ``scripts/test`` starts, a temporary
``AIRFLOW_HOME``, ``airflow db migrate``, the api-server, dag-processor, scheduler and optionally the
triggerer, each in a session of its own, a REST client) lives in the package, where ``scripts/run-local``
uses the same code; the facts about Airflow 3.3.2 it relies on are in that module's docstring.  Here it gets
the tests' user and database names, and its errors are :class:`HarnessError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from airflow_mesos.localrun import deployment as _deployment
from airflow_mesos.localrun.deployment import (  # noqa: F401  (re-exported for the tests)
    COMPONENTS,
    JOB_TYPES,
    MARKER_VAR,
    STOP_ORDER,
    TERMINAL_DAG_RUN_STATES,
    AirflowRestClient,
    DeploymentError,
    TaskInstanceInfo,
    TaskLog,
    _free_port,
    _tail,
)

USERNAME = "e2e-admin"

HarnessError = DeploymentError
"""The deployment did not start, did not get where it was asked to, or a REST call failed."""


class AirflowDeployment(_deployment.AirflowDeployment):
    """:class:`airflow_mesos.localrun.deployment.AirflowDeployment` as the tests name things (the same
    arguments; the user is ``e2e-admin``, the databases ``airflow_e2e_<random>``)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("username", USERNAME)
        kwargs.setdefault("name_prefix", "airflow_e2e")
        super().__init__(**kwargs)


@contextlib.contextmanager
def airflow_deployment(**kwargs: Any) -> Iterator[AirflowDeployment]:
    """Start an :class:`AirflowDeployment` (same arguments) and stop it at the end, also when starting failed."""
    deployment = AirflowDeployment(**kwargs)
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()


__all__ = [
    "MARKER_VAR",
    "USERNAME",
    "AirflowDeployment",
    "AirflowRestClient",
    "HarnessError",
    "TaskInstanceInfo",
    "TaskLog",
    "airflow_deployment",
]
