"""The master's pure core for custom executors: tasks with an ExecutorInfo, executor resources, SHUTDOWN,
MESSAGE, exited executors (src/master/master.cpp and src/master/validation.cpp 1.11.0)."""

from __future__ import annotations

import pytest

from airflow_mesos.local import master_core
from airflow_mesos.local.allocator import Resources
from airflow_mesos.local.master_core import (
    AllocateSoon,
    LaunchOnAgent,
    MessageToExecutor,
    SendToFramework,
    ShutdownExecutorOnAgent,
)
from airflow_mesos.local.records import AgentRecord, FrameworkRecord, MasterRecords, OfferRecord
from airflow_mesos.local.validation import executor_info_differences, validate_task, validate_task_executor

NOW = 1_700_000_100.0
TOTAL = Resources.build({"cpus": 2000, "mem": 2048_000})


def scalars(cpus: float, mem: float) -> list[dict]:
    return [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}]


def executor(executor_id: str = "E", **fields) -> dict:
    return {"executor_id": {"value": executor_id}, "type": "CUSTOM", "command": {"value": "run-executor"},
            "resources": scalars(0.1, 256.0), **fields}


def task(task_id: str, executor_info: dict | None = None, *, cpus: float = 0.5, mem: float = 128.0, **fields) -> dict:
    info = {"name": task_id, "task_id": {"value": task_id}, "agent_id": {"value": "A"},
            "resources": scalars(cpus, mem), **fields}
    if executor_info is not None:
        info["executor"] = executor_info
    return info


def setup_records() -> tuple[MasterRecords, FrameworkRecord]:
    records = MasterRecords()
    records.agents["A"] = AgentRecord(id="A", hostname="127.0.0.1", port=5051, pid="slave(1)@127.0.0.1:5051",
                                      url="http://127.0.0.1:5051", resources=[], attributes=[], total=TOTAL,
                                      registered_time=NOW, last_pong=0.0)
    info = {"id": {"value": "F"}, "name": "f", "user": "u", "roles": ["r"],
            "capabilities": [{"type": "MULTI_ROLE"}]}
    framework = FrameworkRecord("F", info, ["r"], set(), NOW, stream_id="s")
    records.frameworks["F"] = framework
    return records, framework


def offer_everything(records: MasterRecords) -> str:
    offers = [e for e in master_core.allocation_round(records, monotonic=0.0, new_offer_id=lambda: f"O{len(records.offers)}")
              if isinstance(e, SendToFramework)]
    assert len(offers) == 1
    return offers[0].event["offers"]["offers"][0]["id"]["value"]


def accept(records, framework, offer_id: str, tasks: list[dict]) -> list:
    call = {"offer_ids": [{"value": offer_id}], "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
            "filters": {"refuse_seconds": 0.0}}
    return master_core.accept(records, framework, call, now=NOW, monotonic=0.0)


def task_errors(effects: list) -> dict[str, str]:
    return {e.event["update"]["status"]["task_id"]["value"]: e.event["update"]["status"]["message"]
            for e in effects if isinstance(e, SendToFramework) and e.event["type"] == "UPDATE"
            and e.event["update"]["status"]["state"] == "TASK_ERROR"}


# ------------------------------------------------------------------------------------------------ accounting


def test_first_task_adds_the_executor_and_consumes_its_resources_once():
    records, framework = setup_records()
    offer_id = offer_everything(records)
    effects = accept(records, framework, offer_id, [task("t1", executor()), task("t2", executor())])
    assert task_errors(effects) == {}
    launches = [e for e in effects if isinstance(e, LaunchOnAgent)]
    assert [(e.task_info["task_id"]["value"], e.launch_executor) for e in launches] == [("t1", True), ("t2", False)]
    # Master::accept fills in the framework id; the master injects allocation_info into executor resources.
    sent = launches[0].task_info["executor"]
    assert sent["framework_id"] == {"value": "F"}
    assert all(r["allocation_info"] == {"role": "r"} for r in sent["resources"])
    record = framework.executors[("A", "E")]
    assert record.resources == Resources.build({"cpus": 100, "mem": 256_000}) and record.role == "r"
    # The tasks' own resources are theirs alone; the executor's are held once.
    assert framework.tasks["t1"].resources == Resources.build({"cpus": 500, "mem": 128_000})
    assert master_core._held(records, agent_id="A") == Resources.build({"cpus": 1100, "mem": 512_000})


def test_offers_name_the_frameworks_executors_on_the_agent_and_leave_their_resources_out():
    records, framework = setup_records()
    accept(records, framework, offer_everything(records), [task("t1", executor("E1")), task("t2", executor("E2"))])
    effects = master_core.allocation_round(records, monotonic=1.0, new_offer_id=lambda: "O-next")
    offer = effects[0].event["offers"]["offers"][0]
    assert offer["executor_ids"] == [{"value": "E1"}, {"value": "E2"}]
    cpus = sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == "cpus")
    assert cpus == pytest.approx(2.0 - 2 * 0.5 - 2 * 0.1)


def test_exited_executor_frees_its_resources_and_the_framework_hears_failure():
    records, framework = setup_records()
    accept(records, framework, offer_everything(records), [task("t1", executor())])
    effects = master_core.executor_exited(records, "A", "F", "E", 9)
    assert effects[0] == SendToFramework("F", {"type": "FAILURE", "failure": {
        "agent_id": {"value": "A"}, "executor_id": {"value": "E"}, "status": 9}})
    assert AllocateSoon() in effects and framework.executors == {}
    # Unknown executors, agents and frameworks are ignored (Master::exitedExecutor's checks).
    assert master_core.executor_exited(records, "A", "F", "E", 9) == []
    assert master_core.executor_exited(records, "B", "F", "E", 9) == []
    assert master_core.executor_exited(records, "A", "G", "E", 9) == []


def test_a_disconnected_framework_is_not_told_but_the_executor_is_removed():
    records, framework = setup_records()
    accept(records, framework, offer_everything(records), [task("t1", executor())])
    framework.connected = False
    assert master_core.executor_exited(records, "A", "F", "E", 0) == [AllocateSoon()]
    assert framework.executors == {}


def test_a_later_task_with_a_different_executor_info_is_a_task_error():
    records, framework = setup_records()
    accept(records, framework, offer_everything(records), [task("t1", executor())])
    effects = accept(records, framework, offer_everything(records),
                     [task("t2", executor(name="other")), task("t3", executor())])
    errors = task_errors(effects)
    assert list(errors) == ["t2"]
    assert errors["t2"].startswith("ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID")
    assert "name" in errors["t2"] and "run-executor" not in errors["t2"]


def test_removal_unreachability_and_reregistration_of_executors():
    records, framework = setup_records()
    accept(records, framework, offer_everything(records), [task("t1", executor())])
    master_core.mark_unreachable(records, "A", now=NOW)
    assert framework.executors == {}
    info = {**executor(), "framework_id": {"value": "F"},
            "resources": [{**r, "allocation_info": {"role": "r"}} for r in scalars(0.1, 256.0)]}
    master_core.agent_reregistered(records, "A", [], now=NOW, monotonic=1.0, executors=[info])
    assert framework.executors[("A", "E")].role == "r"
    master_core.agent_reregistered(records, "A", [], now=NOW, monotonic=2.0, executors=[])
    assert framework.executors == {}


def test_teardown_forgets_the_frameworks_executors():
    records, framework = setup_records()
    accept(records, framework, offer_everything(records), [task("t1", executor())])
    master_core.teardown(records, framework, NOW)
    assert framework.executors == {} and list(records.executors()) == []


# ------------------------------------------------------------------------------------------------ calls


def test_shutdown_and_message_are_relayed_to_reachable_agents_only():
    records, framework = setup_records()
    shutdown = {"executor_id": {"value": "E"}, "agent_id": {"value": "A"}}
    message = {"executor_id": {"value": "E"}, "agent_id": {"value": "A"}, "data": "aGk="}
    assert master_core.shutdown_executor(records, framework, shutdown) == [ShutdownExecutorOnAgent("A", "F", "E")]
    assert master_core.message_to_executor(records, framework, message) == [MessageToExecutor("A", "F", "E", "aGk=")]
    assert master_core.shutdown_executor(records, framework, {**shutdown, "agent_id": {"value": "B"}}) == []
    records.agents["A"].reachable = False
    assert master_core.shutdown_executor(records, framework, shutdown) == []
    assert master_core.message_to_executor(records, framework, message) == []


def test_executor_message_becomes_a_message_event():
    records, framework = setup_records()
    assert master_core.executor_message(records, "A", "F", "E", "aGk=") == [SendToFramework("F", {
        "type": "MESSAGE", "message": {"agent_id": {"value": "A"}, "executor_id": {"value": "E"}, "data": "aGk="}})]
    framework.connected = False
    assert master_core.executor_message(records, "A", "F", "E", "aGk=") == []


# ------------------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize("info, error", [
    (executor(), None),
    (executor(type="DEFAULT"), "'ExecutorInfo.command' must not be set for 'DEFAULT' executor"),
    ({k: v for k, v in executor().items() if k != "command"},
     "'ExecutorInfo.command' must be set for 'CUSTOM' executor"),
    (executor("a/b"), "'a/b' contains invalid characters"),
    (executor(shutdown_grace_period={"nanoseconds": -1}), "ExecutorInfo's 'shutdown_grace_period' must be non-negative"),
    (executor(command={"value": "x", "environment": {"variables": [{"name": "V", "type": "SECRET"}]}}),
     "Executor's `CommandInfo` is invalid: Environment variable 'V' of type 'SECRET' must have a secret set"),
    (executor(container={"type": "DOCKER"}),
     "Executor's `ContainerInfo` is invalid: DockerInfo 'docker' is not set for DOCKER typed ContainerInfo"),
    (executor(framework_id={"value": "G"}), "ExecutorInfo has an invalid FrameworkID (Actual: G vs Expected: F)"),
    (executor(resources=[{"name": "cpus", "type": "SCALAR", "scalar": {"value": -1.0}}]),
     "Executor uses invalid resources: "),
    ({k: v for k, v in executor().items() if k not in ("command", "type")}, "'ExecutorInfo.command' must be set"),
    ({**{k: v for k, v in executor().items() if k != "command"}, "type": "UNKNOWN"},
     "'ExecutorInfo.type' must be 'CUSTOM'"),
])
def test_executor_validation_in_mesos_order(info, error):
    info = {"framework_id": {"value": "F"}, **info}
    found = validate_task_executor(info, framework_id="F", existing=None)
    if error is None or not error.endswith(": "):
        assert found == error
    else:
        assert found is not None and found.startswith(error)


def test_missing_framework_id_is_refused_after_the_master_would_have_filled_it():
    assert validate_task_executor(executor(), framework_id="F", existing=None) == "'ExecutorInfo.framework_id' must be set"


@pytest.mark.parametrize("change, differs", [
    ({}, []),
    ({"resources": list(reversed(scalars(0.1, 256.0)))}, []),   # resources compare as resources
    ({"resources": scalars(0.2, 256.0)}, ["resources"]),
    ({"name": "n"}, ["name"]),
    ({"command": {"value": "other"}}, ["command"]),
    ({"labels": {"labels": [{"key": "k"}]}}, []),               # operator== leaves labels out
    ({"shutdown_grace_period": {"nanoseconds": 1}}, []),        # and the shutdown grace period
    ({"data": ""}, []),                                         # unset bytes equal empty ones
    ({"type": "UNKNOWN"}, ["type"]),
])
def test_executor_info_compatibility(change, differs):
    assert executor_info_differences(executor(), {**executor(), **change}) == differs


def test_executor_resources_count_in_the_offer_check_only_for_a_new_executor():
    offered = Resources.build({"cpus": 550, "mem": 1000_000})
    new = task("t", {**executor(), "framework_id": {"value": "F"}})
    error, _ = validate_task(new, agent_id="A", known_task_ids=set(), unreachable_task_ids=set(), offered=offered,
                             framework_id="F")
    assert error is not None and error.startswith("Total resources ")
    error, resources = validate_task(new, agent_id="A", known_task_ids=set(), unreachable_task_ids=set(),
                                     offered=offered, framework_id="F", existing_executor=new["executor"])
    assert error is None and resources == Resources.build({"cpus": 500, "mem": 128_000})


def test_offer_records_left_untouched_by_validation_errors():
    records, framework = setup_records()
    offer_id = offer_everything(records)
    accept(records, framework, offer_id, [task("bad", executor(framework_id={"value": "G"}))])
    assert framework.executors == {} and framework.tasks == {}
    assert not any(isinstance(o, OfferRecord) for o in records.offers.values())
