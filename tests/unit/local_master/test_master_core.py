"""The master's pure core: records and a stimulus in, effects out (no master, no threads, no clock)."""

from __future__ import annotations

import pytest

from airflow_mesos.local import master_core
from airflow_mesos.local.allocator import Resources
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
