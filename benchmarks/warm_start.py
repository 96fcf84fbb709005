"""What a task start costs: a fresh interpreter per task against a fork of the warm executor's fork server.

Both run the same code, :func:`airflow_mesos.worker.run_workload_json`, on the same
workloads, neither of which needs an Execution API:

- *validate*: one the worker's validator rejects (exit 2): start, import Airflow's
  worker, read and validate the workload;
- *supervise*: a valid one whose Execution API is a closed port (exit 1): all that,
  then ``execute_workload`` sets up its logging, the supervisor starts and forks the
  task process, and the first API call is refused (one retry).  This is a task's
  whole start before the Execution API answers.

- **fresh**: ``python -m airflow_mesos.worker`` with the workload in its environment,
  as a command task runs it; CPU from ``RUSAGE_CHILDREN``;
- **warm**: the executor's :class:`~airflow_mesos.warm.runner.ForkServerRunner`
  (the fork server has imported the worker once); CPU is what the fork server
  spent forking plus its reaped children's CPU (``/proc/<pid>/stat`` utime, stime,
  cutime, cstime) plus this process' own CPU for the requests.

Tasks run one after another, so the wall time is a start's latency.  Prints
numbers; asserts nothing::

    .venv/bin/python benchmarks/warm_start.py --tasks 20
    .venv/bin/python benchmarks/warm_start.py --quick --json /tmp/warm.json
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import ROOT, Figure, Section, Table, load, print_figures, print_table  # noqa: E402

from airflow_mesos.warm.core import TaskExited, TaskStarted, TaskStartFailed  # noqa: E402
from airflow_mesos.warm.payload import TaskPayload  # noqa: E402
from airflow_mesos.warm.runner import ForkServerRunner  # noqa: E402
from airflow_mesos.worker import TOKEN_VAR, WORKLOAD_VAR  # noqa: E402

# Valid JSON, not a valid ExecuteTask: the worker stops right after validating it (exit 2).
INVALID_WORKLOAD = json.dumps({"type": "ExecuteTask", "ti": {"id": "bench"}})
# A valid ExecuteTask; its Execution API (below) is a closed port: the supervisor's first call fails (exit 1).
VALID_WORKLOAD = json.dumps({
    "dag_rel_path": "bench.py", "bundle_info": {"name": "dags-folder", "version": None},
    "log_path": "dag_id=bench/run_id=r/task_id=t/attempt=1.log", "sentry_integration": "", "type": "ExecuteTask",
    "ti": {"id": "0196a1b2-0000-7000-8000-0000000000b1", "task_id": "t", "dag_id": "bench", "run_id": "r",
           "try_number": 1, "dag_version_id": "0196a1b2-0000-7000-8000-0000000000b2", "map_index": -1,
           "hostname": "", "context_carrier": {}, "queue": "default", "pool_slots": 1, "priority_weight": 1}})
REFUSED_API = {"AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://127.0.0.1:9/execution/",
               "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "1"}
CASES = {"validate": (INVALID_WORKLOAD, 2), "supervise": (VALID_WORKLOAD, 1)}
TOKEN = "bench-token"
TICKS = os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fresh(tasks: int, environment: dict[str, str], case: str) -> tuple[list[float], float]:
    """Wall seconds per run, CPU seconds per run."""
    workload, expected = CASES[case]
    env = {**environment, WORKLOAD_VAR: workload, TOKEN_VAR: TOKEN}
    walls = []
    before = children_cpu()
    for _ in range(tasks):
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "airflow_mesos.worker"], env=env, capture_output=True)
        walls.append(time.perf_counter() - started)
        if run.returncode != expected:
            raise SystemExit(f"the fresh worker ({case}) exited {run.returncode}, not {expected}: "
                             f"{run.stderr.decode()[-500:]}")
    return walls, (children_cpu() - before) / tasks


def fresh_preload(tasks: int, environment: dict[str, str]) -> tuple[list[float], float]:
    """A fresh interpreter importing all that a task imports by the time it runs (the fork server's preload)."""
    walls = []
    before = children_cpu()
    for _ in range(tasks):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from airflow_mesos import worker; worker.preload()"], env=environment,
                       check=True)
        walls.append(time.perf_counter() - started)
    return walls, (children_cpu() - before) / tasks


def proc_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of ``pid`` (its own CPU and its reaped children's), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / TICKS


def proc_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def warm(tasks: int, environment: dict[str, str], sandbox: Path) -> tuple[dict[str, tuple[list[float], float]], dict]:
    """Per case: wall seconds per start-to-exit and CPU seconds per task; and the fork server's figures."""
    events: queue.Queue = queue.Queue()
    runner = ForkServerRunner(sandbox, environment, events.put)
    results: dict[str, tuple[list[float], float]] = {}
    try:
        runner.start_server()
        if not runner.ready.wait(120):
            raise SystemExit("the fork server was not ready within 120 s")
        server = runner.server_pid
        assert server is not None
        rss = proc_rss_mib(server)
        for case, (workload, expected) in CASES.items():
            payload = TaskPayload(workload, TOKEN, {})
            walls = []
            server_before, own_before = proc_cpu(server), time.process_time()
            for i in range(tasks):
                task_id = f"{case}-{i}"
                started = time.perf_counter()
                runner.start(task_id, payload)
                while True:
                    event = events.get(timeout=120)
                    if isinstance(event, TaskStartFailed):
                        raise SystemExit(f"the warm start failed: {event.message}")
                    if isinstance(event, TaskExited):
                        break
                    assert isinstance(event, TaskStarted)
                walls.append(time.perf_counter() - started)
                if event.exit_code != expected:
                    stderr = (sandbox / "tasks" / task_id / "stderr").read_text()[-500:]
                    raise SystemExit(f"the warm task ({case}) exited {event.exit_code}, not {expected}: {stderr}")
            results[case] = walls, (proc_cpu(server) - server_before + time.process_time() - own_before) / tasks
        return results, {**runner.ready_info, "rss_mib": rss}
    finally:
        runner.close()


def executor_rss_mib() -> float:
    """The executor process itself (it imports nothing of Airflow's): its peak RSS once its modules are in."""
    run = subprocess.run([sys.executable, "-c", "import resource, airflow_mesos.warm.runtime; "
                          "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
                         capture_output=True, text=True, check=True)
    return int(run.stdout) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20, help="task starts of each kind (default 20)")
    parser.add_argument("--quick", action="store_true", help="3 of each: a smoke run")
    parser.add_argument("--json", help="write the benchlib Section here")
    args = parser.parse_args(argv)
    tasks = 3 if args.quick else args.tasks
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "AIRFLOW_MESOS_"))}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    started, load_before = time.monotonic(), load()
    environment.update(REFUSED_API)
    fresh_runs = {case: fresh(tasks, environment, case) for case in CASES}
    preload_walls, preload_cpu = fresh_preload(tasks, environment)
    with tempfile.TemporaryDirectory(prefix="warm-bench-") as sandbox:
        warm_runs, server = warm(tasks, environment, Path(sandbox))
    executor_rss = executor_rss_mib()

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    def row(kind: str, walls: list[float], cpu: float) -> list[str]:
        return [kind, f"{cpu:.3f}", f"{median(walls):.3f}", f"{max(walls):.3f}"]

    table = Table(
        title=f"task start, fresh interpreter vs warm fork ({tasks} each, one after another)",
        header=["kind", "CPU-s per task", "wall median s", "wall max s"],
        rows=[row("fresh, validate: python -m airflow_mesos.worker", *fresh_runs["validate"]),
              row("warm, validate: fork of the fork server", *warm_runs["validate"]),
              row("fresh, supervise: up to the first Execution API call", *fresh_runs["supervise"]),
              row("warm, supervise: up to the first Execution API call", *warm_runs["supervise"]),
              row("fresh: a python importing all a task imports", preload_walls, preload_cpu)],
        note="validate: the worker's path up to validating a workload it rejects (exit 2); supervise: a valid "
             "workload through execute_workload and the supervisor (which forks the task process) to the first "
             "Execution API call, refused by a closed port with one retry (exit 1); the last row imports what the "
             "fork server imports once")
    print_table(table)
    memory = Table(title="memory", header=["process", "RSS MiB"],
                   rows=[["fork server after its imports", f"{server['rss_mib']:.0f}"],
                         ["executor (no Airflow imported)", f"{executor_rss:.0f}"]],
                   note=f"the fork server's imports took {server.get('preload_seconds')} s, "
                        f"{server.get('preload_cpu_seconds')} CPU-s, once per executor")
    print_table(memory)
    fresh_cpu, warm_cpu = fresh_runs["supervise"][1], warm_runs["supervise"][1]
    figures = [
        Figure("fresh task start CPU", fresh_cpu, "CPU-s", note="supervise"),
        Figure("warm task start CPU", warm_cpu, "CPU-s", note="supervise"),
        Figure("warm / fresh CPU", warm_cpu / fresh_cpu if fresh_cpu else None, "x"),
        Figure("fresh task start wall (median)", median(fresh_runs["supervise"][0]), "s"),
        Figure("warm task start wall (median)", median(warm_runs["supervise"][0]), "s"),
        Figure("fresh interpreter, all of a task's imports", preload_cpu, "CPU-s"),
        Figure("fork server RSS", server["rss_mib"], "MiB"),
    ]
    print()
    print_figures(figures)
    if args.json:
        Section(key="warm_start", title="Warm workers: task start", command="benchmarks/warm_start.py",
                tables=[table, memory], figures=figures, load_before=load_before, load_after=load(),
                seconds=time.monotonic() - started).write(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
