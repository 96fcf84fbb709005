"""The command a Mesos task runs: ``python -m airflow_mesos.worker``.

It runs Airflow 3.3's ``execute_workload`` in this process, with the workload
assembled from two environment variables the MesosExecutor sets in the TaskInfo:

- ``AIRFLOW_MESOS_WORKLOAD``: the workload JSON *without* its token (plain: a
  task instance's ids, DAG file and log path are not secret);
- ``AIRFLOW_MESOS_WORKLOAD_TOKEN``: the token, delivered by Mesos as a secret
  environment variable, so it is in no argv, label or plain TaskInfo variable.

Airflow's own ``--json-string`` would put the token in the worker's argv, where
every user of the agent can read it in ``ps``; that is why this module exists.
The token variable is removed from the environment before the task runs, so
the task's own subprocesses do not inherit it.

The worker also needs ``AIRFLOW__CORE__EXECUTION_API_SERVER_URL`` (set by the
executor) and nothing else of Airflow's: no database URL, Fernet key or JWT
secret.

:func:`run_workload_json` is the part both workers share: this fresh-interpreter
one and each task of the warm executor (:mod:`airflow_mesos.warm`), which hands
the workload over in memory instead of through the environment.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
from collections.abc import MutableMapping

WORKLOAD_VAR = "AIRFLOW_MESOS_WORKLOAD"
TOKEN_VAR = "AIRFLOW_MESOS_WORKLOAD_TOKEN"

EXIT_BAD_WORKLOAD = 2


class WorkerError(Exception):
    """The task's environment does not carry a usable workload."""


def take_workload_json(environ: MutableMapping[str, str]) -> str:
    """The full workload JSON, token included; removes the token from ``environ``.

    :raises WorkerError: naming the variable that is missing or malformed.
    """
    raw = environ.get(WORKLOAD_VAR)
    if not raw:
        raise WorkerError(f"{WORKLOAD_VAR} is not set: this command runs inside a task the MesosExecutor launched")
    token = environ.pop(TOKEN_VAR, None)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise WorkerError(f"{WORKLOAD_VAR} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise WorkerError(f"{WORKLOAD_VAR} must be a JSON object, got {type(data).__name__}")
    if token is not None:
        data["token"] = token
    elif not data.get("token"):
        raise WorkerError(f"{TOKEN_VAR} is not set: the task has no Execution API token")
    return json.dumps(data)


PRELOAD_MODULES = (
    "pydantic",
    "airflow.executors.workloads",
    "airflow.executors.base_executor",
    "airflow.settings",
    "airflow.sdk.log",
    "airflow.sdk.execution_time.execute_workload",
    "airflow.sdk.execution_time.supervisor",
    "airflow.sdk.execution_time.task_runner",
    # What the task process imports to parse its DAG file (task_runner.parse: BundleDagBag, which brings
    # the serialization, the ORM models and the timetables): measured as most of a forked task's own CPU
    # (benchmarks/airflow_fanout.py), each task importing them again after the fork.
    "airflow.dag_processing.dagbag",
    "airflow.dag_processing.bundles.manager",
    # The task SDK's names a DAG file imports (``from airflow.sdk import dag, task, ...`` resolves them
    # lazily, each a module of its own).
    "airflow.sdk.bases.operator",
    "airflow.sdk.definitions.dag",
    "airflow.sdk.definitions.decorators",
    "airflow.sdk.definitions.param",
    "airflow.sdk.definitions.context",
    # What a task process still imported after the fork, each time (``python -X importtime`` in the warm
    # fan-out's task logs): our executor_config helper, which DAG files import to build their tasks'
    # executor_config (its pydantic models: 18 ms of CPU in every task), the templating extension, the
    # timetable and asset metadata a DAG's definition brings, and the IDNA codec of the Execution API client.
    "airflow_mesos.executor.task_config",
    "jinja2.ext",
    "airflow.timetables.trigger",
    "airflow.sdk.definitions.asset.metadata",
    "encodings.idna",
)
"""What running a workload imports: the warm executor's fork server imports these once
(:func:`preload`), so a task forked from it starts with them in memory."""

OPTIONAL_PRELOAD_MODULES = (
    # The standard provider's operators behind ``@task`` and PythonOperator: installed with Airflow 3.3
    # as a dependency, but a separate distribution an image may leave out.
    "airflow.providers.standard.decorators.python",
    "airflow.providers.standard.operators.python",
)


@functools.cache
def _workload_adapter():
    from pydantic import TypeAdapter

    from airflow.executors import workloads

    return TypeAdapter(workloads.All)


def preload() -> None:
    """Import what :func:`run_workload_json` needs and build its validator, ahead of any workload."""
    for name in PRELOAD_MODULES:
        importlib.import_module(name)
    for name in OPTIONAL_PRELOAD_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # a task that needs it imports it (and fails) as a fresh worker would
    _workload_adapter()


def run_workload_json(workload_json: str) -> int:
    """Run one workload (its JSON, token included) in this process; the worker's exit status.

    The one code path of both workers: ``python -m airflow_mesos.worker`` (a fresh
    interpreter per task) and each task of the warm executor (a process forked
    from a fork server that has run :func:`preload`).  Errors go to stderr, never
    the token.
    """
    from pydantic import ValidationError

    from airflow.sdk.execution_time.execute_workload import execute_workload

    from airflow_mesos import supervisor_exit

    try:
        workload = _workload_adapter().validate_json(workload_json)
    except ValidationError as exc:
        # The error lists fields and their problems; pydantic never shows the token (repr=False) but
        # it may echo input values, so print the locations and messages only.
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"airflow-mesos worker: the workload is not valid: {problems}", file=sys.stderr)
        return EXIT_BAD_WORKLOAD
    # The supervisor notices the task process' exit when it happens (the module says why).
    supervisor_exit.install()
    execute_workload(workload)
    return 0


def main() -> int:
    try:
        workload_json = take_workload_json(os.environ)
    except WorkerError as exc:
        print(f"airflow-mesos worker: {exc}", file=sys.stderr)
        return EXIT_BAD_WORKLOAD
    return run_workload_json(workload_json)


def exit_without_teardown(code: int) -> None:
    """End this process as Airflow ends its own task process (``supervisor._fork_main``): the exit
    handlers run (``atexit``: Airflow's, and ``logging``'s flush and close), stdout and stderr are
    flushed, and then ``os._exit`` skips the interpreter's teardown of every module it imported.

    That teardown is the cost of a fresh worker's end: with Airflow's worker imported it took 1.5 CPU-s
    more than this (a loaded machine; ``/usr/bin/time`` of both), and on a busy agent its task held its
    Mesos resources and Airflow slot for seconds after the supervisor was done.
    """
    import atexit

    try:
        atexit._run_exitfuncs()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


if __name__ == "__main__":
    exit_without_teardown(main())
