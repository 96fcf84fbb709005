"""The airflow-mesos image, built from docker/Dockerfile and run on the real dockerd.

The image is built once per session from the repository, on the registry-free
base (``BASE_IMAGE=airflow-mesos/python:3.11``, made by
:func:`airflow_mesos.local.images.ensure_python_image`).  The database tests run
the containers on the host network so that 127.0.0.1 reaches the test
PostgreSQL, each against a database of its own.

Every Airflow start costs seconds of CPU here, so the checks are grouped into
few container runs.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.parse
import uuid
from pathlib import Path

import httpx
import pytest

from airflow_mesos.image import DEFAULT_TAG
from airflow_mesos.run_labels import PROJECT_LABEL, run_labels

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_TAG = DEFAULT_TAG
LABELS = {PROJECT_LABEL: "test_docker_image", **run_labels()}
CONTAINER_TIMEOUT = 240

# A password with every character that needs quoting in a URL.
DB_PASSWORD = "s3cret p@ss:w/rd?#%&"


@pytest.fixture(scope="session")
def airflow_image(docker_client, python_image) -> str:
    """Build docker/Dockerfile exactly as `airflow-mesos image build --local-base` does, under the tag the
    Marathon group renders, so the image a platform engineer deploys is the one these tests ran."""
    from airflow_mesos.image import ImageBuildFailed, build_image

    try:
        return build_image(docker_client, base_image=python_image, tag=IMAGE_TAG)
    except ImageBuildFailed as exc:
        pytest.fail(str(exc))


def test_the_rendered_group_runs_the_image_these_tests_build():
    from airflow_mesos.marathon.render import render_group
    from airflow_mesos.marathon.settings import load_settings

    group = render_group(load_settings())
    airflow_apps = [app for app in group["apps"] if not app["id"].endswith("/postgres")]
    assert airflow_apps
    assert {app["container"]["docker"]["image"] for app in airflow_apps} == {IMAGE_TAG}


def run_container(client, image: str, command: list[str], **kwargs) -> tuple[int, str]:
    """Run ``command`` in a new container to its end; return (exit code, stdout+stderr)."""
    container = start_container(client, image, command, **kwargs)
    return finish_container(container)


def start_container(client, image: str, command: list[str], *, network_mode: str = "none", **kwargs):
    return client.containers.run(image, command, detach=True, network_mode=network_mode, labels=LABELS, **kwargs)


def finish_container(container) -> tuple[int, str]:
    try:
        status = container.wait(timeout=CONTAINER_TIMEOUT)["StatusCode"]
        output = container.logs(stdout=True, stderr=True).decode(errors="replace")
    finally:
        container.remove(force=True)
    return status, output


@pytest.fixture()
def fresh_database(pg_dsn):
    """A new, empty database on the test PostgreSQL; dropped afterwards."""
    import psycopg2

    name = f"airflow_image_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(pg_dsn)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield name
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def test_airflow_version_is_the_pinned_release(docker_client, airflow_image):
    status, output = run_container(docker_client, airflow_image, ["airflow", "version"])
    assert status == 0, output
    assert output.strip().splitlines()[-1] == "3.3.2"


def test_the_image_installs_exactly_the_pinned_versions(docker_client, airflow_image):
    """The image and the test venv install from one constraints.txt: nothing in the image drifts from it."""
    from tests.support.constraints import drift, read_pins

    status, output = run_container(docker_client, airflow_image,
                                   ["python3", "-m", "pip", "list", "--format", "freeze", "--disable-pip-version-check"])
    assert status == 0, output
    installed = [tuple(line.split("==", 1)) for line in output.split() if "==" in line]
    assert installed, output
    # pip is the base image's own; airflow-mesos is the package the pins are for.
    problems = drift(installed, read_pins(), ignore=("pip", "airflow-mesos"))
    assert not problems, "\n".join(problems)


def test_image_runs_as_non_root_with_our_package_and_the_example_dags(docker_client, airflow_image):
    script = (
        "id -u; id -g; echo HOME=$AIRFLOW_HOME; "
        'python3 -c "import airflow_mesos.entrypoint, airflow_mesos; print(\'package\', airflow_mesos.__version__)"; '
        "ls $AIRFLOW_HOME/dags; touch $AIRFLOW_HOME/logs/writable && echo logs-writable"
    )
    status, output = run_container(docker_client, airflow_image, ["sh", "-c", script])
    assert status == 0, output
    lines = output.split()
    assert "\n50000\n0\n" in output, output  # uid, gid: the airflow user in group 0
    assert "HOME=/opt/airflow" in output
    assert "package 0.1.0" in output
    expected_dags = sorted(p.name for p in (REPO_ROOT / "dags").glob("*.py"))
    assert expected_dags and all(name in lines for name in expected_dags), output
    assert "logs-writable" in output


def test_worker_role_runs_execute_workload_and_rejects_a_bad_workload(docker_client, airflow_image):
    status, output = run_container(
        docker_client,
        airflow_image,
        ["worker", "--json-string", '{"type": "ExecuteTask", "token": "not-a-real-token"}'],
        environment={"AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://127.0.0.1:9/execution/"},
    )
    assert status != 0, output
    assert "starting worker" in output
    assert "Failed to parse input JSON string" in output
    assert "Field required" in output
    # No database step for a worker.
    assert "waiting" not in output and "migrat" not in output


def test_server_role_gives_up_on_an_unresolvable_database(docker_client, airflow_image):
    host = "postgres-airflow.marathon.invalid"
    status, output = run_container(
        docker_client,
        airflow_image,
        ["scheduler"],
        environment={
            "AIRFLOW_MESOS_DB_HOST": host,
            "AIRFLOW_MESOS_DB_PASSWORD": DB_PASSWORD,
            "AIRFLOW_MESOS_DB_WAIT_TIMEOUT": "2",
        },
    )
    assert status == 1, output
    assert f"the database at {host}:5432 did not become reachable within 2 s" in output
    assert "starting" not in output  # the scheduler never ran
    assert DB_PASSWORD not in output
    assert urllib.parse.quote(DB_PASSWORD, safe="") not in output


def test_sigterm_while_waiting_for_the_database_stops_the_container(docker_client, airflow_image):
    """Before the exec the entrypoint is PID 1, which ignores signals it has no handler for."""
    container = start_container(
        docker_client,
        airflow_image,
        ["scheduler"],
        environment={"AIRFLOW_MESOS_DB_HOST": "postgres-airflow.marathon.invalid", "AIRFLOW_MESOS_DB_WAIT_TIMEOUT": "600"},
    )
    try:
        for _ in range(300):  # bounded: until the wait has begun
            if b"waiting up to 600 s" in container.logs():
                break
            time.sleep(0.2)
        # A SIGTERM that was ignored would end in docker's SIGKILL (137) after the grace period.
        container.stop(timeout=120)
        status = container.wait(timeout=CONTAINER_TIMEOUT)["StatusCode"]
        logs = container.logs().decode(errors="replace")
        assert status == 128 + 15, logs
        assert "airflow-mesos entrypoint: stopped by signal 15 before the role started" in logs
    finally:
        container.remove(force=True)


def test_two_roles_migrate_one_database_at_once(docker_client, airflow_image, pg_dsn, fresh_database, tmp_path):
    """Two containers migrate the same empty database concurrently; both succeed.

    The password comes from an env file (as Marathon's fetch delivers it) and
    must appear in no output.  The test server trusts local connections, so
    the password is sent but not needed.
    """
    server = urllib.parse.urlsplit(pg_dsn)
    env_dir = tmp_path / "sandbox"
    env_dir.mkdir()
    env_file = env_dir / "airflow.env"
    env_file.write_text(
        "# secrets fetched by Marathon\n"
        f"export AIRFLOW_MESOS_DB_PASSWORD='{DB_PASSWORD}'\n"
        "AIRFLOW__API_AUTH__JWT_SECRET=also-secret-jwt\n"
    )
    os.chmod(env_dir, 0o755)
    os.chmod(env_file, 0o644)  # read by uid 50000 in the container
    environment = {
        # As on Mesos: a name relative to the task sandbox, where fetch puts files.
        "MESOS_SANDBOX": "/mnt/mesos/sandbox",
        "AIRFLOW_MESOS_ENV_FILE": "airflow.env",
        "AIRFLOW_MESOS_DB_HOST": server.hostname,
        "AIRFLOW_MESOS_DB_PORT": str(server.port),
        "AIRFLOW_MESOS_DB_NAME": fresh_database,
        "AIRFLOW_MESOS_DB_USER": server.username or "postgres",
        "AIRFLOW_MESOS_DB_WAIT_TIMEOUT": "30",
    }
    volumes = {str(env_dir): {"bind": "/mnt/mesos/sandbox", "mode": "ro"}}
    containers = [
        start_container(
            docker_client, airflow_image, ["db-migrate"],
            network_mode="host", environment=environment, volumes=volumes,
        )
        for _ in range(2)
    ]
    results = [finish_container(container) for container in containers]

    for status, output in results:
        assert status == 0, output
        assert "loaded 2 variable(s) from /mnt/mesos/sandbox/airflow.env" in output
        assert "database migrated" in output
        assert DB_PASSWORD not in output
        assert urllib.parse.quote(DB_PASSWORD, safe="") not in output
        assert "also-secret-jwt" not in output

    status, output = run_container(
        docker_client,
        airflow_image,
        ["airflow", "db", "check-migrations", "--migration-wait-timeout", "0"],
        network_mode="host",
        environment=environment,
        volumes=volumes,
    )
    assert status == 0, output
    assert DB_PASSWORD not in output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_api_server_role_is_the_container_process_and_stops_on_sigterm(
    docker_client, airflow_image, pg_dsn, fresh_database
):
    """The api-server role migrates, then Airflow replaces the entrypoint (PID 1)."""
    server = urllib.parse.urlsplit(pg_dsn)
    port = _free_port()
    container = start_container(
        docker_client,
        airflow_image,
        ["api-server"],
        network_mode="host",
        environment={
            "AIRFLOW_MESOS_DB_HOST": server.hostname,
            "AIRFLOW_MESOS_DB_PORT": str(server.port),
            "AIRFLOW_MESOS_DB_NAME": fresh_database,
            "AIRFLOW_MESOS_DB_USER": server.username or "postgres",
            "PORT0": str(port),
        },
    )
    try:
        health = None
        for _ in range(120):  # bounded: about two minutes on a busy machine
            container.reload()
            if container.status != "running":
                break
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(1)
        logs = container.logs().decode(errors="replace")
        assert health is not None and health.status_code == 200, logs
        assert health.json()["metadatabase"]["status"] == "healthy"

        # exec, no lingering shell or entrypoint process: one process, Airflow's.
        processes = container.top(ps_args="-o pid,args")["Processes"]
        assert len(processes) == 1, processes
        assert "api_server" in processes[0][-1], processes

        container.stop(timeout=60)
        assert container.wait(timeout=CONTAINER_TIMEOUT)["StatusCode"] == 0
        logs = container.logs().decode(errors="replace")
        assert "airflow-mesos entrypoint: database migrated" in logs
        assert "airflow-mesos entrypoint: starting api-server" in logs
        assert "Finished server process" in logs  # uvicorn's own clean shutdown
    finally:
        container.remove(force=True)
