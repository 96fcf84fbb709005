"""The operator surface of a real LocalCluster over HTTP: v1 operator API, /metrics/snapshot, /flags, /roles.

Two real agents run host-process tasks (no Docker needed); a minimal v1 scheduler (tests' own client)
launches them with a SECRET environment variable that must show in no operator response.
"""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest

from airflow_mesos.local.cluster import LocalCluster
from tests.support.scheduler_client import (
    RecordIOStream,
    SchedulerClient,
    command_task,
    framework_info,
    launch_call,
)

pytestmark = pytest.mark.integration

SECRET = "op-s3cr3t-" + uuid.uuid4().hex[:10]
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST"}


@pytest.fixture(scope="module")
def running():
    """A cluster with two tasks (one per agent) RUNNING under one framework; yields the pieces."""
    cluster = LocalCluster(agents=2, docker_client=None, heartbeat_interval=0.5, allocation_interval=0.05)
    cluster.start()
    sub = None
    try:
        sub = SchedulerClient(cluster.master_url, framework_info("operator-test", roles=("ops/etl",)))
        sub.event("SUBSCRIBED")
        offers: dict[str, dict] = {}
        while len(offers) < 2:
            for offer in sub.event("OFFERS")["offers"]["offers"]:
                offers[offer["agent_id"]["value"]] = offer
        env = {"variables": [{"name": "TOKEN", "type": "SECRET", "secret": {
            "type": "VALUE", "value": {"data": base64.b64encode(SECRET.encode()).decode()}}}]}
        task_agents = {}
        for index, (agent_id, offer) in enumerate(sorted(offers.items())):
            task_id = f"op-task-{index}"
            task = command_task(offer, task_id, command='echo "started $((20 + 22))"; exec sleep 60', cpus=0.25,
                                mem=48.0)
            task["command"]["environment"] = env
            assert sub.call(launch_call(offer, [task])).status_code == 202
            task_agents[task_id] = agent_id
        for task_id in task_agents:
            sub.ack(sub.update(task_id, "TASK_STARTING"))
            sub.ack(sub.update(task_id, "TASK_RUNNING"))
        yield {"cluster": cluster, "sub": sub, "task_agents": task_agents, "bodies": []}
    finally:
        if sub is not None:
            sub.close()
        cluster.stop()


def post(url: str, body: dict, bodies: list[str] | None = None, **headers: str) -> httpx.Response:
    response = httpx.post(url + "/api/v1", json=body, headers={"Accept": "application/json", **headers}, timeout=10)
    if bodies is not None:
        bodies.append(response.text)
    return response


def get(url: str, path: str, bodies: list[str]) -> dict:
    response = httpx.get(url + path, timeout=10)
    assert response.status_code == 200, response.text
    bodies.append(response.text)
    return response.json()


def test_master_reports_running_tasks_metrics_and_state(running):
    cluster, bodies = running["cluster"], running["bodies"]
    url = cluster.master_url
    framework_id = running["sub"].framework_id

    tasks = post(url, {"type": "GET_TASKS"}, bodies)
    assert tasks.status_code == 200 and tasks.headers["Content-Type"] == "application/json"
    assert tasks.json()["type"] == "GET_TASKS"
    listed = {t["task_id"]["value"]: t for t in tasks.json()["get_tasks"]["tasks"]}
    assert sorted(listed) == sorted(running["task_agents"])
    for task_id, agent_id in running["task_agents"].items():
        assert listed[task_id]["state"] == "TASK_RUNNING"
        assert listed[task_id]["agent_id"] == {"value": agent_id}
        assert listed[task_id]["framework_id"] == {"value": framework_id}

    snapshot = get(url, "/metrics/snapshot", bodies)
    assert snapshot["master/elected"] == 1.0
    assert snapshot["master/tasks_running"] == 2.0
    assert snapshot["master/cpus_used"] == pytest.approx(0.5)
    assert snapshot["master/mem_used"] == pytest.approx(96.0)
    assert snapshot["master/cpus_total"] == pytest.approx(4.0)
    assert snapshot["master/slaves_active"] == 2.0 and snapshot["master/frameworks_connected"] == 1.0

    metrics = post(url, {"type": "GET_METRICS", "get_metrics": {}}, bodies).json()["get_metrics"]["metrics"]
    assert {"name": "master/tasks_running", "value": 2.0} in metrics

    state = post(url, {"type": "GET_STATE"}, bodies).json()["get_state"]
    assert sorted(a["agent_info"]["id"]["value"] for a in state["get_agents"]["agents"]) == sorted(cluster.agents)
    [framework] = state["get_frameworks"]["frameworks"]
    assert framework["framework_info"]["id"] == {"value": framework_id} and framework["connected"] is True
    assert sum(r["scalar"]["value"] for r in framework["allocated_resources"] if r["name"] == "cpus") == 0.5

    master = post(url, {"type": "GET_MASTER"}, bodies).json()["get_master"]
    assert master["master_info"]["id"] == cluster.master.id and master["master_info"]["port"] == cluster.master.port


def test_master_flags_and_roles(running):
    url, bodies = running["cluster"].master_url, running["bodies"]
    state_flags = get(url, "/master/state", bodies)["flags"]
    assert get(url, "/master/flags", bodies) == get(url, "/flags", bodies) == {"flags": state_flags}
    listed = post(url, {"type": "GET_FLAGS"}, bodies).json()["get_flags"]["flags"]
    assert {f["name"]: f["value"] for f in listed} == state_flags

    roles = {r["name"]: r for r in get(url, "/master/roles", bodies)["roles"]}
    assert sorted(roles) == ["ops", "ops/etl"]
    assert roles["ops/etl"]["frameworks"] == [running["sub"].framework_id]
    assert roles["ops/etl"]["allocated"]["cpus"] == pytest.approx(0.5)
    v1_roles = post(url, {"type": "GET_ROLES"}, bodies).json()["get_roles"]["roles"]
    assert [r["name"] for r in v1_roles] == ["ops", "ops/etl"]


def test_agent_operator_api_files_and_metrics(running):
    cluster, bodies = running["cluster"], running["bodies"]
    framework_id = running["sub"].framework_id
    task_id, agent_id = sorted(running["task_agents"].items())[0]
    agent_url = cluster.agents[agent_id].url

    state = post(agent_url, {"type": "GET_STATE"}, bodies).json()["get_state"]
    [launched] = state["get_tasks"]["launched_tasks"]
    assert launched["task_id"] == {"value": task_id} and launched["state"] == "TASK_RUNNING"
    assert [f["framework_info"]["id"]["value"] for f in state["get_frameworks"]["frameworks"]] == [framework_id]
    [container] = post(agent_url, {"type": "GET_CONTAINERS"}, bodies).json()["get_containers"]["containers"]
    assert container["executor_id"] == {"value": task_id}

    sandbox = f"/frameworks/{framework_id}/executors/{task_id}/runs/latest"
    files = post(agent_url, {"type": "LIST_FILES", "list_files": {"path": sandbox}}, bodies).json()
    assert {f"{sandbox}/stdout", f"{sandbox}/stderr"} <= {f["path"] for f in files["list_files"]["file_infos"]}
    read = post(agent_url, {"type": "READ_FILE", "read_file": {"path": f"{sandbox}/stdout", "offset": 0}}, bodies)
    assert read.status_code == 200
    assert base64.b64decode(read.json()["read_file"]["data"]) == b"started 42\n"
    assert read.json()["read_file"]["size"] == len(b"started 42\n")
    missing = post(agent_url, {"type": "READ_FILE", "read_file": {"path": f"{sandbox}/nope", "offset": 0}})
    assert missing.status_code == 404

    snapshot = get(agent_url, "/metrics/snapshot", bodies)
    assert snapshot["slave/tasks_running"] == 1.0 and snapshot["slave/registered"] == 1.0
    assert snapshot["slave/cpus_used"] == pytest.approx(0.25) and snapshot["slave/cpus_total"] == pytest.approx(2.0)
    assert get(agent_url, "/flags", bodies)["flags"] == get(agent_url, "/state", bodies)["flags"]


def test_bad_operator_requests_over_http(running):
    url = running["cluster"].master_url
    r = httpx.post(url + "/api/v1", content=b"\x08\x01", headers={"Content-Type": "application/x-protobuf"}, timeout=10)
    assert r.status_code == 415
    r = httpx.get(url + "/api/v1", timeout=10)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    r = httpx.post(url + "/api/v1", content=b"{", headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and r.text.startswith("Failed to parse body into JSON")
    r = post(url, {"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": "x"}}})
    assert r.status_code == 501 and "DRAIN_AGENT" in r.text
    agent_url = next(iter(running["cluster"].agents.values())).url
    r = post(agent_url, {"type": "READ_FILE"})
    assert (r.status_code, r.text) == (400, "Failed to validate agent::Call: Expecting 'read_file' to be present")


def test_killed_task_moves_to_completed_and_is_counted(running):
    cluster, sub, bodies = running["cluster"], running["sub"], running["bodies"]
    task_id, agent_id = sorted(running["task_agents"].items())[1]
    assert sub.call({"type": "KILL", "kill": {"task_id": {"value": task_id}, "agent_id": {"value": agent_id}}}).status_code == 202
    sub.ack(sub.wait_for(lambda e: e.get("type") == "UPDATE" and e["update"]["status"]["task_id"]["value"] == task_id
                         and e["update"]["status"]["state"] in TERMINAL, what=f"terminal update of {task_id}")["update"]["status"])
    tasks = post(cluster.master_url, {"type": "GET_TASKS"}, bodies).json()["get_tasks"]
    assert [t["task_id"]["value"] for t in tasks["completed_tasks"]] == [task_id]
    assert tasks["completed_tasks"][0]["state"] == "TASK_KILLED"
    snapshot = get(cluster.master_url, "/metrics/snapshot", bodies)
    assert snapshot["master/tasks_killed"] == 1.0 and snapshot["master/tasks_running"] == 1.0
    assert snapshot["master/cpus_used"] == pytest.approx(0.25)


def test_no_operator_response_shows_the_secret(running):
    """Runs last in this module: every body the other tests collected, plus each remaining call."""
    cluster, bodies = running["cluster"], list(running["bodies"])
    for kind in ("GET_STATE", "GET_TASKS", "GET_FRAMEWORKS", "GET_EXECUTORS", "GET_AGENTS", "GET_ROLES"):
        bodies.append(post(cluster.master_url, {"type": kind}).text)
    for agent in cluster.agents.values():
        for kind in ("GET_STATE", "GET_TASKS", "GET_EXECUTORS", "GET_CONTAINERS", "GET_FRAMEWORKS", "GET_FLAGS"):
            bodies.append(post(agent.url, {"type": kind}).text)
    assert len(bodies) > 25
    encoded = base64.b64encode(SECRET.encode()).decode()
    for body in bodies:
        assert SECRET not in body and encoded not in body


def operator_stream(master_url: str) -> RecordIOStream:
    """An operator API SUBSCRIBE connection (``POST /api/v1``)."""
    return RecordIOStream(master_url, "/api/v1", {"type": "SUBSCRIBE"})


def test_operator_subscribe_streams_state_then_task_and_framework_events():
    with LocalCluster(agents=1, docker_client=None, heartbeat_interval=0.2, allocation_interval=0.05) as cluster:
        stream = operator_stream(cluster.master_url)
        sub = None
        try:
            assert stream.response.status == 200
            assert stream.response.getheader("Content-Type") == "application/json"
            subscribed = stream.wait_for(lambda e: e["type"] == "SUBSCRIBED", timeout=15.0,
                                         what="SUBSCRIBED")["subscribed"]
            assert subscribed["heartbeat_interval_seconds"] == 0.2
            agents = subscribed["get_state"]["get_agents"]["agents"]
            assert [a["agent_info"]["id"]["value"] for a in agents] == list(cluster.agents)
            stream.wait_for(lambda e: e["type"] == "HEARTBEAT", timeout=15.0, what="HEARTBEAT")
            snapshot = httpx.get(cluster.master_url + "/metrics/snapshot", timeout=10).json()
            assert snapshot["master/operator_event_stream_subscribers"] == 1.0

            sub = SchedulerClient(cluster.master_url, framework_info("watched"))
            sub.event("SUBSCRIBED")
            added = stream.wait_for(lambda e: e["type"] == "FRAMEWORK_ADDED", timeout=15.0, what="FRAMEWORK_ADDED")
            assert added["framework_added"]["framework"]["framework_info"]["id"] == {"value": sub.framework_id}
            offer = sub.event("OFFERS")["offers"]["offers"][0]
            task = command_task(offer, "watched-task", command="exec sleep 60")
            task["command"]["environment"] = {"variables": [{"name": "TOKEN", "type": "SECRET", "secret": {
                "type": "VALUE", "value": {"data": base64.b64encode(SECRET.encode()).decode()}}}]}
            assert sub.call(launch_call(offer, [task])).status_code == 202
            added = stream.wait_for(lambda e: e["type"] == "TASK_ADDED", timeout=15.0,
                                    what="TASK_ADDED")["task_added"]["task"]
            assert added["task_id"] == {"value": "watched-task"} and added["state"] == "TASK_STAGING"
            sub.ack(sub.update("watched-task", "TASK_STARTING"))
            sub.ack(sub.update("watched-task", "TASK_RUNNING"))
            assert sub.call({"type": "KILL", "kill": {"task_id": {"value": "watched-task"}}}).status_code == 202
            stream.wait_for(lambda e: e["type"] == "TASK_UPDATED" and e["task_updated"]["state"] == "TASK_KILLED",
                            what="TASK_UPDATED TASK_KILLED")
            states = [e["task_updated"]["state"] for e in stream.events if e["type"] == "TASK_UPDATED"]
            assert states[:2] == ["TASK_STARTING", "TASK_RUNNING"] and states[-1] == "TASK_KILLED"
            assert all(e["task_updated"]["framework_id"] == {"value": sub.framework_id}
                       for e in stream.events if e["type"] == "TASK_UPDATED")

            assert sub.call({"type": "TEARDOWN"}).status_code == 202
            removed = stream.wait_for(lambda e: e["type"] == "FRAMEWORK_REMOVED", timeout=15.0, what="FRAMEWORK_REMOVED")
            assert removed["framework_removed"]["framework_info"]["id"] == {"value": sub.framework_id}
            encoded = base64.b64encode(SECRET.encode()).decode()
            for event in list(stream.events):
                text = json.dumps(event)
                assert SECRET not in text and encoded not in text
        finally:
            if sub is not None:
                sub.close()
            stream.close()
