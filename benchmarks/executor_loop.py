"""The MesosExecutor inside a scheduler: its memory with 10,000 queued tasks, and its time per scheduler loop.

The real :class:`~airflow_mesos.executor.MesosExecutor` class in this process, as Airflow's scheduler
drives it (``queue_workload``, ``heartbeat`` -> ``trigger_tasks`` / ``_process_workloads`` / ``sync``),
with its own ``mesos-executor`` thread running, against a fake driver that answers like a master
(offers every ``--offer-interval`` seconds, a RUNNING update for each launched task, every call
recorded).  The framework id store and the event-log writes (what goes to the metadata database)
are counted, not written: the database is not what is measured here.

1. Memory: the process's resident set (``/proc/self/statm``) of an idle, subscribed executor, then
   after Airflow's workload objects for ``--queued + --running`` tasks exist (what the scheduler holds
   anyway), then with ``--running`` of them launched and RUNNING and ``--queued`` waiting for offers.
2. Loop time: ``heartbeat()`` timed over ``--loops`` scheduler loops while the executor's thread
   handles offers that fit nothing (so the 10,000 stay queued and the matcher runs on every offer), and
   the executor thread's time per OFFERS event.  ``--profile`` adds cProfile tables of both.

Prints figures; asserts nothing.

    .venv/bin/python benchmarks/executor_loop.py
    .venv/bin/python benchmarks/executor_loop.py --queued 500 --running 50 --loops 50     # quick
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import queue
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Figure, Section, Table, load, median, percentile, print_figures, print_table, rss_bytes  # noqa: E402

TARGET_OVERHEAD_MB = 50.0
TARGET_LOOP_MS = 20.0


def configure_airflow(home: Path, args: argparse.Namespace) -> None:
    """Environment for an Airflow of this process only (before anything imports airflow)."""
    for key in [k for k in os.environ if k.startswith("AIRFLOW__")]:
        del os.environ[key]
    os.environ.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": str(max(32, 2 * (args.queued + args.running))),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__MESOS__MASTER": "http://127.0.0.1:9",
        "AIRFLOW__MESOS__TASK_API_URL": "http://127.0.0.1:9/execution/",
        "AIRFLOW__MESOS__CONTAINER_TYPE": "process",
        "AIRFLOW__MESOS__CPUS": "0.1",
        "AIRFLOW__MESOS__MEM": "128",
        "AIRFLOW__MESOS__DISK": "0",
        "AIRFLOW__MESOS__FRAMEWORK_NAME": "executor-loop-benchmark",
        # Command tasks, sized so that each offer holds exactly ten of them; a warm executor's own share
        # would take part of every offer and change what is measured (the executor's memory and loop time).
        "AIRFLOW__MESOS__WARM_WORKERS": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
    })


class FakeDriver:
    """What the executor needs of a SchedulerDriver, answering as a master would; every call is recorded."""

    master_url = "http://127.0.0.1:9"

    def __init__(self) -> None:
        from airflow_mesos.mesos import events

        self.ev = events
        self.events: queue.Queue = queue.Queue()
        self.calls: dict[str, int] = {}
        self.launched: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def _count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.calls[name] = self.calls.get(name, 0) + n

    def start(self) -> None:
        self.events.put(self.ev.Subscribed(framework_id="bench-framework", heartbeat_interval_seconds=15.0,
                                           master_info={}, raw={}))

    def stop(self, failover: bool = True) -> None:
        self._count("stop")

    def launch(self, offer_ids, task_infos, refuse_seconds=None) -> None:
        self._count("ACCEPT")
        self._count("tasks", len(task_infos))
        with self.lock:
            self.launched += [(t["task_id"]["value"], t["agent_id"]["value"]) for t in task_infos]

    def decline(self, offer_ids, refuse_seconds=None) -> None:
        self._count("DECLINE", len(offer_ids))

    def revive(self, roles=None) -> None:
        self._count("REVIVE")

    def suppress(self, roles=None) -> None:
        self._count("SUPPRESS")

    def kill(self, task_id, agent_id=None, grace_period_seconds=None) -> None:
        self._count("KILL")

    def acknowledge(self, status) -> bool:
        self._count("ACKNOWLEDGE")
        return True

    def reconcile(self, tasks=()) -> None:
        self._count("RECONCILE")

    def running_update(self, task_id: str, agent_id: str) -> None:
        status = self.ev.TaskStatus(task_id=task_id, state="TASK_RUNNING", agent_id=agent_id,
                                    uuid=uuid.uuid4().bytes, source="SOURCE_EXECUTOR", timestamp=time.time())
        self.events.put(self.ev.Update(status=status, raw={}))


def offers(count: int, cpus: float, mem: float, tag: str) -> list:
    from airflow_mesos.mesos.events import parse_offer

    return [parse_offer({
        "id": {"value": f"{tag}-{i}"}, "framework_id": {"value": "bench-framework"}, "agent_id": {"value": f"S{i}"},
        "hostname": f"agent{i}.example",
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
                      {"name": "disk", "type": "SCALAR", "scalar": {"value": 100000}}],
        "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": f"r{i % 3}"}}],
    }) for i in range(count)]


def workloads(n: int, first: int = 0) -> list:
    """Airflow's ExecuteTask workloads, as the scheduler builds them (one DAG, a mapped task)."""
    from airflow.executors.workloads import BundleInfo, ExecuteTask
    from airflow.executors.workloads.task import TaskInstanceDTO

    dag_version = uuid.uuid4()
    out = []
    for i in range(first, first + n):
        ti = TaskInstanceDTO(id=uuid.uuid4(), task_id="square", dag_id="bench_fanout", run_id="manual__bench",
                             try_number=1, dag_version_id=dag_version, map_index=i, pool_slots=1,
                             priority_weight=1, queue="default", external_executor_id=str(uuid.uuid4()),
                             executor_config=None)
        # A JWT of the length Airflow's workload tokens have (about 600 characters), unique per task.
        token = f"eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.{uuid.uuid4().hex * 12}.{uuid.uuid4().hex * 2}"
        out.append(ExecuteTask(token=token, ti=ti, dag_rel_path="bench_fanout.py",
                               bundle_info=BundleInfo(name="dags-folder"),
                               log_path=f"dag_id=bench_fanout/run_id=manual__bench/task_id=square/map_index={i}/"
                                        "attempt=1.log"))
    return out


def settle() -> int:
    gc.collect()
    time.sleep(0.2)
    gc.collect()
    return rss_bytes()


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def profile_table(profiler: cProfile.Profile, title: str, top: int) -> Table:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    rows = []
    width = sum(v[2] for v in stats.stats.values()) or 1.0  # tottime over all functions
    for (filename, line, name), (_, calls, tottime, cumtime, _) in sorted(
            stats.stats.items(), key=lambda item: -item[1][2])[:top]:
        rows.append([f"{tottime / width:.1%}", f"{cumtime * 1000:.1f}", calls,
                     f"{_short(filename)}:{line} {name}"])
    return Table(title, ["self", "cum ms", "calls", "function"], rows)


def _short(path: str) -> str:
    for marker in ("/airflow_mesos/", "/site-packages/"):
        if marker in path:
            head, tail = path.split(marker, 1)
            return ("airflow_mesos/" if marker == "/airflow_mesos/" else "") + tail
    return path.rsplit("/", 1)[-1]


def run(args: argparse.Namespace) -> Section:
    section = Section("executor", "4. The MesosExecutor in the scheduler: memory and loop time",
                      "benchmarks/executor_loop.py " + " ".join(args.argv))
    section.load_before = load()
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="airflow-mesos-bench-home-"))
    configure_airflow(home, args)

    import airflow_mesos.executor.executor as edge
    from airflow_mesos.executor import MesosExecutor

    class CountingStore:
        def load(self, name):
            return None

        def save(self, name, framework_id, master=None):
            pass

        def clear(self, name):
            pass

    edge.FrameworkStore = CountingStore
    saved_events = [0]

    def count_events(self, rows):
        saved_events[0] += len(rows)

    edge.MesosExecutor._save_events = count_events
    driver = FakeDriver()
    edge.MesosExecutor._new_driver = lambda self, framework_id: driver
    edge.MesosExecutor.housekeeping_seconds = 10 ** 9  # its database queries are not what is measured

    executor = MesosExecutor()
    rss0 = settle()
    executor.start()
    wait_for(lambda: executor._core is not None and executor._core.connected, 10, "the executor to subscribe")
    executor.heartbeat()
    rss_idle = settle()

    total = args.queued + args.running
    # As a scheduler hands them over: a batch of workloads per loop, built from the TIs it queues and
    # dropped once the executor has them (what stays is what the executor keeps).
    queue_seconds = 0.0
    for first in range(0, total, args.batch):
        items = workloads(min(args.batch, total - first), first)
        queue_started = time.perf_counter()
        for item in items:
            executor.queue_workload(item, session=None)
        executor.heartbeat()
        queue_seconds += time.perf_counter() - queue_started
        del items
    wait_for(lambda: executor._core.waiting_count() == total, 60, "the executor to take the workloads")
    slots = args.running
    per_agent = 10
    agents = (slots + per_agent - 1) // per_agent
    driver.events.put(driver.ev.Offers(offers=tuple(offers(agents, per_agent * 0.1, per_agent * 128.0, "fit")),
                                       raw={}))
    wait_for(lambda: len(driver.launched) >= slots, 30, "the first tasks to launch")
    for task_id, agent_id in driver.launched[:slots]:
        driver.running_update(task_id, agent_id)
    wait_for(lambda: executor._outbox.qsize() >= slots or len(driver.launched) >= slots, 30, "RUNNING reports")
    time.sleep(0.5)
    executor.heartbeat()
    rss_loaded = settle()
    waiting, launched = executor._core.waiting_count(), executor._core.launched_count()
    # For scale: what Airflow's workload objects for as many tasks take by themselves.
    reference = workloads(total)
    rss_reference = settle()
    workload_objects = rss_reference - rss_loaded
    del reference

    # Loop time: offers that fit nothing keep the matcher busy on the executor thread meanwhile.
    offer_times: list[float] = []
    real_offers = executor._core.offers

    def timed_offers(*a, **k):
        t0 = time.perf_counter()
        try:
            return real_offers(*a, **k)
        finally:
            offer_times.append(time.perf_counter() - t0)

    executor._core.offers = timed_offers
    stop_offers = threading.Event()

    def offer_source() -> None:
        n = 0
        while not stop_offers.wait(args.offer_interval):
            n += 1
            driver.events.put(driver.ev.Offers(offers=tuple(offers(args.offers, 0.05, 64.0, f"small{n}")), raw={}))

    feeder = threading.Thread(target=offer_source, name="bench-offers", daemon=True)
    feeder.start()
    scheduler_profile = cProfile.Profile() if args.profile else None
    loop_times = []
    for _ in range(args.loops):
        t0 = time.perf_counter()
        if scheduler_profile is not None:
            scheduler_profile.enable()
        executor.heartbeat()
        if scheduler_profile is not None:
            scheduler_profile.disable()
        loop_times.append(time.perf_counter() - t0)
        time.sleep(args.loop_pause)
    stop_offers.set()
    feeder.join()
    executor._core.offers = real_offers

    core_profile_table = None
    if args.profile:
        profiler = cProfile.Profile()
        few = offers(args.offers, 0.05, 64.0, "profiled")
        profiler.enable()
        executor._core.offers(few, time.monotonic())
        profiler.disable()
        core_profile_table = profile_table(profiler, f"cProfile of one OFFERS cycle in the core ({waiting} waiting, "
                                                     f"{launched} launched, {args.offers} offers)", args.profile_top)
    executor.end()

    mb = 1024 * 1024
    section.tables.append(Table(
        "resident memory of this process",
        ["state", "RSS MiB", "vs idle MiB"],
        [["before start (Airflow imported)", f"{rss0 / mb:.1f}", ""],
         ["idle, subscribed executor", f"{rss_idle / mb:.1f}", "0"],
         [f"{waiting} waiting + {launched} launched in the executor", f"{rss_loaded / mb:.1f}",
          f"{(rss_loaded - rss_idle) / mb:.1f}"],
         [f"for scale, + {total} more of Airflow's workload objects, held", f"{rss_reference / mb:.1f}",
          f"{(rss_reference - rss_idle) / mb:.1f}"]],
        note=f"handed over in batches of {args.batch} per scheduler loop; queue_workload + heartbeat for all {total}: "
             f"{queue_seconds * 1000:.0f} ms; "
             f"event-log rows the executor handed to its notes thread: {saved_events[0]}"))
    section.tables.append(Table(
        f"scheduler loop: heartbeat() over {args.loops} loops with {waiting} waiting and {launched} running; "
        f"OFFERS of {args.offers} small offers every {args.offer_interval:g} s",
        ["", "p50 ms", "p99 ms", "max ms", "n"],
        [["heartbeat (scheduler thread)", f"{median(loop_times) * 1000:.2f}", f"{percentile(loop_times, 0.99) * 1000:.2f}",
          f"{max(loop_times) * 1000:.2f}", len(loop_times)],
         ["one OFFERS event in the core (executor thread)",
          f"{(median(offer_times) or 0) * 1000:.1f}", f"{(percentile(offer_times, 0.99) or 0) * 1000:.1f}",
          f"{max(offer_times, default=0) * 1000:.1f}", len(offer_times)]],
        note=f"driver calls: {dict(sorted(driver.calls.items()))}"))
    section.figures.append(Figure(f"scheduler RSS: {args.queued} queued + {args.running} running vs idle",
                                  (rss_loaded - rss_idle) / mb, "MiB", "< 50 MiB",
                                  (rss_loaded - rss_idle) / mb < TARGET_OVERHEAD_MB,
                                  note=f"Airflow's workload objects for as many tasks would take "
                                       f"{workload_objects / mb:.1f} MiB by themselves"))
    p99 = percentile(loop_times, 0.99)
    section.figures.append(Figure(f"executor time per scheduler loop (p99), {waiting} queued + {launched} running",
                                  p99 * 1000, "ms", "< 20 ms", p99 * 1000 < TARGET_LOOP_MS,
                                  note=f"p50 {median(loop_times) * 1000:.2f} ms, max {max(loop_times) * 1000:.1f} ms"))
    section.figures.append(Figure("executor thread: one OFFERS cycle with the queue (p50)",
                                  (median(offer_times) or 0) * 1000, "ms",
                                  note="off Airflow's loop, but it holds the GIL"))
    if scheduler_profile is not None:
        section.tables.append(profile_table(scheduler_profile, "cProfile of the heartbeats (scheduler thread)",
                                            args.profile_top))
    if core_profile_table is not None:
        section.tables.append(core_profile_table)
    section.seconds = time.monotonic() - started
    section.load_after = load()
    for table in section.tables:
        print_table(table)
    print()
    print_figures(section.figures)
    return section


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queued", type=int, default=10000)
    parser.add_argument("--running", type=int, default=1000)
    parser.add_argument("--offers", type=int, default=20, help="offers per OFFERS event during the loops")
    parser.add_argument("--offer-interval", type=float, default=1.0)
    parser.add_argument("--loops", type=int, default=200)
    parser.add_argument("--batch", type=int, default=512, help="workloads handed over per scheduler loop")
    parser.add_argument("--loop-pause", type=float, default=0.02, help="seconds between heartbeats")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-top", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--json", help="also write the result here (for benchmarks/run_all.py)")
    args = parser.parse_args(argv)
    if args.quick:
        args.queued, args.running, args.loops, args.offer_interval = 200, 20, 20, 0.2
    args.argv = argv
    section = run(args)
    if args.json:
        section.write(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
