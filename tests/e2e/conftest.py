"""Fixtures for end-to-end tests that run real Airflow components (tests/e2e/airflow_harness.py).

A test module asks for ``airflow_deployment`` and calls it once, in a module-scoped
fixture of its own, so that one deployment serves all the module's tests; each test
triggers its own DAG runs::

    @pytest.fixture(scope="module")
    def deployment(airflow_deployment):
        return airflow_deployment(executor="airflow_mesos.executor.MesosExecutor",
                                  extra_env={"AIRFLOW__MESOS__MASTER": ...})

Tests that only trigger DAG runs share one Airflow with the MesosExecutor on one
embedded Mesos cluster: ``mesos_airflow`` (session-scoped; DAGs in ``mesos_dags/``)
and ``mesos_cluster``.  Tests that stop or restart components start their own
deployment with the factory.

Every test in this folder is an integration test: it needs the PostgreSQL that
``scripts/test`` starts (``AIRFLOW_MESOS_TEST_PG``), and fails, never skips, without it.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from airflow_mesos.local import LocalCluster
from airflow_mesos.local.agent import AgentSpec
from tests.e2e.airflow_harness import AirflowDeployment

E2E_DIR = Path(__file__).resolve().parent
DAGS_FOLDER = E2E_DIR / "dags"
MESOS_DAGS = E2E_DIR / "mesos_dags"
PLUGINS_FOLDER = E2E_DIR.parents[1] / "plugins"
"""The project's Airflow plugins (the Mesos UI page); the deployment of :func:`mesos_airflow` loads them."""
EXAMPLE_DAGS = E2E_DIR.parents[1] / "dags"
"""The shipped example DAGs; ``mesos_dags/`` links to some of them, so tasks must see this folder too."""
LOGGING_CONFIG_CLASS = "airflow_mesos.logging_config.LOGGING_CONFIG"
OWN_IMAGE = "airflow-mesos/airflow:e2e-own"


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


@pytest.fixture(scope="session")
def mesos_image(docker_client, python_image) -> str:
    """The project image, rebuilt from this checkout (a code-only rebuild takes seconds), plus a second tag
    that the ``own_image`` task asks for."""
    from airflow_mesos.image import DEFAULT_TAG, ImageBuildFailed, build_image

    try:
        tag = build_image(docker_client, base_image=python_image, tag=DEFAULT_TAG)
    except ImageBuildFailed as exc:
        pytest.fail(str(exc))
    repository, _, own_tag = OWN_IMAGE.rpartition(":")
    docker_client.images.get(tag).tag(repository, own_tag)
    return tag


@pytest.fixture(scope="session")
def mesos_cluster(docker_client, scratch_volume):
    # (scratch_volume first: a warm executor's container holds the volume until the cluster stops, so the
    # volume is removed after the cluster.)
    # Two racks; distinct loopback hosts so that hostname constraints have two values to choose from.
    agents = [AgentSpec(hostname="127.0.0.1", cpus=4, mem=8192, attributes={"rack": "r1"}),
              AgentSpec(hostname="127.0.0.2", cpus=4, mem=8192, attributes={"rack": "r2"})]
    with LocalCluster(agents, docker_client=docker_client, allocation_interval=0.5,
                      status_update_retry_interval=2.0) as running:
        yield running


@pytest.fixture(scope="session")
def e2e_data_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("e2e-data")
    (path / "greeting.txt").write_text("hello from the host\n")
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def scratch_volume(docker_client):
    """The name of the Docker named volume ``example_mesos_resources`` writes to; removed at the end."""
    import docker.errors

    from airflow_mesos.run_labels import run_id

    name = f"airflow-mesos-e2e-scratch-{run_id() or 'adhoc'}-{os.getpid()}"
    yield name
    try:
        docker_client.volumes.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass


@pytest.fixture(scope="session")
def mesos_airflow(pg_dsn, mesos_cluster, mesos_image, e2e_data_dir, scratch_volume, tmp_path_factory):
    """One Airflow (api-server, scheduler with the MesosExecutor, dag-processor) on PostgreSQL against
    :func:`mesos_cluster`, with ``mesos_dags/``; shared by every e2e test that does not stop components."""
    cluster, image, data_dir = mesos_cluster, mesos_image, e2e_data_dir
    logs = tmp_path_factory.mktemp("task-logs")
    # The containers run as uid 50000; they write their task logs into this host folder.
    logs.chmod(0o777)
    for parent in (logs.parent, logs.parent.parent):
        parent.chmod(parent.stat().st_mode | stat.S_IXOTH | stat.S_IROTH)
    volumes = [
        {"host_path": str(MESOS_DAGS), "container_path": str(MESOS_DAGS), "mode": "RO"},
        {"host_path": str(EXAMPLE_DAGS), "container_path": str(EXAMPLE_DAGS), "mode": "RO"},
        {"host_path": str(logs), "container_path": str(logs), "mode": "RW"},
    ]
    env = {"AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs), "E2E_DATA_DIR": str(data_dir),
           "E2E_OWN_IMAGE": OWN_IMAGE}
    extra_env = {
        "AIRFLOW__MESOS__MASTER": cluster.master_url,
        "AIRFLOW__MESOS__IMAGE": image,
        "AIRFLOW__MESOS__VOLUMES": json.dumps(volumes),
        "AIRFLOW__MESOS__ENV": json.dumps(env),
        "AIRFLOW__MESOS__REVIVE_MIN_INTERVAL": "0.5",
        # The Mesos UI plugin (plugins/mesos_plugin.py); only the api-server mounts its app.
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs),
        "E2E_DATA_DIR": str(data_dir),
        "E2E_OWN_IMAGE": OWN_IMAGE,
        # The api-server reads a finished Mesos try from its sandbox where no log file or remote log has it.
        "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS": LOGGING_CONFIG_CLASS,
        "MESOS_EXAMPLE_SCRATCH_VOLUME": scratch_volume,
    }
    deployment = AirflowDeployment(pg_dsn=pg_dsn, workdir=tmp_path_factory.mktemp("airflow-mesos"),
                                   executor="airflow_mesos.executor.MesosExecutor", dags_folder=MESOS_DAGS,
                                   extra_env=extra_env, parallelism=16)
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
