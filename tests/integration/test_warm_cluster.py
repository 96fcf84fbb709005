"""The warm executor on the embedded cluster: a real master and agent, the agent starting
``python -m airflow_mesos.warm`` for tasks that carry its ExecutorInfo.

The scheduler is the protocol-only test client (tests/support), so what runs is the
agent's executor side and our executor, nothing of the MesosExecutor.  Tasks carry the
payload of :mod:`airflow_mesos.warm.payload`; their workload runs through
``tests.integration.warm_entries:probe`` in place of ``execute_workload`` (there is no
Execution API here): the fork server still imports Airflow's worker and forks each task
from it, and the probe reports what the task process sees.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from airflow_mesos.local import AgentSpec, LocalCluster
from airflow_mesos.warm.payload import TaskPayload, encode_task_data
from tests.support.scheduler_client import SchedulerClient, framework_info, launch_call

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NO_REFUSAL = {"refuse_seconds": 0.0}
TOKEN = "eyJwarm." + "Zm9vYmFy" * 10
TERMINAL = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_DROPPED", "TASK_ERROR")


def scalars(cpus: float, mem: float) -> list[dict]:
    return [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}]


def warm_executor_info(executor_id: str = "warm", *, idle_timeout: float = 300.0,
                       entry: str | None = "tests.integration.warm_entries:probe", env: dict | None = None) -> dict:
    variables = [{"name": "PYTHONPATH", "value": str(REPO)},
                 {"name": "AIRFLOW_MESOS_WARM_IDLE_TIMEOUT", "value": str(idle_timeout)},
                 *({"name": k, "value": v} for k, v in (env or {}).items())]
    if entry:
        variables.append({"name": "AIRFLOW_MESOS_WARM_TASK_ENTRY", "value": entry})
    return {"executor_id": {"value": executor_id}, "type": "CUSTOM", "name": "airflow-mesos warm executor",
            "command": {"shell": False, "value": sys.executable,
                        "arguments": [sys.executable, "-m", "airflow_mesos.warm"],
                        "environment": {"variables": variables}},
            "resources": scalars(0.1, 256.0)}


def warm_task(offer: dict, task_id: str, behaviour: str, executor: dict, *, data: str | None = None,
              kill_grace: float | None = None, workload: str | None = None) -> dict:
    workload = workload or json.dumps({"type": "ExecuteTask", "ti": {"id": task_id, "task_id": behaviour}})
    task = {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
            "resources": scalars(0.1, 32.0), "executor": executor,
            "data": data if data is not None else encode_task_data(
                TaskPayload(workload, TOKEN, {"WARM_TEST_MARKER": task_id}))}
    if kill_grace is not None:
        task["kill_policy"] = {"grace_period": {"nanoseconds": int(kill_grace * 1e9)}}
    return task


@pytest.fixture
def cluster(tmp_path):
    cluster = LocalCluster([AgentSpec(cpus=2.0, mem=4096.0)], work_dir=tmp_path / "cluster", heartbeat_interval=1.0,
                           allocation_interval=None)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def sub(cluster):
    client = SchedulerClient(cluster.master_url, framework_info(capabilities=("MULTI_ROLE", "TASK_KILLING_STATE")))
    client.event("SUBSCRIBED")
    yield client
    client.close()


def agent_of(cluster: LocalCluster):
    return next(iter(cluster.agents.values()))


def one_offer(cluster: LocalCluster, sub: SchedulerClient) -> dict:
    assert len(cluster.allocate_now()) == 1
    return sub.event("OFFERS")["offers"]["offers"][0]


def launch(cluster, sub, tasks_of) -> None:
    offer = one_offer(cluster, sub)
    assert sub.call(launch_call(offer, tasks_of(offer), NO_REFUSAL)).status_code == 202


def until(sub: SchedulerClient, task_id: str, states, timeout: float = 60.0) -> dict:
    """The task's updates in order, each acknowledged (the agent sends a task's next update only after
    the previous one's acknowledgement), up to the first in ``states``."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{task_id} never reached {states}; saw {seen}"
        status = sub.update(task_id, timeout=remaining)
        if "uuid" in status:
            assert sub.ack(status).status_code == 202
        seen.append(status["state"])
        if status["state"] in states:
            return status


def update(sub: SchedulerClient, task_id: str, state: str, timeout: float = 60.0) -> dict:
    return until(sub, task_id, (state,), timeout)


def terminal(sub: SchedulerClient, task_id: str, timeout: float = 60.0) -> dict:
    return until(sub, task_id, TERMINAL, timeout)


def agent_state(agent) -> dict:
    return httpx.get(agent.url + "/state", timeout=10).json()


def executors(agent, framework_id: str, *, completed: bool = False) -> list[dict]:
    """The framework's executors on the agent's /state (a framework with none left is a completed one there)."""
    state = agent_state(agent)
    found = []
    for framework in state["frameworks"] + state.get("completed_frameworks", []):
        if framework["id"] == framework_id:
            found += framework["completed_executors" if completed else "executors"]
    return found


def sandbox_file(agent, framework_id: str, executor_id: str, task_id: str, name: str) -> str:
    """A task's file through the agent's /files, where the scheduler's get_task_log reads it."""
    path = f"/frameworks/{framework_id}/executors/{executor_id}/runs/latest/tasks/{task_id}/{name}"
    reply = httpx.get(agent.url + "/files/read", params={"path": path, "offset": 0}, timeout=10)
    assert reply.status_code == 200, (path, reply.status_code, reply.text)
    return reply.json()["data"]


def probe(agent, framework_id: str, task_id: str, executor_id: str = "warm", timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            for line in sandbox_file(agent, framework_id, executor_id, task_id, "stdout").splitlines():
                if line.startswith("{") and '"pid"' in line:
                    return json.loads(line)
        except AssertionError:
            pass
        assert time.monotonic() < deadline, f"task {task_id} printed no report"
        time.sleep(0.1)


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still runs"
        time.sleep(0.05)


def test_many_tasks_share_one_warm_executor_and_their_logs_are_in_its_sandbox(cluster, sub):
    agent = agent_of(cluster)
    executor = warm_executor_info()
    launch(cluster, sub, lambda offer: [warm_task(offer, f"t{i}", "exit_0", executor) for i in range(4)]
           + [warm_task(offer, "fails", "exit_3", executor)])
    for i in range(4):
        update(sub, f"t{i}", "TASK_RUNNING")
        assert terminal(sub, f"t{i}")["state"] == "TASK_FINISHED"
    failed = terminal(sub, "fails")
    assert (failed["state"], failed["message"], failed["source"]) == (
        "TASK_FAILED", "Command exited with status 3", "SOURCE_EXECUTOR")
    # A later task lands in the running executor.
    launch(cluster, sub, lambda offer: [warm_task(offer, "later", "exit_0", executor)])
    assert terminal(sub, "later")["state"] == "TASK_FINISHED"

    (model,) = executors(agent, sub.framework_id)
    assert model["id"] == "warm"
    assert sorted(t["id"] for t in model["completed_tasks"]) == ["fails", "later", "t0", "t1", "t2", "t3"]
    reports = [probe(agent, sub.framework_id, task_id) for task_id in ("t0", "t1", "t2", "t3", "later")]
    assert len({r["ppid"] for r in reports}) == 1  # one fork server
    assert all(r["preimported"] and r["pid"] == r["pgid"] for r in reports)
    assert all(r["has_token"] and not r["token_in_environ"] and not r["token_in_cmdline"] for r in reports)
    stderr = sandbox_file(agent, sub.framework_id, "warm", "fails", "stderr").splitlines()
    assert stderr[0] == "Starting task fails" and stderr[-1] == "Command exited with status 3"
    # The token is in no endpoint and no log of the executor's.
    assert TOKEN not in json.dumps(agent_state(agent))
    assert TOKEN not in httpx.get(cluster.master_url + "/master/state", timeout=10).text
    sandbox = Path(model["directory"])
    assert TOKEN not in (sandbox / "stderr").read_text() + (sandbox / "stdout").read_text()


def test_a_killed_task_is_killed_and_the_executor_serves_the_others(cluster, sub):
    agent = agent_of(cluster)
    executor = warm_executor_info()
    launch(cluster, sub, lambda offer: [warm_task(offer, "victim", "child_sleep", executor, kill_grace=2.0),
                                        warm_task(offer, "bystander", "sleep", executor)])
    update(sub, "victim", "TASK_RUNNING")
    update(sub, "bystander", "TASK_RUNNING")
    victim = probe(agent, sub.framework_id, "victim")
    assert sub.call({"type": "KILL", "kill": {"task_id": {"value": "victim"},
                                              "agent_id": {"value": agent.id}}}).status_code == 202
    update(sub, "victim", "TASK_KILLING")
    killed = terminal(sub, "victim")
    assert (killed["state"], killed["message"]) == ("TASK_KILLED", "Command terminated with signal Terminated")
    wait_gone(victim["pid"])
    bystander = probe(agent, sub.framework_id, "bystander")
    assert alive(bystander["pid"])
    launch(cluster, sub, lambda offer: [warm_task(offer, "next", "exit_0", executor)])
    assert terminal(sub, "next")["state"] == "TASK_FINISHED"
    assert alive(bystander["pid"])


def test_killing_the_executor_process_fails_its_tasks(cluster, sub):
    agent = agent_of(cluster)
    executor = warm_executor_info()
    launch(cluster, sub, lambda offer: [warm_task(offer, "a", "child_sleep", executor),
                                        warm_task(offer, "b", "sleep", executor)])
    update(sub, "a", "TASK_RUNNING")
    update(sub, "b", "TASK_RUNNING")
    reports = [probe(agent, sub.framework_id, task_id) for task_id in ("a", "b")]
    fork_server = reports[0]["ppid"]
    executor_pid = parent_of(fork_server)
    os.kill(executor_pid, signal.SIGKILL)
    for task_id in ("a", "b"):
        status = terminal(sub, task_id)
        assert (status["state"], status["reason"]) == ("TASK_FAILED", "REASON_EXECUTOR_TERMINATED"), status
    for report in reports:
        wait_gone(report["pid"])  # the fork server took its tasks with it
    wait_gone(fork_server)


def test_an_idle_executor_exits_and_a_new_task_starts_a_new_one(cluster, sub):
    agent = agent_of(cluster)
    executor = warm_executor_info(idle_timeout=1.0)
    launch(cluster, sub, lambda offer: [warm_task(offer, "first", "exit_0", executor)])
    assert terminal(sub, "first")["state"] == "TASK_FINISHED"
    failure = sub.event("FAILURE", timeout=60)["failure"]
    assert failure["executor_id"] == {"value": "warm"} and failure["status"] == 0  # a clean exit
    (first,) = executors(agent, sub.framework_id, completed=True)
    first_server = probe(agent, sub.framework_id, "first")["ppid"]
    launch(cluster, sub, lambda offer: [warm_task(offer, "second", "exit_0", executor)])
    assert terminal(sub, "second")["state"] == "TASK_FINISHED"
    (second,) = executors(agent, sub.framework_id)
    assert second["id"] == "warm" and second["container"] != first["container"]  # a second run
    assert probe(agent, sub.framework_id, "second")["ppid"] != first_server


def test_a_bad_payload_fails_only_its_task(cluster, sub):
    executor = warm_executor_info()
    garbage = base64.b64encode(b'{"version": 1, "workload": "{}"}').decode()  # no token
    launch(cluster, sub, lambda offer: [warm_task(offer, "bad", "exit_0", executor, data=garbage),
                                        warm_task(offer, "good", "exit_0", executor)])
    bad = terminal(sub, "bad")
    assert bad["state"] == "TASK_FAILED"
    assert bad["message"] == "Failed to launch task: task.data.token: missing (the task has no Execution API token)"
    assert terminal(sub, "good")["state"] == "TASK_FINISHED"


def test_a_task_with_airflow_settings_of_its_own_fails_with_their_name(cluster, sub):
    """Airflow reads some options once, on import (here [workers] execution_api_retries): a warm task cannot have
    its own, so it fails saying which, instead of running with a setting not applied."""
    executor = warm_executor_info()

    def tasks(offer):
        own = warm_task(offer, "own", "exit_0", executor)
        own["data"] = encode_task_data(TaskPayload(json.dumps({"type": "ExecuteTask", "ti": {"task_id": "exit_0"}}),
                                                   TOKEN, {"AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "1"}))
        return [own, warm_task(offer, "plain", "exit_0", executor)]

    launch(cluster, sub, tasks)
    own = terminal(sub, "own")
    assert own["state"] == "TASK_FAILED"
    assert own["message"].startswith("Failed to launch task: the task sets AIRFLOW__WORKERS__EXECUTION_API_RETRIES, "
                                     "but its warm executor imported Airflow with AIRFLOW__WORKERS__EXECUTION_API_"
                                     "RETRIES unset")
    assert terminal(sub, "plain")["state"] == "TASK_FINISHED"


def test_the_real_worker_entry_runs_in_the_executor(cluster, sub):
    """The production entry (airflow_mesos.worker.run_workload_json) on a workload it cannot read: the worker's
    own error, from a task forked out of the warm fork server."""
    agent = agent_of(cluster)
    executor = warm_executor_info(entry=None)
    launch(cluster, sub, lambda offer: [warm_task(offer, "unreadable", "exit_0", executor)])
    status = terminal(sub, "unreadable", timeout=90)
    assert (status["state"], status["message"]) == ("TASK_FAILED", "Command exited with status 2")
    stderr = sandbox_file(agent, sub.framework_id, "warm", "unreadable", "stderr")
    assert "airflow-mesos worker: the workload is not valid" in stderr and TOKEN not in stderr


VALID_WORKLOAD = json.dumps({
    "dag_rel_path": "nowhere.py", "bundle_info": {"name": "dags-folder", "version": None},
    "log_path": "dag_id=d/run_id=r/task_id=t/attempt=1.log", "sentry_integration": "", "type": "ExecuteTask",
    "ti": {"id": "0196a1b2-0000-7000-8000-000000000001", "task_id": "t", "dag_id": "d", "run_id": "r",
           "try_number": 1, "dag_version_id": "0196a1b2-0000-7000-8000-000000000002", "map_index": -1,
           "hostname": "", "context_carrier": {}, "queue": "default", "pool_slots": 1, "priority_weight": 1}})
"""A valid ExecuteTask (its DAG file does not matter: the Execution API is asked first)."""
REFUSED_API = {"AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://127.0.0.1:9/execution/",
               "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "1"}
"""An Execution API nobody serves (a closed port), asked once more after the first refusal."""


def real_task(offer: dict, task_id: str, executor: dict) -> dict:
    task = warm_task(offer, task_id, "", executor, workload=VALID_WORKLOAD)
    task["data"] = encode_task_data(TaskPayload(VALID_WORKLOAD, TOKEN, REFUSED_API))
    return task


def assert_ran_execute_workload(agent, framework_id: str, task_id: str, status: dict) -> None:
    assert (status["state"], status["message"]) == ("TASK_FAILED", "Command exited with status 1")
    stdout = sandbox_file(agent, framework_id, "warm", task_id, "stdout")
    events = [json.loads(line).get("event") for line in stdout.splitlines() if line.startswith("{")]
    assert events[0] == "Executing workload" and "Unhandled exception" in events
    assert "Connection refused" in stdout and TOKEN not in stdout


def test_execute_workload_runs_in_a_warm_task_up_to_the_execution_api(cluster, sub, tmp_path):
    """A valid workload through the production entry: execute_workload sets up its logging to the task's stdout,
    starts the supervisor and fails at its first call of the Execution API, which nobody serves here (a closed
    port): the fresh worker's exact path and exit, forked from the warm fork server."""
    agent = agent_of(cluster)
    home = tmp_path / "airflow-home"
    home.mkdir()
    # The Airflow settings of the tasks are their executor's (Airflow reads some only on import).
    executor = warm_executor_info(entry=None, env={"AIRFLOW_HOME": str(home), **REFUSED_API})
    launch(cluster, sub, lambda offer: [real_task(offer, "real", executor)])
    assert_ran_execute_workload(agent, sub.framework_id, "real", terminal(sub, "real", timeout=120))


@pytest.fixture(scope="module")
def warm_image(docker_client, python_image) -> str:
    """The project image rebuilt from this checkout (a code-only rebuild is quick), under a tag of our own."""
    from airflow_mesos.image import ImageBuildFailed, build_image

    try:
        return build_image(docker_client, base_image=python_image, tag="airflow-mesos/airflow:warm-test")
    except ImageBuildFailed as exc:
        pytest.fail(str(exc))


def test_in_a_container_the_executor_runs_in_the_task_image_and_its_tasks_in_its_container(
        docker_client, warm_image, tmp_path):
    cluster = LocalCluster([AgentSpec(cpus=2.0, mem=4096.0)], work_dir=tmp_path / "cluster", heartbeat_interval=1.0,
                           allocation_interval=None, docker_client=docker_client)
    cluster.start()
    sub = SchedulerClient(cluster.master_url, framework_info(capabilities=("MULTI_ROLE", "TASK_KILLING_STATE")))
    try:
        sub.event("SUBSCRIBED")
        agent = agent_of(cluster)
        executor = warm_executor_info(entry=None)
        executor["command"] = {
            "shell": False, "value": "python3", "arguments": ["python3", "-m", "airflow_mesos.warm"],
            "environment": {"variables": [{"name": "AIRFLOW_MESOS_WARM_IDLE_TIMEOUT", "value": "300"},
                                          *({"name": k, "value": v} for k, v in REFUSED_API.items())]},
            # The embedded agent does not chown the executor's sandbox to the container's user as Mesos does
            # (Slave::launchExecutor); the image's own user could not write the tasks' logs there.
            "user": "root"}
        executor["container"] = {"type": "MESOS", "mesos": {"image": {"type": "DOCKER",
                                                                      "docker": {"name": warm_image}}}}
        garbage = base64.b64encode(b"{}").decode()
        launch(cluster, sub, lambda offer: [real_task(offer, "c1", executor), real_task(offer, "c2", executor),
                                            warm_task(offer, "bad", "", executor, data=garbage)])
        statuses = {task_id: terminal(sub, task_id, timeout=180) for task_id in ("c1", "c2", "bad")}
        for task_id in ("c1", "c2"):
            assert_ran_execute_workload(agent, sub.framework_id, task_id, statuses[task_id])
        assert statuses["bad"]["message"] == "Failed to launch task: task.data.version: expected 1, got None"
        (model,) = executors(agent, sub.framework_id)
        assert sorted(t["id"] for t in model["completed_tasks"]) == ["bad", "c1", "c2"]  # one executor, all three
        (container,) = docker_client.containers.list(filters={
            "label": f"airflow-mesos.local.container-id={model['container']}"})
        assert container.attrs["Config"]["Image"] == warm_image
        assert TOKEN not in json.dumps(container.attrs)  # the executor holds its tasks' tokens; inspect shows none
        assert sub.call({"type": "SHUTDOWN", "shutdown": {"executor_id": {"value": "warm"},
                                                          "agent_id": {"value": agent.id}}}).status_code == 202
        failure = sub.event("FAILURE", timeout=60)["failure"]
        assert failure["executor_id"] == {"value": "warm"} and failure["status"] == 0  # a clean exit
    finally:
        sub.close()
        cluster.stop()
