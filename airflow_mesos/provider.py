"""Airflow provider metadata (entry point ``apache_airflow_provider``).

Declares the package to ``airflow providers list`` and its ``[mesos]`` config
section to ``airflow config list --section mesos``.
"""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    from airflow_mesos import __version__

    return {
        "package-name": "airflow-mesos",
        "name": "Mesos",
        "description": "Run Airflow task instances as Mesos tasks (the MesosExecutor).",
        "versions": [__version__],
        "executors": ["airflow_mesos.executor.MesosExecutor"],
        "config": {},
    }
