"""Remote task logs on S3, and the clickstream example, against an S3-compatible server (moto's server mode).

One more Airflow with the MesosExecutor (on the shared embedded cluster) serves every
test here, with what the shared ``mesos_airflow`` does not have:

- ``[logging] remote_logging`` to ``s3://<bucket>/tasks`` through the amazon provider, on
  every component; the executor hands the settings on to the workers (nothing in
  ``[mesos] env`` says so), which upload their log at the end with the connection they
  get from the Execution API (the connection itself is only in the components'
  environment, never sent to Mesos);
- no log folder shared with anyone: each worker writes its log inside its own
  container, the scheduler and the api-server each have a folder of their own, so the
  only way a log reaches the api-server is S3, the Mesos sandbox, or the event log;
- the connections of ``example_clickstream``: S3 on the moto server and a warehouse
  database on the throwaway PostgreSQL.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import psycopg2
import pytest

from tests.e2e.conftest import EXAMPLE_DAGS, LOGGING_CONFIG_CLASS, MESOS_DAGS
from tests.e2e.test_mesos_executor import _by_task, _log_text

E2E_DIR = Path(__file__).resolve().parent
S3_DAGS = E2E_DIR / "s3_dags"
LOG_BUCKET = "airflow-task-logs"
DATA_BUCKET = "clickstream-e2e"
LOG_PREFIX = "tasks"
# moto takes any key pair; these are no secrets.
ACCESS_KEY, SECRET_KEY, REGION = "e2e-access-key", "e2e-secret-key", "us-east-1"


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """An S3-compatible server: ``python -m moto.server`` on a free loopback port, with the two buckets."""
    from tests.e2e.airflow_harness import _free_port

    port = _free_port("127.0.0.1")
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log_path, "ab") as log:
        server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = _s3(endpoint)
        deadline = time.monotonic() + 60
        while True:
            try:
                client.list_buckets()
                break
            except Exception as exc:  # botocore's connection errors have no common base worth naming
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server on {endpoint} did not answer ({exc}); its log:\n"
                                f"{log_path.read_text(errors='replace')[-3000:]}")
                time.sleep(0.3)
        for bucket in (LOG_BUCKET, DATA_BUCKET):
            client.create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(15)


@pytest.fixture(scope="module")
def warehouse_dsn(pg_dsn):
    """A database of its own on the throwaway PostgreSQL for the clickstream example's table."""
    name = f"clickstream_e2e_{uuid.uuid4().hex[:10]}"
    _admin(pg_dsn, f'CREATE DATABASE "{name}"')
    parts = urllib.parse.urlsplit(pg_dsn)
    try:
        yield urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        _admin(pg_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def s3_airflow(airflow_deployment, mesos_cluster, mesos_image, s3_endpoint, warehouse_dsn, tmp_path_factory):
    aws = json.dumps({"conn_type": "aws", "login": ACCESS_KEY, "password": SECRET_KEY,
                      "extra": {"region_name": REGION, "endpoint_url": s3_endpoint}})
    remote_logging = {
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{LOG_BUCKET}/{LOG_PREFIX}",
        "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "task_logs_s3",
    }
    # s3_dags/ links into both of the other folders.
    volumes = [{"host_path": str(folder), "container_path": str(folder), "mode": "RO"}
               for folder in (S3_DAGS, EXAMPLE_DAGS, MESOS_DAGS)]
    # The workers get a log folder inside their own container; where to upload comes from the executor.
    task_env = {"AIRFLOW__LOGGING__BASE_LOG_FOLDER": "/tmp/airflow-task-logs"}
    extra_env = {
        "AIRFLOW__MESOS__MASTER": mesos_cluster.master_url,
        "AIRFLOW__MESOS__IMAGE": mesos_image,
        "AIRFLOW__MESOS__VOLUMES": json.dumps(volumes),
        "AIRFLOW__MESOS__ENV": json.dumps(task_env),
        "AIRFLOW__MESOS__FRAMEWORK_NAME": "airflow-e2e-s3",
        "AIRFLOW__MESOS__REVIVE_MIN_INTERVAL": "0.5",
        "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS": LOGGING_CONFIG_CLASS,
        **remote_logging,
        # Connections by environment: the workers ask the Execution API for them, the api-server answers.
        "AIRFLOW_CONN_TASK_LOGS_S3": aws,
        "AIRFLOW_CONN_CLICKSTREAM_S3": aws,
        "AIRFLOW_CONN_CLICKSTREAM_WAREHOUSE": warehouse_dsn,
    }
    component_env = {component: {"AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(tmp_path_factory.mktemp(f"{component}-logs"))}
                     for component in ("api-server", "scheduler", "dag-processor")}
    return airflow_deployment(executor="airflow_mesos.executor.MesosExecutor", dags_folder=S3_DAGS,
                              extra_env=extra_env, component_env=component_env, parallelism=8)


def test_the_clickstream_example_archives_to_s3_loads_postgres_and_its_logs_come_from_s3(
        s3_airflow, s3_endpoint, warehouse_dsn):
    deployment = s3_airflow
    dag_id = "example_clickstream"
    run_id = deployment.trigger(dag_id, conf={"bucket": DATA_BUCKET, "events": 500, "batch_size": 120})
    run = deployment.wait_for_dag_run(dag_id, run_id, timeout=420)
    tis = _by_task(deployment, dag_id, run_id)
    assert run["state"] == "success", {k: str(v) for k, v in tis.items()}
    assert sorted(k for k in tis if k[0] == "archive_batch") == [("archive_batch", i) for i in range(5)]

    # The batches are in S3, every event once; the warehouse holds each of them.
    client = _s3(s3_endpoint)
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=DATA_BUCKET, Prefix=f"raw/run={run_id}/")["Contents"])
    assert keys == [f"raw/run={run_id}/batch-{i:04d}.jsonl.gz" for i in range(5)]
    archived = [json.loads(line) for key in keys
                for line in gzip.decompress(client.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()).splitlines()]
    assert len(archived) == 500 and len({e["event_id"] for e in archived}) == 500
    with contextlib.closing(psycopg2.connect(warehouse_dsn)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT event_id FROM clickstream_events WHERE run_id = %s", (run_id,))
        assert {row[0] for row in cursor.fetchall()} == {e["event_id"] for e in archived}

    def log_keys():
        return [o["Key"] for o in client.list_objects_v2(
            Bucket=LOG_BUCKET, Prefix=f"{LOG_PREFIX}/dag_id={dag_id}/run_id={run_id}/").get("Contents", [])]

    # One per try. A worker uploads its log after its task reported the try's state, so the last upload
    # (load_batches, the last task) may land a moment after the run shows success: wait for all of them
    # before reading one back.
    deployment._wait(lambda: len(log_keys()) >= len(tis), f"{len(tis)} task logs in S3", timeout=60)

    # Each finished task's log is read back from S3, where its worker uploaded it.
    text = _log_text(deployment, dag_id, run_id, "load_batches")
    assert "loaded 500 events from 5 batches (500 new rows in clickstream_events)" in text, text
    assert f"s3://{LOG_BUCKET}/{LOG_PREFIX}/dag_id={dag_id}/run_id={run_id}/task_id=load_batches/" in text, text
    assert "Reading the sandbox" not in text and "Could not read served logs" not in text
    assert "archived 120 events to s3://" in _log_text(deployment, dag_id, run_id, "archive_batch", map_index=0)


def test_a_task_that_never_started_shows_the_mesos_reason_with_remote_logging(s3_airflow):
    deployment = s3_airflow
    run_id = deployment.trigger("mesos_bad_image")
    run = deployment.wait_for_dag_run("mesos_bad_image", run_id, timeout=240)
    assert run["state"] == "failed"
    # No worker ran: nothing is in S3 and the api-server's log folder is its own. The handler shows what the
    # executor recorded about the try.
    text = _log_text(deployment, "mesos_bad_image", run_id, "missing_image")
    assert "Mesos ended this try: TASK_FAILED (REASON_CONTAINER_LAUNCH_FAILED: the container could not be " \
           "launched)" in text, text
    assert "Could not read served logs" not in text


def _s3(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name=REGION)


def _admin(dsn: str, statement: str) -> None:
    with contextlib.closing(psycopg2.connect(dsn)) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)

