"""How fast the offer matcher places Q demands into O offers, and how full it packs them.

Builds O offers through the real parser (``parse_offer`` on v1 JSON: mixed agent sizes, a few
GPU agents, three racks, part of the cpus reserved for the role) and Q demands drawn from a
seeded catalogue of typical Airflow task shapes (a tenth with constraints: UNIQUE hostname,
GROUP_BY rack, MAX_PER hostname, LIKE rack; a few GPU tasks), then times
:func:`airflow_mesos.executor.matcher.match` for every Q x O and prints the best of
``--repeat`` runs, the tasks placed and the share of offered cpus used.  Prints figures;
asserts nothing.

    .venv/bin/python benchmarks/matcher.py
    .venv/bin/python benchmarks/matcher.py --demands 10000 --offers 1000 --repeat 5
"""

from __future__ import annotations

import argparse
import random
import time

from airflow_mesos.executor.constraints import parse_constraints
from airflow_mesos.executor.matcher import PlacedTask, TaskDemand, match
from airflow_mesos.mesos.events import parse_offer

ROLE = "airflow"
# (cpus, mem MiB, disk MiB, gpus): what Airflow tasks usually ask for.
SHAPES = [(0.25, 256, 0, 0), (0.5, 512, 0, 0), (1, 1024, 0, 0), (1, 2048, 1024, 0), (2, 4096, 0, 0),
          (0.1, 128, 0, 0), (4, 8192, 4096, 0), (1, 4096, 0, 1)]
SHAPE_WEIGHTS = [20, 25, 25, 10, 10, 6, 3, 1]
CONSTRAINTS = [
    parse_constraints([["hostname", "UNIQUE"]]),
    parse_constraints([["rack", "GROUP_BY", 3]]),
    parse_constraints([["hostname", "MAX_PER", 4]]),
    parse_constraints([["rack", "LIKE", "r[12]"]]),
]


def scalar(name: str, value: float, role: str | None = None) -> dict:
    resource = {"name": name, "type": "SCALAR", "scalar": {"value": value}}
    if role is not None:
        resource["reservations"] = [{"type": "STATIC", "role": role}]
    return resource


def make_offers(count: int, rng: random.Random) -> list:
    offers = []
    for i in range(count):
        cpus, mem = rng.choice([(4, 16384), (8, 32768), (16, 65536), (2, 8192)])
        gpu_agent = i % 25 == 7
        resources = [scalar("cpus", cpus - 1), scalar("cpus", 1, ROLE), scalar("mem", mem), scalar("disk", 100000)]
        if gpu_agent:
            resources.append(scalar("gpus", 2))
        offers.append(parse_offer({
            "id": {"value": f"O{i}"}, "framework_id": {"value": "F"}, "agent_id": {"value": f"S{i}"},
            "hostname": f"agent{i}.example", "allocation_info": {"role": ROLE}, "resources": resources,
            "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": f"r{i % 3 + 1}"}}],
        }))
    return offers


def make_demands(count: int, rng: random.Random) -> list[TaskDemand]:
    demands = []
    for i in range(count):
        cpus, mem, disk, gpus = rng.choices(SHAPES, SHAPE_WEIGHTS)[0]
        constrained = rng.random() < 0.1
        demands.append(TaskDemand(
            task_id=f"T{i}", group=f"dag{i % 50}.task{i % 7}", priority=rng.choice([1, 1, 1, 5, 10]), sequence=i,
            cpus=cpus, mem=mem, disk=disk, gpus=gpus, role=ROLE,
            constraints=rng.choice(CONSTRAINTS) if constrained else ()))
    return demands


def run(args: argparse.Namespace) -> None:
    print(f"{'demands':>8} {'offers':>7} {'best ms':>9} {'placed':>7} {'cpus used':>10}")
    for q in args.demands:
        for o in args.offers:
            rng = random.Random(f"{args.seed}-{q}-{o}")
            offers = make_offers(o, rng)
            demands = make_demands(q, rng)
            placed = [PlacedTask(f"dag{i}.task0", offers[i].agent_id, offers[i].hostname, offers[i].attributes)
                      for i in range(min(o, 20))]
            best = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                result = match(demands, offers, placed)
                best = min(best, time.perf_counter() - start)
            offered = sum(offer.cpus for offer in offers)
            used = sum(share.amount for launch in result.launches for task in launch.tasks
                       for share in task.resources if share.name == "cpus")
            placed_count = sum(len(launch.tasks) for launch in result.launches)
            print(f"{q:>8} {o:>7} {best * 1000:>9.1f} {placed_count:>7} {used / offered:>10.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demands", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--offers", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the best is printed")
    parser.add_argument("--seed", default="matcher")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
