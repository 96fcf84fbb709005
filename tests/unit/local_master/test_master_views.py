"""The master's views (state JSON, operator API v1, /metrics/snapshot, /flags, /roles, operator events) rendered
from its records, and its HTTP edge answering without a server."""

from __future__ import annotations

import base64
import json
import os

import pytest

from airflow_mesos.clock import FakeClock
from airflow_mesos.local import master_core, master_http, master_views
from airflow_mesos.local.allocator import Resources
from airflow_mesos.local.http_util import HttpReply, decode_call, decode_operator_call
from airflow_mesos.local.master import Master
from airflow_mesos.local.records import FrameworkRecord, OfferRecord, resources_by_role, total
from tests.support.stub_agent import StubSpec

SECRET = "s3cr3t-Value-0451"
JSON_HEADERS = {"Content-Type": "application/json"}


# ------------------------------------------------------------------------------------------------
# Call parsing
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method,headers,body,code,message", [
    ("GET", JSON_HEADERS, b"{}", 405, "Expecting one of { 'POST' }, but received 'GET'"),
    ("POST", {}, b"{}", 400, "Expecting 'Content-Type' to be present"),
    ("POST", {"Content-Type": "application/x-protobuf"}, b"", 415,
     "Expecting 'Content-Type' of application/json or application/x-protobuf"),
    ("POST", {"Content-Type": "text/html"}, b"", 415, "Expecting 'Content-Type' of application/json"),
    ("POST", JSON_HEADERS, b"{nope", 400, "Failed to parse body into JSON: "),
    ("POST", JSON_HEADERS, b"[1]", 400, "Failed to convert JSON into Call protobuf: Expecting a JSON object"),
    # stout drops an unknown name of the optional enum 'type', so validation then finds no type.
    ("POST", JSON_HEADERS, b'{"type":"GET_BOGUS"}', 400,
     "Failed to validate master::Call: Expecting 'type' to be present"),
    ("POST", {"Content-Type": "application/json; charset=utf-8"}, b'{"type":"GET_HEALTH"}', 415,
     "Expecting 'Content-Type' of application/json or application/x-protobuf"),
    ("POST", JSON_HEADERS, b'{"type":"GET_HEALTH","x":NaN}', 400, "Failed to parse body into JSON: "),
    ("POST", JSON_HEADERS, b'{"type":"GET_METRICS","get_metrics":3}', 400,
     "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'get_metrics'"),
    ("POST", JSON_HEADERS, b'{"type":"READ_FILE","read_file":{"path":"/x"}}', 400,
     "Failed to convert JSON into Call protobuf: Missing required fields: read_file.offset"),
    ("POST", JSON_HEADERS, b"{}", 400, "Failed to validate master::Call: Expecting 'type' to be present"),
    ("POST", JSON_HEADERS, b'{"type":"GET_METRICS"}', 400,
     "Failed to validate master::Call: Expecting 'get_metrics' to be present"),
    ("POST", JSON_HEADERS, b'{"type":"DRAIN_AGENT"}', 400,
     "Failed to validate master::Call: Expecting 'drain_agent' to be present"),
    ("POST", {**JSON_HEADERS, "Accept": "application/x-protobuf"}, b'{"type":"GET_HEALTH"}', 406,
     "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"),
])
def test_bad_master_calls_get_mesos_status_and_message(method, headers, body, code, message):
    reply = decode_operator_call(method, headers, body, "master")
    assert isinstance(reply, HttpReply)
    assert reply.status == code
    assert reply.body.decode().startswith(message), reply.body


def test_agent_calls_use_the_agent_enum_and_message():
    assert decode_operator_call("POST", JSON_HEADERS, b'{"type":"GET_CONTAINERS"}', "agent") == {"type": "GET_CONTAINERS"}
    reply = decode_operator_call("POST", JSON_HEADERS, b'{"type":"GET_CONTAINERS"}', "master")
    assert reply.status == 400 and reply.body == b"Failed to validate master::Call: Expecting 'type' to be present"
    reply = decode_operator_call("POST", JSON_HEADERS, b'{"type":"LIST_FILES"}', "agent")
    assert reply.body == b"Failed to validate agent::Call: Expecting 'list_files' to be present"


def test_keys_the_call_message_does_not_have_are_dropped_as_stout_does():
    assert decode_operator_call("POST", JSON_HEADERS, b'{"type":"GET_STATE","extra":1}', "master") == {"type": "GET_STATE"}


def test_payloads_are_converted_with_the_scheduler_apis_rules():
    call = decode_operator_call("POST", JSON_HEADERS,
                                b'{"type":"READ_FILE","read_file":{"path":"/p","offset":"7","length":2.9}}', "agent")
    assert call == {"type": "READ_FILE", "read_file": {"path": "/p", "offset": 7, "length": 2}}
    reply = decode_operator_call("POST", JSON_HEADERS, b'{"type":"DEACTIVATE_AGENT","deactivate_agent":{}}', "master")
    assert reply.body == b"Failed to convert JSON into Call protobuf: Missing required fields: deactivate_agent.agent_id"
    reply = decode_operator_call("POST", JSON_HEADERS, b'{"type":"READ_FILE","read_file":{"path":7,"offset":0}}', "agent")
    assert reply.body.startswith(b"Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'path'")


@pytest.mark.parametrize("message", ["Call", "master.Call", "agent.Call"])
@pytest.mark.parametrize("headers,body,code,text", [
    ({"Content-Type": "application/json; charset=utf-8"}, b"{}", 415, "Expecting 'Content-Type' of application/json"),
    ({"Content-Type": "Application/JSON"}, b"{}", 415, "Expecting 'Content-Type' of application/json"),
    (JSON_HEADERS, b'{"type": NaN}', 400, "Failed to parse body into JSON: "),
    (JSON_HEADERS, b'{"type": 1e999}', 400, "Failed to parse body into JSON: "),
    (JSON_HEADERS, b'{"type": 1}', 400, "Failed to convert JSON into Call protobuf: Not expecting a JSON number"),
])
def test_scheduler_and_operator_apis_decode_requests_alike(message, headers, body, code, text):
    reply = decode_call("POST", headers, body, message)
    assert isinstance(reply, HttpReply) and reply.status == code
    assert reply.body.decode().startswith(text), reply.body


def test_good_call_parses_with_json_accept_or_none():
    for headers in (JSON_HEADERS, {**JSON_HEADERS, "Accept": "application/json"}, {**JSON_HEADERS, "Accept": "*/*"}):
        assert decode_operator_call("POST", headers, b'{"type":"GET_STATE"}', "master") == {"type": "GET_STATE"}


# ------------------------------------------------------------------------------------------------
# Master records
# ------------------------------------------------------------------------------------------------


class AgentHandle:
    """What the master needs of an agent; launches are only recorded."""

    def __init__(self, agent_id: str, spec: StubSpec, port: int) -> None:
        self.id, self.spec, self.port = agent_id, spec, port
        self.pid = f"slave(1)@127.0.0.1:{port}"
        self.url = f"http://127.0.0.1:{port}"
        self.launched: list[dict] = []

    def launch(self, framework_info: dict, task_info: dict) -> None:
        self.launched.append(task_info)

    def acknowledge(self, framework_id: str, task_id: str, uuid: bytes) -> None:
        pass

    def shutdown_framework(self, framework_id: str) -> None:
        pass


@pytest.fixture
def clock():
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def master(clock):
    m = Master(clock=clock, allocation_interval=0.5)
    m.port = 5050
    for index, spec in enumerate((StubSpec(cpus=4, mem=4096, disk=1000), StubSpec(cpus=2, mem=1024, disk=500))):
        m.add_agent(AgentHandle(m.new_agent_id(), spec, 6000 + index))
    return m


def add_framework(master: Master, name: str, roles: list[str], *, connected: bool = True) -> FrameworkRecord:
    framework_id = f"{master.id}-{len(master.records.frameworks):04d}"
    info = {"id": {"value": framework_id}, "name": name, "user": "nobody", "roles": roles,
            "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}], "failover_timeout": 60.0}
    framework = FrameworkRecord(framework_id, info, roles, set(), master.clock.time(), connected=connected,
                                active=connected, stream_id=f"stream-{framework_id}" if connected else None)
    master.records.frameworks[framework_id] = framework
    return framework


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


def launch(master: Master, framework: FrameworkRecord, agent_index: int, task_id: str, cpus: float, mem: float,
           role: str | None = None):
    """Launch through the master's own ACCEPT (validation, TaskRecord) of an offer of everything the agent has
    free; the agent only records it."""
    record = list(master.records.agents.values())[agent_index]
    free = record.total - total(resources_by_role(master.records.tasks(agent_id=record.id)))
    offer_id = f"offer-for-{task_id}"
    master.records.offers[offer_id] = OfferRecord(offer_id, framework.id, record.id, role or framework.roles[0], free,
                                                  0.0, {})
    status, text = master.scheduler_call({"type": "ACCEPT", "framework_id": {"value": framework.id}, "accept": {
        "offer_ids": [{"value": offer_id}], "filters": {"refuse_seconds": 0},
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task_info(record.id, task_id, cpus, mem)]}}]}},
        None, framework.stream_id)
    assert status == 202, text
    return framework.tasks[task_id]


def status(master: Master, framework: FrameworkRecord, task, state: str, message: str = "") -> None:
    master.status_update(task.agent_id, framework.id, {
        "task_id": {"value": task.task_id}, "state": state, "source": "SOURCE_EXECUTOR", "message": message,
        "agent_id": {"value": task.agent_id}, "timestamp": master.clock.time(),
        "uuid": base64.b64encode(os.urandom(16)).decode(), "data": base64.b64encode(b"opaque").decode()})


@pytest.fixture
def busy(master):
    """Two running tasks and one staging on agent 0, a finished one on agent 1, an outstanding offer."""
    framework = add_framework(master, "airflow", ["airflow/etl"])
    running = [launch(master, framework, 0, f"run-{i}", 0.5, 128) for i in range(2)]
    for task in running:
        status(master, framework, task, "TASK_RUNNING")
    staging = launch(master, framework, 0, "stage", 0.25, 64)
    done = launch(master, framework, 1, "done", 1.0, 256)
    status(master, framework, done, "TASK_FINISHED", "Command exited with status 0")
    agent1 = list(master.records.agents.values())[1]
    offer = OfferRecord(f"{master.id}-O7", framework.id, agent1.id, "airflow/etl", Resources.from_json(
        [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0}}]), master.clock.time(),
        {"id": {"value": f"{master.id}-O7"}, "framework_id": {"value": framework.id}})
    master.records.offers[offer.id] = offer
    add_framework(master, "idle", ["other"], connected=False)
    return {"framework": framework, "running": running, "staging": staging, "done": done}


def metrics_of(master: Master) -> dict[str, float]:
    now = master.clock.time()
    return master.render(lambda view: master_views.master_metrics(view, now))


def reply_to(master: Master, body: dict, metrics: dict | None = None) -> HttpReply:
    return master.render(lambda view: master_http.operator_reply(view, body, metrics or {}))


def call(master: Master, body: dict) -> dict:
    reply = reply_to(master, body, metrics_of(master))
    assert reply.status == 200, reply.body
    assert reply.content_type == "application/json"
    payload = json.loads(reply.body)
    assert payload["type"] == body["type"]
    return payload[body["type"].lower()]


# ------------------------------------------------------------------------------------------------
# Master metrics
# ------------------------------------------------------------------------------------------------


def test_master_metrics_count_tasks_frameworks_agents_and_resources(master, busy, clock):
    clock.advance(42)
    snap = metrics_of(master)
    assert snap["master/elected"] == 1.0
    assert snap["master/uptime_secs"] == 42.0
    assert snap["master/tasks_running"] == 2.0
    assert snap["master/tasks_staging"] == 1.0
    assert snap["master/tasks_finished"] == 1.0
    assert snap["master/tasks_failed"] == 0.0
    assert snap["master/slaves_active"] == snap["master/slaves_connected"] == 2.0
    assert snap["master/slaves_unreachable"] == 0.0
    assert snap["master/frameworks_connected"] == 1.0 and snap["master/frameworks_disconnected"] == 1.0
    assert snap["master/frameworks_active"] == 1.0 and snap["master/frameworks_inactive"] == 1.0
    assert snap["master/outstanding_offers"] == 1.0
    assert snap["master/cpus_total"] == 6.0
    assert snap["master/cpus_used"] == 1.25       # the finished task gave its 1.0 cpus back
    assert snap["master/cpus_percent"] == pytest.approx(1.25 / 6.0)
    assert snap["master/mem_total"] == 5120.0 and snap["master/mem_used"] == 320.0
    assert snap["master/gpus_total"] == 0.0 and snap["master/gpus_percent"] == 0.0
    assert all(isinstance(v, float) for v in snap.values())


def test_unreachable_agent_leaves_totals_and_its_tasks_become_unreachable(master, busy):
    agent0 = list(master.records.agents)[0]
    master.mark_unreachable(agent0)
    snap = metrics_of(master)
    assert snap["master/slaves_active"] == 1.0 and snap["master/slaves_unreachable"] == 1.0
    assert snap["master/tasks_running"] == 0.0 and snap["master/tasks_unreachable"] == 3.0
    assert snap["master/cpus_total"] == 2.0 and snap["master/cpus_used"] == 0.0


def test_standby_master_is_not_elected(clock):
    assert metrics_of(Master(clock=clock, standby=True))["master/elected"] == 0.0


def test_get_metrics_lists_the_snapshot_sorted_by_name(master, busy):
    listed = call(master, {"type": "GET_METRICS", "get_metrics": {}})["metrics"]
    names = [m["name"] for m in listed]
    assert names == sorted(names)
    assert {"name": "master/tasks_running", "value": 2.0} in listed


# ------------------------------------------------------------------------------------------------
# Master v1 calls
# ------------------------------------------------------------------------------------------------


def test_get_tasks_renders_v1_tasks_in_their_lists(master, busy):
    tasks = call(master, {"type": "GET_TASKS"})
    # A terminal task stays among the tasks until its update is acknowledged, as in Mesos.
    assert sorted(t["task_id"]["value"] for t in tasks["tasks"]) == ["done", "run-0", "run-1", "stage"]
    assert tasks["completed_tasks"] == [] and tasks["unreachable_tasks"] == []
    done = busy["done"]
    scheduler_call(master, busy["framework"], {"type": "ACKNOWLEDGE", "acknowledge": {
        "agent_id": {"value": done.agent_id}, "task_id": {"value": "done"}, "uuid": done.latest["uuid"]}})
    tasks = call(master, {"type": "GET_TASKS"})
    assert sorted(t["task_id"]["value"] for t in tasks["tasks"]) == ["run-0", "run-1", "stage"]
    assert [t["task_id"]["value"] for t in tasks["completed_tasks"]] == ["done"]
    run0 = next(t for t in tasks["tasks"] if t["task_id"]["value"] == "run-0")
    agent0 = list(master.records.agents)[0]
    assert run0["agent_id"] == {"value": agent0}
    assert run0["framework_id"] == {"value": busy["framework"].id}
    assert run0["state"] == "TASK_RUNNING" and run0["status_update_state"] == "TASK_RUNNING"
    assert run0["name"] == "name-run-0" and run0["user"] == "nobody"
    assert {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "role": "*",
            "allocation_info": {"role": "airflow/etl"}} in run0["resources"]
    assert run0["labels"] == {"labels": [{"key": "owner", "value": "ops"}]}
    assert run0["container"] == {"type": "DOCKER", "docker": {"image": "busybox", "network": "HOST"}}
    [running] = run0["statuses"]
    assert running["state"] == "TASK_RUNNING" and running["task_id"] == {"value": "run-0"}
    assert "data" not in running
    assert "slave_id" not in run0 and "command" not in run0
    done = tasks["completed_tasks"][0]
    assert done["statuses"][-1]["message"] == "Command exited with status 0"


def test_get_frameworks_agents_executors_and_state(master, busy):
    frameworks = call(master, {"type": "GET_FRAMEWORKS"})
    assert frameworks["completed_frameworks"] == []
    airflow = next(f for f in frameworks["frameworks"] if f["framework_info"]["name"] == "airflow")
    assert airflow["active"] is True and airflow["connected"] is True and airflow["recovered"] is False
    assert airflow["registered_time"] == {"nanoseconds": int(master.clock.time() * 1e9)}
    assert sum(r["scalar"]["value"] for r in airflow["allocated_resources"] if r["name"] == "cpus") == 1.25
    assert airflow["offered_resources"][0]["allocation_info"] == {"role": "airflow/etl"}
    assert [o["id"]["value"] for o in airflow["offers"]] == [f"{master.id}-O7"]

    agents = call(master, {"type": "GET_AGENTS"})
    assert agents["recovered_agents"] == []
    first = agents["agents"][0]
    assert first["agent_info"]["id"] == {"value": list(master.records.agents)[0]}
    assert first["agent_info"]["port"] == 6000 and first["pid"] == "slave(1)@127.0.0.1:6000"
    assert first["active"] is True and first["version"] == "1.11.0"
    assert {"type": "MULTI_ROLE"} in first["capabilities"]
    assert sum(r["scalar"]["value"] for r in first["allocated_resources"] if r["name"] == "cpus") == 1.25
    assert {r["name"]: r.get("scalar", {}).get("value") for r in first["total_resources"]}["cpus"] == 4.0

    assert call(master, {"type": "GET_EXECUTORS"}) == {"executors": []}   # command tasks have no executor
    state = call(master, {"type": "GET_STATE"})
    assert state == {"get_tasks": call(master, {"type": "GET_TASKS"}), "get_executors": {"executors": []},
                     "get_frameworks": frameworks, "get_agents": agents}


def test_roles_include_ancestors_and_count_allocated_plus_offered(master, busy):
    roles = call(master, {"type": "GET_ROLES"})["roles"]
    assert [r["name"] for r in roles] == ["airflow", "airflow/etl", "other"]
    etl = roles[1]
    assert etl["weight"] == 1.0
    assert etl["frameworks"] == [{"value": busy["framework"].id}]
    assert {r["name"]: r["scalar"]["value"] for r in etl["resources"]} == {"cpus": 3.25, "mem": 320.0}
    assert roles[0]["frameworks"] == [] and roles[0]["resources"] == etl["resources"]   # parent counts children

    endpoint = master.render(lambda view: master_views.roles_endpoint(view, {}))["roles"]
    assert [r["name"] for r in endpoint] == ["airflow", "airflow/etl", "other"]
    assert endpoint[1]["allocated"] == {"cpus": 1.25, "mem": 320.0}
    assert endpoint[1]["offered"] == {"cpus": 2.0}
    assert endpoint[1]["resources"] == {"cpus": 3.25, "mem": 320.0}
    assert endpoint[2]["frameworks"] == [list(master.records.frameworks)[1]]


def test_flags_version_health_master_and_trivial_calls(master, busy):
    flags = call(master, {"type": "GET_FLAGS"})["flags"]
    assert [f["name"] for f in flags] == sorted(f["name"] for f in flags)
    state_flags = master.state()["flags"]
    endpoint_flags = master.render(lambda view: master_views.flags_endpoint(view, {}))["flags"]
    assert {f["name"]: f["value"] for f in flags} == state_flags == endpoint_flags
    assert all(isinstance(f["value"], str) for f in flags)
    assert call(master, {"type": "GET_VERSION"})["version_info"]["version"] == "1.11.0"
    assert call(master, {"type": "GET_HEALTH"}) == {"healthy": True}
    info = call(master, {"type": "GET_MASTER"})
    assert info["master_info"]["id"] == master.id and info["master_info"]["port"] == 5050
    assert info["start_time"] == info["elected_time"] == master.start_time
    assert call(master, {"type": "GET_OPERATIONS"}) == {"operations": []}


@pytest.mark.parametrize("kind", ["RESERVE_RESOURCES", "DRAIN_AGENT", "MARK_AGENT_GONE", "TEARDOWN",
                                  "UPDATE_QUOTA", "SET_LOGGING_LEVEL", "GET_QUOTA"])
def test_mutating_calls_are_501_naming_the_call(master, kind):
    reply = reply_to(master, {"type": kind})
    assert reply.status == 501
    assert reply.body.decode().startswith(f"{kind} is not supported by the embedded Mesos master")


def test_unknown_call_is_bare_501_and_master_files_are_404(master):
    assert reply_to(master, {"type": "UNKNOWN"}).status == 501
    reply = reply_to(master, {"type": "READ_FILE", "read_file": {"path": "/master/log", "offset": 0}})
    assert reply.status == 404


def test_no_master_response_shows_a_secret(master, busy):
    bodies = [reply_to(master, {"type": kind, "get_metrics": {}}).body
              for kind in ("GET_STATE", "GET_TASKS", "GET_FRAMEWORKS", "GET_AGENTS", "GET_EXECUTORS", "GET_ROLES",
                           "GET_FLAGS", "GET_MASTER")]
    for endpoint in master_views.READONLY_ENDPOINTS.values():
        bodies.append(json.dumps(master.render(lambda view, endpoint=endpoint: endpoint(view, {}))).encode())
    assert len(busy["framework"].tasks) == 4   # the renderers really had tasks to show
    for body in bodies:
        assert SECRET.encode() not in body
        assert base64.b64encode(SECRET.encode()) not in body
        assert b"PASSWORD" not in body and b"environment" not in body


# ------------------------------------------------------------------------------------------------
# Operator event stream: events derived from two observations of the records
# ------------------------------------------------------------------------------------------------


def queued(stream) -> list[dict]:
    """The events queued on an operator stream since the last look (RecordIO records decoded)."""
    events = []
    while (item := stream.next_item(0)) is not None:
        events.append(json.loads(item.split(b"\n", 1)[1]))
    return events


def scheduler_call(master: Master, framework: FrameworkRecord, call: dict) -> None:
    status, text = master.scheduler_call({"framework_id": {"value": framework.id}, **call}, None, framework.stream_id)
    assert status == 202, text


def test_operator_stream_gets_one_event_per_change_as_it_happens(master):
    stream = master.subscribe_operator()
    [subscribed] = queued(stream)
    assert subscribed["type"] == "SUBSCRIBED" and subscribed["subscribed"]["heartbeat_interval_seconds"] == 15.0
    assert subscribed["subscribed"]["get_state"]["get_agents"]["agents"][0]["agent_info"]["id"] == {
        "value": list(master.records.agents)[0]}

    framework = master.subscribe({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
        "user": "nobody", "name": "airflow", "roles": ["airflow"], "capabilities": [{"type": "MULTI_ROLE"}]}}},
        None)
    framework = master.records.frameworks[framework.framework_id]
    [added] = queued(stream)
    assert added["type"] == "FRAMEWORK_ADDED"
    assert added["framework_added"]["framework"]["framework_info"]["id"] == {"value": framework.id}

    task = launch(master, framework, 0, "t1", 0.5, 64)
    [task_added] = queued(stream)   # at the ACCEPT, not at some later look
    assert task_added["type"] == "TASK_ADDED"
    assert task_added["task_added"]["task"]["task_id"] == {"value": "t1"}
    assert task_added["task_added"]["task"]["state"] == "TASK_STAGING" and task_added["task_added"]["task"]["statuses"] == []
    status(master, framework, task, "TASK_STARTING")
    status(master, framework, task, "TASK_RUNNING")
    status(master, framework, task, "TASK_RUNNING")   # an update re-sent: the same state, no new event
    updates = queued(stream)
    assert [(e["type"], e["task_updated"]["state"]) for e in updates] == [("TASK_UPDATED", "TASK_STARTING"),
                                                                         ("TASK_UPDATED", "TASK_RUNNING")]
    assert updates[1]["task_updated"]["framework_id"] == {"value": framework.id}
    assert updates[1]["task_updated"]["status"]["task_id"] == {"value": "t1"}
    assert "data" not in updates[1]["task_updated"]["status"]
    assert [s["state"] for s in task.statuses] == ["TASK_STARTING", "TASK_RUNNING"]   # one per run of a state

    status(master, framework, task, "TASK_FINISHED")
    scheduler_call(master, framework, {"type": "ACKNOWLEDGE", "acknowledge": {
        "agent_id": {"value": task.agent_id}, "task_id": {"value": "t1"}, "uuid": task.latest["uuid"]}})
    [finished] = queued(stream)
    assert finished["task_updated"]["state"] == "TASK_FINISHED"
    lost = list(master.records.agents)[1]
    master.mark_unreachable(lost)
    assert queued(stream) == [{"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": lost}}}]
    master.agent_reregistered(lost, [])
    [agent_added] = queued(stream)
    assert agent_added["type"] == "AGENT_ADDED"
    assert agent_added["agent_added"]["agent"]["agent_info"]["id"] == {"value": lost}

    master.stream_closed(master._framework_streams[framework.id])
    [updated] = queued(stream)
    assert updated["type"] == "FRAMEWORK_UPDATED" and updated["framework_updated"]["framework"]["connected"] is False
    with master._lock:
        master._run(master_core.teardown(master.records, framework, master.clock.time()))
    assert [e["type"] for e in queued(stream)] == ["FRAMEWORK_REMOVED"]


# ------------------------------------------------------------------------------------------------
# Master HTTP edge routing (no server: the function the handler calls)
# ------------------------------------------------------------------------------------------------


def serve(master: Master, method: str, uri: str, body: bytes = b"", headers: dict | None = None) -> HttpReply:
    reply = master_http.serve(master, method, uri, headers if headers is not None else JSON_HEADERS, body)
    assert isinstance(reply, HttpReply)
    return reply


def test_master_edge_serves_operator_paths(master, busy):
    assert serve(master, "GET", "/master/metrics/snapshot").status == 404   # the metrics process is not under /master
    snap = serve(master, "GET", "/metrics/snapshot")
    assert json.loads(snap.body)["master/tasks_running"] == 2.0
    assert "system/cpus_total" in json.loads(snap.body)
    for path in ("/flags", "/master/flags"):
        assert json.loads(serve(master, "GET", path).body)["flags"]["port"] == "5050"
    assert json.loads(serve(master, "GET", "/master/roles").body)["roles"]
    reply = serve(master, "POST", "/api/v1", b'{"type":"GET_HEALTH"}')
    assert json.loads(reply.body) == {"type": "GET_HEALTH", "get_health": {"healthy": True}}
    reply = serve(master, "POST", "/master/api/v1", b'{"type":"GET_METRICS","get_metrics":{}}')
    assert {"name": "master/tasks_staging", "value": 1.0} in json.loads(reply.body)["get_metrics"]["metrics"]
    jsonp = serve(master, "GET", "/master/flags?jsonp=cb")
    assert jsonp.content_type == "text/javascript" and jsonp.body.startswith(b"cb({")
    assert json.loads(serve(master, "GET", "/master/state").body)["id"] == master.id
    assert json.loads(serve(master, "GET", "/version").body)["version"] == "1.11.0"


def test_standby_redirects_api_and_roles_but_serves_flags_and_metrics(clock):
    standby = Master(clock=clock, standby=True, leader="leader.example:5050")
    reply = serve(standby, "POST", "/api/v1", b'{"type":"GET_STATE"}')
    assert reply.status == 307 and reply.headers["Location"] == "//leader.example:5050/api/v1"
    assert serve(standby, "GET", "/master/roles").status == 307
    assert serve(standby, "GET", "/master/state?jsonp=x").headers["Location"] == "//leader.example:5050/master/state?jsonp=x"
    assert serve(standby, "GET", "/master/flags").status == 200
    assert json.loads(serve(standby, "GET", "/metrics/snapshot").body)["master/elected"] == 0.0
    lost = Master(clock=clock, standby=True, leader=None)
    reply = serve(lost, "POST", "/api/v1", b'{"type":"GET_STATE"}')
    assert (reply.status, reply.body) == (503, b"No leader elected")


# ------------------------------------------------------------------------------------------------
# /master/tasks paging, as Master::ReadOnlyHandler::tasks parses it
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,value", [
    (None, None), ("5", 5), ("+5", 5), ("-1", -1), ("007", 7), ("0x1f", 31), ("-0X10", -16),
    ("", None), ("x", None), ("1.5", None), (" 5", None), ("5 ", None), ("2147483648", None),
    ("-2147483648", -2147483648), ("0x80000000", None), ("0x1p3", None),
])
def test_numify_int_is_stouts(text, value):
    assert master_views.numify_int(text) == value


def tasks_page(master: Master, query: str) -> list[str]:
    reply = serve(master, "GET", f"/master/tasks{query}")
    assert reply.status == 200, reply.body
    return [t["id"] for t in json.loads(reply.body)["tasks"]]


def test_tasks_limit_offset_and_order_mean_what_mesos_makes_of_them(master, clock):
    framework = add_framework(master, "airflow", ["airflow"])
    for index in range(5):
        task = launch(master, framework, 0, f"t{index}", 0.1, 16)
        clock.advance(1)
        status(master, framework, task, "TASK_RUNNING")   # first status timestamps t0 < t1 < ... < t4
    launch(master, framework, 0, "no-status", 0.1, 16)
    assert tasks_page(master, "") == ["t4", "t3", "t2", "t1", "t0", "no-status"]   # descending, unstatused last
    assert tasks_page(master, "?order=asc") == ["no-status", "t0", "t1", "t2", "t3", "t4"]
    assert tasks_page(master, "?order=bogus&limit=2") == ["t4", "t3"]           # anything but asc is descending
    assert tasks_page(master, "?order=asc&limit=-1") == ["no-status", "t0", "t1", "t2", "t3", "t4"]  # size_t: no limit
    assert tasks_page(master, "?order=asc&limit=2&offset=1") == ["t0", "t1"]
    assert tasks_page(master, "?limit=x&offset=y") == ["t4", "t3", "t2", "t1", "t0", "no-status"]  # defaults, no 400
    assert tasks_page(master, "?offset=5&limit=-1") == []    # offset + limit wraps to 4 in size_t: an empty page
    assert tasks_page(master, "?offset=-1") == []
    assert tasks_page(master, "?limit=0x2") == ["t4", "t3"]
    assert tasks_page(master, "?task_id=t2&order=asc") == ["t2"]
