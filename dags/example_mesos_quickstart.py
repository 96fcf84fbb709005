"""The quickstart: a few tasks, each a Mesos task with its own size and placement.

``scripts/run-local`` triggers this DAG where tasks run as processes on the agents (no Docker engine); it
works as containers too.  Its cluster has three agents: 127.0.0.1 (rack r1), 127.0.0.2 and 127.0.0.3
(rack r2; the last with a GPU).

- ``extract`` asks for a quarter of a CPU on rack r1;
- ``square`` is mapped three times, one per agent (``hostname UNIQUE``);
- ``total`` needs a whole CPU and 1 GiB on rack r2;
- ``report`` takes the ``[mesos]`` defaults.

``mesos_executor_config`` checks each task's config when the file is parsed, so a typo fails here, with the
field named, instead of in a task later.
"""

from __future__ import annotations

import datetime
import socket

from airflow.sdk import dag, task

from airflow_mesos.executor.task_config import mesos_executor_config


@dag(
    dag_id="example_mesos_quickstart",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 0},
    tags=["mesos", "example", "quickstart"],
)
def example_mesos_quickstart():
    @task(executor_config=mesos_executor_config(cpus=0.25, mem=256, constraints=[["rack", "IS", "r1"]]))
    def extract() -> list[int]:
        print(f"extract on {socket.gethostname()}")
        return [3, 4, 5]

    @task(executor_config=mesos_executor_config(cpus=0.5, mem=384, constraints=[["hostname", "UNIQUE"]]))
    def square(number: int) -> int:
        print(f"{number} squared is {number * number}")
        return number * number

    @task(executor_config=mesos_executor_config(cpus=1, mem=1024, constraints=[["rack", "IS", "r2"]]))
    def total(squares: list[int]) -> int:
        result = sum(squares)
        print(f"the sum of {list(squares)} is {result}")
        return result

    @task
    def report(result: int) -> None:
        print(f"quickstart result: {result}")

    report(total(square.expand(number=extract())))


example_mesos_quickstart()
