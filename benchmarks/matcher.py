"""How fast the offer matcher places Q demands into O offers, how full it packs them, against two baselines.

Builds O offers through the real parser (``parse_offer`` on v1 JSON: mixed agent sizes, a few
GPU agents, three racks, part of the cpus reserved for the role) and Q demands drawn from a
seeded catalogue of typical Airflow task shapes (a tenth with constraints: UNIQUE hostname,
GROUP_BY rack, MAX_PER hostname, LIKE rack; a few GPU tasks), then times
:func:`airflow_mesos.executor.matcher.match` for every Q x O (best of ``--repeat`` runs, wall and
CPU time) and, on the same input in the same run:

- ``one per offer``: what avmesos-airflow-provider 0.4.0 does -- each offer gets the first waiting
  task (in priority order) that fits it, one task per offer per cycle;
- ``first fit``: each task, in priority order, into the first offer with enough left, many per offer.

The baselines look at roles and resources only, not at constraints, which can only let them place
more.  Then the growth curve: the matcher's time for Q doubling at O = 1,000 and for O doubling at
Q = 10,000, divided by ``Q log2 Q + O``; a flat or falling column means growth no worse than that.
Then the same 10,000 x 1,000 cycle with warm workers: every demand without gpus runs in one of three
warm executors (0.1 cpus, 256 MiB each; the queue comes in bursts of 500 tasks of one kind, as DAG
runs queue them), and every other offer's agent already runs one of them (``executor_ids``), so the
matcher counts the executor's resources where it must start it and not where it runs.
Prints figures; asserts nothing.

    .venv/bin/python benchmarks/matcher.py
    .venv/bin/python benchmarks/matcher.py --demands 10000 --offers 1000 --repeat 5
    .venv/bin/python benchmarks/matcher.py --quick           # tiny sizes (the test suite's smoke run)
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Figure, Section, Table, load, print_figures, print_table  # noqa: E402

from airflow_mesos.executor.constraints import parse_constraints  # noqa: E402
from airflow_mesos.executor.matcher import ExecutorDemand, PlacedTask, TaskDemand, match  # noqa: E402
from airflow_mesos.mesos.events import parse_offer  # noqa: E402

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
TARGET_MS = 50.0
TARGET_CPU_SHARE = 0.95
_DIMS = ("cpus", "mem", "disk", "gpus")


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


def cycle(q: int, o: int, seed: str) -> tuple[list, list[TaskDemand], list[PlacedTask]]:
    rng = random.Random(f"{seed}-{q}-{o}")
    offers = make_offers(o, rng)
    demands = make_demands(q, rng)
    placed = [PlacedTask(f"dag{i}.task0", offers[i].agent_id, offers[i].hostname, offers[i].attributes)
              for i in range(min(o, 20))]
    return offers, demands, placed


WARM_EXECUTORS = [ExecutorDemand(f"airflow-warm-mesos-{k}", 0.1, 256.0) for k in range(3)]
WARM_BURST = 500


def warm_cycle(offers: list, demands: list[TaskDemand]) -> tuple[list, list[TaskDemand]]:
    """The cycle with warm workers (see the module docstring)."""
    warm_demands = [TaskDemand(task_id=d.task_id, group=d.group, priority=d.priority, sequence=d.sequence,
                               cpus=d.cpus, mem=d.mem, disk=d.disk, gpus=d.gpus, role=d.role, constraints=d.constraints,
                               executor=None if d.gpus else WARM_EXECUTORS[(i // WARM_BURST) % len(WARM_EXECUTORS)])
                    for i, d in enumerate(demands)]
    warm_offers = []
    for i, offer in enumerate(offers):
        raw = dict(offer.raw)
        raw["executor_ids"] = [{"value": WARM_EXECUTORS[i % len(WARM_EXECUTORS)].executor_id}] if i % 2 else []
        warm_offers.append(parse_offer(raw))
    return warm_offers, warm_demands


# --- baselines (roles and resources only) ---------------------------------------------------------


def _capacity(offer) -> list[float]:
    role = offer.role or "*"
    by_role = offer.scalars_by_role
    return [by_role.get((d, "*"), 0.0) + (by_role.get((d, role), 0.0) if role != "*" else 0.0) for d in _DIMS]


def _need(demand: TaskDemand) -> tuple[float, ...]:
    return (demand.cpus, demand.mem, demand.disk, demand.gpus)


def _priority_order(demands: list[TaskDemand]) -> list[TaskDemand]:
    return sorted(demands, key=lambda d: (-d.priority, d.sequence))


def _holds(free: list[float], need: tuple[float, ...]) -> bool:
    # A thousandth of slack, as Mesos counts scalars in fixed point.
    return all(f + 1e-9 >= n for f, n in zip(free, need, strict=True))


def one_task_per_offer(demands: list[TaskDemand], offers: list) -> list[tuple[TaskDemand, int]]:
    """Each offer, in the order they came, takes the first waiting task (priority order) that fits it."""
    by_shape: dict[tuple, list[TaskDemand]] = {}
    for demand in _priority_order(demands):
        by_shape.setdefault((demand.role, _need(demand)), []).append(demand)
    heads = {shape: 0 for shape in by_shape}
    rank = {id(d): i for i, d in enumerate(_priority_order(demands))}
    placed = []
    for j, offer in enumerate(offers):
        free, role = _capacity(offer), offer.role or "*"
        best = None
        for shape, queue in by_shape.items():
            if heads[shape] < len(queue) and shape[0] == role and _holds(free, shape[1]):
                candidate = queue[heads[shape]]
                if best is None or rank[id(candidate)] < rank[id(best[1])]:
                    best = (shape, candidate)
        if best is not None:
            heads[best[0]] += 1
            placed.append((best[1], j))
    return placed


def first_fit(demands: list[TaskDemand], offers: list) -> list[tuple[TaskDemand, int]]:
    """Each task, in priority order, into the first offer (in offer order) that still holds it."""
    free = [_capacity(offer) for offer in offers]
    roles = [offer.role or "*" for offer in offers]
    # Resources only shrink within a cycle: an offer that cannot hold a shape now never will, so each
    # shape remembers where its search may start (what any first fit would do to stay fast).
    start: dict[tuple, int] = {}
    placed = []
    for demand in _priority_order(demands):
        need, shape = _need(demand), (demand.role, _need(demand))
        j = start.get(shape, 0)
        while j < len(offers) and not (roles[j] == demand.role and _holds(free[j], need)):
            j += 1
        start[shape] = j
        if j < len(offers):
            for k in range(4):
                free[j][k] -= need[k]
            placed.append((demand, j))
    return placed


# --- measuring ------------------------------------------------------------------------------------


def timed(fn, repeat: int, *args) -> tuple[float, float, object]:
    """Best wall and best CPU seconds of ``repeat`` runs of ``fn(*args)``, and the last result."""
    best_wall = best_cpu = float("inf")
    result = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn(*args)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, result


def shares(pairs: list[tuple[TaskDemand, int]], offers: list) -> tuple[float, float]:
    offered_cpus = sum(_capacity(o)[0] for o in offers) or 1.0
    offered_mem = sum(_capacity(o)[1] for o in offers) or 1.0
    return (sum(d.cpus for d, _ in pairs) / offered_cpus, sum(d.mem for d, _ in pairs) / offered_mem)


def matcher_pairs(result, demands: list[TaskDemand], offers: list) -> list[tuple[TaskDemand, int]]:
    by_task = {d.task_id: d for d in demands}
    index = {o.id: j for j, o in enumerate(offers)}
    return [(by_task[a.task_id], index[launch.offer_id]) for launch in result.launches for a in launch.tasks]


def grid(args: argparse.Namespace, section: Section) -> None:
    rows, baseline_rows, large_queue_cpu_shares, target_cell = [], [], [], None
    for q in args.demands:
        for o in args.offers:
            offers, demands, placed = cycle(q, o, args.seed)
            wall, cpu, result = timed(match, args.repeat, demands, offers, placed)
            ours = matcher_pairs(result, demands, offers)
            per_offer_wall, _, per_offer = timed(one_task_per_offer, 1, demands, offers)
            ff_wall, _, ff = timed(first_fit, 1, demands, offers)
            demanded = sum(d.cpus for d in demands) / (sum(_capacity(x)[0] for x in offers) or 1.0)
            (c_ours, m_ours), (c_one, m_one), (c_ff, m_ff) = (shares(p, offers) for p in (ours, per_offer, ff))
            rows.append([q, o, f"{demanded:.1f}x", f"{wall * 1000:.1f}", f"{cpu * 1000:.1f}", len(ours),
                         f"{c_ours:.1%}", f"{m_ours:.1%}"])
            baseline_rows.append([q, o, len(per_offer), f"{c_one:.1%}", f"{m_one:.1%}", f"{per_offer_wall * 1000:.1f}",
                                  len(ff), f"{c_ff:.1%}", f"{m_ff:.1%}", f"{ff_wall * 1000:.1f}"])
            if demanded >= 1.0:
                large_queue_cpu_shares.append((q, o, c_ours, c_one, c_ff))
            if (q, o) == (10000, 1000):
                target_cell = (wall, cpu)
                warm_offers, warm_demands = warm_cycle(offers, demands)
                warm_wall, warm_cpu, warm_result = timed(match, args.repeat, warm_demands, warm_offers, placed)
                started = sum(a.launches_executor for launch in warm_result.launches for a in launch.tasks)
                warm_placed = sum(len(launch.tasks) for launch in warm_result.launches)
    section.tables.append(Table(
        f"the matcher: best of {args.repeat}", ["Q", "O", "asked/offered cpus", "ms", "cpu ms", "placed",
                                                "cpus used", "mem used"], rows,
        note="'asked/offered cpus': the cpus the queue asks for over the cpus the offers hold"))
    section.tables.append(Table(
        "baselines on the same input (one run each)",
        ["Q", "O", "1/offer placed", "1/offer cpus", "1/offer mem", "1/offer ms",
         "first fit placed", "first fit cpus", "first fit mem", "first fit ms"], baseline_rows,
        note="1/offer: one task per offer per cycle (avmesos-airflow-provider); both check roles and resources, "
             "not constraints"))
    if target_cell is not None:
        wall, cpu = target_cell
        # Judged on CPU time: on a shared machine the wall time also counts the waits for a free core.
        section.figures.append(Figure("matcher: 10,000 demands into 1,000 offers (CPU time)", cpu * 1000, "ms",
                                      "< 50 ms", cpu * 1000 < TARGET_MS,
                                      note=f"wall {wall * 1000:.1f} ms; best of {args.repeat}"))
        section.figures.append(Figure(
            "matcher: the same with warm workers (executor resources counted per agent)", warm_cpu * 1000, "ms",
            "< 50 ms", warm_cpu * 1000 < TARGET_MS,
            note=f"wall {warm_wall * 1000:.1f} ms; {warm_placed} placed, {started} executors started; 3 executor "
                 "kinds in bursts of 500, half the agents running one"))
    if large_queue_cpu_shares:
        worst = min(large_queue_cpu_shares, key=lambda cell: cell[2])
        section.figures.append(Figure(
            "matcher: share of offered cpus used (queue >= offers)", worst[2] * 100, "%", ">= 95 %",
            worst[2] >= TARGET_CPU_SHARE,
            note=f"lowest cell Q={worst[0]} O={worst[1]}; there one-per-offer {worst[3]:.1%}, first fit {worst[4]:.1%}"))
        big = max(large_queue_cpu_shares, key=lambda cell: (cell[0], cell[1]))
        section.figures.append(Figure(
            f"one task per offer (avmesos): cpus used, Q={big[0]} O={big[1]}", big[3] * 100, "%",
            note=f"the matcher {big[2]:.1%}, first fit {big[4]:.1%} in the same cell"))


def growth(args: argparse.Namespace, section: Section) -> None:
    rows, per_unit = [], []
    series = [(q, args.growth_offers) for q in args.growth_demands] + \
             [(args.growth_fixed_demands, o) for o in args.growth_offer_counts]
    for q, o in series:
        offers, demands, placed = cycle(q, o, args.seed + "-growth")
        _, cpu, result = timed(match, args.repeat, demands, offers, placed)
        units = q * math.log2(max(q, 2)) + o
        per_unit.append(((q, o), cpu / units))
        rows.append([q, o, f"{cpu * 1000:.2f}", f"{cpu / units * 1e9:.0f}", sum(len(x.tasks) for x in result.launches)])
    section.tables.append(Table("growth: matcher CPU time for Q doubling (O fixed), then O doubling (Q fixed)",
                                ["Q", "O", "cpu ms", "ns per (Q log2 Q + O)", "placed"], rows,
                                note="flat or falling ns per unit: no worse than O(Q log Q + O)"))
    if len(per_unit) >= 2:
        # Judged on the larger half of each series, where fixed costs no longer dominate.
        q_series = per_unit[:len(args.growth_demands)]
        o_series = per_unit[len(args.growth_demands):]
        ratios = []
        for s in (q_series, o_series):
            if len(s) >= 2:
                half = s[len(s) // 2:]
                ratios.append(max(c for _, c in half) / min(c for _, c in half))
        worst = max(ratios) if ratios else None
        section.figures.append(Figure(
            "matcher: growth, largest / smallest ns per (Q log2 Q + O)", worst, "x", "<= 2 x",
            None if worst is None else worst <= 2.0,
            note="over the larger half of each series; 1 means exactly Q log Q + O"))


def run(args: argparse.Namespace) -> Section:
    section = Section("matcher", "1. The matcher alone (pure code)", "benchmarks/matcher.py " + " ".join(args.argv))
    section.load_before = load()
    started = time.monotonic()
    grid(args, section)
    if not args.no_growth:
        growth(args, section)
    section.seconds = time.monotonic() - started
    section.load_after = load()
    for table in section.tables:
        print_table(table)
    print()
    print_figures(section.figures)
    return section


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demands", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--offers", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=5, help="runs per cell; the best is printed")
    parser.add_argument("--seed", default="matcher")
    parser.add_argument("--growth-demands", type=int, nargs="+", default=[625, 1250, 2500, 5000, 10000, 20000])
    parser.add_argument("--growth-offers", type=int, default=1000)
    parser.add_argument("--growth-fixed-demands", type=int, default=10000)
    parser.add_argument("--growth-offer-counts", type=int, nargs="+", default=[125, 250, 500, 1000, 2000])
    parser.add_argument("--no-growth", action="store_true", help="skip the growth curve")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run each (a smoke test)")
    parser.add_argument("--json", help="also write the result here (for benchmarks/run_all.py)")
    args = parser.parse_args(argv)
    if args.quick:
        args.demands, args.offers, args.repeat = [20, 200], [5, 50], 1
        args.growth_demands, args.growth_offers = [50, 100, 200], 20
        args.growth_fixed_demands, args.growth_offer_counts = 200, [10, 20, 40]
    args.argv = argv
    section = run(args)
    if args.json:
        section.write(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
