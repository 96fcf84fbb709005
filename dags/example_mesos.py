"""A small DAG for the MesosExecutor: each task runs as its own Docker task on Mesos.

``executor_config["MesosExecutor"]`` asks for the resources and image of one
task; anything left out comes from the ``[mesos]`` section of the Airflow
configuration.
"""

from __future__ import annotations

import datetime
import platform
import socket

from airflow.sdk import dag, task


@dag(
    dag_id="example_mesos",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    tags=["mesos", "example"],
)
def example_mesos():
    @task(executor_config={"MesosExecutor": {"cpus": 0.25, "mem": 256}})
    def where_am_i() -> str:
        host = socket.gethostname()
        print(f"running on {host} ({platform.python_version()})")
        return host

    @task(executor_config={"MesosExecutor": {"cpus": 0.5, "mem": 384}})
    def add(numbers: list[int]) -> int:
        total = sum(numbers)
        print(f"sum of {numbers} is {total}")
        return total

    @task
    def report(host: str, total: int) -> None:
        print(f"first task ran on {host}; the total is {total}")

    report(where_am_i(), add([1, 2, 3, 4]))


example_mesos()
