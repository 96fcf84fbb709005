"""The master's pure core: records and a stimulus in, effects out (no master, no threads, no clock)."""

from __future__ import annotations

import pytest

from airflow_mesos.local import master_core
from airflow_mesos.local.allocator import RefuseFilter, Resources
from airflow_mesos.local.master_core import KillOnAgent, SendToFramework
from airflow_mesos.local.records import AgentRecord, FrameworkRecord, MasterRecords, TaskRecord

NOW = 1_700_000_100.0
CPU = Resources.build({"cpus": 500})


def agent(agent_id: str, *, reachable: bool = True, unreachable_time: float | None = None) -> AgentRecord:
    return AgentRecord(id=agent_id, hostname="127.0.0.1", port=5051, pid="slave(1)@127.0.0.1:5051",
                       url="http://127.0.0.1:5051", resources=[], attributes=[], total=CPU,
                       registered_time=NOW - 100, last_pong=0.0, reachable=reachable,
                       unreachable_time=unreachable_time)


def framework(framework_id: str, capabilities: tuple[str, ...]) -> FrameworkRecord:
    info = {"id": {"value": framework_id}, "name": framework_id, "user": "u",
            "capabilities": [{"type": c} for c in capabilities]}
    return FrameworkRecord(framework_id, info, ["*"], set(), NOW - 50)


def running_task(framework_id: str, task_id: str, agent_id: str) -> TaskRecord:
    task = TaskRecord(framework_id, agent_id, task_id, task_id, "", "*", CPU, state="TASK_RUNNING")
    task.statuses = [
        {"state": "TASK_STARTING", "container_status": {"container_id": {"value": "c-1"}}},
        {"state": "TASK_RUNNING", "healthy": True},  # no container_status: the earlier one is the latest
    ]
    return task


@pytest.fixture(params=["PARTITION_AWARE", "legacy"])
def setup(request):
    """Records with a registered, an unreachable, a recovered and a gone agent, and one framework (partition
    aware or not) with a running task on the registered agent, an unreachable one and a completed one."""
    records = MasterRecords()
    records.agents["A-reg"] = agent("A-reg")
    records.agents["A-unr"] = agent("A-unr", reachable=False, unreachable_time=NOW - 30)
    records.gone_agents["A-gone"] = NOW - 60
    fw = framework("F", ("PARTITION_AWARE",) if request.param == "PARTITION_AWARE" else ())
    fw.tasks["t1"] = running_task("F", "t1", "A-reg")
    fw.unreachable_tasks["t-unr"] = running_task("F", "t-unr", "A-unr")
    fw.completed_tasks.append(running_task("F", "t-done", "A-reg"))
    records.frameworks["F"] = fw
    return records, fw


def statuses(effects: list) -> list[dict]:
    assert all(isinstance(e, SendToFramework) and e.framework_id == "F" and e.event["type"] == "UPDATE"
               for e in effects), effects
    return [e.event["update"]["status"] for e in effects]


def ask(task_id: str, agent_id: str | None = None) -> dict:
    item: dict = {"task_id": {"value": task_id}}
    if agent_id is not None:
        item["agent_id"] = {"value": agent_id}
    return item


# One row per case of Master::reconcile (src/master/master.cpp 1.11.0): the task asked about, the agent named,
# what a PARTITION_AWARE framework is told, its message.  Other frameworks get TASK_LOST for cases 3-6.
@pytest.mark.parametrize("case,task_id,agent_id,state,message", [
    ("1 known task", "t1", "A-reg", "TASK_RUNNING", "Reconciliation: Latest task state"),
    ("1 known task, no agent named", "t1", None, "TASK_RUNNING", "Reconciliation: Latest task state"),
    ("1 known task, another agent named", "t1", "A-unr", "TASK_RUNNING", "Reconciliation: Latest task state"),
    ("3 unknown task, registered agent", "nope", "A-reg", "TASK_GONE", "Reconciliation: Task is unknown to the agent"),
    ("3 a completed task is unknown", "t-done", "A-reg", "TASK_GONE", "Reconciliation: Task is unknown to the agent"),
    ("4 unknown task, unreachable agent", "nope", "A-unr", "TASK_UNREACHABLE", "Reconciliation: Task is unreachable"),
    ("4 an unreachable task", "t-unr", "A-unr", "TASK_UNREACHABLE", "Reconciliation: Task is unreachable"),
    ("5 unknown task, gone agent", "nope", "A-gone", "TASK_GONE_BY_OPERATOR", "Reconciliation: Task is gone"),
    ("6 unknown task, unknown agent", "nope", "A-who", "TASK_UNKNOWN", "Reconciliation: Task is unknown"),
    ("6 unknown task, no agent named", "nope", None, "TASK_UNKNOWN", "Reconciliation: Task is unknown"),
    ("6 an unreachable task without its agent", "t-unr", None, "TASK_UNKNOWN", "Reconciliation: Task is unknown"),
])
def test_explicit_reconciliation_cases(setup, case, task_id, agent_id, state, message):
    records, fw = setup
    [status] = statuses(master_core.reconcile(records, fw, [ask(task_id, agent_id)], NOW))
    known = case.startswith("1")
    expected = state if known or fw.partition_aware else "TASK_LOST"
    assert (status["state"], status["message"]) == (expected, message)
    assert status["reason"] == "REASON_RECONCILIATION" and status["source"] == "SOURCE_MASTER"
    assert "uuid" not in status and status["timestamp"] == NOW
    assert status["task_id"] == {"value": task_id}
    if known:
        assert status["agent_id"] == {"value": "A-reg"}            # the task's agent, whatever was named
        assert status["healthy"] is True                           # the last status's health
        assert status["container_status"] == {"container_id": {"value": "c-1"}}   # the latest one there is
    elif agent_id is None:
        assert "agent_id" not in status
    else:
        assert status["agent_id"] == {"value": agent_id}
    if state == "TASK_UNREACHABLE":                                # TASK_LOST carries it too
        assert status["unreachable_time"] == {"nanoseconds": int((NOW - 30) * 1e9)}
    else:
        assert "unreachable_time" not in status


def test_case_2_recovered_agents_get_no_answer_until_they_reregister(setup):
    records, fw = setup
    records.recovered_agents.add("A-rec")
    assert master_core.reconcile(records, fw, [ask("nope", "A-rec")], NOW) == []
    # Without an agent named, any recovered agent might have it: no answer either.
    assert master_core.reconcile(records, fw, [ask("nope")], NOW) == []
    # Known tasks and other agents are answered as usual.
    answered = statuses(master_core.reconcile(records, fw, [ask("t1"), ask("nope", "A-rec"), ask("x", "A-reg")], NOW))
    assert [s["task_id"]["value"] for s in answered] == ["t1", "x"]


def test_implicit_reconciliation_sends_the_latest_state_of_tasks_on_registered_agents(setup):
    records, fw = setup
    fw.tasks["t2"] = TaskRecord("F", "A-reg", "t2", "t2", "exec-2", "*", CPU, state="TASK_FINISHED",
                                statuses=[{"state": "TASK_FINISHED"}])   # terminal, not yet acknowledged
    answered = statuses(master_core.reconcile(records, fw, [], NOW))
    assert [(s["task_id"]["value"], s["state"]) for s in answered] == [("t1", "TASK_RUNNING"), ("t2", "TASK_FINISHED")]
    assert answered[1]["executor_id"] == {"value": "exec-2"} and "executor_id" not in answered[0]
    assert all(s["message"] == "Reconciliation: Latest task state" for s in answered)


def test_kill(setup):
    records, fw = setup
    policy = {"grace_period": {"nanoseconds": 5}}
    assert master_core.kill(records, fw, {"task_id": {"value": "t1"}, "kill_policy": policy}, NOW) == [
        KillOnAgent("A-reg", "F", "t1", policy)]
    # A task on another agent than the one named is left alone (Master::kill).
    assert master_core.kill(records, fw, {"task_id": {"value": "t1"}, "agent_id": {"value": "A-unr"}}, NOW) == []
    # An unknown task is reconciled explicitly, with the agent named.
    [status] = statuses(master_core.kill(records, fw, {"task_id": {"value": "nope"}, "agent_id": {"value": "A-reg"}},
                                         NOW))
    assert status["state"] == ("TASK_GONE" if fw.partition_aware else "TASK_LOST")
    [status] = statuses(master_core.kill(records, fw, {"task_id": {"value": "t-unr"}}, NOW))
    assert status["message"] == "Reconciliation: Task is unknown"


# ------------------------------------------------------------------------------------------------
# ACCEPT, DECLINE, REVIVE, SUPPRESS
# ------------------------------------------------------------------------------------------------

MONO = 500.0
TWO_CPUS = Resources.build({"cpus": 2000, "mem": 1024_000})


def offered(records: MasterRecords, offer_id: str, framework_id: str = "F", agent_id: str = "A-reg",
            resources: Resources = TWO_CPUS):
    from airflow_mesos.local.records import OfferRecord

    records.offers[offer_id] = OfferRecord(offer_id, framework_id, agent_id, "*", resources, MONO - 1, {})


def task(task_id: str, cpus: float = 0.5, agent_id: str = "A-reg", **extra) -> dict:
    info = {"name": task_id, "task_id": {"value": task_id}, "agent_id": {"value": agent_id},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}}],
            "command": {"value": "true"}}
    info.update(extra)
    return info


def launch(*tasks: dict, offer_ids=("O1",), **extra) -> dict:
    return {"offer_ids": [{"value": o} for o in offer_ids],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}], **extra}


def test_accept_launches_valid_tasks_errors_the_others_and_refuses_the_rest(setup):
    records, fw = setup
    offered(records, "O1")
    effects = master_core.accept(records, fw, launch(task("a"), task("big", cpus=5), task("b", cpus=1.5),
                                                     task("t1")), now=NOW, monotonic=MONO)
    launches = [e for e in effects if isinstance(e, master_core.LaunchOnAgent)]
    assert [e.task_info["task_id"]["value"] for e in launches] == ["a", "b"]
    assert launches[0].task_info["resources"][0]["allocation_info"] == {"role": "*"}
    assert launches[0].framework_info["id"] == {"value": "F"}
    errors = statuses([e for e in effects if isinstance(e, SendToFramework)])
    assert [(s["task_id"]["value"], s["state"], s["reason"]) for s in errors] == [
        ("big", "TASK_ERROR", "REASON_TASK_INVALID"), ("t1", "TASK_ERROR", "REASON_TASK_INVALID")]
    assert errors[1]["message"] == "Task has duplicate ID: t1"
    assert records.offers == {}                                             # the offer is used up
    assert fw.tasks["a"].state == "TASK_STAGING" and fw.tasks["b"].resources == Resources.build({"cpus": 1500})
    [refused] = fw.filters                                                   # the unused mem, for 5 s by default
    assert (refused.agent_id, refused.resources, refused.expires) == ("A-reg", Resources.build({"mem": 1024_000}),
                                                                      MONO + 5)


def test_accept_of_invalid_offers_drops_or_loses_every_task_and_returns_the_offers(setup):
    records, fw = setup
    offered(records, "O1")
    offered(records, "O-other", framework_id="G")
    effects = master_core.accept(records, fw, launch(task("a"), offer_ids=("O1", "O-gone")), now=NOW,
                                 monotonic=MONO)
    [status] = statuses(effects)
    assert status["state"] == ("TASK_DROPPED" if fw.partition_aware else "TASK_LOST")
    assert (status["reason"], status["message"]) == (
        "REASON_INVALID_OFFERS", "Task launched with invalid offers: Offer O-gone is no longer valid")
    assert "O1" not in records.offers and "O-other" in records.offers and fw.tasks.keys() == {"t1"}
    [status] = statuses(master_core.accept(records, fw, launch(task("b"), offer_ids=("O-other",)), now=NOW,
                                           monotonic=MONO))
    assert status["message"] == ("Task launched with invalid offers: Offer O-other has invalid framework G while "
                                 "framework F is expected")
    [status] = statuses(master_core.accept(records, fw, launch(task("c"), offer_ids=()), now=NOW, monotonic=MONO))
    assert status["message"] == "Task launched with invalid offers: No offers specified"


def test_launch_group_is_refused_per_task(setup):
    records, fw = setup
    offered(records, "O1")
    call = {"offer_ids": [{"value": "O1"}], "operations": [{"type": "LAUNCH_GROUP", "launch_group": {
        "executor": {"executor_id": {"value": "e"}}, "task_group": {"tasks": [task("g1"), task("g2")]}}}]}
    errors = statuses(master_core.accept(records, fw, call, now=NOW, monotonic=MONO))
    assert [(s["task_id"]["value"], s["reason"]) for s in errors] == [("g1", "REASON_TASK_GROUP_INVALID"),
                                                                      ("g2", "REASON_TASK_GROUP_INVALID")]


def test_decline_revive_suppress(setup):
    records, fw = setup
    offered(records, "O1")
    offered(records, "O-other", framework_id="G")
    assert master_core.decline(records, fw, {"offer_ids": [{"value": "O1"}, {"value": "O-other"}, {"value": "x"}],
                                             "filters": {"refuse_seconds": 60}}, monotonic=MONO) == []
    assert list(records.offers) == ["O-other"]                               # another framework's stays
    assert [(f.agent_id, f.expires) for f in fw.filters] == [("A-reg", MONO + 60)]
    assert master_core.suppress(records, fw, {}) == [] and fw.suppressed == {"*"}
    assert master_core.revive(records, fw, {}) == [master_core.AllocateSoon()]
    assert fw.suppressed == set() and fw.filters == []


# ------------------------------------------------------------------------------------------------
# Allocation round, timeouts, removal
# ------------------------------------------------------------------------------------------------


def subscribed(records: MasterRecords, framework_id: str, capabilities: tuple[str, ...], roles=("*",)):
    fw = framework(framework_id, capabilities)
    fw.roles, fw.stream_id = list(roles), f"stream-{framework_id}"
    if "MULTI_ROLE" in capabilities:
        fw.info["roles"] = list(roles)
    records.frameworks[framework_id] = fw
    return fw


def offer_ids():
    counter = iter(range(100))
    return lambda: f"O{next(counter)}"


def test_offers_to_a_framework_without_multi_role_carry_no_allocation_info():
    # Master::offer (src/master/master.cpp 1.11.0, MESOS-8237): pre-MULTI_ROLE schedulers see the old format.
    records = MasterRecords()
    records.agents["A1"] = agent("A1")
    records.agents["A2"] = agent("A2")
    subscribed(records, "legacy", ())
    subscribed(records, "multi", ("MULTI_ROLE", "RESERVATION_REFINEMENT"), roles=("etl",))
    effects = master_core.allocation_round(records, monotonic=MONO, new_offer_id=offer_ids())
    sent = {e.framework_id: e.event["offers"]["offers"] for e in effects}
    assert sorted(sent) == ["legacy", "multi"] and all(e.event["type"] == "OFFERS" for e in effects)
    [legacy], [multi] = sent["legacy"], sent["multi"]
    assert "allocation_info" not in legacy
    assert all("allocation_info" not in r and r["role"] == "*" for r in legacy["resources"])
    assert multi["allocation_info"] == {"role": "etl"}
    # RESERVATION_REFINEMENT: unreserved resources in the post-refinement format, without 'role'.
    assert all(r["allocation_info"] == {"role": "etl"} and "role" not in r for r in multi["resources"])
    # The master's own record of the offer keeps the allocation (GET_FRAMEWORKS shows it, as Mesos does).
    legacy_record = records.offers[legacy["id"]["value"]]
    assert legacy_record.json["allocation_info"] == {"role": "*"} and legacy_record.created == MONO
    assert legacy["url"]["address"] == {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": 5051}


def test_allocation_round_skips_disconnected_suppressed_and_filtered_frameworks():
    records = MasterRecords()
    records.agents["A1"] = agent("A1")
    gone = subscribed(records, "gone", ())
    gone.connected = gone.active = False
    quiet = subscribed(records, "quiet", ())
    quiet.suppressed = {"*"}
    refusing = subscribed(records, "refusing", ())
    refusing.filters = [RefuseFilter("A1", "*", CPU, MONO + 1)]
    assert master_core.allocation_round(records, monotonic=MONO, new_offer_id=offer_ids()) == []
    [effect] = master_core.allocation_round(records, monotonic=MONO + 1, new_offer_id=offer_ids())  # filter expired
    assert effect.framework_id == "refusing" and refusing.filters == []
    assert master_core.allocation_round(records, monotonic=MONO + 2, new_offer_id=offer_ids()) == []  # all offered


def test_failover_timeout_removes_the_framework_and_offer_timeout_rescinds(setup):
    records, fw = setup
    offered(records, "O1")
    assert master_core.expire(records, monotonic=MONO, now=NOW, offer_timeout=None) == []
    assert master_core.expire(records, monotonic=MONO, now=NOW, offer_timeout=1.0) == [
        SendToFramework("F", {"type": "RESCIND", "rescind": {"offer_id": {"value": "O1"}}})]
    assert records.offers == {}
    fw.connected = fw.active = False
    fw.failover_deadline = MONO + 10
    assert master_core.expire(records, monotonic=MONO + 9.9, now=NOW, offer_timeout=None) == []
    effects = master_core.expire(records, monotonic=MONO + 10, now=NOW, offer_timeout=None)
    assert effects[-3:] == [master_core.ShutdownOnAgents("F"), master_core.CloseFrameworkStream("F"),
                            master_core.FrameworkRemoved("F")]
    # Its tasks' TASK_KILLED is recorded and reported to operator streams (removeFramework -> updateTask).
    assert [(e.framework_id, e.state) for e in effects[:-3]] == [("F", "TASK_KILLED"), ("F", "TASK_KILLED")]
    assert "F" not in records.frameworks and records.completed_frameworks == [fw] and "F" in records.removed_framework_ids
    killed = {t.task_id: t for t in fw.completed_tasks}
    assert killed["t1"].state == "TASK_KILLED" and killed["t1"].statuses[-1]["reason"] == "REASON_FRAMEWORK_REMOVED"
    assert not killed["t1"].holds_resources and fw.tasks == {} and fw.unreachable_tasks == {}


# ------------------------------------------------------------------------------------------------
# Status updates and agents
# ------------------------------------------------------------------------------------------------


def agent_status(task_id: str, state: str, uuid: str | None = "dXVpZC0xMjM0NTY3ODkwYWI=", **extra) -> dict:
    status = {"task_id": {"value": task_id}, "state": state, "source": "SOURCE_EXECUTOR", "timestamp": NOW,
              "data": "b3BhcXVl", **extra}
    if uuid is not None:
        status["uuid"] = uuid
    return status


def test_status_updates_record_one_status_per_state_without_data_and_forward_all(setup):
    # Master::updateTask (src/master/master.cpp 1.11.0).
    records, fw = setup
    task = fw.tasks["t1"]
    effects = master_core.status_update(records, "F", agent_status("t1", "TASK_RUNNING", healthy=False))
    assert [type(e) for e in effects] == [SendToFramework]            # same state as the last status: replaced
    assert effects[0].event["update"]["status"]["data"] == "b3BhcXVl"  # the framework gets the whole update
    assert [s["state"] for s in task.statuses] == ["TASK_STARTING", "TASK_RUNNING"]
    assert task.statuses[-1]["healthy"] is False and "data" not in task.statuses[-1]
    checked = master_core.status_update(records, "F", agent_status("t1", "TASK_RUNNING",
                                                                   reason="REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"))
    assert isinstance(checked[0], master_core.TaskUpdated)             # a check update is always reported
    effects = master_core.status_update(records, "F", agent_status("t1", "TASK_FINISHED"))
    assert effects[0] == master_core.TaskUpdated("F", task.statuses[-1], "TASK_FINISHED")
    assert task.state == "TASK_FINISHED" and not task.holds_resources and "t1" in fw.tasks  # until acknowledged
    master_core.status_update(records, "F", agent_status("t1", "TASK_FAILED"))
    assert task.state == "TASK_FINISHED"                               # a terminal task keeps its state
    assert master_core.status_update(records, "nobody", agent_status("t1", "TASK_RUNNING")) == []


def test_acknowledging_the_terminal_update_completes_the_task(setup):
    records, fw = setup
    master_core.status_update(records, "F", agent_status("t1", "TASK_FINISHED", uuid="AAAAAAAAAAAAAAAAAAAAAA=="))
    ack = {"agent_id": {"value": "A-reg"}, "task_id": {"value": "t1"}, "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="}
    assert master_core.acknowledge(records, fw, ack, bytes(16)) == [
        master_core.AcknowledgeOnAgent("A-reg", "F", "t1", bytes(16))]
    assert "t1" not in fw.tasks and fw.completed_tasks[-1].task_id == "t1"
    assert master_core.acknowledge(records, fw, {**ack, "agent_id": {"value": "A-who"}}, bytes(16)) == []


def test_an_agent_becoming_unreachable_and_coming_back(setup):
    records, fw = setup
    offered(records, "O1")
    effects = master_core.mark_unreachable(records, "A-reg", now=NOW)
    [status] = [e.event["update"]["status"] for e in effects if isinstance(e, SendToFramework)
                and e.event["type"] == "UPDATE"]
    assert status["state"] == ("TASK_UNREACHABLE" if fw.partition_aware else "TASK_LOST")
    assert (status["reason"], status["message"]) == ("REASON_AGENT_REMOVED", "health check timed out")
    assert status["unreachable_time"] == {"nanoseconds": int(NOW * 1e9)}
    kinds = [e.event["type"] for e in effects if isinstance(e, SendToFramework)]
    assert kinds == ["UPDATE", "RESCIND", "FAILURE"] and effects[-1] == master_core.AgentRemoved("A-reg")
    assert "t1" in fw.unreachable_tasks and not fw.unreachable_tasks["t1"].holds_resources and records.offers == {}
    assert master_core.mark_unreachable(records, "A-reg", now=NOW) == []   # once

    effects = master_core.agent_reregistered(records, "A-reg", [{"framework_id": "F", "task_id": "t1",
                                                                 "state": "TASK_RUNNING"}], now=NOW + 1, monotonic=MONO)
    [back] = statuses([e for e in effects if isinstance(e, SendToFramework)])
    assert (back["state"], back["reason"]) == ("TASK_RUNNING", "REASON_AGENT_REREGISTERED")
    assert effects[-2:] == [master_core.AgentAdded("A-reg"), master_core.AllocateSoon()]
    assert fw.tasks["t1"].holds_resources and records.agents["A-reg"].reachable

    # Reachable all along, but the agent does not know a task the master holds: TASK_DROPPED / TASK_LOST.
    effects = master_core.agent_reregistered(records, "A-reg", [], now=NOW + 2, monotonic=MONO)
    [dropped] = statuses([e for e in effects if isinstance(e, SendToFramework)])
    assert dropped["state"] == ("TASK_DROPPED" if fw.partition_aware else "TASK_LOST")
    assert "t1" not in fw.tasks and master_core.AgentAdded("A-reg") not in effects


# ------------------------------------------------------------------------------------------------
# SUBSCRIBE, disconnect, UPDATE_FRAMEWORK
# ------------------------------------------------------------------------------------------------


def new_info(**extra) -> dict:
    return {"user": "u", "name": "n", "capabilities": [{"type": "MULTI_ROLE"}], "roles": ["a", "b"], **extra}


def subscribing(records: MasterRecords, info: dict, suppressed=()) -> master_core.Subscribed:
    return master_core.subscribe(records, info, list(suppressed), stream_id="s-new", now=NOW,
                                 new_framework_id=lambda: "F-new")


@pytest.mark.parametrize("info,suppressed,error", [
    # Master::validateFramework (src/master/master.cpp 1.11.0): the suppressed roles must be the framework's.
    (new_info(), ["c"], "Suppressed role 'c' is not contained in the list of roles"),
    (new_info(roles=[], capabilities=[]), ["*"], None),                  # a legacy framework's role is "*"
    # validateFrameworkId -> validateID (src/common/validation.cpp): ids become directory names.
    (new_info(id={"value": "a/b"}), [], "'a/b' contains invalid characters"),
    (new_info(id={"value": ".."}), [], "'..' is disallowed"),
    (new_info(id={"value": "x" * 256}), [], "ID must not be greater than 255 characters"),
    (new_info(id={"value": "gone"}), [], "Framework has been removed"),
    (new_info(role="r"), [], "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"),
    (new_info(failover_timeout=-1), [], "The framework failover_timeout (-1) is invalid"),
])
def test_subscribe_validation(info, suppressed, error):
    records = MasterRecords(removed_framework_ids={"gone"})
    if not info["roles"]:
        del info["roles"]
    result = subscribing(records, info, suppressed)
    assert result.error == error
    assert (result.framework is None) == (error is not None)


def test_subscribe_new_then_failover_keeps_user_and_checkpoint_and_refuses_another_principal():
    records = MasterRecords()
    first = subscribing(records, new_info(principal="p", checkpoint=True), ["a"])
    fw = first.framework
    assert fw.id == "F-new" and fw.info["id"] == {"value": "F-new"} and fw.suppressed == {"a"}
    assert first.effects == [master_core.FrameworkAdded("F-new"), master_core.AllocateSoon()]
    again = master_core.subscribe(records, new_info(id={"value": "F-new"}, principal="p", user="other"), [],
                                  stream_id="s-2", now=NOW + 1, new_framework_id=lambda: "unused")
    assert again.framework is fw and fw.stream_id == "s-2" and fw.suppressed == set()
    assert fw.info["user"] == "u" and fw.info["checkpoint"] is True     # preserveImmutableFields
    assert again.effects[:2] == [SendToFramework("F-new", {"type": "ERROR", "error": {"message": "Framework failed over"}}),
                                 master_core.CloseFrameworkStream("F-new")]
    refused = master_core.subscribe(records, new_info(id={"value": "F-new"}, principal="q"), [], stream_id="s-3",
                                    now=NOW, new_framework_id=lambda: "unused")
    assert refused.error == "Changing framework's principal is not allowed." and fw.stream_id == "s-2"


def test_disconnect_starts_the_failover_timeout():
    records = MasterRecords()
    fw = subscribing(records, new_info(failover_timeout=30.0)).framework
    offered(records, "O1", framework_id=fw.id)
    assert master_core.disconnect(records, fw, now=NOW, monotonic=MONO) == [master_core.FrameworkUpdated(fw.id)]
    assert (fw.connected, fw.active, fw.stream_id, fw.failover_deadline) == (False, False, None, MONO + 30)
    assert records.offers == {}


def test_update_framework_applies_the_new_info_and_refuses_a_new_user():
    # Master::updateFramework and framework::validateUpdate (src/master/validation.cpp 1.11.0).
    records = MasterRecords()
    records.agents["A-reg"] = agent("A-reg")
    fw = subscribing(records, new_info()).framework
    offered(records, "O1", framework_id=fw.id)
    records.offers["O1"].role = "b"
    update = {"framework_info": new_info(id={"value": fw.id}, name="renamed", roles=["a"], webui_url="http://ui",
                                          failover_timeout=60.0), "suppressed_roles": ["a"]}
    status, text, effects = master_core.update_framework(records, fw, update)
    assert (status, text) == (200, "")
    assert fw.info["name"] == "renamed" and fw.info["webui_url"] == "http://ui" and fw.roles == ["a"]
    assert fw.suppressed == {"a"} and records.offers == {}              # the offer of the role it left is rescinded
    assert SendToFramework(fw.id, {"type": "RESCIND", "rescind": {"offer_id": {"value": "O1"}}}) in effects
    assert master_core.FrameworkUpdated(fw.id) in effects
    status, text, _ = master_core.update_framework(records, fw, {"framework_info": {**fw.info, "user": "root"}})
    assert (status, text) == (400, "FrameworkInfo update is not valid: Updating 'FrameworkInfo.user' is unsupported; "
                                   "attempted to update from 'u' to 'root'")
    status, text, _ = master_core.update_framework(records, fw, {"framework_info": fw.info, "suppressed_roles": ["z"]})
    assert (status, text) == (400, "Supplied FrameworkInfo is not valid: Suppressed role 'z' is not contained in the "
                                   "list of roles")
    assert master_core.update_framework(records, fw, {"framework_info": dict(fw.info), "suppressed_roles": ["a"]})[2] \
        == [master_core.AllocateSoon()]                                # nothing changed: no FRAMEWORK_UPDATED


# ------------------------------------------------------------------------------------------------
# DEACTIVATE_AGENT, REACTIVATE_AGENT
# ------------------------------------------------------------------------------------------------


def test_deactivate_agent_rescinds_its_offers_and_stops_offering_it_until_reactivated():
    # Master::Http::_deactivateAgent / _reactivateAgent, Master::deactivate (src/master/*.cpp 1.11.0).
    records = MasterRecords()
    records.agents["A1"] = agent("A1")
    subscribed(records, "F", ())
    [offers] = master_core.allocation_round(records, monotonic=MONO, new_offer_id=offer_ids())
    offer_id = offers.event["offers"]["offers"][0]["id"]
    assert master_core.deactivate_agent(records, "A1") == (
        200, "", [SendToFramework("F", {"type": "RESCIND", "rescind": {"offer_id": offer_id}})])
    assert records.offers == {} and records.agents["A1"].deactivated and not records.agents["A1"].active
    assert master_core.allocation_round(records, monotonic=MONO, new_offer_id=offer_ids()) == []
    assert master_core.deactivate_agent(records, "A-who") == (400, "Unknown agent", [])
    assert master_core.reactivate_agent(records, "A1") == (200, "", [master_core.AllocateSoon()])
    assert master_core.reactivate_agent(records, "A1") == (400, "Agent is not deactivated", [])
    assert len(master_core.allocation_round(records, monotonic=MONO, new_offer_id=offer_ids())) == 1


def test_a_deactivated_agent_stays_deactivated_through_unreachability():
    records = MasterRecords()
    records.agents["A1"] = agent("A1")
    master_core.deactivate_agent(records, "A1")
    master_core.mark_unreachable(records, "A1", now=NOW)
    master_core.agent_reregistered(records, "A1", [], now=NOW, monotonic=MONO)
    assert records.agents["A1"].deactivated and not records.agents["A1"].active
    master_core.mark_unreachable(records, "A1", now=NOW)
    assert master_core.reactivate_agent(records, "A1") == (409, "Agent removed while processing the call", [])
    assert not records.agents["A1"].deactivated
