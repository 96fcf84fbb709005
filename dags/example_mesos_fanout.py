"""A wide fan-out: 200 small tasks at once, packed many to an offer, then one task that gathers them.

Each ``square`` task asks for a tenth of a CPU and 128 MiB, so one 4-CPU agent holds
up to 40 of them: the MesosExecutor packs as many waiting tasks into each offer as
fit (highest ``priority_weight`` first, best fit), and Airflow's ``[core]
parallelism`` and the DAG's ``max_active_tasks`` bound how many run at once.  They
run as plain processes on the agents (``container_type="process"``), which start
faster than containers; the worker and the DAG file must then be on the agents
(the project's package installed, the DAGs folder at the same path).

``width`` is a param: trigger with ``{"width": 20}`` for a quick look.
"""

from __future__ import annotations

import datetime

from airflow.sdk import Param, dag, get_current_context, task

from airflow_mesos.executor.task_config import mesos_executor_config

TINY_PROCESS = mesos_executor_config(cpus=0.1, mem=128, disk=16, container_type="process")


@dag(
    dag_id="example_mesos_fanout",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks=32,
    default_args={"retries": 1, "retry_delay": datetime.timedelta(seconds=5)},
    params={"width": Param(200, type="integer", minimum=1, maximum=1024, description="number of parallel tasks")},
    tags=["mesos", "example"],
)
def example_mesos_fanout():
    @task(executor_config=TINY_PROCESS)
    def numbers() -> list[int]:
        return list(range(get_current_context()["params"]["width"]))

    @task(executor_config=TINY_PROCESS)
    def square(n: int) -> int:
        return n * n

    @task(executor_config=TINY_PROCESS)
    def total(squares: list[int]) -> int:
        result = sum(squares)
        print(f"{len(squares)} tasks; the sum of their squares is {result}")
        return result

    total(square.expand(n=numbers()))


example_mesos_fanout()
