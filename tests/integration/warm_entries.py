"""Task entries for the warm executor's tests (``AIRFLOW_MESOS_WARM_TASK_ENTRY=tests.integration.warm_entries:probe``).

The fork server imports Airflow's worker as always and forks the task as always;
only the last call differs: instead of ``execute_workload`` (which needs an
Execution API), :func:`probe` reports what the task process sees and then does
what the workload's ``ti.task_id`` asks for.  Nothing of the executor is faked.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def probe(workload_json: str) -> int:
    workload = json.loads(workload_json)
    token = workload.get("token") or ""
    with open("/proc/self/cmdline", "rb") as handle:
        cmdline = handle.read()
    report = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "pgid": os.getpgid(0),
        "sid": os.getsid(0),
        "cwd": os.getcwd(),
        "has_token": bool(token),
        "token_in_environ": bool(token) and any(token in v for v in os.environ.values()),
        "token_in_cmdline": bool(token) and token.encode() in cmdline,
        "preimported": "airflow.sdk.execution_time.execute_workload" in sys.modules,
        "marker": os.environ.get("WARM_TEST_MARKER"),
        "mesos_task_id": os.environ.get("MESOS_TASK_ID"),
    }
    print(json.dumps(report), flush=True)
    behaviour = (workload.get("ti") or {}).get("task_id", "")
    if behaviour.startswith("exit_"):
        return int(behaviour.removeprefix("exit_"))
    if behaviour == "sleep":
        time.sleep(600)
    if behaviour == "ignore_term":
        signal.signal(signal.SIGTERM, lambda *_: print("got SIGTERM, ignoring it", flush=True))
        while True:
            time.sleep(1)
    if behaviour == "child_sleep":
        # A grandchild in the task's process group: a kill must reach it too.
        pid = os.fork()
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        print(json.dumps({"grandchild": pid}), flush=True)
        time.sleep(600)
    return 0


def noop(workload_json: str) -> int:
    """The cheapest task: what a start costs on top of the fork (the benchmark's warm figure)."""
    return 0


def leave_behind(workload_json: str) -> int:
    """Start a grandchild in the task's process group and exit 0 without waiting for it."""
    probe_json = json.loads(workload_json)
    pid = os.fork()
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    print(json.dumps({"pid": os.getpid(), "left_behind": pid, "ti": probe_json.get("ti")}), flush=True)
    return 0
