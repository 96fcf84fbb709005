"""The MesosExecutor: Airflow 3.3 task instances as Mesos tasks.

``[core] executor = airflow_mesos.executor.MesosExecutor``.

The pure parts (no I/O, no clock) are importable without Airflow's executor
machinery: :mod:`~airflow_mesos.executor.constraints` (Marathon-style placement
constraints), :mod:`~airflow_mesos.executor.matcher` (offers -> launches, declines
and the reason each waiting task waits), :mod:`~airflow_mesos.executor.task_config`
(the per-task ``executor_config={"mesos": {...}}`` schema),
:mod:`~airflow_mesos.executor.states` (Mesos state -> Airflow outcome) and
:mod:`~airflow_mesos.executor.taskinfo` (the secret-free TaskInfo).  The
:class:`MesosExecutor` itself lives in :mod:`~airflow_mesos.executor.executor`
and is imported lazily, so importing a pure module never imports Airflow's
scheduler.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MesosExecutor"]


def __getattr__(name: str) -> Any:
    if name == "MesosExecutor":
        from airflow_mesos.executor.executor import MesosExecutor

        return MesosExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
