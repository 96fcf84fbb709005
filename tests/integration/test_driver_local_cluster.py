"""End to end: our Mesos v1 driver against the embedded Mesos cluster, over real HTTP, with real containers.

These tests exercise the two halves of the foundation together: every call
goes through ``airflow_mesos.mesos.SchedulerDriver`` to the master's
``/api/v1/scheduler`` endpoint, and every task runs in a real Docker
container (or process) on a local agent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import time
import uuid

import httpx
import pytest
from kazoo.client import KazooClient

from airflow_mesos.local import AgentSpec, LocalCluster
from airflow_mesos.mesos import SchedulerDriver, events
from tests.support.driver_fakes import wait_until

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-" + uuid.uuid4().hex[:8]


# ---------------------------------------------------------------------------------------------------------------
# helpers


class Recorder:
    """Pulls events off a driver and keeps every one of them, so tests can wait for a condition and look back."""

    def __init__(self, driver: SchedulerDriver, auto_ack: bool = True) -> None:
        self.driver = driver
        self.auto_ack = auto_ack
        self.seen: list = []

    def wait(self, predicate, timeout: float = 60.0, what: str = "event"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.driver.events.get(timeout=0.2)
            except Exception:
                continue
            self.seen.append(event)
            if self.auto_ack and isinstance(event, events.Update) and event.status.uuid:
                self.driver.acknowledge(event.status)
            if predicate(event):
                return event
        kinds = [type(e).__name__ + (f"({e.status.task_id}:{e.status.state})" if isinstance(e, events.Update) else "")
                 for e in self.seen[-30:]]
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last events: {kinds}")

    def offers(self, timeout: float = 30.0, since=None):
        """The next OFFERS event's offers; with ``since`` (an event seen before), the first one after it that a
        wait for something else already took off the queue counts too (the master sends no more while the
        framework holds those)."""
        if since is not None:
            later = self.seen[next(i for i, e in enumerate(self.seen) if e is since) + 1:]
            earlier = [e for e in later if isinstance(e, events.Offers) and e.offers]
            if earlier:
                return earlier[0].offers
        return self.wait(lambda e: isinstance(e, events.Offers) and e.offers, timeout, "offers").offers

    def state_of(self, task_id: str, state: str, timeout: float = 60.0):
        return self.wait(
            lambda e: isinstance(e, events.Update) and e.status.task_id == task_id and e.status.state == state,
            timeout, f"{task_id} -> {state}",
        ).status

    def states(self, task_id: str) -> list[str]:
        return [e.status.state for e in self.seen if isinstance(e, events.Update) and e.status.task_id == task_id]


def scalar(name: str, value: float) -> dict:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


def task_info(offer, task_id: str, command: dict, *, container: dict | None = None, cpus=0.1, mem=64.0,
              kill_grace: float | None = None) -> dict:
    info = {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": {"value": offer.agent_id},
        "resources": [scalar("cpus", cpus), scalar("mem", mem)],
        "command": command,
    }
    if container:
        info["container"] = container
    if kill_grace is not None:
        info["kill_policy"] = {"grace_period": {"nanoseconds": int(kill_grace * 1e9)}}
    return info


def docker_container(image: str) -> dict:
    return {"type": "DOCKER", "docker": {"image": image, "network": "NONE"}}


def mesos_container(image: str) -> dict:
    return {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": image}}}}


def sh(script: str, env: list[dict] | None = None) -> dict:
    command = {"shell": True, "value": script}
    if env:
        command["environment"] = {"variables": env}
    return command


def read_sandbox_file(cluster: LocalCluster, agent_id: str, framework_id: str, task_id: str, name: str) -> str:
    agent = cluster.agents[agent_id]
    path = f"/frameworks/{framework_id}/executors/{task_id}/runs/latest/{name}"
    response = httpx.get(f"{agent.url}/files/read", params={"path": path, "offset": 0}, timeout=10)
    response.raise_for_status()
    return response.json()["data"]


def run_docker_task(rec: Recorder, image: str, task_id: str, script: str):
    """Launch ``script`` in a Docker task on the next offer and wait until it runs; return the offer used."""
    offer = rec.offers()[0]
    rec.driver.launch([offer.id], [task_info(offer, task_id, sh(script), container=docker_container(image))])
    rec.state_of(task_id, "TASK_RUNNING")
    return offer


def framework_info(name: str, *capabilities: str, failover_timeout: float = 60.0) -> dict:
    return {
        "user": "root",
        "name": name,
        "failover_timeout": failover_timeout,
        "checkpoint": True,
        "capabilities": [{"type": c} for c in capabilities],
    }


# ---------------------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture
def cluster(docker_client, busybox_image, tmp_path):
    spec = AgentSpec(cpus=4, mem=2048, disk=4096, attributes={"rack": "r1"})
    with LocalCluster(
        [spec],
        work_dir=tmp_path / "mesos",
        docker_client=docker_client,
        heartbeat_interval=1.0,
        allocation_interval=0.2,
        status_update_retry_interval=0.5,
        agent_ping_timeout=1.0,
    ) as c:
        yield c


@pytest.fixture
def make_driver():
    drivers: list[SchedulerDriver] = []

    def make(master: str, info: dict, **kwargs) -> SchedulerDriver:
        kwargs.setdefault("backoff_initial", 0.1)
        kwargs.setdefault("backoff_max", 0.5)
        driver = SchedulerDriver(info, master, **kwargs)
        driver.start()
        drivers.append(driver)
        return driver

    yield make
    for d in drivers:
        d.stop(failover=False) if d.connected else d.stop()


def subscribed(rec: Recorder) -> events.Subscribed:
    return rec.wait(lambda e: isinstance(e, events.Subscribed), 30, "SUBSCRIBED")


# ---------------------------------------------------------------------------------------------------------------
# tests


def test_docker_task_runs_to_finished_and_output_is_readable(cluster, make_driver, busybox_image):
    driver = make_driver(cluster.master_url, framework_info("docker-task"))
    rec = Recorder(driver)
    sub = subscribed(rec)
    assert sub.framework_id == driver.framework_id
    offer = rec.offers()[0]
    assert offer.hostname
    assert offer.cpus == 4 and offer.mem == 2048 and offer.disk == 4096
    assert offer.attributes == {"rack": "r1"}
    assert offer.ports  # the agent's default port range is offered too
    driver.launch([offer.id], [task_info(offer, "docker-1", sh("echo hello from a docker task; echo to-stderr >&2"),
                                         container=docker_container(busybox_image))])
    rec.state_of("docker-1", "TASK_FINISHED")
    assert rec.states("docker-1")[:3] == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"] or \
        rec.states("docker-1")[-2:] == ["TASK_RUNNING", "TASK_FINISHED"]
    stdout = read_sandbox_file(cluster, offer.agent_id, driver.framework_id, "docker-1", "stdout")
    stderr = read_sandbox_file(cluster, offer.agent_id, driver.framework_id, "docker-1", "stderr")
    assert "hello from a docker task" in stdout
    assert "to-stderr" in stderr


def test_mesos_task_receives_secret_that_no_endpoint_shows(cluster, make_driver, busybox_image):
    driver = make_driver(cluster.master_url, framework_info("mesos-secret"))
    rec = Recorder(driver)
    subscribed(rec)
    offer = rec.offers()[0]
    secret_env = {
        "name": "DB_PASSWORD",
        "type": "SECRET",
        "secret": {"type": "VALUE", "value": {"data": base64.b64encode(SECRET.encode()).decode()}},
    }
    # The task proves it got the value without printing it (or naming it in its command): it prints a digest.
    script = 'echo "sha256=$(printf %s "$DB_PASSWORD" | sha256sum | cut -d" " -f1)"; sleep 2'
    driver.launch([offer.id], [task_info(offer, "mesos-1", sh(script, [secret_env]),
                                         container=mesos_container(busybox_image))])
    rec.state_of("mesos-1", "TASK_RUNNING")
    # While it runs, neither the master nor the agent shows the value anywhere.
    master_state = httpx.get(f"{cluster.master_url}/master/state", timeout=10).text
    agent = cluster.agents[offer.agent_id]
    agent_state = httpx.get(f"{agent.url}/state", timeout=10).text
    for body in (master_state, agent_state):
        assert SECRET not in body
        assert base64.b64encode(SECRET.encode()).decode() not in body
    rec.state_of("mesos-1", "TASK_FINISHED")
    stdout = read_sandbox_file(cluster, offer.agent_id, driver.framework_id, "mesos-1", "stdout")
    assert f"sha256={hashlib.sha256(SECRET.encode()).hexdigest()}" in stdout
    assert SECRET not in stdout


def test_kill_with_grace_period_lets_the_task_clean_up(cluster, make_driver, busybox_image):
    driver = make_driver(cluster.master_url, framework_info("kill", "TASK_KILLING_STATE"))
    rec = Recorder(driver)
    subscribed(rec)
    offer = rec.offers()[0]
    script = "trap 'echo got-TERM; exit 0' TERM; echo started; while true; do sleep 0.1; done"
    driver.launch([offer.id], [task_info(offer, "kill-1", sh(script), container=docker_container(busybox_image))])
    rec.state_of("kill-1", "TASK_RUNNING")
    # RUNNING means the container started, not that the shell has installed its trap yet; wait for that.
    deadline = time.monotonic() + 30
    while "started" not in read_sandbox_file(cluster, offer.agent_id, driver.framework_id, "kill-1", "stdout"):
        assert time.monotonic() < deadline, "the task never printed 'started'"
        time.sleep(0.05)
    driver.kill("kill-1", agent_id=offer.agent_id, grace_period_seconds=10)
    rec.state_of("kill-1", "TASK_KILLED")
    assert "TASK_KILLING" in rec.states("kill-1")
    stdout = read_sandbox_file(cluster, offer.agent_id, driver.framework_id, "kill-1", "stdout")
    assert "got-TERM" in stdout


def test_explicit_and_implicit_reconciliation(cluster, make_driver, busybox_image):
    driver = make_driver(cluster.master_url, framework_info("reconcile", "PARTITION_AWARE"))
    rec = Recorder(driver)
    subscribed(rec)
    offer = run_docker_task(rec, busybox_image, "rec-1", "sleep 30")

    driver.reconcile([("rec-1", offer.agent_id), ("never-launched", offer.agent_id)])
    known = rec.wait(lambda e: isinstance(e, events.Update) and e.status.task_id == "rec-1"
                     and e.status.reason == "REASON_RECONCILIATION", 30, "explicit reconciliation of rec-1").status
    assert known.state == "TASK_RUNNING" and known.uuid is None and known.source == "SOURCE_MASTER"
    unknown = rec.wait(lambda e: isinstance(e, events.Update) and e.status.task_id == "never-launched", 30,
                       "explicit reconciliation of an unknown task").status
    assert unknown.state == "TASK_GONE" and unknown.uuid is None

    before = len(rec.seen)
    driver.reconcile([])
    implicit = rec.wait(lambda e: isinstance(e, events.Update) and e.status.task_id == "rec-1"
                        and e.status.reason == "REASON_RECONCILIATION" and rec.seen.index(e) >= before, 30,
                        "implicit reconciliation").status
    assert implicit.state == "TASK_RUNNING"
    driver.kill("rec-1")
    rec.state_of("rec-1", "TASK_KILLED")


def test_unacknowledged_update_is_resent_until_acknowledged(cluster, make_driver, busybox_image):
    driver = make_driver(cluster.master_url, framework_info("resend"))
    rec = Recorder(driver, auto_ack=False)
    subscribed(rec)
    offer = rec.offers()[0]
    driver.launch([offer.id], [task_info(offer, "resend-1", sh("echo hi"), container=docker_container(busybox_image))])
    first = rec.wait(lambda e: isinstance(e, events.Update) and e.status.task_id == "resend-1", 60, "first update").status
    again = rec.wait(lambda e: isinstance(e, events.Update) and e.status.task_id == "resend-1", 30, "the resend").status
    # Same update (same uuid), delivered again because nobody acknowledged it; nothing newer overtakes it.
    assert again.uuid == first.uuid and again.state == first.state
    driver.acknowledge(again)
    rec.auto_ack = True
    rec.state_of("resend-1", "TASK_FINISHED")


def test_stream_dropped_resubscribes_with_same_id_while_task_keeps_running(cluster, make_driver, busybox_image):
    driver = make_driver(cluster.master_url, framework_info("failover", failover_timeout=60))
    rec = Recorder(driver)
    first = subscribed(rec)
    offer = run_docker_task(rec, busybox_image, "long-1", "sleep 30")

    cluster.drop_framework_stream(first.framework_id)
    rec.wait(lambda e: isinstance(e, events.Disconnected), 30, "Disconnected")
    again = rec.wait(lambda e: isinstance(e, events.Subscribed), 30, "re-SUBSCRIBED")
    assert again.framework_id == first.framework_id

    driver.reconcile([("long-1", offer.agent_id)])
    status = rec.wait(lambda e: isinstance(e, events.Update) and e.status.task_id == "long-1"
                      and e.status.reason == "REASON_RECONCILIATION", 30, "reconciliation after failover").status
    assert status.state == "TASK_RUNNING"
    assert "TASK_KILLED" not in rec.states("long-1") and "TASK_LOST" not in rec.states("long-1")


def test_master_failover_driver_resubscribes_and_task_survives(cluster, make_driver, busybox_image):
    driver = make_driver(cluster.master_url, framework_info("master-failover", failover_timeout=60))
    rec = Recorder(driver)
    first = subscribed(rec)
    offer = run_docker_task(rec, busybox_image, "survivor-1", "sleep 30")
    old_master_id = first.raw["subscribed"]["master_info"]["id"]

    cluster.restart_master()
    rec.wait(lambda e: isinstance(e, events.Disconnected), 30, "Disconnected")
    again = rec.wait(lambda e: isinstance(e, events.Subscribed), 30, "re-SUBSCRIBED to the new master")
    assert again.framework_id == first.framework_id
    assert again.raw["subscribed"]["master_info"]["id"] != old_master_id

    driver.reconcile([("survivor-1", offer.agent_id)])
    status = rec.wait(lambda e: isinstance(e, events.Update) and e.status.task_id == "survivor-1"
                      and e.status.reason == "REASON_RECONCILIATION", 30, "reconciliation after master failover").status
    assert status.state == "TASK_RUNNING"
    # The new master offers what the running task does not use (maybe before the reconciliation's answer came).
    assert rec.offers(since=again)[0].cpus == pytest.approx(4 - 0.1)


def test_disconnect_longer_than_failover_timeout_kills_tasks_and_refuses_resubscribe(cluster, make_driver, busybox_image):
    info = framework_info("short-failover", failover_timeout=1.0)
    driver = make_driver(cluster.master_url, info)
    rec = Recorder(driver)
    sub = subscribed(rec)
    offer = run_docker_task(rec, busybox_image, "doomed-1", "sleep 60")
    driver.stop()  # failover stop: no TEARDOWN, just gone

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = httpx.get(f"{cluster.master_url}/master/state", timeout=10).json()
        if any(f["id"] == sub.framework_id for f in state["completed_frameworks"]):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the framework was not removed after its failover_timeout")
    removed = next(f for f in state["completed_frameworks"] if f["id"] == sub.framework_id)
    assert {t["id"]: t["state"] for t in removed["completed_tasks"]}["doomed-1"] == "TASK_KILLED"
    # The agent forgets the framework once it has destroyed the framework's containers, after the master
    # removed it (ShutdownFrameworkMessage is one-way): a docker kill can take seconds on a busy machine.
    def agent_forgot_it() -> bool:
        agent_state = httpx.get(f"{cluster.agents[offer.agent_id].url}/state", timeout=10).json()
        return all(f["id"] != sub.framework_id for f in agent_state["frameworks"])

    wait_until(agent_forgot_it, "the agent to forget the removed framework", timeout=60)

    late = make_driver(cluster.master_url, info, framework_id=sub.framework_id)
    late_rec = Recorder(late)
    refused = late_rec.wait(lambda e: isinstance(e, (events.FrameworkRemoved, events.Error)), 30, "refusal")
    assert "Framework has been removed" in refused.message


def test_agent_stopped_mid_task(cluster, make_driver, busybox_image):
    lost_driver = make_driver(cluster.master_url, framework_info("not-partition-aware"))
    pa_driver = make_driver(cluster.master_url, framework_info("partition-aware", "PARTITION_AWARE"))
    lost_rec, pa_rec = Recorder(lost_driver), Recorder(pa_driver)
    subscribed(lost_rec)
    subscribed(pa_rec)
    for rec, task_id in ((lost_rec, "lost-1"), (pa_rec, "pa-1")):
        run_docker_task(rec, busybox_image, task_id, "sleep 60")
    agent_id = next(iter(cluster.agents))

    cluster.stop_agent(agent_id)
    lost = lost_rec.state_of("lost-1", "TASK_LOST")
    assert lost.uuid is None and lost.source == "SOURCE_MASTER"
    unreachable = pa_rec.state_of("pa-1", "TASK_UNREACHABLE")
    assert unreachable.uuid is None
    pa_rec.wait(lambda e: isinstance(e, events.Failure) and e.agent_id == agent_id, 30, "FAILURE for the agent")

    # The agent comes back after a reboot with no tasks. Like Mesos (master.cpp _reregisterSlave), the master
    # forgets the unreachable task without an update of its own; reconciliation then answers TASK_GONE.
    cluster.start_agent(agent_id)
    pa_driver.reconcile([("pa-1", agent_id)])
    gone = pa_rec.state_of("pa-1", "TASK_GONE")
    assert gone.reason == "REASON_RECONCILIATION" and gone.uuid is None


def reregistered(rec: Recorder, task_id: str) -> events.TaskStatus:
    return rec.wait(lambda e: isinstance(e, events.Update) and e.status.task_id == task_id
                    and e.status.reason == "REASON_AGENT_REREGISTERED", 30, f"{task_id} re-added on re-registration").status


def reconciled(rec: Recorder, task_id: str) -> events.TaskStatus:
    return rec.wait(lambda e: isinstance(e, events.Update) and e.status.task_id == task_id
                    and e.status.reason == "REASON_RECONCILIATION", 30, f"reconciliation of {task_id}").status


def test_partitioned_agent_heals_and_its_tasks_come_back_running(cluster, make_driver, busybox_image):
    lost_driver = make_driver(cluster.master_url, framework_info("partition-not-aware"))
    pa_driver = make_driver(cluster.master_url, framework_info("partition-aware-heal", "PARTITION_AWARE"))
    lost_rec, pa_rec = Recorder(lost_driver), Recorder(pa_driver)
    subscribed(lost_rec)
    subscribed(pa_rec)
    for rec, task_id in ((lost_rec, "lost-2"), (pa_rec, "pa-2")):
        run_docker_task(rec, busybox_image, task_id, "sleep 60")
    agent_id = next(iter(cluster.agents))

    cluster.partition_agent(agent_id)
    unreachable = pa_rec.state_of("pa-2", "TASK_UNREACHABLE")
    assert unreachable.reason == "REASON_AGENT_REMOVED" and unreachable.uuid is None
    assert lost_rec.state_of("lost-2", "TASK_LOST").reason == "REASON_AGENT_REMOVED"
    # The partition is between master and agent only: the agent still runs both tasks and says so.
    agent_state = httpx.get(f"{cluster.agents[agent_id].url}/state", timeout=10).json()
    running = {e["id"]: t["state"] for f in agent_state["frameworks"] for e in f["executors"] for t in e["tasks"]}
    assert running == {"lost-2": "TASK_RUNNING", "pa-2": "TASK_RUNNING"}
    pa_driver.reconcile([("pa-2", agent_id)])
    during = reconciled(pa_rec, "pa-2")
    assert during.state == "TASK_UNREACHABLE" and during.message == "Reconciliation: Task is unreachable"

    # Mesos 1.11 (master.cpp __reregisterSlave) re-adds every task the agent reports, for partition-aware
    # frameworks and the others alike, and forwards each framework an update in the task's state.
    cluster.heal_agent(agent_id)
    for rec, task_id in ((pa_rec, "pa-2"), (lost_rec, "lost-2")):
        back = reregistered(rec, task_id)
        assert back.state == "TASK_RUNNING" and back.source == "SOURCE_MASTER" and back.uuid is None
        assert back.message == "Unreachable agent re-reregistered"
    pa_driver.reconcile([("pa-2", agent_id)])
    assert reconciled(pa_rec, "pa-2").state == "TASK_RUNNING"
    assert [s for s in pa_rec.states("pa-2") if s not in ("TASK_STARTING", "TASK_RUNNING")] == \
        ["TASK_UNREACHABLE", "TASK_UNREACHABLE"]
    # The master and the agent talk again: a kill arrives.
    pa_driver.kill("pa-2", agent_id)
    pa_rec.state_of("pa-2", "TASK_KILLED")


def test_updates_held_during_a_partition_arrive_once_it_heals(cluster, make_driver, tmp_path):
    driver = make_driver(cluster.master_url, framework_info("partition-held-updates", "PARTITION_AWARE"))
    rec = Recorder(driver)
    sub = subscribed(rec)
    gate = tmp_path / "gate"
    offer = rec.offers()[0]
    # A host process that ends when the test lets it.
    driver.launch([offer.id], [task_info(offer, "held-1", sh(f"while [ ! -e {gate} ]; do sleep 0.05; done"))])
    rec.state_of("held-1", "TASK_RUNNING")
    agent = cluster.agents[offer.agent_id]

    cluster.partition_agent(offer.agent_id)
    rec.state_of("held-1", "TASK_UNREACHABLE")
    gate.touch()
    deadline = time.monotonic() + 30
    while not any(u["state"] == "TASK_FINISHED" for u in agent.pending_updates()):
        assert time.monotonic() < deadline, "the task did not finish on the partitioned agent"
        time.sleep(0.05)
    # Held, not sent: the master still has the task as unreachable.
    frameworks = httpx.get(f"{cluster.master_url}/master/frameworks", timeout=10).json()["frameworks"]
    framework = next(f for f in frameworks if f["id"] == sub.framework_id)
    assert [(t["id"], t["state"]) for t in framework["unreachable_tasks"]] == [("held-1", "TASK_UNREACHABLE")]

    cluster.heal_agent(offer.agent_id)
    # The re-registration reports the task in its latest state, then the agent resends the update it held.
    readded = reregistered(rec, "held-1")
    assert readded.state == "TASK_FINISHED" and readded.uuid is None
    resent = rec.wait(lambda e: isinstance(e, events.Update) and e.status.task_id == "held-1"
                      and e.status.uuid is not None and e.status.state == "TASK_FINISHED", 30, "the held update").status
    assert resent.source == "SOURCE_EXECUTOR"
    deadline = time.monotonic() + 30
    while agent.pending_updates():  # the Recorder acknowledged it; the agent stops resending
        assert time.monotonic() < deadline, f"still pending: {agent.pending_updates()}"
        time.sleep(0.05)
    framework = next(f for f in httpx.get(f"{cluster.master_url}/master/frameworks", timeout=10).json()["frameworks"]
                     if f["id"] == sub.framework_id)
    assert [(t["id"], t["state"]) for t in framework["completed_tasks"]] == [("held-1", "TASK_FINISHED")]
    assert framework["tasks"] == [] and framework["unreachable_tasks"] == []


def test_partition_healed_before_the_master_noticed_loses_what_it_sent_meanwhile(tmp_path, make_driver):
    # agent_ping_timeout far beyond the test: the master never marks the agent unreachable.
    with LocalCluster([AgentSpec(cpus=2, mem=1024)], work_dir=tmp_path / "short-partition", heartbeat_interval=1.0,
                      allocation_interval=0.2, status_update_retry_interval=0.5, agent_ping_timeout=600.0) as c:
        driver = make_driver(c.master_url, framework_info("partition-short", "PARTITION_AWARE", "TASK_KILLING_STATE"))
        rec = Recorder(driver)
        subscribed(rec)
        offer = rec.offers()[0]
        driver.launch([offer.id], [task_info(offer, "kept-1", sh("exec sleep 60"))])
        rec.state_of("kept-1", "TASK_RUNNING")
        agent_id = offer.agent_id

        c.partition_agent(agent_id)
        # The master does not know yet: it offers the agent's free resources, and sends a launch and a kill,
        # which never arrive.
        later = rec.offers()[0]
        driver.launch([later.id], [task_info(later, "launched-during-partition", sh("exec sleep 60"))])
        driver.kill("kept-1", agent_id)
        c.heal_agent(agent_id)

        # The re-registration of a still-registered agent reconciles its tasks (slave.cpp reconcileTasks).
        dropped = rec.state_of("launched-during-partition", "TASK_DROPPED")
        assert dropped.reason == "REASON_RECONCILIATION" and dropped.message == "Reconciliation: task unknown to the agent"
        driver.reconcile([("kept-1", agent_id)])
        assert reconciled(rec, "kept-1").state == "TASK_RUNNING"
        assert rec.states("kept-1") == ["TASK_STARTING", "TASK_RUNNING", "TASK_RUNNING"]  # the kill was lost
        driver.kill("kept-1", agent_id)
        rec.state_of("kept-1", "TASK_KILLED")


def test_leader_found_through_zookeeper(docker_client, busybox_image, zk_hosts, tmp_path, make_driver):
    path = f"/mesos-e2e-{uuid.uuid4().hex[:8]}"
    with LocalCluster([AgentSpec(cpus=1, mem=512)], work_dir=tmp_path / "zk", docker_client=docker_client,
                      heartbeat_interval=1.0, allocation_interval=0.2, zk=f"zk://{zk_hosts}{path}") as c:
        # Another member joins the group later (higher sequence number) at an address where nothing listens:
        # a driver that picked it would never subscribe.  The leader is the lowest sequence number.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead_port = s.getsockname()[1]
        dead = dict(c.master.master_info(), id="dead-master", port=dead_port, pid=f"master@127.0.0.1:{dead_port}",
                    address={"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": dead_port})
        zk = KazooClient(hosts=zk_hosts)
        zk.start(timeout=15)
        try:
            zk.create(f"{path}/json.info_", json.dumps(dead).encode(), ephemeral=True, sequence=True)
            assert len(zk.get_children(path)) == 2
            driver = make_driver(f"zk://{zk_hosts}{path}", framework_info("zk"))
            rec = Recorder(driver)
            subscribed(rec)
            assert driver.master_url.rstrip("/") == c.master_url.rstrip("/")
            assert rec.offers()[0].hostname
        finally:
            zk.stop()
            zk.close()


def test_master_with_auth_answers_401_without_credentials_and_accepts_them(docker_client, tmp_path, make_driver):
    with LocalCluster([AgentSpec(cpus=1, mem=512)], work_dir=tmp_path / "auth", docker_client=docker_client,
                      heartbeat_interval=1.0, allocation_interval=0.2, credentials={"airflow": "pw-" + SECRET}) as c:
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info("noauth")}}
        response = httpx.post(f"{c.master_url}/api/v1/scheduler", json=body,
                              headers={"Accept": "application/json"}, timeout=10)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")

        info = dict(framework_info("auth"), principal="airflow")
        driver = make_driver(c.master_url, info, principal="airflow", secret="pw-" + SECRET)
        assert ("pw-" + SECRET) not in repr(driver)
        rec = Recorder(driver)
        subscribed(rec)
