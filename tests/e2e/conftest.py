"""Fixtures for end-to-end tests that run real Airflow components (tests/e2e/airflow_harness.py).

A test module asks for ``airflow_deployment`` and calls it once, in a module-scoped
fixture of its own, so that one deployment serves all the module's tests; each test
triggers its own DAG runs::

    @pytest.fixture(scope="module")
    def deployment(airflow_deployment):
        return airflow_deployment(executor="airflow_mesos.executor.MesosExecutor",
                                  extra_env={"AIRFLOW__MESOS__MASTER": ...})

Every test in this folder is an integration test: it needs the PostgreSQL that
``scripts/test`` starts (``AIRFLOW_MESOS_TEST_PG``), and fails, never skips, without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.airflow_harness import AirflowDeployment

E2E_DIR = Path(__file__).resolve().parent
DAGS_FOLDER = E2E_DIR / "dags"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def airflow_deployment(pg_dsn, tmp_path_factory, request):
    """A factory: ``airflow_deployment(executor=..., dags_folder=..., extra_env=..., **kwargs)`` starts an
    :class:`AirflowDeployment` (see there for the other arguments) and returns it once it is ready;
    every deployment it started is stopped, and its database dropped, when the module's tests are done.

    The component logs stay in the deployment's ``workdir`` (under pytest's basetemp) for inspection.
    """
    started: list[AirflowDeployment] = []
    module = request.module.__name__.rsplit(".", 1)[-1]

    def start(
        *,
        executor: str = "LocalExecutor",
        dags_folder: Path = DAGS_FOLDER,
        extra_env: dict[str, str] | None = None,
        **kwargs,
    ) -> AirflowDeployment:
        deployment = AirflowDeployment(
            pg_dsn=pg_dsn,
            workdir=tmp_path_factory.mktemp(f"airflow-{module}"),
            executor=executor,
            dags_folder=dags_folder,
            extra_env=extra_env,
            **kwargs,
        )
        started.append(deployment)
        deployment.start()
        return deployment

    yield start
    errors = []
    for deployment in reversed(started):
        try:
            deployment.stop()
        except Exception as exc:  # stop the others too, then report
            errors.append(f"{deployment!r}: {exc}")
    if errors:
        pytest.fail("stopping Airflow deployments failed:\n" + "\n".join(errors))
