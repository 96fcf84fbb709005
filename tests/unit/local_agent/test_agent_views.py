"""An agent's views (/state, operator API v1, /metrics/snapshot, files) rendered from its records, and its HTTP
edge answering without a server."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from airflow_mesos.clock import FakeClock
from airflow_mesos.local import agent_http, agent_views
from airflow_mesos.local.agent import Agent, AgentSpec
from airflow_mesos.local.agent_records import AgentFramework, AgentTask
from airflow_mesos.local.allocator import Resources
from airflow_mesos.local.http_util import HttpReply, decode_operator_call

SECRET = "s3cr3t-Value-0451"
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
def clock():
    return FakeClock(start=1_700_000_000.0)


def task_info(agent_id: str, task_id: str, cpus: float, mem: float) -> dict:
    """A TaskInfo carrying a secret in every place a leak could come from."""
    return {
        "name": f"name-{task_id}", "task_id": {"value": task_id}, "agent_id": {"value": agent_id},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}],
        "command": {"value": f"echo {SECRET}", "user": "nobody", "environment": {"variables": [
            {"name": "PLAIN", "type": "VALUE", "value": SECRET},
            {"name": "TOKEN", "type": "SECRET", "secret": {"type": "VALUE", "value": {"data": base64.b64encode(SECRET.encode()).decode()}}},
        ]}},
        "container": {"type": "DOCKER", "docker": {"image": "busybox", "network": "HOST",
                                                   "parameters": [{"key": "env", "value": f"PASSWORD={SECRET}"}]}},
        "labels": {"labels": [{"key": "owner", "value": "ops"}]},
    }


@pytest.fixture
def agent(tmp_path, clock):
    """An unstarted agent whose records hold a running, a finished-and-acknowledged and a staging task."""
    a = Agent(agent_id="A-S0", spec=AgentSpec(cpus=3, mem=3000, disk=100), work_dir=tmp_path, clock=clock)
    a._start_time = clock.time()
    framework_info = {"id": {"value": "F-1"}, "name": "airflow", "user": "nobody", "roles": ["airflow"]}
    a._frameworks["F-1"] = AgentFramework(framework_info)
    for task_id, state, terminated, completed in (("run", "TASK_RUNNING", False, False),
                                                  ("done", "TASK_FINISHED", True, True),
                                                  ("stage", "TASK_STAGING", False, False)):
        info = task_info("A-S0", task_id, 1.0, 100.0)
        directory = tmp_path / "runs" / task_id
        directory.mkdir(parents=True)
        task = AgentTask("F-1", info, f"container-{task_id}", directory, a._epoch,
                         resources=Resources.from_json(info["resources"]), state=state, terminated=terminated,
                         completed=completed, has_container=state == "TASK_RUNNING")
        task.statuses.append({"state": state, "timestamp": clock.time(),
                              "container_status": {"container_id": {"value": task.container_id},
                                                   "network_infos": [{"ip_addresses": [{"ip_address": "127.0.0.1"}]}]}})
        a._tasks[("F-1", task_id)] = task
        a._files.attach(directory, f"/sandbox/{task_id}")
    (tmp_path / "runs" / "run" / "stdout").write_bytes(b"hello\x00world\n" * 10)
    (tmp_path / "runs" / "run" / "sub").mkdir()
    (tmp_path / "outside").write_text("private")
    return a


def agent_call(agent: Agent, body: dict) -> dict | HttpReply:
    """The call as the HTTP edge hands it over (decoded and normalized), answered by the agent."""
    call = decode_operator_call("POST", JSON_HEADERS, json.dumps(body).encode(), "agent")
    assert not isinstance(call, HttpReply), call.body
    reply = agent_http.operator_reply(agent, call)
    if reply.status != 200:
        return reply
    payload = json.loads(reply.body)
    assert payload["type"] == body["type"]
    return payload[body["type"].lower()]


def test_agent_metrics_count_tasks_and_resources(agent, clock):
    clock.advance(5)
    now = clock.time()
    snap = agent.render(lambda view: agent_views.agent_metrics(view, now))
    assert snap["slave/uptime_secs"] == 5.0
    assert snap["slave/registered"] == 0.0       # its server was never started
    assert snap["slave/tasks_running"] == 1.0 and snap["slave/tasks_staging"] == 1.0
    assert snap["slave/tasks_finished"] == 1.0 and snap["slave/tasks_failed"] == 0.0
    assert snap["slave/executors_running"] == 1.0 and snap["slave/executors_registering"] == 1.0
    assert snap["slave/executors_terminated"] == 1.0
    assert snap["slave/frameworks_active"] == 1.0
    assert snap["slave/cpus_total"] == 3.0 and snap["slave/cpus_used"] == 2.0
    assert snap["slave/cpus_percent"] == pytest.approx(2 / 3)
    assert snap["slave/mem_used"] == 200.0


def test_agent_get_tasks_executors_frameworks_and_containers(agent):
    tasks = agent_call(agent, {"type": "GET_TASKS"})
    assert sorted(t["task_id"]["value"] for t in tasks["launched_tasks"]) == ["run", "stage"]
    assert [t["task_id"]["value"] for t in tasks["completed_tasks"]] == ["done"]
    assert tasks["terminated_tasks"] == [] and tasks["queued_tasks"] == [] and tasks["pending_tasks"] == []
    run = next(t for t in tasks["launched_tasks"] if t["task_id"]["value"] == "run")
    assert run["agent_id"] == {"value": "A-S0"} and run["framework_id"] == {"value": "F-1"}
    assert run["statuses"][0]["agent_id"] == {"value": "A-S0"}
    assert run["container"] == {"type": "DOCKER", "docker": {"image": "busybox", "network": "HOST"}}

    executors = agent_call(agent, {"type": "GET_EXECUTORS"})
    assert sorted(e["executor_info"]["executor_id"]["value"] for e in executors["executors"]) == ["run", "stage"]
    assert [e["executor_info"]["name"] for e in executors["completed_executors"]] == ["Command Executor (Task: done)"]
    assert all("command" not in e["executor_info"] for e in executors["executors"])

    frameworks = agent_call(agent, {"type": "GET_FRAMEWORKS"})
    assert [f["framework_info"]["id"] for f in frameworks["frameworks"]] == [{"value": "F-1"}]

    [container] = agent_call(agent, {"type": "GET_CONTAINERS"})["containers"]
    assert container["container_id"] == {"value": "container-run"}
    assert container["executor_id"] == {"value": "run"}
    assert container["container_status"]["network_infos"][0]["ip_addresses"] == [{"ip_address": "127.0.0.1"}]
    assert container["resource_statistics"]["cpus_limit"] == 1.0
    assert container["resource_statistics"]["mem_limit_bytes"] == 100 * 1024 * 1024

    state = agent_call(agent, {"type": "GET_STATE"})
    assert state == {"get_tasks": tasks, "get_executors": executors, "get_frameworks": frameworks}
    flags = agent_call(agent, {"type": "GET_FLAGS"})["flags"]
    assert {f["name"]: f["value"] for f in flags} == agent.state()["flags"]


def test_no_agent_response_shows_a_secret(agent):
    for kind in ("GET_STATE", "GET_TASKS", "GET_EXECUTORS", "GET_CONTAINERS", "GET_FRAMEWORKS", "GET_FLAGS"):
        body = agent_http.operator_reply(agent, {"type": kind}).body
        assert SECRET.encode() not in body and base64.b64encode(SECRET.encode()) not in body
        assert b"PASSWORD" not in body and b"environment" not in body


def test_read_file_returns_base64_data_and_file_size(agent):
    size = len(b"hello\x00world\n" * 10)
    read = agent_call(agent, {"type": "READ_FILE", "read_file": {"path": "/sandbox/run/stdout", "offset": 0}})
    assert read["size"] == size
    assert base64.b64decode(read["data"]) == b"hello\x00world\n" * 10
    read = agent_call(agent, {"type": "READ_FILE", "read_file": {"path": "/sandbox/run/stdout", "offset": "6", "length": 5}})
    assert base64.b64decode(read["data"]) == b"world" and read["size"] == size
    read = agent_call(agent, {"type": "READ_FILE", "read_file": {"path": "/sandbox/run/stdout", "offset": size + 10}})
    assert read == {"size": size, "data": ""}


def test_read_file_is_capped_at_16_pages(agent, tmp_path):
    (tmp_path / "runs" / "run" / "big").write_bytes(b"x" * 100_000)
    read = agent_call(agent, {"type": "READ_FILE", "read_file": {"path": "/sandbox/run/big", "offset": 0}})
    assert read["size"] == 100_000 and len(base64.b64decode(read["data"])) == 65536


@pytest.mark.parametrize("payload,code,message", [
    ({"path": "/sandbox/run/sub", "offset": 0}, 400, "Cannot read a directory.\n"),
    ({"path": "/sandbox/run/nothing", "offset": 0}, 404, ""),
    ({"path": "/unattached/file", "offset": 0}, 404, ""),
    ({"path": "/sandbox/run/../../outside", "offset": 0}, 400, "is inaccessible"),
])
def test_read_file_refuses_like_files_read(agent, payload, code, message):
    reply = agent_call(agent, {"type": "READ_FILE", "read_file": payload})
    assert isinstance(reply, HttpReply) and reply.status == code
    assert message in reply.body.decode()


def test_read_file_offset_is_a_uint64_so_minus_one_reads_past_the_end(agent):
    # stout casts -1 into the uint64 field (2^64 - 1): Mesos answers with the size and no data, not a 400.
    call = decode_operator_call("POST", JSON_HEADERS,
                                b'{"type":"READ_FILE","read_file":{"path":"/sandbox/run/stdout","offset":-1}}', "agent")
    assert call["read_file"]["offset"] == 2**64 - 1
    assert agent_call(agent, call) == {"size": len(b"hello\x00world\n" * 10), "data": ""}
    reply = decode_operator_call("POST", JSON_HEADERS, b'{"type":"READ_FILE","read_file":{"path":"/p","offset":"x"}}',
                                 "agent")
    assert reply.status == 400 and reply.body.startswith(b"Failed to convert JSON into Call protobuf: Failed to parse 'x'")


def test_list_files_gives_v1_file_infos(agent, tmp_path):
    infos = agent_call(agent, {"type": "LIST_FILES", "list_files": {"path": "/sandbox/run"}})["file_infos"]
    by_path = {i["path"]: i for i in infos}
    assert sorted(by_path) == ["/sandbox/run/stdout", "/sandbox/run/sub"]
    stdout = by_path["/sandbox/run/stdout"]
    st = os.stat(tmp_path / "runs" / "run" / "stdout")
    assert stdout["size"] == st.st_size and stdout["mode"] == st.st_mode
    assert stdout["mtime"] == {"nanoseconds": int(st.st_mtime) * 1_000_000_000}
    assert agent_call(agent, {"type": "LIST_FILES", "list_files": {"path": "/nope"}}).status == 404


def test_agent_edge_routes_as_libprocess(agent):
    def serve(method: str, uri: str, body: bytes = b"") -> HttpReply:
        return agent_http.serve(agent, method, uri, JSON_HEADERS, body)

    assert json.loads(serve("GET", "/metrics/snapshot").body)["slave/tasks_running"] == 1.0
    flags = json.loads(serve("GET", "/slave(1)/flags").body)["flags"]
    assert flags["work_dir"] == str(Path(agent.work_dir))
    reply = serve("POST", "/slave(1)/api/v1", b'{"type":"GET_HEALTH"}')
    assert json.loads(reply.body) == {"type": "GET_HEALTH", "get_health": {"healthy": True}}
    reply = serve("POST", "/api/v1", b'{"type":"LAUNCH_CONTAINER","launch_container":{}}')
    assert reply.status == 501 and b"LAUNCH_CONTAINER is not supported by the embedded Mesos agent" in reply.body
    assert json.loads(serve("GET", "/state").body)["id"] == "A-S0"
    assert json.loads(serve("GET", "/slave%281%29/state").body)["id"] == "A-S0"   # the process id is decoded
    read = json.loads(serve("GET", "/files/read?path=/sandbox/run/stdout&offset=0&length=5").body)
    assert read == {"data": "hello", "offset": 0}
    assert serve("GET", "/slave(1)/files/read?path=/sandbox/run/stdout").status == 404   # files is its own process
    assert serve("POST", "/state").status == 405
    assert serve("GET", "/health").status == 200
