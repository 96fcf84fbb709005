"""How quickly a task starts on the embedded cluster: offer -> launch -> RUNNING -> FINISHED.

Subscribes our driver to a fresh LocalCluster, packs ``--tasks`` short tasks into
the offers as they arrive (first fit), acknowledges every update, and prints the
latency figures per phase and the throughput.  Prints numbers; asserts nothing.

    scripts/bench                                   # docker tasks, then process tasks
    .venv/bin/python benchmarks/launch_latency.py --kind mesos --tasks 40 --agents 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from airflow_mesos.local import AgentSpec, LocalCluster
from airflow_mesos.mesos import SchedulerDriver, events


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def container(kind: str, image: str | None) -> dict | None:
    if kind == "docker":
        return {"type": "DOCKER", "docker": {"image": image, "network": "NONE"}}
    if kind == "mesos":
        return {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": image}}}}
    return None


def run(args: argparse.Namespace) -> int:
    docker_client, image = None, None
    if args.kind != "process":
        import docker

        from airflow_mesos.local.images import ensure_busybox_image

        docker_client = docker.from_env()
        image = ensure_busybox_image(docker_client)

    specs = [AgentSpec(cpus=args.agent_cpus, mem=args.agent_mem) for _ in range(args.agents)]
    work_dir = Path(tempfile.mkdtemp(prefix="airflow-mesos-bench-"))
    with LocalCluster(specs, work_dir=work_dir, docker_client=docker_client,
                      allocation_interval=args.allocation_interval) as cluster:
        framework = {"user": "root", "name": "launch-latency-benchmark", "failover_timeout": 60.0}
        driver = SchedulerDriver(framework, cluster.master_url)
        t0 = time.monotonic()
        driver.start()
        pending = [f"bench-{i}" for i in range(args.tasks)]
        launched: dict[str, float] = {}
        reached: dict[str, dict[str, float]] = {}
        subscribed_at = first_offer_at = None
        deadline = t0 + args.timeout
        try:
            while len([t for t in reached.values() if "TASK_FINISHED" in t or "TASK_FAILED" in t]) < args.tasks:
                if time.monotonic() > deadline:
                    print(f"timed out after {args.timeout}s", file=sys.stderr)
                    return 1
                try:
                    event = driver.events.get(timeout=0.5)
                except Exception:
                    continue
                now = time.monotonic()
                if isinstance(event, events.Subscribed):
                    subscribed_at = now
                elif isinstance(event, events.Offers):
                    first_offer_at = first_offer_at or now
                    for offer in event.offers:
                        cpus, mem, tasks = offer.cpus, offer.mem, []
                        while pending and cpus >= args.cpus and mem >= args.mem:
                            task_id = pending.pop(0)
                            cpus, mem = cpus - args.cpus, mem - args.mem
                            info = {
                                "name": task_id, "task_id": {"value": task_id}, "agent_id": {"value": offer.agent_id},
                                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": args.cpus}},
                                              {"name": "mem", "type": "SCALAR", "scalar": {"value": args.mem}}],
                                "command": {"shell": True, "value": "echo done"},
                            }
                            if args.kind != "process":
                                info["container"] = container(args.kind, image)
                            tasks.append(info)
                        launched.update({t["task_id"]["value"]: now for t in tasks})
                        driver.launch([offer.id], tasks, refuse_seconds=1.0)
                elif isinstance(event, events.Update):
                    status = event.status
                    reached.setdefault(status.task_id, {}).setdefault(status.state, now)
                    if status.uuid:
                        driver.acknowledge(status)
            makespan = time.monotonic() - t0
        finally:
            driver.stop(failover=False)

    failed = [t for t, states in reached.items() if "TASK_FAILED" in states]
    phases = {
        "launch -> STARTING": [reached[t]["TASK_STARTING"] - launched[t] for t in launched if "TASK_STARTING" in reached.get(t, {})],
        "launch -> RUNNING": [reached[t]["TASK_RUNNING"] - launched[t] for t in launched if "TASK_RUNNING" in reached.get(t, {})],
        "launch -> FINISHED": [reached[t]["TASK_FINISHED"] - launched[t] for t in launched if "TASK_FINISHED" in reached.get(t, {})],
    }
    print(f"kind={args.kind} tasks={args.tasks} agents={args.agents} allocation_interval={args.allocation_interval}s "
          f"task={args.cpus} cpus/{args.mem:g} MB")
    print(f"  subscribe -> SUBSCRIBED   {1000 * (subscribed_at - t0):8.1f} ms")
    print(f"  subscribe -> first offer  {1000 * (first_offer_at - t0):8.1f} ms")
    for name, values in phases.items():
        if values:
            print(f"  {name:<22} p50 {1000 * statistics.median(values):8.1f} ms   p95 {1000 * percentile(values, 0.95):8.1f} ms"
                  f"   max {1000 * max(values):8.1f} ms")
    print(f"  makespan {makespan:.2f} s, {args.tasks / makespan:.1f} tasks/s, failed {len(failed)}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=["docker", "mesos", "process"], default="docker")
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--agents", type=int, default=1)
    parser.add_argument("--agent-cpus", type=float, default=4.0)
    parser.add_argument("--agent-mem", type=float, default=4096.0)
    parser.add_argument("--cpus", type=float, default=0.25)
    parser.add_argument("--mem", type=float, default=64.0)
    parser.add_argument("--allocation-interval", type=float, default=1.0, help="Mesos' default is 1 s")
    parser.add_argument("--timeout", type=float, default=300.0)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
