"""read_task_logs over real HTTP against the embedded Mesos cluster: a process task launched through our
SchedulerDriver, its sandbox read while it runs and after it ended, through a standby master and through
ZooKeeper; and the messages for an unknown task, a master that is not listening and an agent that is gone."""

from __future__ import annotations

import json
import socket
import time
import uuid

import pytest

from airflow_mesos.executor.sandbox_logs import STDERR_LOGGER, read_task_logs
from airflow_mesos.local import AgentSpec, LocalCluster
from airflow_mesos.mesos import SchedulerDriver, events

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-" + uuid.uuid4().hex[:8]
SCRIPT = "echo line; echo err >&2; sleep 30"


class Tasks:
    """Our driver's events, acknowledged, with a wait for a task's state."""

    def __init__(self, driver: SchedulerDriver) -> None:
        self.driver = driver

    def wait(self, predicate, what: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.driver.events.get(timeout=0.2)
            except Exception:
                continue
            if isinstance(event, events.Update) and event.status.uuid:
                self.driver.acknowledge(event.status)
            if predicate(event):
                return event
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def launch(self, task_id: str, script: str) -> str:
        """Launch a process task (no container) running ``script``; wait for RUNNING; return its agent id."""
        offer = self.wait(lambda e: isinstance(e, events.Offers) and e.offers, "offers").offers[0]
        self.driver.launch([offer.id], [{
            "name": task_id, "task_id": {"value": task_id}, "agent_id": {"value": offer.agent_id},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}}],
            "command": {"shell": True, "value": script},
        }])
        self.state(task_id, "TASK_RUNNING")
        return offer.agent_id

    def state(self, task_id: str, state: str) -> None:
        self.wait(lambda e: isinstance(e, events.Update) and e.status.task_id == task_id and e.status.state == state,
                  f"{task_id} -> {state}")


def make_cluster(tmp_path, **kwargs) -> LocalCluster:
    return LocalCluster([AgentSpec(cpus=2, mem=1024)], work_dir=tmp_path / "mesos", docker_client=None,
                        heartbeat_interval=1.0, allocation_interval=0.2, status_update_retry_interval=0.5,
                        agent_ping_timeout=1.0, **kwargs)


@pytest.fixture
def cluster(tmp_path):
    with make_cluster(tmp_path) as c:
        yield c


@pytest.fixture
def tasks_on():
    drivers: list[SchedulerDriver] = []

    def make(master_url: str) -> Tasks:
        driver = SchedulerDriver({"user": "root", "name": "sandbox-logs", "failover_timeout": 60.0}, master_url,
                                 backoff_initial=0.1, backoff_max=0.5)
        driver.start()
        drivers.append(driver)
        return Tasks(driver)

    yield make
    for driver in drivers:
        driver.stop(failover=False)


def stderr_events(logs: list[str]) -> list[str]:
    lines = [json.loads(line) for line in logs[0].split("\n")]
    return [line["event"] for line in lines if line.get("logger") == STDERR_LOGGER]


def wait_for_output(master: str, task_id: str, **kwargs) -> tuple[list[str], list[str]]:
    """read_task_logs until both files have the task's line (RUNNING comes before the shell has printed)."""
    deadline = time.monotonic() + 30
    while True:
        messages, logs = read_task_logs(master, task_id, **kwargs)
        if len(logs) == 2 and "line" in logs[1] and "err" in stderr_events(logs):
            return messages, logs
        assert time.monotonic() < deadline, f"the task's output never showed up: {messages} {logs}"
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_running_task_is_read_then_again_after_it_ended(cluster, tasks_on):
    tasks = tasks_on(cluster.master_url)
    agent_id = tasks.launch("logs-1", SCRIPT)
    agent = cluster.agents[agent_id]

    messages, logs = wait_for_output(cluster.master_url, "logs-1", principal="airflow", secret=SECRET)
    assert logs[1] == "line\n"
    assert stderr_events(logs)[-2:] == ["Starting task logs-1", "err"] and logs[0].startswith('{"event": "::group::')
    assert f"(TASK_RUNNING, framework {tasks.driver.framework_id}) on agent {agent_id} at {agent.url}" in messages[0]
    assert cluster.master_url in messages[0]
    stderr_size = len("Starting task logs-1\nerr\n")
    assert messages[1:] == ["stdout: 5 bytes", f"stderr: {stderr_size} bytes"]

    tasks.driver.kill("logs-1", agent_id=agent_id, grace_period_seconds=1)
    tasks.state("logs-1", "TASK_KILLED")
    messages, logs = read_task_logs(cluster.master_url, "logs-1", framework_id=tasks.driver.framework_id,
                                    principal="airflow", secret=SECRET)
    assert logs[1] == "line\n"
    ended = stderr_events(logs)
    assert ended[:2] == ["Starting task logs-1", "err"] and "signal" in ended[-1]  # the executor's exit line
    assert "TASK_KILLED" in messages[0]
    assert not any(SECRET in m for m in messages)


def test_a_standby_master_redirects_to_the_leader(cluster, tasks_on):
    tasks = tasks_on(cluster.master_url)
    tasks.launch("logs-standby", SCRIPT)
    standby = cluster.add_standby_master()
    messages, logs = wait_for_output(f"{standby.url},{cluster.master_url}", "logs-standby")
    assert f"found through the master at {cluster.master_url}" in messages[0]
    assert standby.url not in " ".join(messages)


def test_the_leader_is_found_through_zookeeper(tmp_path, zk_hosts, tasks_on):
    zk = f"zk://{zk_hosts}/mesos-sandbox-logs-{uuid.uuid4().hex[:8]}"
    with make_cluster(tmp_path, zk=zk) as zk_cluster:
        tasks = tasks_on(zk_cluster.master_url)
        tasks.launch("logs-zk", SCRIPT)
        messages, logs = wait_for_output(zk, "logs-zk")
        assert f"found through the master at {zk_cluster.master_url}" in messages[0]


def test_an_unknown_task_id_is_named_with_the_master(cluster, tasks_on):
    tasks = tasks_on(cluster.master_url)
    tasks.launch("logs-known", SCRIPT)
    messages, logs = read_task_logs(cluster.master_url, "never-launched")
    assert logs == []
    [message] = messages
    assert "Mesos task never-launched is unknown to the master at " + cluster.master_url in message


def test_a_master_that_is_not_listening_is_named_without_the_secret():
    url = f"http://127.0.0.1:{free_port()}"
    messages, logs = read_task_logs(url, "logs-1", principal="airflow", secret=SECRET, timeout=2.0)
    assert logs == []
    [message] = messages
    assert f"Could not reach the Mesos master at {url}" in message and "logs-1" in message
    assert SECRET not in message


def test_a_zookeeper_without_masters_or_unreachable_is_a_message(zk_hosts):
    messages, logs = read_task_logs(f"zk://{zk_hosts}/mesos-nobody-{uuid.uuid4().hex[:8]}", "logs-1")
    assert logs == [] and "No Mesos master is registered in ZooKeeper" in messages[0]
    messages, logs = read_task_logs(f"zk://127.0.0.1:{free_port()}/mesos", "logs-1", timeout=2.0)
    assert logs == [] and "Could not look up the leading Mesos master" in messages[0]


def test_an_agent_that_is_gone_is_named(cluster, tasks_on):
    tasks = tasks_on(cluster.master_url)
    agent_id = tasks.launch("logs-lost", SCRIPT)
    wait_for_output(cluster.master_url, "logs-lost")
    cluster.stop_agent(agent_id)
    messages, logs = read_task_logs(cluster.master_url, "logs-lost", timeout=2.0)
    assert logs == []
    # Before the master's ping timeout the agent does not answer; after it, the master has dropped it.
    assert agent_id in messages[-1] and "logs-lost" in messages[-1]
    assert "Could not reach agent" in messages[-1] or "not registered" in messages[-1]
