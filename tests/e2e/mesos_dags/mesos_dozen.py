"""A dozen tasks through the MesosExecutor, once per container type (mesos: the project image; process:
a plain process on the agent).  Some tasks have their own resources, image, volume and constraints.

The ``mesos`` tasks run in warm executors (``[mesos] warm_workers``, the default); the ``process`` ones ask
for a fresh interpreter each (``warm: False``), so the shared deployment runs both paths of the executor
(warm ``process`` tasks run in ``mesos_warm.py``)."""

from __future__ import annotations

import os
import time

from airflow.sdk import dag, task

from airflow_mesos.executor.task_config import mesos_executor_config

# Set by the test: a host file the `with_volume` task reads through a read-only volume, and the image
# tag that `own_image` runs.
DATA_DIR = os.environ.get("E2E_DATA_DIR", "/tmp/airflow-mesos-e2e-data")
OWN_IMAGE = os.environ.get("E2E_OWN_IMAGE", "airflow-mesos/airflow:e2e-own")


def make_dag(container_type: str):
    def config(**options):
        return mesos_executor_config(container_type=container_type, warm=container_type != "process", **options)

    @dag(dag_id=f"mesos_dozen_{container_type}", schedule=None, catchup=False, default_args={"retries": 0},
         tags=["e2e"])
    def dozen():
        @task(executor_config=config(cpus=0.25, mem=512))
        def small(i: int):
            print(f"E2E-MARKER small {i} on {os.uname().nodename}")
            return i

        @task(executor_config=config(cpus=2, mem=1024))
        def big():
            print("E2E-MARKER big")

        @task(executor_config=config(cpus=0.25, mem=512, constraints=[["rack", "IS", "r2"]]))
        def on_rack_r2():
            print("E2E-MARKER rack r2")

        @task(executor_config=config(cpus=0.25, mem=512, constraints=[["hostname", "UNIQUE"]]))
        def spread(i: int):
            print(f"E2E-MARKER spread {i}")

        own = {"image": OWN_IMAGE} if container_type == "mesos" else {}

        @task(executor_config=config(cpus=0.25, mem=512, **own))
        def own_image():
            print("E2E-MARKER own image")

        if container_type == "mesos":
            volume = {"host_path": DATA_DIR, "container_path": "/e2e-data", "mode": "RO"}

            @task(executor_config=config(cpus=0.25, mem=512, volumes=[volume]))
            def with_volume():
                with open("/e2e-data/greeting.txt") as handle:
                    print(f"E2E-MARKER volume says {handle.read().strip()}")
        else:

            @task(executor_config=config(cpus=0.25, mem=512))
            def with_volume():
                print("E2E-MARKER volume says (no volume for a process)")

        @task(executor_config=config(cpus=0.25, mem=512))
        def slow_log():
            print("E2E-MARKER slow started")
            time.sleep(float(os.environ.get("E2E_SLOW_SECONDS", "12")))
            print("E2E-MARKER slow done")

        small.expand(i=list(range(6)))
        spread.expand(i=[0, 1])
        big()
        on_rack_r2()
        own_image()
        with_volume()
        slow_log()

    return dozen()


for kind in ("mesos", "process"):
    make_dag(kind)
