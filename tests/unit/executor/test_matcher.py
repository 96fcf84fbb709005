"""The offer matcher: packing, priority, roles, constraints, GPU agents and the reasons tasks wait.

Offers are built from v1 JSON through the real parser (``parse_offer``).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from airflow_mesos.executor.constraints import parse_constraints
from airflow_mesos.executor.matcher import (
    Assignment,
    MatchInputError,
    MatchResult,
    OfferLaunch,
    PlacedTask,
    ResourceShare,
    TaskDemand,
    attribute_text,
    match,
)
from airflow_mesos.mesos.events import parse_offer

WAITING = ("waiting for resources: the offers that fit were used by tasks ahead of it "
           "(higher priority or queued earlier)")


# --- builders --------------------------------------------------------------------------------


def scalar(name, value, reserved_for=None):
    resource = {"name": name, "type": "SCALAR", "scalar": {"value": value}}
    if reserved_for is not None:
        resource["reservations"] = [{"type": "STATIC", "role": reserved_for}]
    return resource


def attribute(name, value):
    if isinstance(value, str):
        return {"name": name, "type": "TEXT", "text": {"value": value}}
    if isinstance(value, (int, float)):
        return {"name": name, "type": "SCALAR", "scalar": {"value": value}}
    if isinstance(value, set):
        return {"name": name, "type": "SET", "set": {"item": sorted(value)}}
    return {"name": name, "type": "RANGES", "ranges": {"range": [{"begin": b, "end": e} for b, e in value]}}


def offer(offer_id, *, cpus=4.0, mem=4096.0, disk=0.0, gpus=0.0, host=None, role=None, reserved=None, attrs=None,
          cpu_parts=None):
    """One parsed offer.  ``reserved`` maps (name, role) to an amount reserved for that role;
    ``cpu_parts`` splits the unreserved cpus over several resource entries."""
    resources = [scalar("cpus", part) for part in cpu_parts] if cpu_parts else ([scalar("cpus", cpus)] if cpus else [])
    resources += [scalar(name, value) for name, value in (("mem", mem), ("disk", disk), ("gpus", gpus)) if value]
    resources += [scalar(name, value, res_role) for (name, res_role), value in (reserved or {}).items()]
    data = {
        "id": {"value": offer_id}, "framework_id": {"value": "F-1"}, "agent_id": {"value": f"S-{offer_id}"},
        "hostname": host or f"{offer_id}.example", "resources": resources,
        "attributes": [attribute(name, value) for name, value in (attrs or {}).items()],
    }
    if role is not None:
        data["allocation_info"] = {"role": role}
    return parse_offer(json.loads(json.dumps(data)))


def task(task_id, cpus=1.0, mem=128.0, disk=0.0, *, gpus=0.0, priority=1, sequence=0, group=None, role="*",
         constraints=()):
    return TaskDemand(task_id=task_id, group=group or f"dag.{task_id}", priority=priority, sequence=sequence,
                      cpus=cpus, mem=mem, disk=disk, gpus=gpus, role=role,
                      constraints=parse_constraints(list(constraints)))


def running(group, an_offer):
    """A task of ``group`` already running on the agent of ``an_offer``."""
    return PlacedTask(group=group, agent_id=an_offer.agent_id, hostname=an_offer.hostname,
                      attributes=an_offer.attributes)


def where(result: MatchResult) -> dict[str, str]:
    """task_id -> offer id of every placed task."""
    return {a.task_id: launch.offer_id for launch in result.launches for a in launch.tasks}


def per_offer(result: MatchResult) -> dict[str, list[str]]:
    return {launch.offer_id: [a.task_id for a in launch.tasks] for launch in result.launches}


# --- packing ---------------------------------------------------------------------------------


def test_packs_several_tasks_into_one_offer():
    result = match([task(f"t{i}", cpus=1, mem=1024) for i in range(4)], [offer("o1", cpus=4, mem=4096)])
    assert result == MatchResult(
        launches=(OfferLaunch("o1", "S-o1", "o1.example", tuple(
            Assignment(f"t{i}", (ResourceShare("cpus", 1.0, "*"), ResourceShare("mem", 1024.0, "*")))
            for i in range(4))),),
        unused_offer_ids=(),
        waiting={},
    )


def test_packs_across_offers_and_lists_what_waits():
    offers = [offer("o1", cpus=2), offer("o2", cpus=2), offer("o3", cpus=2)]
    result = match([task(f"t{i}") for i in range(5)], offers)
    placed = per_offer(result)
    assert sorted(len(tasks) for tasks in placed.values()) == [1, 2, 2]
    assert sum(len(tasks) for tasks in placed.values()) == 5
    assert result.waiting == {}


def test_best_fit_uses_the_tightest_offer_and_keeps_big_offers_whole():
    offers = [offer("big", cpus=8, mem=8192), offer("small", cpus=2, mem=2048)]
    demands = [task("small1", priority=5), task("small2", priority=5), task("large", cpus=8, mem=8192, priority=1)]
    result = match(demands, offers)
    assert where(result) == {"small1": "small", "small2": "small", "large": "big"}


def test_best_fit_looks_at_mem_when_cpus_tie():
    offers = [offer("roomy", cpus=2, mem=8192), offer("tight", cpus=2, mem=1024)]
    assert where(match([task("t", cpus=2, mem=1024)], offers)) == {"t": "tight"}


def test_unused_offers_are_listed_in_offer_order():
    offers = [offer("o1", cpus=1), offer("o2", cpus=8), offer("o3", cpus=1), offer("o4", cpus=1)]
    result = match([task("t", cpus=4)], offers)
    assert [launch.offer_id for launch in result.launches] == ["o2"]
    assert result.unused_offer_ids == ("o1", "o3", "o4")


def test_no_demands_leaves_every_offer_unused():
    assert match([], [offer("o1"), offer("o2")]) == MatchResult((), ("o1", "o2"), {})


# --- priority --------------------------------------------------------------------------------


def test_a_big_high_priority_task_goes_first_and_small_low_ones_take_the_rest():
    demands = [task(f"small{i}", cpus=1, priority=1, sequence=i) for i in range(4)]
    demands.append(task("big", cpus=4, priority=10, sequence=99))
    result = match(demands, [offer("o1", cpus=6)])
    assert where(result) == {"big": "o1", "small0": "o1", "small1": "o1"}
    assert per_offer(result)["o1"][0] == "big"
    assert result.waiting == {"small2": WAITING, "small3": WAITING}


def test_lower_priority_tasks_use_what_a_higher_one_cannot():
    demands = [task("huge", cpus=8, priority=10), task("small", cpus=1, priority=1)]
    result = match(demands, [offer("o1", cpus=4)])
    assert where(result) == {"small": "o1"}
    assert result.waiting == {"huge": "needs 8 cpus; the largest offer has 4"}


@pytest.mark.parametrize(
    ("demands", "placed"),
    [
        # Equal priority: the lower sequence goes first, whatever the input order.
        ([task("late", sequence=2), task("early", sequence=1)], "early"),
        # Higher priority beats a lower sequence.
        ([task("first", sequence=1, priority=1), task("urgent", sequence=9, priority=2)], "urgent"),
        # Equal priority and sequence: input order decides.
        ([task("a", sequence=1), task("b", sequence=1)], "a"),
    ],
)
def test_priority_then_sequence_decide_who_gets_the_last_cpu(demands, placed):
    result = match(demands, [offer("o1", cpus=1)])
    assert list(where(result)) == [placed]


def test_waiting_is_listed_in_placement_order():
    demands = [task("c", cpus=9, priority=1), task("a", cpus=9, priority=3), task("b", cpus=9, priority=2)]
    assert list(match(demands, [offer("o1")]).waiting) == ["a", "b", "c"]


# --- fixed point -----------------------------------------------------------------------------


def test_fixed_point_sums_fit_exactly():
    # 0.1 + 0.2 cpus offered as two resources is 0.3, and three 0.1-cpu tasks fill it.
    the_offer = offer("o1", cpu_parts=[0.1, 0.2], mem=0.3)
    assert the_offer.cpus == 0.3
    result = match([task(f"t{i}", cpus=0.1, mem=0.1) for i in range(4)], [the_offer])
    assert where(result) == {"t0": "o1", "t1": "o1", "t2": "o1"}
    assert {share.amount for a in result.launches[0].tasks for share in a.resources} == {0.1}
    assert list(result.waiting) == ["t3"]


def test_fixed_point_two_tasks_of_point_one_and_point_two():
    result = match([task("a", cpus=0.1), task("b", cpus=0.2)], [offer("o1", cpus=0.3)])
    assert where(result) == {"a": "o1", "b": "o1"}


# --- roles -----------------------------------------------------------------------------------


def test_reserved_resources_are_taken_first_then_unreserved():
    the_offer = offer("o1", role="airflow", cpus=3, mem=1024, reserved={("cpus", "airflow"): 1})
    result = match([task("t", cpus=2, mem=512, role="airflow")], [the_offer])
    assert result.launches[0].tasks == (Assignment("t", (
        ResourceShare("cpus", 1.0, "airflow"), ResourceShare("cpus", 1.0, "*"), ResourceShare("mem", 512.0, "*"))),)


def test_reserved_resources_run_out_before_unreserved_ones_are_touched():
    the_offer = offer("o1", role="airflow", cpus=2, reserved={("cpus", "airflow"): 1.5})
    result = match([task("a", role="airflow"), task("b", role="airflow")], [the_offer])
    shares = {a.task_id: [s for s in a.resources if s.name == "cpus"] for a in result.launches[0].tasks}
    assert shares == {"a": [ResourceShare("cpus", 1.0, "airflow")],
                      "b": [ResourceShare("cpus", 0.5, "airflow"), ResourceShare("cpus", 0.5, "*")]}


def test_resources_reserved_for_another_role_are_not_used():
    the_offer = offer("o1", role="airflow", cpus=1, reserved={("cpus", "spark"): 4})
    result = match([task("t", cpus=2, role="airflow")], [the_offer])
    assert result.waiting == {"t": "needs 2 cpus; the largest offer has 1"}


def test_a_demand_uses_only_offers_allocated_to_its_role():
    offers = [offer("o-airflow", role="airflow", cpus=1), offer("o-gpu", role="gpu", cpus=8)]
    result = match([task("a", cpus=1, role="airflow"), task("b", cpus=1, role="airflow")], offers)
    assert where(result) == {"a": "o-airflow"}
    assert result.waiting == {"b": WAITING}
    assert result.unused_offer_ids == ("o-gpu",)


def test_an_offer_without_allocation_info_has_the_default_role():
    offers = [offer("o1")]
    assert where(match([task("t", role="airflow")], offers, default_role="airflow")) == {"t": "o1"}
    assert where(match([task("t")], offers)) == {"t": "o1"}  # the default default is "*"
    assert match([task("t", role="airflow")], offers).waiting == {
        "t": "no offers for role 'airflow' (offers this cycle are for role '*')"}


# --- GPU agents ------------------------------------------------------------------------------


def test_gpu_agents_are_kept_for_gpu_tasks():
    # Best fit alone would put the cpu task on the smaller GPU agent.
    offers = [offer("gpu-agent", cpus=2, mem=4096, gpus=1), offer("cpu-agent", cpus=8, mem=16384)]
    demands = [task("etl", cpus=1, mem=1024, priority=10), task("train", cpus=2, mem=2048, gpus=1, priority=1)]
    result = match(demands, offers)
    assert where(result) == {"etl": "cpu-agent", "train": "gpu-agent"}
    gpu_share = [s for s in result.launches[0].tasks[0].resources if s.name == "gpus"]
    assert gpu_share == [ResourceShare("gpus", 1.0, "*")]


def test_a_cpu_task_uses_a_gpu_agent_when_nothing_else_fits():
    offers = [offer("gpu-agent", cpus=8, gpus=2), offer("cpu-agent", cpus=1)]
    assert where(match([task("etl", cpus=4)], offers)) == {"etl": "gpu-agent"}


def test_a_gpu_agent_whose_gpus_are_taken_is_an_ordinary_agent_again():
    offers = [offer("cpu-agent", cpus=4), offer("gpu-agent", cpus=2, gpus=1)]
    demands = [task("train", cpus=1, gpus=1, priority=9), task("etl", cpus=1, priority=1)]
    # With its gpu gone the GPU agent (1 cpu left) is the best fit for the cpu task.
    assert where(match(demands, offers)) == {"train": "gpu-agent", "etl": "gpu-agent"}


# --- constraints: every operator against three agents ----------------------------------------

AGENTS = {
    "a": {"rack": "r1", "level": 2.0, "tags": {"ssd", "x"}, "ids": [(1, 2), (5, 5)]},
    "b": {"rack": "r2", "level": 2.5},
    "c": {},
}


@pytest.mark.parametrize(
    ("constraint", "accepted"),
    [
        (["hostname", "IS", "a.example"], {"a"}),
        (["@hostname", "IS", "b.example"], {"b"}),
        (["hostname", "LIKE", "[ab]\\.example"], {"a", "b"}),
        (["hostname", "LIKE", "a"], set()),  # the regex must match the whole value
        (["hostname", "UNLIKE", "a.*"], {"b", "c"}),
        (["hostname", "UNIQUE"], {"a", "b", "c"}),
        (["rack", "IS", "r1"], {"a"}),
        (["rack", "LIKE", "r[12]"], {"a", "b"}),
        (["rack", "LIKE", "r"], set()),
        (["rack", "UNLIKE", "r1"], {"b", "c"}),  # an agent without the attribute passes UNLIKE
        (["rack", "CLUSTER", "r2"], {"b"}),
        # An agent without the attribute fails every other operator.
        (["rack", "CLUSTER"], {"a", "b"}),
        (["rack", "UNIQUE"], {"a", "b"}),
        (["rack", "MAX_PER", 2], {"a", "b"}),
        (["rack", "GROUP_BY"], {"a", "b"}),
        (["zone", "IS", "z1"], set()),
        # SCALAR attributes compare in text form: 2.0 is "2".
        (["level", "IS", 2], {"a"}),
        (["level", "IS", "2"], {"a"}),
        (["level", "IS", "2.0"], {"a"}),  # IS also takes the same number
        (["level", "IS", 2.5], {"b"}),
        (["level", "LIKE", "2"], {"a"}),
        (["level", "LIKE", "2\\.0"], set()),
        (["level", "LIKE", "2\\.5"], {"b"}),
        (["level", "UNLIKE", "2"], {"b", "c"}),
        # SET and RANGES attributes in Mesos' text form.
        (["tags", "IS", "{ssd,x}"], {"a"}),
        (["ids", "LIKE", "\\[1-2,5-5\\]"], {"a"}),
    ],
)
def test_each_operator_accepts_the_agents_marathon_would(constraint, accepted):
    got = set()
    for name, attrs in AGENTS.items():
        result = match([task("t", constraints=[constraint])], [offer(name, host=f"{name}.example", attrs=attrs)])
        if result.launches:
            got.add(name)
    assert got == accepted


@pytest.mark.parametrize(
    ("value", "text"),
    [(2.0, "2"), (2.5, "2.5"), (0.1, "0.1"), (1.23456, "1.235"), ("r1", "r1"), (frozenset({"b", "a"}), "{a,b}"),
     (((1, 2), (5, 9)), "[1-2,5-9]"), (None, None)],
)
def test_attribute_text(value, text):
    assert attribute_text(value) == text


def test_constraints_all_have_to_hold():
    offers = [offer("a", attrs={"rack": "r1", "zone": "z1"}), offer("b", attrs={"rack": "r1", "zone": "z2"}),
              offer("c", attrs={"rack": "r2", "zone": "z2"})]
    result = match([task("t", constraints=[["rack", "IS", "r1"], ["zone", "IS", "z2"]])], offers)
    assert where(result) == {"t": "b"}


# --- counting constraints ----------------------------------------------------------------------


def racks(*sizes):
    return [offer(f"r{i}", cpus=size, mem=65536, attrs={"rack": f"r{i}"}) for i, size in enumerate(sizes, 1)]


def test_group_by_spreads_over_three_racks():
    demands = [task(f"t{i}", group="dag.load", sequence=i, constraints=[["rack", "GROUP_BY"]]) for i in range(6)]
    result = match(demands, racks(8, 8, 8))
    assert {offer_id: len(tasks) for offer_id, tasks in per_offer(result).items()} == {"r1": 2, "r2": 2, "r3": 2}


def test_group_by_without_it_best_fit_stacks():
    demands = [task(f"t{i}", group="dag.load", sequence=i) for i in range(6)]
    assert {o: len(t) for o, t in per_offer(match(demands, racks(8, 8, 8))).items()} == {"r1": 6}


def test_group_by_counts_running_instances_first():
    offers = racks(8, 8, 8)
    placed = [running("dag.load", offers[0]), running("dag.load", offers[0])]
    demands = [task(f"t{i}", group="dag.load", sequence=i, constraints=[["rack", "GROUP_BY"]]) for i in range(4)]
    result = match(demands, offers, placed)
    assert {o: len(t) for o, t in per_offer(result).items()} == {"r2": 2, "r3": 2}


def test_group_by_does_not_wait_for_a_full_rack():
    # r3 has no room this cycle: the tasks spread over the racks that can take them.
    demands = [task(f"t{i}", group="dag.load", sequence=i, constraints=[["rack", "GROUP_BY"]]) for i in range(4)]
    assert {o: len(t) for o, t in per_offer(match(demands, racks(8, 8, 0.5))).items()} == {"r1": 2, "r2": 2}


def test_group_by_picks_the_fewest_among_the_racks_that_can_take_it():
    # r3 (no instance) is too small; of the others r2 holds fewer instances than r1.
    offers = racks(8, 8, 0.5)
    placed = [running("g", offers[0]), running("g", offers[0]), running("g", offers[1])]
    result = match([task("t", group="g", constraints=[["rack", "GROUP_BY"]])], offers, placed)
    assert where(result) == {"t": "r2"}


def test_a_placed_task_with_an_unknown_hostname_counts_for_no_hostname_constraint():
    offers = [offer("o1", host="a")]
    adopted = PlacedTask(group="g", agent_id="S-x", hostname="", attributes={})
    demands = [task(f"t{i}", group="g", sequence=i, constraints=[["hostname", "CLUSTER"]]) for i in range(2)]
    assert where(match(demands, offers, [adopted])) == {"t0": "o1", "t1": "o1"}


def test_group_by_with_a_count_waits_for_the_missing_value():
    offers = racks(8, 8)
    placed = [running("dag.load", offers[0]), running("dag.load", offers[1])]
    result = match([task("t", group="dag.load", constraints=[["rack", "GROUP_BY", 3]])], offers, placed)
    assert result.waiting == {"t": "GROUP_BY rack 3: dag.load runs on 2 of 3 expected rack values (r1, r2); "
                                   "waiting for an agent with another rack"}
    # Without the count the same task is placed.
    assert where(match([task("t", group="dag.load", constraints=[["rack", "GROUP_BY"]])], offers, placed))


def test_group_by_with_a_count_takes_new_values_first():
    demands = [task(f"t{i}", group="g", sequence=i, constraints=[["rack", "GROUP_BY", 3]]) for i in range(3)]
    assert {o: len(t) for o, t in per_offer(match(demands, racks(2, 8, 8))).items()} == {"r1": 1, "r2": 1, "r3": 1}


def test_an_identical_task_ahead_takes_the_place_a_group_change_opened():
    # big1 (first) cannot go anywhere: r1 and r2 hold instances and r3 is too small, so GROUP_BY 3
    # holds it back.  small then opens r3; the next task of big1's shape may now use r1 -- and big1,
    # ahead of big2 in the queue, is the one that gets it.
    offers = racks(8, 8, 1)
    placed = [running("g", offers[0]), running("g", offers[1])]
    rule = [["rack", "GROUP_BY", 3]]
    demands = [task("big1", cpus=2, group="g", sequence=1, constraints=rule),
               task("small", cpus=1, group="g", sequence=2, constraints=rule),
               task("big2", cpus=2, group="g", sequence=3, constraints=rule)]
    result = match(demands, offers, placed)
    assert where(result) == {"small": "r3", "big1": "r1"}
    assert list(result.waiting) == ["big2"]


def test_max_per_hostname():
    demands = [task(f"t{i}", group="g", sequence=i, constraints=[["hostname", "MAX_PER", 2]]) for i in range(5)]
    result = match(demands, [offer("o1", cpus=8), offer("o2", cpus=8)])
    assert {o: len(t) for o, t in per_offer(result).items()} == {"o1": 2, "o2": 2}
    assert result.waiting == {"t4": "MAX_PER hostname 2: every offered agent already runs 2 instances of g"}


def test_max_per_rack_counts_running_tasks():
    offers = racks(8, 8)
    placed = [running("g", offers[0])]
    demands = [task(f"t{i}", group="g", sequence=i, constraints=[["rack", "MAX_PER", 1]]) for i in range(2)]
    result = match(demands, offers, placed)
    assert where(result) == {"t0": "r2"}
    assert result.waiting == {"t1": "MAX_PER rack 1: every offered rack already has an instance of g"}


def test_unique_hostname_with_placed_tasks():
    offers = [offer("o1", host="a"), offer("o2", host="b")]
    demands = [task(f"t{i}", group="g", sequence=i, constraints=[["hostname", "UNIQUE"]]) for i in range(2)]
    result = match(demands, offers, [running("g", offers[0])])
    assert where(result) == {"t0": "o2"}
    assert result.waiting == {"t1": "UNIQUE hostname: every offered agent already runs an instance of g"}


def test_unique_counts_unconstrained_tasks_of_the_same_group_and_no_other_group():
    offers = [offer("o1", cpus=1), offer("o2", cpus=2)]
    demands = [task("plain", group="g", priority=9), task("other", group="h", priority=8),
               task("unique", group="g", priority=1, constraints=[["hostname", "UNIQUE"]])]
    assert where(match(demands, offers)) == {"plain": "o1", "other": "o2", "unique": "o2"}


def test_unique_attribute_reason():
    offers = racks(8)
    result = match([task("t", group="g", constraints=[["rack", "UNIQUE"]])], offers, [running("g", offers[0])])
    assert result.waiting == {"t": "UNIQUE rack: every offered rack already has an instance of g"}


def test_cluster_without_value_follows_the_first_instance_placed_this_cycle():
    # r1 (the best fit) takes the first; the second must follow it, and r1 is then full.
    offers = [offer("r1", cpus=1, attrs={"rack": "r1"}), offer("r2", cpus=8, attrs={"rack": "r2"})]
    demands = [task(f"t{i}", group="g", sequence=i, constraints=[["rack", "CLUSTER"]]) for i in range(2)]
    result = match(demands, offers)
    assert where(result) == {"t0": "r1"}
    assert result.waiting == {"t1": WAITING}


def test_cluster_without_value_follows_a_running_instance():
    offers = racks(8, 8)
    demands = [task(f"t{i}", group="g", sequence=i, constraints=[["rack", "CLUSTER"]]) for i in range(3)]
    result = match(demands, offers, [running("g", offers[1])])
    assert per_offer(result) == {"r2": ["t0", "t1", "t2"]}
    result = match(demands, offers[:1], [running("g", offers[1])])
    assert result.waiting["t0"] == "no agent with rack=r2 (CLUSTER rack: g runs there)"


def test_cluster_with_value():
    demands = [task(f"t{i}", constraints=[["rack", "CLUSTER", "r2"]]) for i in range(2)]
    assert set(where(match(demands, racks(8, 8))).values()) == {"r2"}
    assert match(demands[:1], racks(8)).waiting == {"t0": "no agent with rack=r2"}


# --- reasons ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("demand", "offers", "reason"),
    [
        (task("t"), [], "no offers yet"),
        (task("t", role="gpu"), [offer("o1", role="airflow")],
         "no offers for role 'gpu' (offers this cycle are for role 'airflow')"),
        (task("t", role="gpu"), [offer("o1", role="airflow"), offer("o2", role="etl"), offer("o3", role="airflow")],
         "no offers for role 'gpu' (offers this cycle are for roles 'airflow', 'etl')"),
        (task("t", constraints=[["rack", "IS", "r2"]]), racks(8), "no agent with rack=r2"),
        (task("t", constraints=[["rack", "LIKE", "r[3-4]"]]), racks(8, 8), "no agent whose rack matches r[3-4]"),
        (task("t", constraints=[["rack", "UNLIKE", "r.*"]]), racks(8), "no agent whose rack does not match r.*"),
        (task("t", constraints=[["zone", "UNIQUE"]]), racks(8), "no agent with attribute zone"),
        (task("t", constraints=[["rack", "IS", "r1"], ["hostname", "IS", "r2.example"]]), racks(8, 8),
         "no offered agent meets all its constraints together (rack IS r1; hostname IS r2.example)"),
        (task("t", cpus=8), [offer("o1", cpus=4), offer("o2", cpus=2)], "needs 8 cpus; the largest offer has 4"),
        (task("t", mem=16384), [offer("o1", mem=8192)], "needs 16384 MiB mem; the largest offer has 8192"),
        (task("t", disk=10.5), [offer("o1", disk=10)], "needs 10.5 MiB disk; the largest offer has 10"),
        (task("t", gpus=1), [offer("o1")], "needs 1 gpus; the largest offer has 0"),
        (task("t", cpus=8, mem=16384), [offer("o1", cpus=4, mem=2048), offer("o2", cpus=2, mem=8192)],
         "needs 8 cpus and 16384 MiB mem; the largest offers have 4 cpus and 8192 MiB mem"),
        (task("t", cpus=4, mem=8192), [offer("o1", cpus=8, mem=2048), offer("o2", cpus=2, mem=8192)],
         "needs 4 cpus and 8192 MiB mem; no single offer has both (the largest has 8 cpus and 2048 MiB mem)"),
        (task("t", cpus=4, mem=8192, disk=100), [offer("o1", cpus=8, mem=2048, disk=100), offer("o2", cpus=2, mem=8192)],
         "needs 4 cpus and 8192 MiB mem and 100 MiB disk; no single offer has all of it "
         "(the largest has 8 cpus and 2048 MiB mem and 100 MiB disk)"),
        # The size check looks only at the offers the constraints allow.
        (task("t", cpus=8, constraints=[["rack", "IS", "r2"]]), racks(16, 4), "needs 8 cpus; the largest offer has 4"),
    ],
)
def test_reasons(demand, offers, reason):
    assert match([demand], offers).waiting == {demand.task_id: reason}


@pytest.mark.parametrize(
    ("demand", "reason"),
    [
        # The role comes before constraints, constraints before size.
        (task("t", cpus=99, role="gpu", constraints=[["rack", "IS", "r9"]]),
         "no offers for role 'gpu' (offers this cycle are for role '*')"),
        (task("t", cpus=99, constraints=[["rack", "IS", "r9"]]), "no agent with rack=r9"),
        (task("t", cpus=99, constraints=[["rack", "IS", "r1"]]), "needs 99 cpus; the largest offer has 8"),
    ],
)
def test_the_most_fundamental_reason_wins(demand, reason):
    assert match([demand], racks(8, 8)).waiting == {"t": reason}


def test_every_waiting_demand_gets_its_reason_even_without_a_search():
    demands = [task(f"t{i}", cpus=8, sequence=i) for i in range(50)] + [task("fits", sequence=99)]
    result = match(demands, [offer("o1", cpus=4)])
    assert result.waiting == {f"t{i}": "needs 8 cpus; the largest offer has 4" for i in range(50)}
    assert where(result) == {"fits": "o1"}


# --- input errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cpus": -1}, "TaskDemand 't': cpus must be a finite number >= 0, got -1"),
        ({"mem": float("nan")}, "TaskDemand 't': mem must be a finite number >= 0, got nan"),
        ({"gpus": "1"}, "TaskDemand 't': gpus must be a finite number >= 0, got '1'"),
        ({"priority": 1.5}, "TaskDemand 't': priority must be an integer, got 1.5"),
        ({"role": ""}, "TaskDemand 't': role must be a non-empty string, got ''"),
        ({"constraints": (["rack", "IS", "r1"],)}, "TaskDemand 't': constraints[0] must be a Constraint"),
        ({"task_id": ""}, "TaskDemand.task_id must be a non-empty string, got ''"),
    ],
)
def test_bad_demands_are_refused_with_what_and_where(kwargs, message):
    fields = {"task_id": "t", "group": "g", "priority": 1, "sequence": 0, "cpus": 1, "mem": 1, "disk": 0}
    with pytest.raises(MatchInputError) as excinfo:
        TaskDemand(**{**fields, **kwargs})
    assert str(excinfo.value).startswith(message)


def test_constraints_given_as_a_list_become_a_tuple():
    demand = TaskDemand("t", "g", 1, 0, 1, 1, 0, constraints=list(parse_constraints([["rack", "UNIQUE"]])))
    assert isinstance(demand.constraints, tuple)


def test_duplicate_ids_are_refused():
    with pytest.raises(MatchInputError, match=r"demands\[1\]: task_id 't' appears more than once"):
        match([task("t"), task("t")], [offer("o1")])
    with pytest.raises(MatchInputError, match=r"offers\[1\]: offer id 'o1' appears more than once"):
        match([task("t")], [offer("o1"), offer("o1")])


# --- against a plain reference, and invariants -----------------------------------------------


def reference(demands, offers, placed=(), default_role="*"):
    """The placement rules of the module doc, evaluated from scratch for every demand against every
    offer, with none of the matcher's indexes or shortcuts.  Returns offer id -> [shape, ...]."""
    dims = ("cpus", "mem", "disk", "gpus")
    role_of = [o.role or default_role for o in offers]
    free = [[round(1000 * (o.scalars_by_role.get((d, "*"), 0) + (o.scalars_by_role.get((d, role), 0)
                                                                  if role != "*" else 0))) for d in dims]
            for o, role in zip(offers, role_of, strict=True)]
    instances = [(p.group, p.hostname, p.attributes) for p in placed]
    result = {}

    def value_of(field, host, attrs):
        return host if field == "hostname" else attribute_text(attrs.get(field))

    def counts(group, field):
        out = {}
        for g, host, attrs in instances:
            v = value_of(field, host, attrs)
            if g == group and v is not None:
                out[v] = out.get(v, 0) + 1
        return out

    def holds(c, group, o):
        v = value_of(c.field, o.hostname, o.attributes)
        if v is None:
            return c.operator == "UNLIKE"
        op = c.operator
        if op == "IS" or (op == "CLUSTER" and c.value is not None):
            return v == c.value
        if op == "LIKE":
            return c.pattern.fullmatch(v) is not None
        if op == "UNLIKE":
            return c.pattern.fullmatch(v) is None
        n = counts(group, c.field).get(v, 0)
        if op == "UNIQUE":
            return n == 0
        if op == "MAX_PER":
            return n < c.count
        if op == "CLUSTER":
            firsts = [value_of(c.field, h, a) for g, h, a in instances
                      if g == group and value_of(c.field, h, a) is not None]
            return not firsts or v == firsts[0]
        return True

    order = sorted(range(len(demands)), key=lambda i: (-demands[i].priority, demands[i].sequence, i))
    for i in order:
        d = demands[i]
        need = [round(1000 * getattr(d, k)) for k in dims]
        cands = [j for j, o in enumerate(offers)
                 if role_of[j] == d.role and all(f >= n for f, n in zip(free[j], need, strict=True))
                 and all(holds(c, d.group, o) for c in d.constraints)]
        for c in d.constraints:
            if c.operator != "GROUP_BY":
                continue
            cs = counts(d.group, c.field)
            vals = {j: value_of(c.field, offers[j].hostname, offers[j].attributes) for j in cands}
            if c.count is not None and len(cs) < c.count:
                cands = [j for j in cands if vals[j] not in cs]
            elif cands:
                low = min(cs.get(vals[j], 0) for j in cands)
                cands = [j for j in cands if cs.get(vals[j], 0) == low]
        if not cands:
            continue
        best = min(cands, key=lambda j: (need[3] == 0 and free[j][3] > 0, *free[j], j))
        for k in range(4):
            free[best][k] -= need[k]
        instances.append((d.group, offers[best].hostname, offers[best].attributes))
        result.setdefault(offers[best].id, []).append(shape(d))
    return result


def shape(d):
    return (d.group, d.role, d.cpus, d.mem, d.disk, d.gpus, d.constraints)


CONSTRAINT_MENU = [[], [], [], [["hostname", "UNIQUE"]], [["rack", "GROUP_BY"]], [["rack", "GROUP_BY", 3]],
                   [["rack", "MAX_PER", 2]], [["rack", "CLUSTER"]], [["rack", "LIKE", "r[12]"]],
                   [["zone", "IS", "z1"]], [["rack", "UNLIKE", "r3"], ["hostname", "MAX_PER", 1]]]


def random_cycle(seed):
    rng = random.Random(seed)
    offers = []
    for i in range(rng.randint(0, 9)):
        attrs = {"rack": f"r{rng.randint(1, 4)}"}
        if rng.random() < 0.5:
            attrs["zone"] = rng.choice(["z1", "z2"])
        role = rng.choice([None, "airflow", "airflow", "etl"])
        reserved = {("cpus", role): rng.choice([0.5, 1, 2])} if role and rng.random() < 0.5 else None
        offers.append(offer(f"o{i}", cpus=rng.choice([0.5, 1, 2, 4, 8]), mem=rng.choice([512, 2048, 8192]),
                            disk=rng.choice([0, 1000]), gpus=rng.choice([0, 0, 0, 1, 2]), role=role,
                            reserved=reserved, attrs=attrs, host=f"h{rng.randint(0, 6)}"))
    demands = [task(f"t{i}", cpus=rng.choice([0.1, 0.5, 1, 2, 3]), mem=rng.choice([128, 1024, 4096]),
                    disk=rng.choice([0, 0, 500]), gpus=rng.choice([0, 0, 0, 0, 1]), priority=rng.randint(1, 3),
                    sequence=rng.randint(0, 40), group=f"g{rng.randint(0, 3)}",
                    role=rng.choice(["airflow", "airflow", "airflow", "etl"]), constraints=rng.choice(CONSTRAINT_MENU))
               for i in range(rng.randint(0, 40))]
    placed = [running(f"g{rng.randint(0, 3)}", rng.choice(offers)) for _ in range(rng.randint(0, 4))] if offers else []
    return demands, offers, placed


@pytest.mark.parametrize("seed", range(150))
def test_matches_a_plain_reference_and_keeps_the_invariants(seed):
    demands, offers, placed = random_cycle(seed)
    result = match(demands, offers, placed, default_role="airflow")
    by_id = {d.task_id: d for d in demands}
    # Same placements as the rules evaluated from scratch (identical demands are interchangeable).
    assert {launch.offer_id: [shape(by_id[a.task_id]) for a in launch.tasks] for launch in result.launches} == \
        reference(demands, offers, placed, default_role="airflow")
    # Every demand is placed once or waits with a reason; offers are launched or unused, never both.
    placed_ids = [a.task_id for launch in result.launches for a in launch.tasks]
    assert sorted(placed_ids + list(result.waiting)) == sorted(by_id)
    assert len(set(placed_ids)) == len(placed_ids)
    assert all(result.waiting.values())
    launched = [launch.offer_id for launch in result.launches]
    assert sorted(launched + list(result.unused_offer_ids)) == sorted(o.id for o in offers)
    # Shares add up to the demand, come from the offer's role or "*", and never exceed the offer.
    offers_by_id = {o.id: o for o in offers}
    for launch in result.launches:
        the_offer = offers_by_id[launch.offer_id]
        role = the_offer.role or "airflow"
        taken: dict[tuple[str, str], int] = {}
        for a in launch.tasks:
            d = by_id[a.task_id]
            assert d.role == role
            for name in ("cpus", "mem", "disk", "gpus"):
                got = sum(round(1000 * s.amount) for s in a.resources if s.name == name)
                assert got == round(1000 * getattr(d, name))
            for s in a.resources:
                assert s.reservation_role in (role, "*")
                taken[(s.name, s.reservation_role)] = taken.get((s.name, s.reservation_role), 0) + \
                    round(1000 * s.amount)
        for key, amount in taken.items():
            assert amount <= round(1000 * the_offer.scalars_by_role.get(key, 0))


def large_random_cycle(seed):
    """More offers than the matcher's small-input shortcuts cover (its many-offer paths for the
    largest offer and the constraint masks), fewer demands than would make the reference slow."""
    rng = random.Random(f"large-{seed}")
    offers = []
    for i in range(rng.randint(33, 70)):
        attrs = {"rack": f"r{rng.randint(1, 4)}"}
        if rng.random() < 0.5:
            attrs["zone"] = rng.choice(["z1", "z2"])
        role = rng.choice([None, "airflow", "airflow", "etl"]) if rng.random() < 0.3 else "airflow"
        reserved = {("cpus", role): rng.choice([0.5, 1, 2])} if role and rng.random() < 0.5 else None
        offers.append(offer(f"o{i}", cpus=rng.choice([0.5, 1, 2, 4, 8]), mem=rng.choice([512, 2048, 8192]),
                            disk=rng.choice([0, 1000]), gpus=rng.choice([0, 0, 0, 1, 2]), role=role,
                            reserved=reserved, attrs=attrs, host=f"h{rng.randint(0, 40)}"))
    demands = [task(f"t{i}", cpus=rng.choice([0.1, 0.5, 1, 2, 3, 9]), mem=rng.choice([128, 1024, 4096, 9000]),
                    disk=rng.choice([0, 0, 500]), gpus=rng.choice([0, 0, 0, 0, 1]), priority=rng.randint(1, 3),
                    sequence=rng.randint(0, 40), group=f"g{rng.randint(0, 3)}",
                    role=rng.choice(["airflow", "airflow", "airflow", "etl"]), constraints=rng.choice(CONSTRAINT_MENU))
               for i in range(rng.randint(60, 120))]
    placed = [running(f"g{rng.randint(0, 3)}", rng.choice(offers)) for _ in range(rng.randint(0, 10))]
    return demands, offers, placed


@pytest.mark.parametrize("seed", range(8))
def test_many_offers_match_the_plain_reference(seed):
    demands, offers, placed = large_random_cycle(seed)
    result = match(demands, offers, placed, default_role="airflow")
    by_id = {d.task_id: d for d in demands}
    assert {launch.offer_id: [shape(by_id[a.task_id]) for a in launch.tasks] for launch in result.launches} == \
        reference(demands, offers, placed, default_role="airflow")
    assert sorted([a.task_id for launch in result.launches for a in launch.tasks] + list(result.waiting)) == \
        sorted(by_id)


def test_among_many_offers_the_reason_names_the_largest_one_the_constraints_leave():
    # 40 offers: a bigger agent on r1 does not count for a task that must run on r2.
    offers = [offer(f"o{i}", cpus=2 + i % 3, mem=4096, attrs={"rack": "r2"}) for i in range(39)]
    offers.append(offer("big", cpus=16, mem=65536, attrs={"rack": "r1"}))
    result = match([task("t", cpus=8, constraints=[["rack", "IS", "r2"]])], offers)
    assert result.waiting == {"t": "needs 8 cpus; the largest offer has 4"}
    result = match([task("t", cpus=8, mem=8192, constraints=[["rack", "IS", "r2"]])], offers)
    assert result.waiting == {"t": "needs 8 cpus and 8192 MiB mem; the largest offers have 4 cpus and 4096 MiB mem"}


# --- determinism -----------------------------------------------------------------------------


def test_the_same_input_gives_the_same_result():
    demands, offers, placed = random_cycle(7)
    assert match(demands, offers, placed) == match(list(demands), list(offers), list(placed))


def test_the_result_does_not_depend_on_string_hashing():
    # Sets and dicts of strings are ordered by hash, which changes per process unless pinned.
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from tests.unit.executor.test_matcher import random_cycle; "
        "from airflow_mesos.executor.matcher import match; "
        "print([repr(match(*random_cycle(seed), default_role='airflow')) for seed in range(40)])"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        run = subprocess.run([sys.executable, "-c", script, root], env=env, capture_output=True, text=True,
                             check=True, timeout=120)
        outputs.add(run.stdout)
    assert len(outputs) == 1
