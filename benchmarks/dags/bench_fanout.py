"""The fan-out the Airflow benchmark runs (benchmarks/airflow_fanout.py): ``width`` small tasks, then one.

Two DAGs of the same shape: ``bench_fanout_process`` (each task a process on a Mesos agent, or a
LocalExecutor worker's fork: the LocalExecutor ignores ``executor_config``) and ``bench_fanout_mesos``
(each task a container of the ``[mesos] image`` through the Mesos containerizer).  ``max_active_tasks``
is the benchmark's parallelism, 32.
"""

from __future__ import annotations

import datetime

from airflow.sdk import Param, dag, get_current_context, task

from airflow_mesos.executor.task_config import mesos_executor_config


def fanout(dag_id: str, container_type: str, mem: int):
    config = mesos_executor_config(cpus=0.1, mem=mem, disk=16, container_type=container_type)

    @dag(dag_id=dag_id, schedule=None, start_date=datetime.datetime(2026, 1, 1), catchup=False,
         max_active_tasks=32, params={"width": Param(200, type="integer", minimum=1, maximum=2048)},
         tags=["benchmark"])
    def the_dag():
        @task(executor_config=config)
        def numbers() -> list[int]:
            return list(range(get_current_context()["params"]["width"]))

        @task(executor_config=config)
        def square(n: int) -> int:
            return n * n

        @task(executor_config=config)
        def total(squares: list[int]) -> int:
            return sum(squares)

        total(square.expand(n=numbers()))

    return the_dag()


# A container's memory is a limit the Mesos containerizer enforces: Airflow's worker (supervisor and task
# process) needs more than 128 MiB there; a process task is not limited.
fanout("bench_fanout_process", "process", 128)
fanout("bench_fanout_mesos", "mesos", 512)
