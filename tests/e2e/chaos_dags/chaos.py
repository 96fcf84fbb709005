"""DAGs of the chaos tests (tests/e2e/test_chaos.py): tasks that hold at a gate the test opens, and say
from outside when they start.

Every task appends one JSON line to ``$E2E_CHAOS_DIR/markers.jsonl`` when its code starts (its DAG run,
task, map index, try number and the Mesos task id it runs as, ``MESOS_TASK_ID``), so a test counts the
starts of each (task instance, try) without trusting Airflow or the executor.  A *gated* task then waits
until the file ``$E2E_CHAOS_DIR/gates/<run_id>`` exists, so it is still running whatever the test does to
the scheduler, the master or an agent in the meantime.  The tasks run as plain processes on the agents
(``[mesos] container_type = process``, set by the test): containers are not what these tests are about.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

from airflow.sdk import dag, get_current_context, task

from airflow_mesos.executor.task_config import mesos_executor_config

CHAOS_DIR = Path(os.environ.get("E2E_CHAOS_DIR", "/tmp/airflow-mesos-chaos"))
GATE_TIMEOUT_SECONDS = 900.0
"""A gate nobody opens fails its task after this long, rather than holding a slot forever."""


def mark_start() -> str:
    """Append this try's start marker; return its DAG run id."""
    ti = get_current_context()["ti"]
    line = json.dumps({
        "dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "map_index": ti.map_index,
        "try_number": ti.try_number, "mesos_task_id": os.environ.get("MESOS_TASK_ID"), "pid": os.getpid(),
    })
    # One short O_APPEND write per line: concurrent tasks never interleave their lines.
    with open(CHAOS_DIR / "markers.jsonl", "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    return ti.run_id


def hold_at_gate(run_id: str) -> None:
    gate = CHAOS_DIR / "gates" / run_id
    deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
    while not gate.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gate {gate} was not opened within {GATE_TIMEOUT_SECONDS:g} s")
        time.sleep(0.5)


@task
def gated(i: int) -> int:
    hold_at_gate(mark_start())
    return i


@task
def after(values: list[int]) -> None:
    mark_start()
    print(f"E2E-CHAOS after {sorted(values)}")


@dag(dag_id="chaos_ten", schedule=None, catchup=False, default_args={"retries": 0}, tags=["e2e", "chaos"])
def chaos_ten():
    """Ten tasks running at once (the scheduler is killed under them)."""
    gated.expand(i=list(range(10)))


@dag(dag_id="chaos_small", schedule=None, catchup=False, default_args={"retries": 0}, tags=["e2e", "chaos"])
def chaos_small():
    """Three running tasks, and one queued behind them that launches after the fault."""
    after(gated.expand(i=list(range(3))))


@dag(dag_id="chaos_agent_loss", schedule=None, catchup=False, tags=["e2e", "chaos"],
     default_args={"retries": 1, "retry_delay": timedelta(seconds=1)})
def chaos_agent_loss():
    """One task whose agent is stopped or partitioned from the master, and one after it."""

    @task
    def hold() -> None:
        hold_at_gate(mark_start())

    @task
    def last() -> None:
        mark_start()

    hold() >> last()


@dag(dag_id="chaos_unplaceable", schedule=None, catchup=False, default_args={"retries": 0},
     tags=["e2e", "chaos"])
def chaos_unplaceable():
    """A task no agent can ever hold (the agents have 4 cpus each) beside tasks that run."""

    @task(executor_config=mesos_executor_config(cpus=64))
    def impossible() -> None:
        mark_start()

    @task
    def fine(i: int) -> None:
        mark_start()
        print(f"E2E-CHAOS fine {i}")

    impossible()
    fine.expand(i=[0, 1])


chaos_ten()
chaos_small()
chaos_agent_loss()
chaos_unplaceable()
