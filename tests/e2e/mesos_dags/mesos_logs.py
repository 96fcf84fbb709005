"""A task whose worker keeps its log file to itself: the api-server can only read it from the Mesos sandbox."""

from __future__ import annotations

import os
import time

from airflow.sdk import dag, task

from airflow_mesos.executor.task_config import mesos_executor_config

# A folder inside the task's own container: the api-server's log folder never sees the file written there.
PRIVATE_LOG_FOLDER = "/tmp/airflow-private-task-logs"


@dag(dag_id="mesos_log_in_sandbox_only", schedule=None, catchup=False, default_args={"retries": 0}, tags=["e2e"])
def log_in_sandbox_only():
    @task(executor_config=mesos_executor_config(
        cpus=0.25, mem=512, env={"AIRFLOW__LOGGING__BASE_LOG_FOLDER": PRIVATE_LOG_FOLDER}))
    def private_log():
        print("E2E-MARKER private log started")
        time.sleep(float(os.environ.get("E2E_SLOW_SECONDS", "12")))
        print("E2E-MARKER private log done")

    private_log()


log_in_sandbox_only()
