"""The whole of Airflow: a 200-task fan-out DAG under the LocalExecutor and under the MesosExecutor, side by side.

One run, one machine, one throwaway PostgreSQL server (each deployment its own database on it), the
same parallelism (``[core] parallelism`` and the DAG's ``max_active_tasks``, 32):

- ``local``: Airflow's LocalExecutor (the single-machine limit: long-lived workers that fork);
- ``warm-process``: the MesosExecutor as it is configured by default, on the embedded Mesos cluster (its
  own process, two agents), each task a process on an agent (``container_type process``) run by a warm
  executor (``[mesos] warm_workers``, the default: ``python -m airflow_mesos.warm``, Airflow's worker
  imported once per agent);
- ``warm-docker``: the same with the tasks in a container of the project image (``container_type mesos``,
  the Mesos containerizer): the warm executor runs in the image and its tasks inside its container; the
  image is built first when missing or stale;
- ``process`` and ``docker`` (only with ``--variants``): the same two with ``warm_workers = false``, a
  fresh interpreter per task, as the MesosExecutor ran before warm workers (issue 11).  They take about
  forty minutes together on two cores, so ``scripts/bench`` leaves them out; the judged target is the
  default configuration's.

CPU-seconds per task: all the CPU the variant's processes (this benchmark's children: PostgreSQL, the
Airflow components, the embedded Mesos cluster with its agents and their tasks and executors) and the
Docker containers used from the trigger to the run's end, over the run's task instances.  It is read from
the cgroup v1 ``cpuacct`` controller (a cgroup of this run's own, plus the ``docker`` one for containers,
whose usage stays counted after a container is removed), else from ``/proc/stat`` for the whole machine
(then it counts whatever else ran; the load is beside it).

Per variant: the DAG run's wall time (the ``dag_run`` row), queued-to-start p50 and p99 of the mapped
tasks (``task_instance.queued_dttm`` to ``start_date``), their run time; for the Mesos variants also
where each task's time goes, from the master's task statuses and the task instance rows: queued ->
launched (waiting for an offer), launched -> TASK_RUNNING (the containerizer), TASK_RUNNING -> the
worker's start (interpreter, Airflow's import, the Execution API), the task itself, and its end ->
TASK_FINISHED.  The per-task container overhead is the docker variant's extra over the process one (the
warm or the fresh pair, whichever ran).
Prints figures; asserts nothing.  Needs a Docker engine (``DOCKER_HOST``) for ``docker``, and
PostgreSQL's server binaries (``scripts/bench`` installs what is missing).

    .venv/bin/python benchmarks/airflow_fanout.py                  # local, warm-process, warm-docker
    .venv/bin/python benchmarks/airflow_fanout.py --variants local process --width 40
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Figure, Section, Table, load, median, percentile, print_figures, print_table, \
    start_cluster_process  # noqa: E402
from proc_cpu import snapshot, used_between  # noqa: E402

BENCH_DAGS = Path(__file__).resolve().parent / "dags"
PARALLELISM = 32
TARGET_RATIO = 1.15
AGENTS = ("cpus=4,mem=12288,disk=40000,attributes=rack:r1", "cpus=4,mem=12288,disk=40000,attributes=rack:r2")
VARIANTS = ("local", "process", "docker", "warm-process", "warm-docker")
# What the MesosExecutor runs by default (warm_workers on) beside the LocalExecutor; the fresh-interpreter
# variants only on request.
DEFAULT_VARIANTS = ("local", "warm-process", "warm-docker")
MESOS_VARIANTS = VARIANTS[1:]
CONTAINER_VARIANTS = ("docker", "warm-docker")
WARM_VARIANTS = ("warm-process", "warm-docker")
DAG_OF = {"local": "bench_fanout_process", "process": "bench_fanout_process", "docker": "bench_fanout_mesos",
          "warm-process": "bench_fanout_process", "warm-docker": "bench_fanout_mesos"}
EXECUTOR_OF = {variant: "airflow_mesos.executor.MesosExecutor" for variant in MESOS_VARIANTS} | {
    "local": "LocalExecutor"}
CGROUP_CPUACCT = Path("/sys/fs/cgroup/cpuacct")


class CpuMeter:
    """CPU-seconds used by this benchmark's children and the Docker containers (see the module docstring)."""

    def __init__(self) -> None:
        self.how = "machine (/proc/stat)"
        self.cgroup: Path | None = None
        own = CGROUP_CPUACCT / f"airflow-mesos-bench-{os.getpid()}"
        try:
            own.mkdir(exist_ok=True)
            (own / "cgroup.procs").write_text(str(os.getpid()))  # children started from now on inherit it
            self.cgroup = own
            self.how = "cgroup cpuacct (this run's processes + docker containers)"
        except OSError:
            self.cgroup = None

    def seconds(self) -> float:
        if self.cgroup is None:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
            busy = sum(int(v) for i, v in enumerate(fields[:8]) if i not in (3, 4))  # not idle, not iowait
            return busy / os.sysconf("SC_CLK_TCK")
        total = int((self.cgroup / "cpuacct.usage").read_text())
        docker = CGROUP_CPUACCT / "docker" / "cpuacct.usage"
        if docker.exists():
            total += int(docker.read_text())
        return total / 1e9

    def close(self) -> None:
        if self.cgroup is None:
            return
        try:
            (CGROUP_CPUACCT / "cgroup.procs").write_text(str(os.getpid()))
            self.cgroup.rmdir()
        except OSError:
            pass  # children still in it; the empty cgroup goes with the next reboot


def start_cluster(workdir: Path):
    """The embedded Mesos cluster in a process of its own (as scripts/run-local starts it)."""
    cluster_args = [arg for spec in AGENTS for arg in ("--agent", spec)]
    return start_cluster_process(workdir, cluster_args, agents=len(AGENTS))


def ensure_project_image(workdir: Path) -> str:
    import docker

    from airflow_mesos.image import DEFAULT_TAG, ensure_image
    from airflow_mesos.local.images import ensure_python_image

    client = docker.from_env()
    base = ensure_python_image(client)
    with open(workdir / "image-build.log", "a", encoding="utf-8") as handle:
        tag, what = ensure_image(client, base_image=base, tag=DEFAULT_TAG, on_log=lambda line: handle.write(line + "\n"))
    print(f"  image {tag}: {what}", flush=True)
    return tag


def mesos_statuses(master: str) -> dict[str, dict[str, float]]:
    """Mesos task id -> state -> the earliest timestamp of that state, from ``/master/tasks``."""
    import httpx

    out: dict[str, dict[str, float]] = {}
    offset = 0
    while True:
        page = httpx.get(f"{master}/master/tasks", params={"limit": 1000, "offset": offset}, timeout=30).json()
        tasks = page.get("tasks", [])
        for task in tasks:
            states = out.setdefault(task["id"], {})
            states["last_message"] = f"{task.get('state')} {(task.get('statuses') or [{}])[-1].get('message', '')}"
            for status in task.get("statuses", []):
                states.setdefault(status["state"], status["timestamp"])
                states["first"] = min(states.get("first", status["timestamp"]), status["timestamp"])
        if len(tasks) < 1000:
            return out
        offset += 1000


def one_variant(variant: str, args: argparse.Namespace, pg_dsn: str, workdir: Path, master: str | None,
                image: str | None, meter: CpuMeter) -> dict:
    from airflow_mesos.localrun.deployment import AirflowDeployment

    logs = workdir / f"{variant}-task-logs"
    logs.mkdir(parents=True)
    logs.chmod(0o777)  # the task containers run as uid 50000 and write their logs here
    env: dict[str, str] = {"AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs)}
    if variant != "local":
        task_env = {"AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs)}
        env.update({
            "AIRFLOW__MESOS__MASTER": master,
            "AIRFLOW__MESOS__FRAMEWORK_NAME": f"bench-{variant}",
            "AIRFLOW__MESOS__CONTAINER_TYPE": "mesos" if variant in CONTAINER_VARIANTS else "process",
            "AIRFLOW__MESOS__ENV": json.dumps(task_env),
            "AIRFLOW__MESOS__WARM_WORKERS": str(variant in WARM_VARIANTS),
        })
        # Every other [mesos] option at its default: the figures are what users get.
        if args.revive_min_interval is not None:
            env["AIRFLOW__MESOS__REVIVE_MIN_INTERVAL"] = str(args.revive_min_interval)
        if variant in CONTAINER_VARIANTS:
            env["AIRFLOW__MESOS__IMAGE"] = image
            env["AIRFLOW__MESOS__VOLUMES"] = json.dumps([
                {"host_path": str(BENCH_DAGS), "container_path": str(BENCH_DAGS), "mode": "RO"},
                {"host_path": str(logs), "container_path": str(logs), "mode": "RW"}])
    deployment = AirflowDeployment(pg_dsn=pg_dsn, workdir=workdir / variant, dags_folder=BENCH_DAGS,
                                   executor=EXECUTOR_OF[variant], extra_env=env, parallelism=PARALLELISM,
                                   dag_ids=[DAG_OF[variant]], name_prefix=f"bench_{variant}",
                                   on_step=lambda line: print(f"  [{variant}] {line}", flush=True),
                                   startup_timeout=300)
    deployment.start()
    try:
        dag_id = DAG_OF[variant]
        cpu_before, tree_before = meter.seconds(), snapshot()
        started = time.monotonic()
        run_id = f"bench_{variant}_{int(time.time())}"

        def trigger() -> None:
            # A retried trigger whose first try did get through finds the run there.
            if not deployment.query("SELECT 1 FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id)):
                deployment.trigger(dag_id, conf={"width": args.width}, run_id=run_id)

        retrying(trigger, "trigger the DAG")
        run = {"state": wait_for_run(deployment, dag_id, run_id, args.timeout)}
        observed = time.monotonic() - started
        cpu, by_component = meter.seconds() - cpu_before, used_between(tree_before, snapshot())
        (start, end), = deployment.query("SELECT start_date, end_date FROM dag_run WHERE dag_id = %s AND run_id = %s",
                                         (dag_id, run_id))
        rows = deployment.query(
            "SELECT task_id, map_index, state, try_number, queued_dttm, start_date, end_date, external_executor_id "
            "FROM task_instance WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
        statuses = mesos_statuses(master) if variant != "local" else {}
    finally:
        deployment.stop()
    return {"state": run["state"], "wall": (end - start).total_seconds(), "observed": observed, "rows": rows,
            "statuses": statuses, "cpu": cpu, "by_component": by_component}


def retrying(call, what: str, attempts: int = 5):
    """A REST call that a loaded machine may time out: tried again a few times."""
    import httpx

    for attempt in range(attempts):
        try:
            return call()
        except httpx.HTTPError as exc:
            if attempt == attempts - 1:
                raise
            print(f"  could not {what} ({type(exc).__name__}); again", flush=True)
            time.sleep(5)


def wait_for_run(deployment, dag_id: str, run_id: str, timeout: float) -> str:
    """The run's final state, read from the database (cheaper than the REST API on a busy machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = deployment.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
        if rows and rows[0][0] in ("success", "failed"):
            return rows[0][0]
        time.sleep(2)
    raise SystemExit(f"{dag_id} run {run_id} did not end within {timeout:g} s")


def _ts(value: datetime.datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def analyse(variant: str, result: dict) -> dict:
    mapped = [r for r in result["rows"] if r[0] == "square"]
    queued_to_start = [(r[5] - r[4]).total_seconds() for r in mapped if r[4] and r[5]]
    run_time = [(r[6] - r[5]).total_seconds() for r in mapped if r[5] and r[6]]
    phases: dict[str, list[float]] = {"queued -> launched": [], "launched -> TASK_RUNNING": [],
                                      "TASK_RUNNING -> worker start": [], "worker start -> end (the task)": [],
                                      "end -> TASK_FINISHED": []}
    for r in mapped:
        states = result["statuses"].get(r[7] or "")
        if not states or not (r[4] and r[5] and r[6]):
            continue
        queued, ti_start, ti_end = _ts(r[4]), _ts(r[5]), _ts(r[6])
        launched, running, finished = states.get("first"), states.get("TASK_RUNNING"), states.get("TASK_FINISHED")
        if None in (launched, running, finished):
            continue
        phases["queued -> launched"].append(launched - queued)
        phases["launched -> TASK_RUNNING"].append(running - launched)
        phases["TASK_RUNNING -> worker start"].append(ti_start - running)
        phases["worker start -> end (the task)"].append(ti_end - ti_start)
        phases["end -> TASK_FINISHED"].append(finished - ti_end)
    failed = [r for r in result["rows"] if r[2] != "success"]
    for r in failed[:3]:
        states = result["statuses"].get(r[7] or "") or {}
        print(f"  {variant}: {r[0]}[{r[1]}] ended {r[2]}; Mesos: {states.get('last_message', 'no status')}", flush=True)
    retried = [r for r in result["rows"] if (r[3] or 1) > 1]
    by_component = dict(result.get("by_component", {}))
    by_component["the rest (containers; outside this run's process tree)"] = \
        result["cpu"] - sum(by_component.values())
    return {"variant": variant, "state": result["state"], "wall": result["wall"], "tasks": len(result["rows"]),
            "by_component": by_component,
            "cpu_per_task": result["cpu"] / max(len(result["rows"]), 1), "cpu": result["cpu"],
            "failed": len(failed), "retried": len(retried),
            "q2s_p50": median(queued_to_start), "q2s_p99": percentile(queued_to_start, 0.99),
            "run_p50": median(run_time), "phases": {k: (median(v), percentile(v, 0.99), len(v)) for k, v in phases.items()}}


def run(args: argparse.Namespace) -> Section:
    from airflow_mesos.localrun.services import ThrowawayPostgres

    section = Section("airflow", "3. The whole of Airflow: a fan-out DAG, LocalExecutor vs MesosExecutor",
                      "benchmarks/airflow_fanout.py " + " ".join(args.argv))
    section.load_before = load()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="airflow-mesos-bench-airflow-"))
    workdir.chmod(0o755)  # the task containers' user reads the DAGs and writes the logs below it
    postgres = cluster = None
    results = {}
    meter = CpuMeter()
    try:
        if args.pg_dsn:
            pg_dsn = args.pg_dsn
        else:
            postgres = ThrowawayPostgres(workdir / "postgres").start()
            pg_dsn = postgres.dsn
        master = image = None
        if any(v in CONTAINER_VARIANTS for v in args.variants):
            image = ensure_project_image(workdir)
        for variant in args.variants:
            if variant in MESOS_VARIANTS and cluster is None:
                # Started only now: its idle loops are not the LocalExecutor's CPU.
                cluster, master = start_cluster(workdir)
                print(f"  embedded Mesos master {master}", flush=True)
            load_at_start = load()
            print(f"  {variant}: {EXECUTOR_OF[variant]}, DAG {DAG_OF[variant]}, width {args.width} (load "
                  f"{load_at_start[0]:.2f})", flush=True)
            results[variant] = analyse(variant, one_variant(variant, args, pg_dsn, workdir, master, image, meter))
            results[variant]["load"] = (load_at_start[0] + load()[0]) / 2
    finally:
        if cluster is not None:
            cluster.stop()
        if postgres is not None:
            postgres.stop()
        meter.close()
        if args.keep:
            print(f"  kept {workdir} (component and task logs)", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    local = results.get("local")
    rows = []
    for variant, r in results.items():
        ratio = f"{r['wall'] / local['wall']:.2f}" if local and variant != "local" else ""
        cpu_ratio = f"{r['cpu_per_task'] / local['cpu_per_task']:.2f}" if local and variant != "local" else ""
        rows.append([variant, r["state"], r["tasks"], f"{r['wall']:.1f}", ratio, f"{r['cpu_per_task']:.2f}", cpu_ratio,
                     _f(r["q2s_p50"]), _f(r["q2s_p99"]), _f(r["run_p50"]), r["failed"], r["retried"],
                     f"{r['load']:.1f}"])
    section.tables.append(Table(
        f"fan-out of {args.width} + 2 tasks at parallelism {PARALLELISM}, one PostgreSQL",
        ["variant", "run", "TIs", "wall s", "x LocalExecutor", "CPU s per task", "x LocalExecutor",
         "queued->start p50 s", "p99 s", "task run p50 s", "not success", "retried", "load (1 min)"], rows,
        note="wall: the dag_run row's start to end; CPU s per task: " + meter.how + ", trigger to the run's end, "
             "over the run's task instances; queued->start: task_instance.queued_dttm to start_date of the "
             "mapped tasks"))
    components = sorted({c for r in results.values() for c in r["by_component"]},
                        key=lambda c: -max(r["by_component"].get(c, 0.0) for r in results.values()))
    section.tables.append(Table(
        "CPU-seconds per task instance by component (trigger to the run's end)",
        ["component", *results], [[c, *(f"{r['by_component'].get(c, 0.0) / max(r['tasks'], 1):.3f}"
                                       for r in results.values())] for c in components
                                  if any(abs(r["by_component"].get(c, 0.0)) >= 0.5 for r in results.values())],
        note="from /proc of this run's process tree (benchmarks/proc_cpu.py): each process's own CPU by its "
             "command line; reaped children's for the component they belonged to"))
    phase_rows = []
    for variant in MESOS_VARIANTS:
        if variant in results:
            for phase, (p50, p99, n) in results[variant]["phases"].items():
                phase_rows.append([variant, phase, _f(p50), _f(p99), n])
    if phase_rows:
        section.tables.append(Table("where a Mesos task's time goes (mapped tasks)", ["variant", "phase", "p50 s",
                                                                                     "p99 s", "n"], phase_rows,
                                    note="launched: the task's first Mesos status; worker start/end: the task "
                                         "instance's start_date/end_date, written by the worker through the "
                                         "Execution API"))
    for variant in MESOS_VARIANTS:
        if local and variant in results:
            ratio = results[variant]["wall"] / local["wall"]
            # The 1.15 x target is the process tasks' (the benchmarks issue), in the configuration users get:
            # warm workers, the default.  A fresh interpreter per task (warm_workers = false) costs some 5 s of
            # CPU per task on its own and cannot come near it (issue 11).
            judged = variant == "warm-process"
            note = f"{results[variant]['wall']:.0f} s vs {local['wall']:.0f} s"
            if variant in ("process", "docker"):
                note += "; warm_workers = false, not the default (issue 11)"
            section.figures.append(Figure(
                f"fan-out wall time, MesosExecutor ({variant}) / LocalExecutor", ratio, "x",
                "<= 1.15 x" if judged else "", ratio <= TARGET_RATIO if judged else None, note=note))
    for variant, r in results.items():
        note = f"{r['cpu']:.0f} CPU-s over {r['tasks']} task instances"
        if local and variant != "local":
            note += f"; {r['cpu_per_task'] / local['cpu_per_task']:.2f} x the LocalExecutor's"
        section.figures.append(Figure(f"{variant}: CPU-seconds per task", r["cpu_per_task"], "s", note=note))
    for variant, r in results.items():
        section.figures.append(Figure(f"{variant}: queued-to-start p50 / p99", r["q2s_p50"], "s",
                                      note=f"p99 {_f(r['q2s_p99'])} s"))
    for docker, process in (("warm-docker", "warm-process"), ("docker", "process")):
        if docker not in results or process not in results:
            continue
        overhead = 0.0
        parts = []
        for phase in ("launched -> TASK_RUNNING", "TASK_RUNNING -> worker start", "end -> TASK_FINISHED"):
            d, p = results[docker]["phases"][phase][0], results[process]["phases"][phase][0]
            if d is not None and p is not None:
                overhead += d - p
                parts.append(f"{phase} {d - p:+.2f} s")
        section.figures.append(Figure(f"per-task container overhead ({docker} - {process}, p50)", overhead, "s",
                                      note="; ".join(parts)))
    section.seconds = time.monotonic() - started
    section.load_after = load()
    for table in section.tables:
        print_table(table)
    print()
    print_figures(section.figures)
    return section


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(DEFAULT_VARIANTS),
                        help="default: %(default)s (process and docker: warm_workers = false, ~40 min more)")
    parser.add_argument("--width", type=int, default=200, help="mapped tasks in the fan-out")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds one DAG run may take")
    parser.add_argument("--revive-min-interval", type=float, help="[mesos] revive_min_interval (default: its default)")
    parser.add_argument("--pg-dsn", help="a PostgreSQL superuser URL; default: a throwaway server of this run")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (logs) at the end")
    parser.add_argument("--quick", action="store_true", help="a width of 4, no container variants")
    parser.add_argument("--json", help="also write the result here (for benchmarks/run_all.py)")
    args = parser.parse_args(argv)
    if args.quick:
        args.width, args.variants = 4, [v for v in args.variants if v not in CONTAINER_VARIANTS]
    args.argv = argv
    section = run(args)
    if args.json:
        section.write(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
