"""LocalCluster end to end: the real master with real agents, real dockerd and real HTTP."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from airflow_mesos.local import AgentSpec, LocalCluster
from tests.support.driver_fakes import wait_until
from tests.support.scheduler_client import SchedulerClient, command_task, framework_info, launch_call

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path, docker_client, busybox_image):
    with LocalCluster([AgentSpec(cpus=2, mem=1024)], work_dir=tmp_path, docker_client=docker_client,
                      heartbeat_interval=1.0, allocation_interval=0.05, agent_ping_timeout=1.0,
                      status_update_retry_interval=0.3) as c:
        yield c


def docker_task(offer, task_id, command, image):
    return command_task(offer, task_id, command,
                        container={"type": "DOCKER", "docker": {"image": image, "network": "NONE"}})


def test_docker_and_mesos_tasks_finish_and_stdout_is_readable(cluster, subs, busybox_image):
    sub = SchedulerClient(cluster.master_url, framework_info())
    subs.append(sub)
    offer = sub.event("OFFERS")["offers"]["offers"][0]
    tasks = [docker_task(offer, "docker-1", "echo from-docker", busybox_image),
             command_task(offer, "mesos-1", "echo from-mesos", container={"type": "MESOS"})]
    assert sub.call(launch_call(offer, tasks)).status_code == 202
    for task_id, expected in (("docker-1", "from-docker"), ("mesos-1", "from-mesos")):
        for state in ("TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"):
            status = sub.update(task_id, state, timeout=60)
            assert status["agent_id"] == offer["agent_id"] and "uuid" in status
            assert sub.ack(status).status_code == 202
        agent = cluster.agents[offer["agent_id"]["value"]]
        path = f"/frameworks/{sub.framework_id}/executors/{task_id}/runs/latest/stdout"
        read = httpx.get(agent.url + "/files/read", params={"path": path, "offset": 0}, timeout=10).json()
        assert expected in read["data"]
    # An ACKNOWLEDGE is answered 202 before the master has applied it (Mesos removes a task once its terminal
    # update is acknowledged): the completed tasks show up shortly after, later on a loaded machine.
    def completed() -> list[str]:
        fw = httpx.get(cluster.master_url + "/master/frameworks", timeout=10).json()["frameworks"][0]
        return sorted(t["state"] for t in fw["completed_tasks"])

    wait_until(lambda: completed() == ["TASK_FINISHED", "TASK_FINISHED"], "both tasks completed", timeout=60)


def test_unacknowledged_update_is_resent_with_the_same_uuid(cluster, subs):
    sub = SchedulerClient(cluster.master_url, framework_info())
    subs.append(sub)
    offer = sub.event("OFFERS")["offers"]["offers"][0]
    sub.call(launch_call(offer, [command_task(offer, "noack", "sleep 30", container={"type": "MESOS"})]))
    first = sub.update("noack", "TASK_STARTING", timeout=30)
    again = sub.update("noack", "TASK_STARTING", timeout=30)
    assert again["uuid"] == first["uuid"]
    sub.ack(first)
    sub.ack(sub.update("noack", "TASK_RUNNING", timeout=30))
    sub.call({"type": "KILL", "kill": {"task_id": {"value": "noack"}}})
    sub.update("noack", "TASK_KILLED", timeout=30)


def test_agent_crash_gives_unreachable_then_gone_after_restart(cluster, subs, busybox_image):
    sub = SchedulerClient(cluster.master_url, framework_info())
    subs.append(sub)
    offer = sub.event("OFFERS")["offers"]["offers"][0]
    sub.call(launch_call(offer, [docker_task(offer, "victim", "sleep 60", busybox_image)]))
    sub.ack(sub.update("victim", "TASK_STARTING", timeout=60))
    sub.ack(sub.update("victim", "TASK_RUNNING", timeout=60))
    agent_id = offer["agent_id"]["value"]
    cluster.stop_agent(agent_id)
    unreachable = sub.update("victim", "TASK_UNREACHABLE", timeout=30)
    assert unreachable["source"] == "SOURCE_MASTER" and "uuid" not in unreachable
    sub.event("FAILURE")
    cluster.start_agent(agent_id)
    sub.wait_for(lambda e: e["type"] == "OFFERS", timeout=30)
    sub.call({"type": "RECONCILE", "reconcile": {"tasks": [{"task_id": {"value": "victim"}, "agent_id": offer["agent_id"]}]}})
    assert sub.update("victim", "TASK_GONE")["reason"] == "REASON_RECONCILIATION"


def test_failover_timeout_expiry_kills_the_running_container(cluster, subs, docker_client, busybox_image):
    sub = SchedulerClient(cluster.master_url, framework_info(failover_timeout=0.2))
    subs.append(sub)
    offer = sub.event("OFFERS")["offers"]["offers"][0]
    sub.call(launch_call(offer, [docker_task(offer, "orphan", "sleep 60", busybox_image)]))
    sub.ack(sub.update("orphan", "TASK_STARTING", timeout=60))
    sub.ack(sub.update("orphan", "TASK_RUNNING", timeout=60))
    sub.close()
    agent = cluster.agents[offer["agent_id"]["value"]]
    import time
    deadline = time.monotonic() + 30
    while agent.live_tasks() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert agent.live_tasks() == []
    again = SchedulerClient(cluster.master_url, framework_info(), framework_id=sub.framework_id)
    subs.append(again)
    assert again.event("ERROR")["error"]["message"] == "Framework has been removed"


def test_demo_cli_exits_zero_and_prints_task_output(tmp_path, docker_client, busybox_image):
    result = subprocess.run([sys.executable, "-m", "airflow_mesos.local", "demo", "--work-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TASK_FINISHED" in result.stdout
    assert "hello from mesos task line 3" in result.stdout
