"""Warm workers end to end: the fan-out of ``example_mesos_fanout`` with every task in a warm worker, once per
container type that has them (``process``, ``mesos``), and a task whose executor the test kills.

These tasks ask for warm workers themselves (``executor_config={"mesos": {"warm": True}}``), so they run
warm whatever ``[mesos] warm_workers`` (on by default) says.
"""

from __future__ import annotations

import datetime
import time

from airflow.sdk import Param, dag, get_current_context, task

from airflow_mesos.executor.task_config import mesos_executor_config


def warm_fanout(container_type: str, mem: int):
    config = mesos_executor_config(cpus=0.1, mem=mem, disk=16, container_type=container_type, warm=True)

    @dag(dag_id=f"mesos_warm_fanout_{container_type}", schedule=None, start_date=datetime.datetime(2026, 1, 1),
         catchup=False, max_active_tasks=32, default_args={"retries": 0}, tags=["e2e", "warm"],
         params={"width": Param(40, type="integer", minimum=1, maximum=1024)})
    def fanout():
        @task(executor_config=config)
        def numbers() -> list[int]:
            return list(range(get_current_context()["params"]["width"]))

        @task(executor_config=config)
        def square(n: int) -> int:
            print(f"E2E-MARKER warm square {n}")
            return n * n

        @task(executor_config=config)
        def total(squares: list[int]) -> int:
            result = sum(squares)
            print(f"{len(squares)} warm tasks; the sum of their squares is {result}")
            return result

        total(square.expand(n=numbers()))

    return fanout()


warm_fanout("process", 128)
warm_fanout("mesos", 256)


@dag(dag_id="mesos_warm_kill", schedule=None, start_date=datetime.datetime(2026, 1, 1), catchup=False,
     default_args={"retries": 1, "retry_delay": datetime.timedelta(seconds=1)}, tags=["e2e", "warm"])
def warm_kill():
    @task(executor_config=mesos_executor_config(cpus=0.1, mem=128, container_type="process", warm=True))
    def hold():
        try_number = get_current_context()["ti"].try_number
        print(f"E2E-MARKER warm hold try {try_number}")
        if try_number == 1:
            time.sleep(600)  # the test kills this try's executor

    hold()


warm_kill()
