"""Conformance of the embedded cluster's executor side with Mesos 1.11, written from its source.

A real master and agent over HTTP, a scheduler written against the v1 scheduler API (tests/support, no code of
airflow_mesos.mesos), and a small custom executor (executor_api/conformance_executor.py) that the agent starts
as a host process, or in a container, and that speaks the v1 executor API.  What each test expects is what
src/slave/slave.cpp, src/slave/http.cpp and src/master/master.cpp (1.11.0) do; the function is named beside it.

Allocation runs on demand (``allocation_interval=None``), so an offer seen is one round's answer and an
empty round proves nothing was left to offer.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from airflow_mesos.local import AgentSpec, LocalCluster
from tests.support.scheduler_client import SchedulerClient, framework_info, launch_call

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "integration" / "executor_api" / "conformance_executor.py"
NO_REFUSAL = {"refuse_seconds": 0.0}


# ---------------------------------------------------------------------------------------------------------------
# helpers


def scalars(cpus: float, mem: float) -> list[dict]:
    return [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}]


def executor_info(executor_id: str, mode: str = "normal", *, cpus: float = 0.1, mem: float = 64.0,
                  extra_env: list[dict] | None = None, **fields) -> dict:
    variables = [{"name": "PYTHONPATH", "value": str(REPO)}, {"name": "CONFORMANCE_MODE", "value": mode},
                 *(extra_env or [])]
    return {"executor_id": {"value": executor_id}, "type": "CUSTOM", "name": f"conformance {executor_id}",
            "command": {"value": f"{sys.executable} {SCRIPT}", "environment": {"variables": variables}},
            "resources": scalars(cpus, mem), **fields}


def task(offer: dict, task_id: str, executor: dict, spec: dict, *, cpus: float = 0.1, mem: float = 32.0) -> dict:
    return {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
            "resources": scalars(cpus, mem), "executor": executor,
            "data": base64.b64encode(json.dumps(spec).encode()).decode()}


def offered(offer: dict, name: str) -> float:
    return sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == name)


def one_offer(cluster: LocalCluster, sub: SchedulerClient) -> dict:
    made = cluster.allocate_now()
    assert len(made) == 1, made
    event = sub.event("OFFERS")
    return event["offers"]["offers"][0]


def running(sub: SchedulerClient, task_id: str, timeout: float = 30.0) -> dict:
    return sub.update(task_id, "TASK_RUNNING", timeout=timeout)


def terminal(sub: SchedulerClient, task_id: str, timeout: float = 30.0) -> dict:
    states = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_DROPPED", "TASK_ERROR")

    def match(event: dict) -> bool:
        return event.get("type") == "UPDATE" and event["update"]["status"]["task_id"]["value"] == task_id \
            and event["update"]["status"]["state"] in states

    return sub.wait_for(match, timeout, f"terminal update of {task_id}")["update"]["status"]


def executor_events(sandbox: Path) -> list[dict]:
    path = sandbox / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_executor_event(sandbox: Path, predicate, timeout: float = 20.0, what: str = "event") -> dict:
    deadline = time.monotonic() + timeout
    while True:
        for event in executor_events(sandbox):
            if predicate(event):
                return event
        assert time.monotonic() < deadline, f"executor never recorded {what}: {executor_events(sandbox)}"
        time.sleep(0.05)


def agent_state(agent) -> dict:
    return httpx.get(agent.url + "/state", timeout=10).json()


def state_executor(agent, framework_id: str, executor_id: str, completed: bool = False) -> dict | None:
    for framework in agent_state(agent)["frameworks"] + agent_state(agent)["completed_frameworks"]:
        if framework["id"] != framework_id:
            continue
        for executor in framework["completed_executors" if completed else "executors"]:
            if executor["id"] == executor_id:
                return executor
    return None


def completed_executor(agent, framework_id: str, executor_id: str, timeout: float = 20.0) -> dict:
    """The executor once /state lists it as completed: terminated, and its tasks' terminal updates acknowledged
    (the scheduler's acknowledgements travel on their own thread)."""
    deadline = time.monotonic() + timeout
    while True:
        model = state_executor(agent, framework_id, executor_id, completed=True)
        if model is not None:
            return model
        assert time.monotonic() < deadline, agent_state(agent)
        time.sleep(0.05)


def executor_sandbox(agent, framework_id: str, executor_id: str) -> Path:
    executor = state_executor(agent, framework_id, executor_id)
    assert executor is not None, f"executor {executor_id} not on the agent's /state"
    return Path(executor["directory"])


@pytest.fixture
def make_cluster(tmp_path):
    started: list[LocalCluster] = []

    def make(**options) -> LocalCluster:
        options = {"heartbeat_interval": 1.0, "allocation_interval": None, **options}
        cluster = LocalCluster([AgentSpec(cpus=2.0, mem=2048.0)], work_dir=tmp_path / f"c{len(started)}",
                               **options)
        cluster.start()
        started.append(cluster)
        return cluster

    yield make
    for cluster in started:
        cluster.stop()


class AckingScheduler(SchedulerClient):
    """Acknowledges every update with a uuid as it arrives (as a scheduler driver does), so a task's later
    updates are never held behind an unacknowledged one."""

    def __init__(self, *args, **kwargs) -> None:
        # One acknowledging thread, in arrival order (the reader thread must not block on HTTP calls).
        self._acks: queue.Queue = queue.Queue()
        self.ack_failures: list[str] = []
        threading.Thread(target=self._acknowledge, daemon=True).start()
        super().__init__(*args, **kwargs)

    def _on_event(self, event: dict) -> None:
        super()._on_event(event)
        status = (event.get("update") or {}).get("status") or {}
        if event.get("type") == "UPDATE" and "uuid" in status:
            self._acks.put(status)

    def _acknowledge(self) -> None:
        while True:
            status = self._acks.get()
            try:
                response = self.ack(status)
                if response.status_code != 202:
                    self.ack_failures.append(f"{response.status_code} {response.text}")
            except httpx.HTTPError as exc:
                self.ack_failures.append(repr(exc))


def subscribe(cluster: LocalCluster, subs: list, **info) -> SchedulerClient:
    sub = AckingScheduler(cluster.master_url, framework_info(**info))
    subs.append(sub)
    sub.event("SUBSCRIBED")
    return sub


def agent_of(cluster: LocalCluster):
    return next(iter(cluster.agents.values()))


def subscribed_offer(cluster: LocalCluster, subs: list, **info) -> tuple[SchedulerClient, dict]:
    """A subscribed framework and the first offer it gets."""
    sub = subscribe(cluster, subs, **info)
    return sub, one_offer(cluster, sub)


def launch_tasks(sub: SchedulerClient, offer: dict, tasks: list[dict]) -> None:
    """Accept ``offer`` with ``tasks``; what they leave is declined without a refusal, so the next round
    offers it again."""
    assert sub.call(launch_call(offer, tasks, NO_REFUSAL)).status_code == 202


def start_staying_task(sub: SchedulerClient, offer: dict, executor: dict, timeout: float = 30.0) -> None:
    """Task ``t`` in ``executor``, one that stays until killed, launched and running."""
    launch_tasks(sub, offer, [task(offer, "t", executor, {"stay": True})])
    running(sub, "t", timeout=timeout)


def shutdown_executor(sub: SchedulerClient, offer: dict, executor_id: str) -> None:
    """The scheduler's SHUTDOWN of one executor on the offer's agent."""
    assert sub.call({"type": "SHUTDOWN", "shutdown": {"executor_id": {"value": executor_id},
                                                      "agent_id": offer["agent_id"]}}).status_code == 202


def python_image_container(python_image: str) -> dict:
    """A MESOS container of ``python_image`` with this checkout at /repo and the venv's packages at /deps."""
    site_packages = next(p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix))
    return {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": python_image}}},
            "volumes": [{"container_path": "/repo", "host_path": str(REPO), "mode": "RO"},
                        {"container_path": "/deps", "host_path": site_packages, "mode": "RO"}]}


def container_command(mode: str, *, extra_env: list[dict] | None = None) -> dict:
    """The conformance executor's command inside :func:`python_image_container`."""
    variables = [{"name": "PYTHONPATH", "value": "/repo:/deps"}, {"name": "CONFORMANCE_MODE", "value": mode},
                 *(extra_env or [])]
    return {"value": "python3 /repo/tests/integration/executor_api/conformance_executor.py",
            "environment": {"variables": variables}}


# ---------------------------------------------------------------------------------------------------------------
# one executor, many tasks


def test_tasks_share_one_executor_charged_once_and_offers_name_it(make_cluster, subs):
    """Master::_accept (addExecutor once, consumed += executor resources), Master::offer (executor_ids),
    Slave::__run (queue until SUBSCRIBE, then LAUNCH; later tasks straight to the running executor),
    Slave::___statusUpdate (ACKNOWLEDGED to the executor), /state's executor model."""
    cluster = make_cluster()
    agent = agent_of(cluster)
    sub, offer = subscribed_offer(cluster, subs)
    assert "executor_ids" not in offer
    executor = executor_info("shared")
    tasks = [task(offer, "a", executor, {"stay": True}), task(offer, "b", executor, {"stay": True}),
             task(offer, "c", executor, {"run": 0})]
    launch_tasks(sub, offer, tasks)
    for task_id in ("a", "b"):
        status = running(sub, task_id)
        assert status["executor_id"]["value"] == "shared" and status["source"] == "SOURCE_EXECUTOR"
        assert status["agent_id"] == offer["agent_id"]
    assert terminal(sub, "c")["state"] == "TASK_FINISHED"

    # The executor's resources are held once, beside its live tasks' (c finished and freed its own).
    offer = one_offer(cluster, sub)
    assert offer["executor_ids"] == [{"value": "shared"}]
    assert offered(offer, "cpus") == pytest.approx(2.0 - 0.1 - 2 * 0.1)
    assert offered(offer, "mem") == pytest.approx(2048.0 - 64.0 - 2 * 32.0)

    # A later task goes into the running executor: no second executor, no second charge.
    launch_tasks(sub, offer, [task(offer, "d", executor, {"run": 0})])
    assert terminal(sub, "d")["state"] == "TASK_FINISHED"
    offer = one_offer(cluster, sub)
    assert offered(offer, "cpus") == pytest.approx(2.0 - 0.1 - 2 * 0.1)

    sandbox = executor_sandbox(agent, sub.framework_id, "shared")
    subscribed = [e for e in executor_events(sandbox) if e["event"] == "SUBSCRIBED"]
    assert len(subscribed) == 1 and subscribed[0]["framework_id"] == sub.framework_id
    assert subscribed[0]["agent_id"] == offer["agent_id"]["value"]
    launched = [e["task_id"] for e in executor_events(sandbox) if e["event"] == "LAUNCH"]
    assert sorted(launched) == ["a", "b", "c", "d"]
    assert all(e["has_data"] for e in executor_events(sandbox) if e["event"] == "LAUNCH")
    # Every UPDATE was acknowledged to the executor by the agent (RUNNING and FINISHED of c and d, RUNNING of a, b).
    wait_executor_event(sandbox, lambda e: e["event"] == "ACKNOWLEDGED" and e["task_id"] == "d")
    assert len([e for e in executor_events(sandbox) if e["event"] == "ACKNOWLEDGED"]) >= 6

    # /state: the executor with its tasks, its sandbox; the master's state lists it with its resources.
    model = state_executor(agent, sub.framework_id, "shared")
    assert model["container"] and model["directory"] == str(sandbox) and model["type"] == "CUSTOM"
    assert sorted(t["id"] for t in model["tasks"]) == ["a", "b"]
    assert sorted(t["id"] for t in model["completed_tasks"]) == ["c", "d"]
    assert model["queued_tasks"] == []
    assert model["resources"]["cpus"] == pytest.approx(0.3) and model["resources"]["mem"] == pytest.approx(128.0)
    assert all(t["executor_id"] == "shared" for t in model["tasks"])
    master_state = httpx.get(cluster.master_url + "/master/state", timeout=10).json()
    framework = next(f for f in master_state["frameworks"] if f["id"] == sub.framework_id)
    assert [e["executor_id"] for e in framework["executors"]] == ["shared"]
    assert framework["executors"][0]["slave_id"] == offer["agent_id"]["value"]
    assert framework["executors"][0]["resources"]["cpus"] == pytest.approx(0.1)
    assert framework["used_resources"]["cpus"] == pytest.approx(0.3)

    # /files serves the executor's sandbox; a task of it writes under tasks/<task_id>/.
    virtual = f"/frameworks/{sub.framework_id}/executors/shared/runs/latest/tasks/a/stdout"
    read = httpx.get(agent.url + "/files/read", params={"path": virtual, "offset": 0}, timeout=10)
    assert read.status_code == 200 and "task a ran in executor shared" in read.json()["data"]

    # The executor's environment (executorEnvironment in slave.cpp).
    environment = json.loads((sandbox / "environment.json").read_text())
    assert environment["MESOS_FRAMEWORK_ID"] == sub.framework_id
    assert environment["MESOS_EXECUTOR_ID"] == "shared"
    assert environment["MESOS_DIRECTORY"] == str(sandbox) == environment["MESOS_SANDBOX"]
    assert environment["MESOS_SLAVE_ID"] == offer["agent_id"]["value"]
    assert environment["MESOS_AGENT_ENDPOINT"] == f"{agent.bind_address}:{agent.port}"
    assert environment["MESOS_SLAVE_PID"] == f"slave(1)@{agent.bind_address}:{agent.port}"
    assert environment["MESOS_CHECKPOINT"] == "0" and "MESOS_RECOVERY_TIMEOUT" not in environment
    assert environment["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] == "5secs"
    assert environment["MESOS_HTTP_COMMAND_EXECUTOR"] == "0" and environment["LIBPROCESS_PORT"] == "0"
    assert "MESOS_TASK_ID" not in environment


def test_kill_message_both_ways_and_shutdown_frees_the_executor(make_cluster, subs):
    """Slave::kill (KILL with the kill policy to a running executor), Master::message / Slave::schedulerMessage,
    Slave::executorMessage / Master::executorMessage (MESSAGE event), Master::shutdown / Slave::shutdownExecutor,
    Slave::executorTerminated (ExitedExecutorMessage) and Master::exitedExecutor (FAILURE, resources back)."""
    cluster = make_cluster()
    agent = agent_of(cluster)
    sub, offer = subscribed_offer(cluster, subs)
    executor = executor_info("worker")
    launch = [task(offer, "keep", executor, {"stay": True}), task(offer, "victim", executor, {"stay": True})]
    launch_tasks(sub, offer, launch)
    running(sub, "keep")
    running(sub, "victim")
    sandbox = executor_sandbox(agent, sub.framework_id, "worker")

    policy = {"grace_period": {"nanoseconds": 2_000_000_000}}
    assert sub.call({"type": "KILL", "kill": {"task_id": {"value": "victim"}, "agent_id": offer["agent_id"],
                                              "kill_policy": policy}}).status_code == 202
    killed = terminal(sub, "victim")
    assert killed["state"] == "TASK_KILLED" and killed["source"] == "SOURCE_EXECUTOR"
    kill = wait_executor_event(sandbox, lambda e: e["event"] == "KILL")
    assert kill["task_id"] == "victim" and kill["kill_policy"] == policy

    # The executor keeps serving the other task and takes messages both ways.
    data = base64.b64encode(b"hello executor").decode()
    assert sub.call({"type": "MESSAGE", "message": {"agent_id": offer["agent_id"], "executor_id": {"value": "worker"},
                                                    "data": data}}).status_code == 202
    message = sub.event("MESSAGE")["message"]
    assert base64.b64decode(message["data"]) == b"echo:hello executor"
    assert message["executor_id"] == {"value": "worker"} and message["agent_id"] == offer["agent_id"]
    assert [s["state"] for s in [e["update"]["status"] for e in sub.events if e.get("type") == "UPDATE"
                                 and e["update"]["status"]["task_id"]["value"] == "keep"]] == ["TASK_RUNNING"]

    # SHUTDOWN: the executor kills its task and exits 0; the framework hears FAILURE with the wait status.
    shutdown_executor(sub, offer, "worker")
    assert terminal(sub, "keep")["state"] == "TASK_KILLED"
    failure = sub.event("FAILURE", timeout=30)["failure"]
    assert failure == {"agent_id": offer["agent_id"], "executor_id": {"value": "worker"}, "status": 0}
    wait_executor_event(sandbox, lambda e: e["event"] == "SHUTDOWN")

    offer = one_offer(cluster, sub)
    assert "executor_ids" not in offer
    assert offered(offer, "cpus") == pytest.approx(2.0) and offered(offer, "mem") == pytest.approx(2048.0)
    completed_executor(agent, sub.framework_id, "worker")
    master_state = httpx.get(cluster.master_url + "/master/state", timeout=10).json()
    assert next(f for f in master_state["frameworks"] if f["id"] == sub.framework_id)["executors"] == []


def test_executor_exit_fails_its_tasks_with_executor_terminated(make_cluster, subs):
    """Slave::executorTerminated / sendExecutorTerminatedStatusUpdate: TASK_FAILED, REASON_EXECUTOR_TERMINATED,
    SOURCE_AGENT for its live tasks (the code sends TASK_FAILED, whatever its comment says); a FAILURE with the
    wait status; a new task of that executor id starts a new run."""
    cluster = make_cluster()
    agent = agent_of(cluster)
    sub, offer = subscribed_offer(cluster, subs)
    executor = executor_info("fragile")
    launch = [task(offer, "bystander", executor, {"stay": True}), task(offer, "crasher", executor, {"exit": 3})]
    launch_tasks(sub, offer, launch)
    statuses = {task_id: terminal(sub, task_id) for task_id in ("bystander", "crasher")}
    for status in statuses.values():
        assert status["state"] == "TASK_FAILED", status
        assert status["reason"] == "REASON_EXECUTOR_TERMINATED" and status["source"] == "SOURCE_AGENT"
        assert status["message"] == "Executor terminated" and status["executor_id"] == {"value": "fragile"}
    failure = sub.event("FAILURE", timeout=30)["failure"]
    assert failure["executor_id"] == {"value": "fragile"} and failure["status"] == 3 << 8

    first = completed_executor(agent, sub.framework_id, "fragile")
    offer = one_offer(cluster, sub)
    launch_tasks(sub, offer, [task(offer, "again", executor, {"run": 0})])
    assert terminal(sub, "again")["state"] == "TASK_FINISHED"
    second = state_executor(agent, sub.framework_id, "fragile")
    assert second is not None and second["container"] != first["container"]
    # The first run stays among the completed executors, with its tasks (as --max_completed_executors_per_framework).
    framework = next(f for f in agent_state(agent)["frameworks"] if f["id"] == sub.framework_id)
    earlier = [e for e in framework["completed_executors"] if e["container"] == first["container"]]
    assert [sorted(t["id"] for t in e["completed_tasks"]) for e in earlier] == [["bystander", "crasher"]]


def test_executor_killed_by_signal(make_cluster, subs):
    cluster = make_cluster()
    agent = agent_of(cluster)
    sub, offer = subscribed_offer(cluster, subs, capabilities=("MULTI_ROLE",))
    start_staying_task(sub, offer, executor_info("doomed"))
    container = state_executor(agent, sub.framework_id, "doomed")["container"]
    pid = agent._executor_runs[container].pid
    os.kill(pid, signal.SIGKILL)
    status = terminal(sub, "t")
    assert (status["state"], status["reason"]) == ("TASK_FAILED", "REASON_EXECUTOR_TERMINATED")
    assert sub.event("FAILURE", timeout=30)["failure"]["status"] == signal.SIGKILL


def test_registration_timeout_destroys_the_executor_and_fails_its_tasks(make_cluster, subs):
    """Slave::registerExecutorTimeout: destroyed, pendingTermination TASK_FAILED /
    REASON_EXECUTOR_REGISTRATION_TIMEOUT "Executor did not register within 1secs"."""
    cluster = make_cluster(executor_registration_timeout=1.0)
    sub, offer = subscribed_offer(cluster, subs)
    executor = executor_info("silent", "never_subscribe")
    started = time.monotonic()
    launch_tasks(sub, offer, [task(offer, "waiting", executor, {"run": 0})])
    status = terminal(sub, "waiting")
    assert time.monotonic() - started >= 1.0
    assert status["state"] == "TASK_FAILED" and status["reason"] == "REASON_EXECUTOR_REGISTRATION_TIMEOUT"
    assert status["message"] == "Executor did not register within 1secs" and status["source"] == "SOURCE_AGENT"
    assert sub.event("FAILURE", timeout=30)["failure"]["status"] == signal.SIGKILL
    assert agent_of(cluster).flags()["executor_registration_timeout"] == "1secs"


def test_shutdown_grace_then_the_container_is_destroyed(make_cluster, subs):
    """Slave::_shutdownExecutor and shutdownExecutorTimeout: SHUTDOWN, and after the grace period the container
    is destroyed; the tasks the executor left get REASON_EXECUTOR_TERMINATED."""
    cluster = make_cluster(executor_shutdown_grace_period=1.5)
    agent = agent_of(cluster)
    sub, offer = subscribed_offer(cluster, subs)
    executor = executor_info("stubborn", "ignore_shutdown")
    start_staying_task(sub, offer, executor)
    sandbox = executor_sandbox(agent, sub.framework_id, "stubborn")
    environment = json.loads((sandbox / "environment.json").read_text())
    assert environment["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] == "1.5secs"
    asked = time.monotonic()
    shutdown_executor(sub, offer, "stubborn")
    status = terminal(sub, "t")
    assert time.monotonic() - asked >= 1.5
    assert (status["state"], status["reason"]) == ("TASK_FAILED", "REASON_EXECUTOR_TERMINATED")
    assert sub.event("FAILURE", timeout=30)["failure"]["status"] == signal.SIGKILL
    assert any(e["event"] == "SHUTDOWN" for e in executor_events(sandbox))


def test_resubscribe_resends_unacknowledged_update_once(make_cluster, subs):
    """Slave::subscribe with unacknowledged_updates: the update goes through the status update manager again,
    which drops the duplicate uuid (TaskStatusUpdateStream::update) and ACKNOWLEDGEs it again."""
    cluster = make_cluster()
    agent = agent_of(cluster)
    sub, offer = subscribed_offer(cluster, subs)
    executor = executor_info("flaky-link", "resubscribe")
    launch_tasks(sub, offer, [task(offer, "t", executor, {"run": 1})])
    assert terminal(sub, "t")["state"] == "TASK_FINISHED"
    sandbox = executor_sandbox(agent, sub.framework_id, "flaky-link")
    events = executor_events(sandbox)
    assert len([e for e in events if e["event"] == "SUBSCRIBED"]) == 2
    acks = [e["uuid"] for e in events if e["event"] == "ACKNOWLEDGED"]
    running_updates = [e["update"]["status"] for e in sub.events if e.get("type") == "UPDATE"
                       and e["update"]["status"]["state"] == "TASK_RUNNING"]
    assert len(running_updates) == 1
    assert acks.count(running_updates[0]["uuid"]) == 2   # once per SUBSCRIBE connection that carried it


# ---------------------------------------------------------------------------------------------------------------
# validation


def test_master_validates_tasks_with_executors(make_cluster, subs):
    """validation::task::internal::validateExecutor and executor::internal::validate (src/master/validation.cpp)."""
    cluster = make_cluster()
    sub, offer = subscribed_offer(cluster, subs)
    good = executor_info("v")
    both = {**task(offer, "both", good, {}), "command": {"value": "true"}}
    other_framework = task(offer, "foreign", {**good, "framework_id": {"value": "someone-else"}}, {})
    no_command = task(offer, "nocmd", {k: v for k, v in good.items() if k != "command"}, {})
    too_big = task(offer, "huge", executor_info("big", cpus=1.95), {}, cpus=0.1)
    first = task(offer, "first", good, {"stay": True})
    launch_tasks(sub, offer, [both, other_framework, no_command, too_big, first])
    assert sub.update("both", "TASK_ERROR")["message"] == \
        "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
    assert sub.update("foreign", "TASK_ERROR")["message"] == (
        f"ExecutorInfo has an invalid FrameworkID (Actual: someone-else vs Expected: {sub.framework_id})")
    assert sub.update("nocmd", "TASK_ERROR")["message"] == "'ExecutorInfo.command' must be set for 'CUSTOM' executor"
    assert sub.update("huge", "TASK_ERROR")["message"].startswith("Total resources ")
    running(sub, "first")

    offer = one_offer(cluster, sub)
    changed = task(offer, "changed", {**good, "name": "another name"}, {})
    launch_tasks(sub, offer, [changed])
    error = sub.update("changed", "TASK_ERROR")
    assert error["reason"] == "REASON_TASK_INVALID" and error["source"] == "SOURCE_MASTER"
    assert error["message"].startswith("ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID")
    assert "name" in error["message"]


def post_executor(agent, body, headers=None, content=None, method="POST") -> httpx.Response:
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return httpx.request(method, agent.url + "/api/v1/executor",
                         content=content if content is not None else json.dumps(body), headers=h, timeout=10)


def test_executor_endpoint_refuses_bad_calls_in_mesos_order(make_cluster, subs):
    """Http::executor (src/slave/http.cpp) and validateExecutorCall (src/common/validation.cpp)."""
    cluster = make_cluster(executor_shutdown_grace_period=0.2)   # its executor never subscribes: quick teardown
    agent = agent_of(cluster)
    sub, offer = subscribed_offer(cluster, subs)
    launch_tasks(sub, offer, [task(offer, "q", executor_info("mute", "never_subscribe"), {})])
    deadline = time.monotonic() + 20
    while state_executor(agent, sub.framework_id, "mute") is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ids = {"framework_id": {"value": sub.framework_id}, "executor_id": {"value": "mute"}}
    uuid = base64.b64encode(bytes.fromhex("0123456789ab4def8123456789abcdef")).decode()
    status = {"task_id": {"value": "q"}, "state": "TASK_RUNNING", "source": "SOURCE_EXECUTOR", "uuid": uuid}

    response = post_executor(agent, {}, method="GET")
    assert response.status_code == 405
    response = httpx.post(agent.url + "/api/v1/executor", content=b"{}", timeout=10)
    assert (response.status_code, response.text) == (400, "Expecting 'Content-Type' to be present")
    assert post_executor(agent, {}, headers={"Content-Type": "text/plain"}).status_code == 415
    response = post_executor(agent, None, content=b"{nope")
    assert response.status_code == 400 and response.text.startswith("Failed to parse body into JSON")
    response = post_executor(agent, {"type": "SUBSCRIBE"})
    assert response.status_code == 400 and response.text.startswith("Failed to convert JSON into Call protobuf")
    response = post_executor(agent, {**ids, "type": "SUBSCRIBE"})
    assert (response.status_code, response.text) == (400, "Failed to validate Executor::Call: "
                                                          "Expecting 'subscribe' to be present")
    response = post_executor(agent, {**ids, "type": "UPDATE", "update": {"status": {**status,
                                                                                  "source": "SOURCE_AGENT"}}})
    assert response.text == ("Failed to validate Executor::Call: Received Call from executor mute of framework "
                             f"{sub.framework_id} with invalid source, expecting 'SOURCE_EXECUTOR'")
    response = post_executor(agent, {**ids, "type": "UPDATE", "update": {"status": {**status, "uuid": "AAAA"}}})
    assert response.text == "Failed to validate Executor::Call: Not a valid UUID"
    response = post_executor(agent, {**ids, "type": "UPDATE",
                                     "update": {"status": {**status, "state": "TASK_STAGING"}}})
    assert response.text.endswith("which is not allowed")
    response = post_executor(agent, {**ids, "type": "SUBSCRIBE", "subscribe": {}}, headers={"Accept": "text/html"})
    assert response.status_code == 406
    assert post_executor(agent, {**ids, "type": "HEARTBEAT"}).status_code == 202
    response = post_executor(agent, {**ids, "framework_id": {"value": "nobody"}, "type": "MESSAGE",
                                     "message": {"data": "aGk="}})
    assert (response.status_code, response.text) == (400, "Framework cannot be found")
    response = post_executor(agent, {**ids, "executor_id": {"value": "ghost"}, "type": "MESSAGE",
                                     "message": {"data": "aGk="}})
    assert (response.status_code, response.text) == (400, "Executor cannot be found")
    response = post_executor(agent, {**ids, "type": "UPDATE", "update": {"status": status}})
    assert (response.status_code, response.text) == (403, "Executor is not subscribed")


# ---------------------------------------------------------------------------------------------------------------
# secrets and data


def test_task_data_and_secrets_appear_in_no_endpoint(make_cluster, subs, caplog):
    """TaskInfo.data is in no JSON model of Mesos; the ExecutorInfo's SECRET variables are resolved for the
    executor's environment only (agent secrets module), never shown."""
    secret = "s3cr3t-" + os.urandom(4).hex()
    marker = "data-marker-" + os.urandom(4).hex()
    cluster = make_cluster()
    agent = agent_of(cluster)
    sub, offer = subscribed_offer(cluster, subs)
    executor = executor_info("quiet", extra_env=[{"name": "CONFORMANCE_TOKEN", "type": "SECRET",
                                                  "secret": {"type": "VALUE", "value": {
                                                      "data": base64.b64encode(secret.encode()).decode()}}}])
    with caplog.at_level("DEBUG"):
        launch_tasks(sub, offer, [task(offer, "t", executor, {"stay": True, "marker": marker})])
        running(sub, "t")
        sandbox = executor_sandbox(agent, sub.framework_id, "quiet")
        assert json.loads((sandbox / "environment.json").read_text())["CONFORMANCE_TOKEN"] == secret
        encoded_marker = base64.b64encode(json.dumps({"stay": True, "marker": marker}).encode()).decode()
        endpoints = [agent.url + "/state", cluster.master_url + "/master/state", cluster.master_url + "/master/tasks",
                     cluster.master_url + "/master/frameworks"]
        bodies = [httpx.get(url, timeout=10).text for url in endpoints]
        for call in ("GET_STATE", "GET_EXECUTORS", "GET_TASKS", "GET_CONTAINERS"):
            bodies.append(httpx.post(agent.url + "/api/v1", json={"type": call}, timeout=10).text)
            bodies.append(httpx.post(cluster.master_url + "/api/v1", json={"type": call}, timeout=10).text
                          if call != "GET_CONTAINERS" else "")
        for body in bodies:
            assert marker not in body and encoded_marker not in body
            assert secret not in body and base64.b64encode(secret.encode()).decode() not in body
        assert sub.call({"type": "KILL", "kill": {"task_id": {"value": "t"}}}).status_code == 202
        terminal(sub, "t")
    for record in caplog.records:
        text = record.getMessage()
        assert marker not in text and encoded_marker not in text and secret not in text


# ---------------------------------------------------------------------------------------------------------------
# framework removal


def test_teardown_shuts_the_executor_down_without_updates(make_cluster, subs):
    """Master::removeFramework -> ShutdownFrameworkMessage -> Slave::shutdownFramework: each executor is shut
    down; a framework being removed gets no more status updates (executorTerminated)."""
    cluster = make_cluster(executor_shutdown_grace_period=10.0)
    agent = agent_of(cluster)
    sub, offer = subscribed_offer(cluster, subs)
    start_staying_task(sub, offer, executor_info("gone"))
    sandbox = executor_sandbox(agent, sub.framework_id, "gone")
    assert sub.call({"type": "TEARDOWN"}).status_code == 202
    wait_executor_event(sandbox, lambda e: e["event"] == "SHUTDOWN")
    # The executor obeys and exits: the agent lists it as completed, and no update reached the master.
    completed_executor(agent, sub.framework_id, "gone")
    assert agent.wait_runners_ended(20) and agent.pending_updates() == []


# ---------------------------------------------------------------------------------------------------------------
# before the executor subscribes; heartbeats


def test_task_killed_before_delivery_then_the_executor_is_shut_down_at_subscribe(make_cluster, subs):
    """Slave::kill of a queued task (TASK_KILLED, REASON_TASK_KILLED_DURING_LAUNCH, from the agent), and
    Slave::subscribe's MESOS-8411 rule: an executor never sent a task whose queue is empty gets SHUTDOWN."""
    cluster = make_cluster()
    agent = agent_of(cluster)
    sub, offer = subscribed_offer(cluster, subs)
    launch_tasks(sub, offer, [task(offer, "early", executor_info("late", "subscribe_on_go"), {})])
    deadline = time.monotonic() + 20
    while (state_executor(agent, sub.framework_id, "late") or {}).get("queued_tasks") in (None, []):
        assert time.monotonic() < deadline, agent_state(agent)
        time.sleep(0.05)
    assert [t["id"] for t in state_executor(agent, sub.framework_id, "late")["queued_tasks"]] == ["early"]
    tasks = httpx.post(agent.url + "/api/v1", json={"type": "GET_TASKS"}, timeout=10).json()["get_tasks"]
    assert [t["task_id"]["value"] for t in tasks["queued_tasks"]] == ["early"]

    assert sub.call({"type": "KILL", "kill": {"task_id": {"value": "early"}}}).status_code == 202
    status = terminal(sub, "early")
    assert (status["state"], status["reason"], status["source"]) == \
        ("TASK_KILLED", "REASON_TASK_KILLED_DURING_LAUNCH", "SOURCE_AGENT")
    assert status["message"] == "Killed before delivery to the executor"
    sandbox = executor_sandbox(agent, sub.framework_id, "late")
    (sandbox / "go").touch()
    wait_executor_event(sandbox, lambda e: e["event"] == "SHUTDOWN")
    assert not any(e["event"] == "SUBSCRIBED" for e in executor_events(sandbox))
    assert sub.event("FAILURE", timeout=30)["failure"]["status"] == 0


def test_subscribed_executors_get_heartbeats(make_cluster, subs):
    """Slave::subscribe starts a ResponseHeartbeater (DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL)."""
    cluster = make_cluster(executor_heartbeat_interval=0.2)
    agent = agent_of(cluster)
    sub, offer = subscribed_offer(cluster, subs)
    start_staying_task(sub, offer, executor_info("beating"))
    sandbox = executor_sandbox(agent, sub.framework_id, "beating")
    deadline = time.monotonic() + 20
    while len([e for e in executor_events(sandbox) if e["event"] == "HEARTBEAT"]) < 3:
        assert time.monotonic() < deadline, executor_events(sandbox)
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------------------------
# the agent going away, the master failing over


def test_agent_shutdown_shuts_executors_down_first(make_cluster, subs):
    """A terminating agent shuts its frameworks down (Slave::shutdown): SHUTDOWN to each executor first."""
    cluster = make_cluster()
    agent = agent_of(cluster)
    sub, offer = subscribed_offer(cluster, subs)
    start_staying_task(sub, offer, executor_info("polite"))
    sandbox = executor_sandbox(agent, sub.framework_id, "polite")
    container = state_executor(agent, sub.framework_id, "polite")["container"]
    pid = agent._executor_runs[container].pid
    cluster.stop()
    assert any(e["event"] == "SHUTDOWN" for e in executor_events(sandbox))
    assert [e for e in executor_events(sandbox) if e["event"] == "stream_ended"][-1]["why"] == "shutdown"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_master_failover_keeps_executors_and_their_resources(make_cluster, subs):
    """The embedded master keeps its agents' state through a fail-over, executors included."""
    cluster = make_cluster()
    sub, offer = subscribed_offer(cluster, subs)
    start_staying_task(sub, offer, executor_info("durable"))
    framework_id = sub.framework_id
    cluster.restart_master()
    again = AckingScheduler(cluster.master_url, framework_info(), framework_id=framework_id)
    subs.append(again)
    again.event("SUBSCRIBED")
    offer = one_offer(cluster, again)
    assert offer["executor_ids"] == [{"value": "durable"}]
    assert offered(offer, "cpus") == pytest.approx(2.0 - 0.1 - 0.1)
    data = base64.b64encode(b"still there?").decode()
    assert again.call({"type": "MESSAGE", "message": {"agent_id": offer["agent_id"], "executor_id": {"value": "durable"},
                                                      "data": data}}).status_code == 202
    assert base64.b64decode(again.event("MESSAGE")["message"]["data"]) == b"echo:still there?"


# ---------------------------------------------------------------------------------------------------------------
# an executor in a container


def test_executor_in_a_docker_image_follows_its_tasks_resources(make_cluster, subs, docker_client, python_image):
    """A MESOS container with a Docker image for the executor: host network (it reaches MESOS_AGENT_ENDPOINT),
    the sandbox at MESOS_SANDBOX; its limits are the executor's plus its live tasks' resources
    (computeExecutorLimits, containerizer->update), updated as tasks come and go."""
    cluster = make_cluster(docker_client=docker_client)
    agent = agent_of(cluster)
    sub, offer = subscribed_offer(cluster, subs)
    container = python_image_container(python_image)
    executor = executor_info("boxed", container=container)
    secret = "s3cr3t-" + os.urandom(4).hex()
    token = {"name": "CONFORMANCE_TOKEN", "type": "SECRET",
             "secret": {"type": "VALUE", "value": {"data": base64.b64encode(secret.encode()).decode()}}}
    executor["command"] = container_command("normal", extra_env=[token])
    launch = [task(offer, "big", executor, {"stay": True}, cpus=0.5, mem=128.0),
              task(offer, "small", executor, {"stay": True}, cpus=0.2, mem=32.0)]
    launch_tasks(sub, offer, launch)
    running(sub, "big", timeout=120)
    running(sub, "small")
    model = state_executor(agent, sub.framework_id, "boxed")
    sandbox = Path(model["directory"])
    environment = json.loads((sandbox / "environment.json").read_text())
    assert environment["MESOS_SANDBOX"] == "/mnt/mesos/sandbox" and environment["MESOS_DIRECTORY"] == str(sandbox)
    assert (sandbox / "tasks" / "big" / "stdout").read_text().startswith("task big ran")
    # The ExecutorInfo's SECRET reaches the executor's environment through the secrets shim, never the
    # container's configuration.
    assert environment["CONFORMANCE_TOKEN"] == secret
    inspected = json.dumps(docker_client.api.inspect_container(f"mesos-{model['container']}"))
    assert secret not in inspected and base64.b64encode(secret.encode()).decode() not in inspected

    def limits() -> tuple[int, int]:
        host_config = docker_client.api.inspect_container(f"mesos-{model['container']}")["HostConfig"]
        return host_config["CpuQuota"], host_config["Memory"]

    def wait_limits(expected: tuple[int, int]) -> None:
        deadline = time.monotonic() + 20
        while limits() != expected:
            assert time.monotonic() < deadline, (limits(), expected)
            time.sleep(0.05)

    wait_limits((int(100_000 * 0.8), (64 + 128 + 32) * 1024 * 1024))
    assert sub.call({"type": "KILL", "kill": {"task_id": {"value": "big"}}}).status_code == 202
    assert terminal(sub, "big")["state"] == "TASK_KILLED"
    wait_limits((int(100_000 * 0.3), (64 + 32) * 1024 * 1024))

    shutdown_executor(sub, offer, "boxed")
    assert terminal(sub, "small")["state"] == "TASK_KILLED"
    assert sub.event("FAILURE", timeout=30)["failure"]["status"] == 0


def test_an_executor_container_destroyed_after_its_grace_reports_sigkill(make_cluster, subs, docker_client,
                                                                         python_image):
    """shutdownExecutorTimeout destroys the container; the Mesos containerizer reports the executor's wait
    status, SIGKILL (Docker's exit code 137 is its way of saying so)."""
    cluster = make_cluster(docker_client=docker_client, executor_shutdown_grace_period=0.5)
    sub, offer = subscribed_offer(cluster, subs)
    container = python_image_container(python_image)
    executor = executor_info("deaf", container=container)
    executor["command"] = container_command("ignore_shutdown")
    start_staying_task(sub, offer, executor, timeout=120)
    shutdown_executor(sub, offer, "deaf")
    status = terminal(sub, "t")
    assert (status["state"], status["reason"]) == ("TASK_FAILED", "REASON_EXECUTOR_TERMINATED")
    assert sub.event("FAILURE", timeout=30)["failure"]["status"] == signal.SIGKILL


def test_a_partitioned_agent_reports_its_executors_when_it_comes_back(make_cluster, subs):
    """__removeSlave drops the agent's executors at the master; the re-registration reports them again
    (ReregisterSlaveMessage.executor_infos), so offers name them and their resources are held again."""
    cluster = make_cluster(agent_ping_timeout=1.0)
    agent = agent_of(cluster)
    sub, offer = subscribed_offer(cluster, subs)
    start_staying_task(sub, offer, executor_info("across"))
    cluster.partition_agent(agent.id)
    assert sub.update("t", "TASK_UNREACHABLE", timeout=30)["reason"] == "REASON_AGENT_REMOVED"
    assert list(cluster.master.records.executors()) == []
    assert cluster.allocate_now() == []   # an unreachable agent is not offered
    cluster.heal_agent(agent.id)
    assert sub.update("t", "TASK_RUNNING", timeout=30)["reason"] == "REASON_AGENT_REREGISTERED"
    offer = one_offer(cluster, sub)
    assert offer["executor_ids"] == [{"value": "across"}]
    assert offered(offer, "cpus") == pytest.approx(2.0 - 0.1 - 0.1)


def test_a_burst_of_tasks_in_one_executor_all_finish(make_cluster, subs):
    """Eighty tasks end at once in one executor: eighty concurrent UPDATE calls reach the agent (the servers
    listen with libprocess' deep backlog; socketserver's default of 5 reset some of them)."""
    cluster = make_cluster()
    sub, offer = subscribed_offer(cluster, subs)
    executor = executor_info("busy")
    tasks = [task(offer, f"t{i}", executor, {"run": 0}, cpus=0.01, mem=8.0) for i in range(80)]
    launch_tasks(sub, offer, tasks)
    # A guard against a hang, not a speed limit: on a machine kept busy the eighty updates took over 60 s.
    for i in range(80):
        assert terminal(sub, f"t{i}", timeout=300)["state"] == "TASK_FINISHED"
    sandbox = executor_sandbox(agent_of(cluster), sub.framework_id, "busy")
    assert [e for e in executor_events(sandbox) if e["event"] == "call_refused"] == []
    assert sub.ack_failures == []
