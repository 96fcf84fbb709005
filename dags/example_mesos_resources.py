"""Per-task resources, image, volumes and placement on Mesos, checked when the DAG is parsed.

``mesos_executor_config(...)`` builds a task's ``executor_config`` and validates it
right here, at parse time: a typo (``cpu=2``), a negative size or an unknown
constraint operator makes this file an import error in the dag-processor, with
the field named (``executor_config.mesos.cpu: unknown key (did you mean
'cpus'?)``), instead of a task that fails later.  Whatever a task leaves out
comes from the ``[mesos]`` section of the Airflow configuration.

What the tasks show:

- ``extract``: small (a quarter of a CPU, 256 MiB), on an agent with the attribute ``rack=r1``;
- ``transform``: 1 CPU, 1 GiB and 512 MiB of disk, in an image named explicitly, with two volumes: a host
  folder mounted read-only (reference data every agent has) and a Docker named volume for scratch space;
- ``publish``: mapped twice, at most one per agent (``hostname UNIQUE``), with a plain environment variable;
- ``summary``: the ``[mesos]`` defaults only.

GPUs are asked for the same way (``gpus=1``); they need agents that offer them.  The tasks run in
containers (the ``[mesos] container_type`` default, ``mesos``), so the agents need a Docker engine; set
``MESOS_EXAMPLE_SCRATCH_VOLUME`` to name the scratch volume (and remove it when done).
"""

from __future__ import annotations

import datetime
import os
import socket
from pathlib import Path

from airflow.sdk import dag, task

from airflow_mesos import __version__
from airflow_mesos.executor.task_config import mesos_executor_config

# The image the transform step runs in: any image with Airflow and airflow-mesos installed (the project image
# here; your own, built FROM it, in real life).
TRANSFORM_IMAGE = os.environ.get("MESOS_EXAMPLE_IMAGE", f"airflow-mesos/airflow:{__version__}")
# Reference data on every agent, mounted read-only.  The time zone database is on every Debian agent.
REFERENCE_DIR = os.environ.get("MESOS_EXAMPLE_REFERENCE_DIR", "/usr/share/zoneinfo")
# A Docker named volume for scratch space (REX-Ray or another driver on a real cluster).  It is mounted at
# /scratch, which the project image owns as the airflow user, so a new volume is writable by the task.
SCRATCH_VOLUME = os.environ.get("MESOS_EXAMPLE_SCRATCH_VOLUME", "airflow-mesos-example-scratch")


@dag(
    dag_id="example_mesos_resources",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 0},
    tags=["mesos", "example"],
)
def example_mesos_resources():
    @task(executor_config=mesos_executor_config(cpus=0.25, mem=256, constraints=[["rack", "IS", "r1"]]))
    def extract() -> list[str]:
        print(f"extract runs on {socket.gethostname()} (rack r1)")
        return ["Europe/Amsterdam", "America/New_York", "Asia/Tokyo"]

    @task(executor_config=mesos_executor_config(
        cpus=1, mem=1024, disk=512,
        image=TRANSFORM_IMAGE,
        volumes=[
            {"host_path": REFERENCE_DIR, "container_path": "/reference", "mode": "RO"},
            {"docker_volume": SCRATCH_VOLUME, "driver": "local", "container_path": "/scratch"},
        ],
    ))
    def transform(zones: list[str]) -> dict[str, int]:
        sizes = {zone: (Path("/reference") / zone).stat().st_size for zone in zones}
        scratch = Path("/scratch") / f"sizes-{os.getpid()}.txt"
        scratch.write_text("".join(f"{zone} {size}\n" for zone, size in sizes.items()))
        print(f"read {len(sizes)} reference files from /reference; wrote {scratch}: {sizes}")
        return sizes

    @task(executor_config=mesos_executor_config(
        cpus=0.25, mem=256, env={"PUBLISH_TARGET": "dashboard"}, constraints=[["hostname", "UNIQUE"]],
    ))
    def publish(part: int, sizes: dict[str, int]) -> str:
        host = socket.gethostname()
        print(f"part {part}: publishing {len(sizes)} sizes to {os.environ['PUBLISH_TARGET']} from {host}")
        return host

    @task
    def summary(hosts: list[str]) -> None:
        print(f"published from {len(set(hosts))} agent(s): {sorted(set(hosts))}")

    sizes = transform(extract())
    summary(publish.partial(sizes=sizes).expand(part=[0, 1]))


example_mesos_resources()
