"""Imports one way: the warm executor uses the Mesos layer's pure parts and the worker, never the MesosExecutor
or the embedded cluster; the executor process imports nothing of Airflow's (only its fork server does)."""

from __future__ import annotations

import json
import subprocess
import sys

MODULES = ["airflow_mesos.warm", "airflow_mesos.warm.__main__", "airflow_mesos.warm.runtime",
           "airflow_mesos.warm.core", "airflow_mesos.warm.runner", "airflow_mesos.warm.agent_link",
           "airflow_mesos.warm.forkserver", "airflow_mesos.warm.settings", "airflow_mesos.warm.protocol",
           "airflow_mesos.warm.payload"]


def test_the_executor_imports_neither_the_mesos_executor_nor_the_cluster_nor_airflow():
    script = ("import importlib, json, sys\n"
              f"for name in {MODULES!r}: importlib.import_module(name)\n"
              "print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                       check=True).stdout)
    assert not [m for m in loaded if m.startswith(("airflow_mesos.executor", "airflow_mesos.local"))]
    assert not [m for m in loaded if m == "airflow" or m.startswith("airflow.")]


def test_the_core_is_pure():
    script = ("import json, sys\nimport airflow_mesos.warm.core\n"
              "print(json.dumps(sorted(sys.modules)))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                           check=True).stdout))
    # No HTTP, no processes, none of the edge's modules.
    assert not loaded & {"httpx", "subprocess", "airflow_mesos.warm.runner", "airflow_mesos.warm.agent_link",
                         "airflow_mesos.warm.runtime", "airflow_mesos.warm.forkserver"}
