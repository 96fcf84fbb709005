"""The agent's pure decisions about custom executors (src/slave/slave.cpp, src/common/validation.cpp 1.11.0)."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from airflow_mesos.local.agent_executors import wait_status
from airflow_mesos.local.agent_records import AgentExecutor, AgentTask, executor_terminated_update
from airflow_mesos.local.launch_planner import (
    MAPPED_SANDBOX,
    LaunchError,
    executor_environment,
    executor_limits,
    executor_shutdown_grace,
    plan_executor_run,
    stringify_duration,
)
from airflow_mesos.local.process_containerizer import ExitInfo
from airflow_mesos.local.status_updates import StatusUpdateManager, encode_uuid
from airflow_mesos.local.validation import validate_executor_call

# ------------------------------------------------------------------------------------------------ termination


def executor(pending: dict | None = None) -> AgentExecutor:
    info = {"executor_id": {"value": "E"}, "framework_id": {"value": "F"}}
    return AgentExecutor("F", info, "C", Path("/sandbox"), 0, pending_termination=pending)


TIMEOUT = {"state": "TASK_FAILED", "reason": "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
           "message": "Executor did not register within 1mins"}
LAUNCH_FAILED = {"state": "TASK_FAILED", "reason": "REASON_CONTAINER_LAUNCH_FAILED",
                 "message": "Failed to launch container: no image"}
OOM = {"state": "TASK_FAILED", "reason": "REASON_CONTAINER_LIMITATION_MEMORY", "message": "Memory limit exceeded"}


@pytest.mark.parametrize("pending, termination, expected", [
    (None, None, ("TASK_FAILED", "REASON_EXECUTOR_TERMINATED", "Executor terminated")),
    (None, {}, ("TASK_FAILED", "REASON_EXECUTOR_TERMINATED", "Executor terminated")),
    (TIMEOUT, {}, ("TASK_FAILED", "REASON_EXECUTOR_REGISTRATION_TIMEOUT", "Executor did not register within 1mins")),
    (LAUNCH_FAILED, {}, ("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", "Failed to launch container: no image")),
    (None, OOM, ("TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY", "Memory limit exceeded")),
    # The containerizer's termination wins over the pending one; both messages are kept, pending first.
    (TIMEOUT, OOM, ("TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY",
                    "Executor did not register within 1mins; Memory limit exceeded")),
    (None, {"state": "TASK_LOST"}, ("TASK_LOST", "REASON_EXECUTOR_TERMINATED", "Executor terminated")),
])
def test_send_executor_terminated_status_update(pending, termination, expected):
    update = executor_terminated_update(executor(pending), termination)
    assert (update["state"], update["reason"], update["message"]) == expected


@pytest.mark.parametrize("info, status", [
    (ExitInfo(exit_code=0), 0), (ExitInfo(exit_code=3), 768), (ExitInfo(signal=9), 9),
    (ExitInfo(error="gone"), -1), (None, -1),
])
def test_exited_executor_status_is_a_wait_status(info, status):
    assert wait_status(info) == status


def test_task_moves_queued_launched_terminated_completed():
    e = executor()
    task = AgentTask("F", {"task_id": {"value": "t"}}, "C", Path("/sandbox"), 0, executor_id="E")
    e.queued_tasks["t"] = task
    assert e.incomplete_tasks()
    e.launched_tasks["t"] = e.queued_tasks.pop("t")
    e.task_update(task, "TASK_RUNNING")
    assert list(e.launched_tasks) == ["t"]
    e.task_update(task, "TASK_FINISHED")
    assert list(e.terminated_tasks) == ["t"] and e.launched_tasks == {}
    e.complete_task("t")
    assert e.completed_tasks == [task] and not e.incomplete_tasks()
    e.task_update(task, "TASK_FINISHED")   # a late duplicate does not bring it back
    assert e.terminated_tasks == {}


# ------------------------------------------------------------------------------------------------ environment


@pytest.mark.parametrize("seconds, text", [
    (5, "5secs"), (60, "1mins"), (90, "1.5mins"), (0.1, "100ms"), (900, "15mins"), (2, "2secs"), (0, "0ns"),
    (3600, "1hrs"), (86400 * 2, "2days"), (1e-6, "1us"),
])
def test_durations_print_as_stout_does(seconds, text):
    assert stringify_duration(seconds) == text


def info(**fields) -> dict:
    return {"executor_id": {"value": "E"}, "framework_id": {"value": "F"}, "command": {"value": "run"}, **fields}


def test_executor_environment_without_and_with_checkpointing():
    env = executor_environment(info(), directory="/d", agent_id="S", agent_pid="slave(1)@127.0.0.1:5051",
                               agent_address="127.0.0.1:5051", checkpoint=False, shutdown_grace=5.0)
    assert env == {"LIBPROCESS_PORT": "0", "MESOS_FRAMEWORK_ID": "F", "MESOS_EXECUTOR_ID": "E",
                   "MESOS_DIRECTORY": "/d", "MESOS_SLAVE_ID": "S", "MESOS_SLAVE_PID": "slave(1)@127.0.0.1:5051",
                   "MESOS_AGENT_ENDPOINT": "127.0.0.1:5051", "MESOS_CHECKPOINT": "0",
                   "MESOS_HTTP_COMMAND_EXECUTOR": "0", "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "5secs"}
    env = executor_environment(info(), directory="/d", agent_id="S", agent_pid="p", agent_address="a",
                               checkpoint=True, shutdown_grace=5.0, libprocess_ip="10.0.0.1")
    assert env["MESOS_CHECKPOINT"] == "1" and env["MESOS_RECOVERY_TIMEOUT"] == "15mins"
    assert env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] == "2secs" and env["LIBPROCESS_IP"] == "10.0.0.1"


def test_shutdown_grace_from_the_executor_info_else_the_agent():
    assert executor_shutdown_grace(info(), 5.0) == 5.0
    assert executor_shutdown_grace(info(shutdown_grace_period={"nanoseconds": 1_500_000_000}), 5.0) == 1.5


def plan(executor_info: dict):
    return plan_executor_run(executor_info, agent_id="S", container_id="C", sandbox_dir="/work/sandbox",
                             agent_pid="slave(1)@127.0.0.1:5051", agent_address="127.0.0.1:5051", checkpoint=False,
                             shutdown_grace=5.0)


def test_a_process_executor_runs_its_command_with_the_agents_environment_and_its_own():
    secret = base64.b64encode(b"hunter2").decode()
    variables = [{"name": "MINE", "value": "1"}, {"name": "MESOS_SANDBOX", "value": "/elsewhere"},
                 {"name": "TOKEN", "type": "SECRET", "secret": {"type": "VALUE", "value": {"data": secret}}}]
    run = plan(info(command={"value": "python -m airflow_mesos.warm", "environment": {"variables": variables}},
                    resources=[{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}]))
    assert run.kind == "process" and run.argv == ["/bin/sh", "-c", "python -m airflow_mesos.warm"]
    assert run.environment["MINE"] == "1" and run.environment["MESOS_SANDBOX"] == "/work/sandbox"
    assert run.environment["MESOS_EXECUTOR_ID"] == "E" and "MESOS_TASK_ID" not in run.environment
    assert "TOKEN" not in run.environment and run.secrets["TOKEN"].reveal() == "hunter2"
    assert "hunter2" not in repr(run)
    assert run.cpus == pytest.approx(0.1)


def test_an_executor_in_an_image_sees_the_mapped_sandbox_on_the_host_network():
    container = {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "img:1"}}}}
    run = plan(info(container=container))
    assert run.kind == "mesos" and run.image == "img:1" and run.network == "host"
    assert run.environment["MESOS_SANDBOX"] == MAPPED_SANDBOX
    assert run.environment["MESOS_DIRECTORY"] == "/work/sandbox"


def test_an_executor_without_a_command_cannot_be_planned():
    with pytest.raises(LaunchError, match="ExecutorInfo.command of executor 'E' is required"):
        plan({"executor_id": {"value": "E"}, "framework_id": {"value": "F"}})


def test_container_limits_are_the_executors_plus_its_tasks():
    own = [{"name": "cpus", "scalar": {"value": 0.1}}, {"name": "mem", "scalar": {"value": 256.0}}]
    task_a = [{"name": "cpus", "scalar": {"value": 0.5}}, {"name": "mem", "scalar": {"value": 128.0}}]
    assert executor_limits(own, []) == (pytest.approx(0.1), 256.0)
    assert executor_limits(own, [task_a, task_a]) == (pytest.approx(1.1), 512.0)
    assert executor_limits([], []) == (None, None)


# ------------------------------------------------------------------------------------------------ executor calls

GOOD_UUID = base64.b64encode(uuid.uuid4().bytes).decode()
IDS = {"executor_id": {"value": "E"}, "framework_id": {"value": "F"}}
STATUS = {"task_id": {"value": "t"}, "state": "TASK_RUNNING", "source": "SOURCE_EXECUTOR", "uuid": GOOD_UUID}


@pytest.mark.parametrize("call, error", [
    ({**IDS, "type": "SUBSCRIBE", "subscribe": {}}, None),
    ({**IDS, "type": "HEARTBEAT"}, None),
    ({**IDS, "type": "UPDATE", "update": {"status": STATUS}}, None),
    ({**IDS, "type": "MESSAGE", "message": {"data": "aGk="}}, None),
    (IDS, "Expecting 'type' to be present"),
    ({"framework_id": IDS["framework_id"], "type": "HEARTBEAT"}, "Expecting 'executor_id' to be present"),
    ({"executor_id": IDS["executor_id"], "type": "HEARTBEAT"}, "Expecting 'framework_id' to be present"),
    ({**IDS, "type": "SUBSCRIBE"}, "Expecting 'subscribe' to be present"),
    ({**IDS, "type": "MESSAGE"}, "Expecting 'message' to be present"),
    ({**IDS, "type": "UPDATE"}, "Expecting 'update' to be present"),
    ({**IDS, "type": "UPDATE", "update": {"status": {k: v for k, v in STATUS.items() if k != "uuid"}}},
     "Expecting 'uuid' to be present"),
    ({**IDS, "type": "UPDATE", "update": {"status": {**STATUS, "uuid": base64.b64encode(b"x" * 15).decode()}}},
     "Not a valid UUID"),
    ({**IDS, "type": "UPDATE", "update": {"status": {**STATUS, "uuid": base64.b64encode(bytes(16)).decode()}}},
     "Not a valid UUID"),   # version nibble 0: boost's version_unknown
    ({**IDS, "type": "UPDATE", "update": {"status": {**STATUS, "executor_id": {"value": "X"}}}},
     "ExecutorID in Call: E does not match ExecutorID in TaskStatus: X"),
    ({**IDS, "type": "UPDATE", "update": {"status": {k: v for k, v in STATUS.items() if k != "source"}}},
     "Received Call from executor E of framework F with invalid source, expecting 'SOURCE_EXECUTOR'"),
    ({**IDS, "type": "UPDATE", "update": {"status": {**STATUS, "state": "TASK_STAGING"}}},
     "Received TASK_STAGING from executor E of framework F which is not allowed"),
])
def test_validate_executor_call(call, error):
    assert validate_executor_call(call) == error


# ------------------------------------------------------------------------------------------------ update manager


def test_a_resent_uuid_is_not_queued_twice_until_the_stream_ends():
    manager = StatusUpdateManager(retry_interval=10.0)
    raw = uuid.uuid4().bytes
    status = {"task_id": {"value": "t"}, "state": "TASK_RUNNING", "uuid": encode_uuid(raw)}
    assert manager.add("F", "t", status) is not None
    assert manager.add("F", "t", dict(status)) is None
    assert len(manager) == 1
    assert manager.acknowledge("F", "t", raw) is not None
    assert manager.add("F", "t", dict(status)) is None   # acknowledged, still a duplicate of this stream
    final = uuid.uuid4().bytes
    manager.add("F", "t", {"task_id": {"value": "t"}, "state": "TASK_FINISHED", "uuid": encode_uuid(final)})
    manager.acknowledge("F", "t", final)
    assert manager.add("F", "t", dict(status)) is not None   # the terminal ack closed that stream


def test_an_executor_in_a_docker_container_is_named_and_given_its_role():
    container = {"type": "DOCKER", "docker": {"image": "img:1", "network": "HOST"}}
    resources = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}, "allocation_info": {"role": "airflow"}}]
    run = plan(info(container=container, resources=resources))
    assert run.kind == "docker" and run.environment["MESOS_CONTAINER_NAME"] == "mesos-C"
    assert run.environment["MESOS_ALLOCATION_ROLE"] == "airflow"
    assert run.environment["MESOS_SANDBOX"] == MAPPED_SANDBOX
