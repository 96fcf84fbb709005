"""Launch throughput and queued-to-RUNNING latency through our driver and the embedded master.

The MesosExecutor's Mesos side without Airflow: its pure core (:class:`ExecutorCore`: the matcher,
DECLINE/REVIVE/SUPPRESS, acknowledgements), our :class:`SchedulerDriver` and the embedded cluster with
``--agents`` agents, in a process of its own as every deployment runs it (``--cluster in-process`` puts a
:class:`LocalCluster` in this process instead, one interpreter lock for all), with the TaskInfo the
executor builds (``build_task_info``, token as a Mesos secret) whose command is ``/bin/true``: a short
``process`` task.  Two runs, one after the other:

- burst: ``--tasks`` tasks queued at once: tasks accepted per second through the driver (tasks in the
  ACCEPT calls over the time spent in them), TASK_RUNNING reached per second, queued-to-RUNNING
  latency p50 and p99;
- paced: the same number of tasks queued at ``--rate`` per second, the way an Airflow scheduler hands
  them over: queued-to-RUNNING latency p50 and p99 when the cluster is not the bottleneck.

With ``--profile`` this process is sampled (every thread: the driver, and with ``--cluster in-process``
the master and agents) and the functions that hold the time are printed.  Prints figures; asserts nothing.

    .venv/bin/python benchmarks/driver_throughput.py                       # 2,000 tasks over 20 agents
    .venv/bin/python benchmarks/driver_throughput.py --tasks 200 --agents 4 --profile
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Figure, Section, Table, load, median, percentile, print_figures, print_table, \
    start_cluster_process  # noqa: E402
from sampler import Sampler  # noqa: E402

from airflow_mesos.executor import core as c  # noqa: E402
from airflow_mesos.executor.matcher import TaskDemand  # noqa: E402
from airflow_mesos.executor.states import Outcome  # noqa: E402
from airflow_mesos.executor.taskinfo import WorkerTask, build_task_info  # noqa: E402
from airflow_mesos.local import AgentSpec, LocalCluster  # noqa: E402
from airflow_mesos.mesos import SchedulerDriver, events  # noqa: E402
from airflow_mesos.provider import get_provider_info  # noqa: E402

# As the MesosExecutor is configured by default.
OFFER_HOLD_SECONDS = float(get_provider_info()["config"]["mesos"]["options"]["offer_hold_seconds"]["default"])
TARGET_LAUNCHES_PER_SECOND = 500.0
TARGET_P99_SECONDS = 1.5
# As the MesosExecutor's own thread (executor.TICK_SECONDS): how often the core hears the time.  (A REVIVE
# that revive_min_interval held back goes out between events once it is due, as there.)
TICK_SECONDS = 1.0


class Run:
    """One pass of N tasks through core, driver and cluster, with every timestamp kept."""

    def __init__(self, driver: SchedulerDriver, core: c.ExecutorCore, args: argparse.Namespace) -> None:
        self.driver, self.core, self.args = driver, core, args
        self.queued: dict[str, float] = {}
        self.accepted: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self.accept_calls = 0
        self.accept_seconds = 0.0
        self.accept_cpu_seconds = 0.0   # the driver's own CPU in those calls (this thread's)
        self.declines = 0
        # ACKNOWLEDGE on a thread of its own, as the MesosExecutor's mesos-executor-acks does.
        self.acks: queue.SimpleQueue = queue.SimpleQueue()
        self.ack_thread = threading.Thread(target=self._send_acks, name="bench-acks", daemon=True)
        self.ack_thread.start()

    def _send_acks(self) -> None:
        while (status := self.acks.get()) is not None:
            self.driver.acknowledge(status)

    def acknowledge(self, status) -> None:
        if self.args.sync_acks:
            self.driver.acknowledge(status)  # as the MesosExecutor did before it had its acks thread
        else:
            self.acks.put(status)

    def close(self) -> None:
        self.acks.put(None)
        self.ack_thread.join(timeout=30)

    def submit(self, task_ids: list[str], now: float) -> None:
        """One batch, as the MesosExecutor's thread takes what Airflow queued: submit each, then end the batch."""
        for task_id in task_ids:
            demand = TaskDemand(task_id=task_id, group="bench.short", priority=1, sequence=len(self.queued),
                                cpus=self.args.cpus, mem=self.args.mem, disk=0.0)
            self.queued[task_id] = now
            self.perform(self.core.submit(c.Work(key=task_id, demand=demand, payload=None), now))
        self.perform(self.core.end_of_batch(now))

    def perform(self, instructions: list[c.Instruction]) -> None:
        for instruction in instructions:
            if isinstance(instruction, c.Launch):
                infos = [build_task_info(self.worker_task(t, instruction.offer), instruction.offer.raw)
                         for t in instruction.tasks]
                started, cpu = time.perf_counter(), time.thread_time()
                self.driver.launch([instruction.offer.id], infos, instruction.refuse_seconds)
                done = time.perf_counter()
                self.accept_calls += 1
                self.accept_seconds += done - started
                self.accept_cpu_seconds += time.thread_time() - cpu
                now = time.monotonic()
                for t in instruction.tasks:
                    self.accepted[t.work.task_id] = now
            elif isinstance(instruction, c.Decline):
                self.declines += len(instruction.offer_ids)
                self.driver.decline(instruction.offer_ids, instruction.refuse_seconds)
            elif isinstance(instruction, c.Revive):
                self.driver.revive()
            elif isinstance(instruction, c.Suppress):
                self.driver.suppress()
            elif isinstance(instruction, c.Acknowledge):
                self.acknowledge(instruction.status)
            elif isinstance(instruction, c.Reconcile):
                self.driver.reconcile(list(instruction.tasks))
            elif isinstance(instruction, c.Kill):
                self.driver.kill(instruction.task_id, instruction.agent_id, instruction.grace_seconds)
            elif isinstance(instruction, c.Report):
                now = time.monotonic()
                if instruction.outcome is Outcome.RUNNING:
                    self.running.setdefault(instruction.task_id, now)
                else:
                    self.ended[instruction.task_id] = now
                    if instruction.outcome is Outcome.FAILED:
                        self.failed[instruction.task_id] = instruction.info
                if instruction.status is not None and instruction.status.uuid is not None:
                    self.acknowledge(instruction.status)

    def worker_task(self, launch: c.LaunchTask, offer) -> WorkerTask:
        return WorkerTask(
            task_id=launch.work.task_id, name=f"bench {launch.work.task_id}", agent_id=offer.agent_id,
            resources=launch.assignment.resources, container_type="process",
            workload_json='{"bench": true}', token="not-a-real-token", execution_api_url="http://127.0.0.1:9/",
            dags_folder="/nonexistent", python="/bin/true", kill_grace_seconds=5.0,
            labels={"airflow-mesos.bench": "driver_throughput"})

    def pump(self, until: float) -> None:
        """Feed the core what the driver delivers until ``until`` (monotonic)."""
        next_tick = 0.0
        while True:
            now = time.monotonic()
            if now >= until:
                return
            if now >= next_tick:
                self.perform(self.core.tick(now))
                next_tick = now + TICK_SECONDS
            if self.core.placement_due(now):
                self.perform(self.core.end_of_batch(now))
            if self.core.revive_due(now):
                self.perform(self.core.deferred_revive(now))
            try:
                event = self.driver.events.get(timeout=min(0.05, max(0.0, until - now)))
            except queue.Empty:
                continue
            now = time.monotonic()
            if isinstance(event, events.Subscribed):
                self.perform(self.core.subscribed(event.framework_id, now))
            elif isinstance(event, events.Offers):
                self.perform(self.core.offers(event.offers, now))
            elif isinstance(event, events.Update):
                self.perform(self.core.update(event.status, now))
            elif isinstance(event, events.Disconnected):
                self.perform(self.core.disconnected(event.reason, now))

    def done(self) -> bool:
        return len(self.ended) >= len(self.queued)


def one_pass(master_url: str, args: argparse.Namespace, mode: str, revive_min_interval: float) -> Run:
    framework = {"user": "root", "name": f"driver-throughput-{mode}", "failover_timeout": 60.0}
    driver = SchedulerDriver(framework, master_url)
    core = c.ExecutorCore(c.CorePolicy(revive_min_interval=revive_min_interval, offer_hold_seconds=args.offer_hold))
    run = Run(driver, core, args)
    driver.start()
    try:
        deadline = time.monotonic() + args.timeout
        while not core.connected:
            run.pump(time.monotonic() + 0.05)
            if time.monotonic() > deadline:
                raise SystemExit("the driver did not subscribe in time")
        # Wait for the first offers so both modes start from a framework that has them.
        run.pump(time.monotonic() + args.allocation_interval * 1.5)
        ids = [f"{mode}-{revive_min_interval:g}-{i}" for i in range(args.tasks)]
        if mode == "burst":
            run.submit(ids, time.monotonic())
        else:
            interval, start = 1.0 / args.rate, time.monotonic()
            for n, task_id in enumerate(ids):
                due = start + n * interval
                run.pump(due)
                run.submit([task_id], time.monotonic())
        while not run.done() and time.monotonic() < deadline:
            run.pump(time.monotonic() + 0.1)
    finally:
        run.close()
        driver.stop(failover=False)
    return run


def figures_of(run: Run, mode: str) -> tuple[list[str], dict]:
    latencies = [run.running[t] - run.queued[t] for t in run.running]
    to_accept = [run.accepted[t] - run.queued[t] for t in run.accepted]
    accept_to_running = [run.running[t] - run.accepted[t] for t in run.running if t in run.accepted]
    first_queued = min(run.queued.values())
    last_running = max(run.running.values(), default=first_queued)
    makespan = max(run.ended.values(), default=first_queued) - first_queued
    stats = {
        "accepted_per_s": len(run.accepted) / run.accept_seconds if run.accept_seconds else None,
        "accept_ms": 1000 * run.accept_seconds / run.accept_calls if run.accept_calls else None,
        "accept_cpu_ms": 1000 * run.accept_cpu_seconds / run.accept_calls if run.accept_calls else None,
        "running_per_s": len(run.running) / (last_running - first_queued) if last_running > first_queued else None,
        "p50": median(latencies), "p99": percentile(latencies, 0.99), "max": max(latencies, default=None),
        "accept_calls": run.accept_calls, "failed": len(run.failed), "makespan": makespan,
        "not_running": len(run.queued) - len(run.running),
        "wait_p50": median(to_accept), "wait_p99": percentile(to_accept, 0.99),
        "start_p50": median(accept_to_running), "start_p99": percentile(accept_to_running, 0.99),
    }
    row = [mode, len(run.queued), run.accept_calls,
           f"{len(run.accepted) / max(run.accept_calls, 1):.0f}",
           _num(stats["accepted_per_s"], "{:.0f}"),
           f"{_num(stats['accept_ms'], '{:.0f}')} / {_num(stats['accept_cpu_ms'], '{:.0f}')}",
           _num(stats["running_per_s"], "{:.0f}"),
           _num(stats["p50"], "{:.3f}"), _num(stats["p99"], "{:.3f}"), _num(stats["max"], "{:.3f}"),
           f"{_num(stats['wait_p50'], '{:.3f}')} / {_num(stats['wait_p99'], '{:.3f}')}",
           f"{_num(stats['start_p50'], '{:.3f}')} / {_num(stats['start_p99'], '{:.3f}')}",
           f"{makespan:.1f}", len(run.failed) + stats["not_running"]]
    return row, stats


def _num(value, form: str) -> str:
    return "n/a" if value is None else form.format(value)


@contextlib.contextmanager
def cluster_of(args: argparse.Namespace, specs: list[AgentSpec], work_dir: Path) -> Iterator[str]:
    """The embedded cluster the driver talks to, and its master's URL.  ``--cluster process`` (the default) runs
    it as ``scripts/run-local`` and every deployment do, in a process of its own; ``in-process`` shares this
    process (and its GIL) with the driver and the core, so the all-thread profile sees the master and agents."""
    if args.cluster == "in-process":
        with LocalCluster(specs, work_dir=work_dir, allocation_interval=args.allocation_interval) as cluster:
            yield cluster.master_url
        return
    child, master_url = start_cluster_process(
        work_dir, ["--agents", str(args.agents), "--cpus", f"{args.agent_cpus:g}", "--mem", f"{args.agent_mem:g}",
                   "--allocation-interval", f"{args.allocation_interval:g}"], agents=args.agents)
    try:
        yield master_url
    finally:
        child.stop()


def run(args: argparse.Namespace) -> Section:
    section = Section("driver", "2. The driver and the embedded master",
                      "benchmarks/driver_throughput.py " + " ".join(args.argv))
    section.load_before = load()
    started = time.monotonic()
    specs = [AgentSpec(cpus=args.agent_cpus, mem=args.agent_mem, hostname="127.0.0.1") for _ in range(args.agents)]
    sampler = Sampler(interval=0.005) if args.profile else None
    rows, stats = [], {}
    with tempfile.TemporaryDirectory(prefix="airflow-mesos-bench-") as work_dir, \
            cluster_of(args, specs, Path(work_dir)) as master_url:
        passes = [("burst", args.revive_min_interval)] if "burst" in args.modes else []
        if "paced" in args.modes:
            passes += [("paced", interval) for interval in args.paced_revive_intervals]
        for mode, revive_min_interval in passes:
            if sampler is not None:
                sampler.start()
            result = one_pass(master_url, args, mode, revive_min_interval)
            if sampler is not None:
                sampler.stop()
            name = mode if mode == "burst" else f"paced, revive_min_interval {revive_min_interval:g} s"
            row, stats[(mode, revive_min_interval)] = figures_of(result, name)
            rows.append(row)
            if result.failed:
                section.notes.append(f"{mode}: {len(result.failed)} task(s) failed, e.g. "
                                     f"{next(iter(result.failed.values()))}")
    section.tables.append(Table(
        f"{args.tasks} short process tasks over {args.agents} agents ({args.agent_cpus:g} cpus each), "
        f"{args.cpus:g} cpus / {args.mem:g} MiB each, allocation interval {args.allocation_interval:g} s"
        + (f", paced at {args.rate:g}/s" if "paced" in args.modes else "")
        + (", acknowledged on the event thread" if args.sync_acks else ", acknowledged on a thread of their own")
        + f", offers held {args.offer_hold:g} s, "
        + ("the cluster in a process of its own" if args.cluster == "process"
           else "the cluster in the benchmark's process (one GIL for driver, master and agents)"),
        ["mode", "tasks", "ACCEPTs", "tasks/ACCEPT", "accepted/s (driver)", "ms per ACCEPT / driver CPU ms", "RUNNING/s", "p50 s", "p99 s",
         "max s", "to ACCEPT p50/p99 s", "ACCEPT to RUNNING p50/p99 s", "makespan s", "failed/lost"], rows,
        note="accepted/s: tasks in ACCEPT calls over the time spent in those calls; ms per ACCEPT: the wall time of "
             "one call, and the CPU the driver's thread spent in it (encoding, HTTP), the rest being the master's "
             "answer and waiting for the interpreter lock; RUNNING/s: tasks over first "
             "queued to last TASK_RUNNING; latencies: queued to TASK_RUNNING"))
    if ("burst", args.revive_min_interval) in stats:
        s = stats[("burst", args.revive_min_interval)]
        section.figures.append(Figure("driver: launches accepted per second (burst)", s["accepted_per_s"], "tasks/s",
                                      ">= 500/s", None if s["accepted_per_s"] is None
                                      else s["accepted_per_s"] >= TARGET_LAUNCHES_PER_SECOND,
                                      note=f"{s['accept_calls']} ACCEPT calls"))
        section.figures.append(Figure("cluster: TASK_RUNNING per second (burst)", s["running_per_s"], "tasks/s"))
        section.figures.append(Figure("burst: queued-to-RUNNING p50", s["p50"], "s"))
        section.figures.append(Figure("burst: queued-to-RUNNING p99", s["p99"], "s"))
    for interval in args.paced_revive_intervals if "paced" in args.modes else ():
        s = stats[("paced", interval)]
        # The target is the default's to meet; other intervals are there to show what the setting buys.
        is_default = interval == c.CorePolicy().revive_min_interval
        where = f"paced {args.rate:g}/s, revive_min_interval {interval:g} s" + (" (default)" if is_default else "")
        note = (f"allocation interval {args.allocation_interval:g} s; to ACCEPT p99 "
                f"{_num(s['wait_p99'], '{:.2f}')} s")
        section.figures.append(Figure(f"{where}: queued-to-RUNNING p50", s["p50"], "s"))
        if is_default:
            section.figures.append(Figure(f"{where}: queued-to-RUNNING p99", s["p99"], "s", "< 1.5 s",
                                          None if s["p99"] is None else s["p99"] < TARGET_P99_SECONDS, note=note))
        else:
            section.figures.append(Figure(f"{where}: queued-to-RUNNING p99", s["p99"], "s",
                                          note=note + "; for comparison, not the default"))
    if sampler is not None:
        section.tables.append(sampler.table(f"where the time went (samples of every thread, {args.modes})",
                                            top=args.profile_top))
        section.tables.append(sampler.stacks("the most frequent on-CPU stacks"))
    section.seconds = time.monotonic() - started
    section.load_after = load()
    for table in section.tables:
        print_table(table)
    for note in section.notes:
        print(f"  note: {note}")
    print()
    print_figures(section.figures)
    return section


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--agent-cpus", type=float, default=10.0)
    parser.add_argument("--agent-mem", type=float, default=8192.0)
    parser.add_argument("--cpus", type=float, default=0.1)
    parser.add_argument("--mem", type=float, default=32.0)
    parser.add_argument("--rate", type=float, default=100.0, help="tasks queued per second in the paced run")
    parser.add_argument("--modes", nargs="+", choices=["burst", "paced"], default=["burst", "paced"])
    parser.add_argument("--allocation-interval", type=float, default=1.0, help="Mesos' default is 1 s")
    parser.add_argument("--revive-min-interval", type=float, default=0.5,
                        help="[mesos] revive_min_interval of the burst run (the default is 0.5 s)")
    parser.add_argument("--paced-revive-intervals", type=float, nargs="+", default=[2.0, 0.5],
                        help="one paced run per [mesos] revive_min_interval, side by side")
    parser.add_argument("--offer-hold", type=float, default=OFFER_HOLD_SECONDS,
                        help="[mesos] offer_hold_seconds (default: its default, %(default)s)")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--sync-acks", action="store_true",
                        help="acknowledge on the event loop's thread (the executor before its acks thread)")
    parser.add_argument("--cluster", choices=["process", "in-process"], default="process",
                        help="the embedded cluster in a process of its own (default, as deployed) or in this one")
    parser.add_argument("--profile", action="store_true",
                        help="sample every thread of this process and print the hot spots (the master's and "
                             "agents' too with --cluster in-process)")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--json", help="also write the result here (for benchmarks/run_all.py)")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.agents, args.rate = 20, 2, 40.0
    args.argv = argv
    section = run(args)
    if args.json:
        section.write(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
