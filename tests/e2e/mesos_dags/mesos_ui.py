"""What the Mesos UI page's browser test watches: one task that runs until the test ends its run, and one
that no agent can take (no agent has rack=r9), so it waits with a reason."""

from __future__ import annotations

import os
import time

from airflow.sdk import dag, task

from airflow_mesos.executor.task_config import mesos_executor_config


@dag(dag_id="mesos_ui_page", schedule=None, catchup=False, default_args={"retries": 0}, tags=["e2e"])
def ui_page():
    @task(executor_config=mesos_executor_config(cpus=0.5, mem=384))
    def long_running():
        print("E2E-MARKER ui long task started")
        # The test marks the run failed when it is done; Airflow then stops this task.
        time.sleep(float(os.environ.get("E2E_UI_LONG_SECONDS", "600")))

    @task(executor_config=mesos_executor_config(cpus=0.25, mem=256, constraints=[["rack", "IS", "r9"]]))
    def never_placed():
        print("E2E-MARKER this must not run")

    long_running()
    never_placed()


ui_page()
