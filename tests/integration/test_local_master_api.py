"""The embedded master over real HTTP, with stub agents (the agent side is tested elsewhere)."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest

from airflow_mesos.local.cluster import LocalCluster
from tests.support.scheduler_client import SchedulerClient, command_task, framework_info, launch_call
from tests.support.stub_agent import StubAgent, StubSpec

pytestmark = pytest.mark.integration


ON_DEMAND = {"allocation_interval": None}
"""Cluster options for a test that runs every allocation round itself (``cluster.allocate_now()``)."""


@pytest.fixture
def cluster(tmp_path, request):
    # Tests override options through indirect parametrization: a short ping timeout only where a test needs
    # agent loss (a busy machine can stall pings briefly), ON_DEMAND where a test must know exactly when
    # offers go out or prove that none did.
    options = {"heartbeat_interval": 0.3, "allocation_interval": 0.05, "agent_ping_timeout": 10.0,
               **getattr(request, "param", {})}
    c = LocalCluster([StubSpec(), StubSpec(attributes={"rack": "r1", "weight": 2})], work_dir=tmp_path,
                     agent_factory=StubAgent, **options)
    with c:
        yield c


def subscribe(cluster, subs, **kwargs) -> SchedulerClient:
    info = kwargs.pop("info", None) or framework_info()
    sub = SchedulerClient(cluster.master_url, info, **kwargs)
    subs.append(sub)
    return sub


def post(cluster, body, headers=None, content=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return httpx.post(cluster.master_url + "/api/v1/scheduler", content=content if content is not None else json.dumps(body),
                      headers=h, timeout=10)


def test_subscribe_streams_subscribed_heartbeats_and_offers_with_mesos_ids(cluster, subs):
    sub = subscribe(cluster, subs)
    assert sub.status == 200
    assert sub.headers["Content-Type"] == "application/json"
    assert sub.headers["Transfer-Encoding"] == "chunked"
    uuid.UUID(sub.stream_id)
    subscribed = sub.event("SUBSCRIBED")["subscribed"]
    master_id = cluster.master.id
    assert subscribed["framework_id"]["value"] == f"{master_id}-0000"
    assert subscribed["heartbeat_interval_seconds"] == 0.3
    assert subscribed["master_info"]["version"] == "1.11.0"
    assert subscribed["master_info"]["ip"] == 16777343
    sub.event("HEARTBEAT")
    offers = sub.event("OFFERS")["offers"]["offers"]
    offers += sub.event("OFFERS")["offers"]["offers"] if len(offers) < 2 else []
    assert sorted(o["agent_id"]["value"] for o in offers) == sorted(cluster.agents)
    offer = next(o for o in offers if o["attributes"])
    assert offer["id"]["value"].startswith(f"{master_id}-O")
    assert offer["allocation_info"] == {"role": "test"}
    assert {"name": "rack", "type": "TEXT", "text": {"value": "r1"}} in offer["attributes"]
    assert {"name": "weight", "type": "SCALAR", "scalar": {"value": 2.0}} in offer["attributes"]
    cpus = next(r for r in offer["resources"] if r["name"] == "cpus")
    assert cpus == {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0}, "role": "*",
                    "allocation_info": {"role": "test"}}
    ports = next(r for r in offer["resources"] if r["name"] == "ports")
    assert ports["ranges"] == {"range": [{"begin": 31000, "end": 32000}]}
    assert offer["url"]["path"] == "/slave(1)"
    assert offer["url"]["address"]["port"] == cluster.agents[offer["agent_id"]["value"]].port


@pytest.mark.parametrize("body,headers,code,message", [
    (None, {"Content-Type": None}, 400, "Expecting 'Content-Type' to be present"),
    ({"type": "SUBSCRIBE"}, {"Content-Type": "application/x-protobuf"}, 415, "Expecting 'Content-Type' of application/json or application/x-protobuf"),
    ("{not json", {}, 400, "Failed to parse body into JSON"),
    ({"subscribe": {}}, {}, 400, "Failed to convert JSON into Call protobuf: Missing required fields: subscribe.framework_info"),
    # stout drops an unknown name of an optional enum, so validation then finds no type.
    ({"type": "BOGUS"}, {}, 400, "Failed to validate scheduler::Call: Expecting 'type' to be present"),
    ({}, {}, 400, "Failed to validate scheduler::Call: Expecting 'type' to be present"),
    ({"type": "SUBSCRIBE"}, {}, 400, "Failed to validate scheduler::Call: Expecting 'subscribe' to be present"),
    ({"type": "TEARDOWN"}, {}, 400, "Failed to validate scheduler::Call: Expecting 'framework_id' to be present"),
    ({"type": "ACCEPT", "framework_id": {"value": "x"}}, {}, 400, "Failed to validate scheduler::Call: Expecting 'accept' to be present"),
    ({"type": "ACKNOWLEDGE", "framework_id": {"value": "x"}, "acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": base64.b64encode(b"short").decode()}}, {}, 400, "Failed to validate scheduler::Call: Not a valid UUID"),
    ({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}, {"Accept": "text/html"}, 406, "Expecting 'Accept' to allow"),
    ({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}, {"Mesos-Stream-Id": "x"}, 400, "Subscribe calls should not include the 'Mesos-Stream-Id' header"),
    ({"type": "TEARDOWN", "framework_id": {"value": "nope"}}, {}, 400, "Framework cannot be found"),
])
def test_scheduler_endpoint_refuses_bad_requests_in_mesos_order(cluster, body, headers, code, message):
    h = {"Content-Type": "application/json"}
    for k, v in headers.items():
        if v is None:
            h.pop(k)
        else:
            h[k] = v
    content = body if isinstance(body, str) else json.dumps(body or {})
    r = httpx.post(cluster.master_url + "/api/v1/scheduler", content=content, headers=h, timeout=10)
    assert r.status_code == code
    assert r.text.startswith(message), r.text


def test_get_on_scheduler_endpoint_is_405(cluster):
    r = httpx.get(cluster.master_url + "/api/v1/scheduler", timeout=10)
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"


def test_calls_need_the_stream_id_of_the_current_subscription(cluster, subs):
    sub = subscribe(cluster, subs)
    sub.event("SUBSCRIBED")
    r = httpx.post(cluster.master_url + "/api/v1/scheduler", json={"type": "REVIVE", "framework_id": {"value": sub.framework_id}}, timeout=10)
    assert (r.status_code, r.text) == (400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
    r = sub.call({"type": "REVIVE"}, stream_id="other")
    assert r.status_code == 400 and "didn't match the stream ID" in r.text
    assert sub.call({"type": "REVIVE"}).status_code == 202


def test_framework_info_errors_arrive_as_error_event_then_close(cluster, subs):
    info = framework_info(capabilities=("MULTI_ROLE",), role="x")
    sub = subscribe(cluster, subs, info=info)
    assert sub.status == 200
    error = sub.event("ERROR")
    assert error["error"]["message"] == "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
    sub.wait_ended()


def test_subscribe_refusals_follow_mesos(cluster, subs):
    # scheduler::call::validate (src/master/validation.cpp 1.11.0): an id in the FrameworkInfo needs the call's.
    r = post(cluster, {"type": "SUBSCRIBE", "subscribe": {"framework_info": {**framework_info(), "id": {"value": "x"}}}})
    assert (r.status_code, r.text) == (400, "Failed to validate scheduler::Call: 'framework_id' differs from "
                                            "'subscribe.framework_info.id'")
    # Master::validateFramework: an ERROR event on the stream, then its end.
    sub = subscribe(cluster, subs, suppressed_roles=["elsewhere"])
    assert sub.event("ERROR")["error"]["message"] == "Suppressed role 'elsewhere' is not contained in the list of roles"
    sub.wait_ended()
    sub = subscribe(cluster, subs, framework_id="a/b")   # validateFrameworkId -> validateID
    assert sub.event("ERROR")["error"]["message"] == "'a/b' contains invalid characters"
    sub.wait_ended()
    assert httpx.get(cluster.master_url + "/master/frameworks", timeout=10).json()["frameworks"] == []


def test_update_framework_is_applied_and_refuses_a_new_user_or_another_id(cluster, subs):
    sub = subscribe(cluster, subs)
    sub.event("SUBSCRIBED")
    info = {**framework_info("renamed", webui_url="http://ui.example"), "id": {"value": sub.framework_id}}
    r = sub.call({"type": "UPDATE_FRAMEWORK", "update_framework": {"framework_info": info}})
    assert (r.status_code, r.text) == (200, "")
    framework = httpx.get(cluster.master_url + "/master/frameworks", timeout=10).json()["frameworks"][0]
    assert (framework["name"], framework["webui_url"]) == ("renamed", "http://ui.example")
    r = sub.call({"type": "UPDATE_FRAMEWORK", "update_framework": {"framework_info": {**info, "user": "root"}}})
    assert (r.status_code, r.text) == (400, "FrameworkInfo update is not valid: Updating 'FrameworkInfo.user' is "
                                            "unsupported; attempted to update from 'nobody' to 'root'")
    r = sub.call({"type": "UPDATE_FRAMEWORK", "update_framework": {"framework_info": {**info, "id": {"value": "x"}}}})
    assert (r.status_code, r.text) == (400, "Failed to validate scheduler::Call: 'framework_id' differs from "
                                            "'update_framework.framework_info.id'")


def test_launch_runs_task_and_ack_is_relayed_and_state_shows_it(cluster, subs):
    sub = subscribe(cluster, subs)
    offer = sub.event("OFFERS")["offers"]["offers"][0]
    task = command_task(offer, "t1", labels={"labels": [{"key": "k", "value": "v"}]},
                        container={"type": "DOCKER", "docker": {"image": "busybox", "parameters": [{"key": "env", "value": "PW=hunter2"}]}})
    task["command"]["environment"] = {"variables": [{"name": "PW", "value": "hunter2"}]}
    assert sub.call(launch_call(offer, [task])).status_code == 202
    running = sub.update("t1", "TASK_RUNNING")
    agent = cluster.agents[offer["agent_id"]["value"]]
    _, launched = agent.launched[0]
    assert all(r["allocation_info"] == {"role": "test"} for r in launched["resources"])
    assert sub.ack(running).status_code == 202
    assert agent.acks[-1] == (sub.framework_id, "t1", base64.b64decode(running["uuid"]))
    state = httpx.get(cluster.master_url + "/master/state", timeout=10)
    assert "hunter2" not in state.text
    fw = state.json()["frameworks"][0]
    model = fw["tasks"][0]
    assert model["id"] == "t1" and model["state"] == "TASK_RUNNING" and model["slave_id"] == agent.id
    assert model["resources"] == {"cpus": 0.1, "mem": 32.0, "disk": 0.0, "gpus": 0.0}
    assert [s["state"] for s in model["statuses"]] == ["TASK_RUNNING"]
    assert fw["roles"] == ["test"] and fw["used_resources"]["cpus"] == 0.1
    agent.finish(sub.framework_id, "t1")
    finished = sub.update("t1", "TASK_FINISHED")
    sub.ack(finished)
    fw = httpx.get(cluster.master_url + "/master/frameworks", timeout=10).json()["frameworks"][0]
    assert fw["tasks"] == [] and fw["completed_tasks"][0]["state"] == "TASK_FINISHED"
    tasks = httpx.get(cluster.master_url + "/master/tasks?task_id=t1", timeout=10).json()["tasks"]
    assert [t["state"] for t in tasks] == ["TASK_FINISHED"]
    # A negative limit is no limit (size_t), as `mesos task list` relies on.
    tasks = httpx.get(cluster.master_url + "/master/tasks?order=asc&limit=-1", timeout=10).json()["tasks"]
    assert [t["id"] for t in tasks] == ["t1"]


def test_invalid_tasks_get_task_error_and_invalid_offers_task_dropped_or_lost(cluster, subs):
    sub = subscribe(cluster, subs)
    offer = sub.event("OFFERS")["offers"]["offers"][0]
    too_big = command_task(offer, "big", cpus=64)
    both = command_task(offer, "both", executor={"executor_id": {"value": "e"}, "command": {"value": "x"}})
    ok = command_task(offer, "ok")
    dup = command_task(offer, "ok")
    sub.call(launch_call(offer, [too_big, both, ok, dup]))
    err = sub.update("big", "TASK_ERROR")
    assert err["reason"] == "REASON_TASK_INVALID" and err["source"] == "SOURCE_MASTER" and "uuid" not in err
    assert err["message"].startswith("Total resources cpus(*):64; mem(*):32 required by task and its executor is more than available")
    assert sub.update("both", "TASK_ERROR")["message"] == "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
    sub.update("ok", "TASK_RUNNING")
    assert sub.update("ok", "TASK_ERROR")["message"] == "Task has duplicate ID: ok"
    # The offer is used up now.
    sub.call(launch_call(offer, [command_task(offer, "late")]))
    dropped = sub.update("late", "TASK_DROPPED")
    assert dropped["reason"] == "REASON_INVALID_OFFERS"
    assert dropped["message"] == f"Task launched with invalid offers: Offer {offer['id']['value']} is no longer valid"


def test_docker_volume_without_docker_volume_is_a_task_error_from_the_master(cluster, subs):
    # validateContainerInfo -> validateVolume (src/common/validation.cpp 1.11.0), at ACCEPT: no agent sees it.
    sub = subscribe(cluster, subs)
    offer = sub.event("OFFERS")["offers"]["offers"][0]
    container = {"type": "DOCKER", "docker": {"image": "busybox"},
                 "volumes": [{"container_path": "/data", "mode": "RW", "source": {"type": "DOCKER_VOLUME"}}]}
    assert sub.call(launch_call(offer, [command_task(offer, "vol", container=container)])).status_code == 202
    error = sub.update("vol", "TASK_ERROR")
    assert (error["source"], error["reason"]) == ("SOURCE_MASTER", "REASON_TASK_INVALID")
    assert error["message"] == ("Task's `ContainerInfo` is invalid: Invalid volume: 'source.docker_volume' is not set "
                                "for DOCKER_VOLUME volume")
    assert cluster.agents[offer["agent_id"]["value"]].launched == []


def test_missing_docker_image_is_a_400_like_mesos_required_field(cluster, subs):
    sub = subscribe(cluster, subs)
    offer = sub.event("OFFERS")["offers"]["offers"][0]
    r = sub.call(launch_call(offer, [command_task(offer, "d", container={"type": "DOCKER", "docker": {}})]))
    assert r.status_code == 400
    assert "Missing required fields: accept.operations[0].launch.task_infos[0].container.docker.image" in r.text


def offered_agents(offers: list[dict]) -> list[str]:
    return sorted(o["agent_id"]["value"] for o in offers)


@pytest.mark.parametrize("cluster", [ON_DEMAND], indirect=True)
def test_decline_filters_then_revive_reoffers(cluster, subs):
    sub = subscribe(cluster, subs)
    sub.event("SUBSCRIBED")
    first = cluster.allocate_now()
    assert offered_agents(first) == sorted(cluster.agents)
    assert sub.event("OFFERS")["offers"]["offers"] == first
    ids = [o["id"] for o in first]
    assert sub.call({"type": "DECLINE", "decline": {"offer_ids": ids, "filters": {"refuse_seconds": 3600}}}).status_code == 202
    # The DECLINE is applied when its 202 arrives, so this round sees the filters: nothing goes out.
    assert cluster.allocate_now() == []
    assert sub.call({"type": "REVIVE"}).status_code == 202
    again = cluster.allocate_now()
    assert offered_agents(again) == sorted(cluster.agents)
    assert not {o["id"]["value"] for o in again} & {i["value"] for i in ids}
    assert sub.event("OFFERS")["offers"]["offers"] == again
    assert [e["type"] for e in sub.events].count("OFFERS") == 2


@pytest.mark.parametrize("cluster", [ON_DEMAND], indirect=True)
def test_suppress_stops_offers(cluster, subs):
    sub = subscribe(cluster, subs, suppressed_roles=["test"])
    sub.event("SUBSCRIBED")
    assert cluster.allocate_now() == []
    assert sub.call({"type": "REVIVE", "revive": {"roles": ["test"]}}).status_code == 202
    assert offered_agents(cluster.allocate_now()) == sorted(cluster.agents)
    sub.event("OFFERS")


def operator(cluster, body: dict) -> httpx.Response:
    return httpx.post(cluster.master_url + "/api/v1", json=body, timeout=10)


@pytest.mark.parametrize("cluster", [ON_DEMAND], indirect=True)
def test_deactivate_agent_rescinds_its_offers_and_reactivate_offers_it_again(cluster, subs):
    sub = subscribe(cluster, subs)
    sub.event("SUBSCRIBED")
    offers = cluster.allocate_now()
    agent_id = offers[0]["agent_id"]["value"]
    r = operator(cluster, {"type": "DEACTIVATE_AGENT", "deactivate_agent": {"agent_id": {"value": agent_id}}})
    assert (r.status_code, r.text) == (200, "")
    rescinded = sub.event("RESCIND")["rescind"]["offer_id"]
    assert rescinded == offers[0]["id"]
    slaves = httpx.get(cluster.master_url + "/master/slaves", timeout=10).json()["slaves"]
    assert {s["id"]: (s["active"], s["deactivated"]) for s in slaves}[agent_id] == (False, True)
    assert httpx.get(cluster.master_url + "/metrics/snapshot", timeout=10).json()["master/slaves_inactive"] == 1.0
    assert cluster.allocate_now() == []                      # not offered while deactivated
    r = operator(cluster, {"type": "DEACTIVATE_AGENT", "deactivate_agent": {"agent_id": {"value": "nobody"}}})
    assert (r.status_code, r.text) == (400, "Unknown agent")
    r = operator(cluster, {"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": {"value": agent_id}}})
    assert r.status_code == 200
    assert offered_agents(cluster.allocate_now()) == [agent_id]
    r = operator(cluster, {"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": {"value": agent_id}}})
    assert (r.status_code, r.text) == (400, "Agent is not deactivated")


@pytest.mark.parametrize("cluster", [{**ON_DEMAND, "offer_timeout": 0.3}], indirect=True)
def test_offer_timeout_rescinds_offers_held_too_long_and_they_come_back(cluster, subs):
    sub = subscribe(cluster, subs)
    sub.event("SUBSCRIBED")
    first = cluster.allocate_now()
    assert len(first) == 2
    rescinded = {sub.event("RESCIND", timeout=10)["rescind"]["offer_id"]["value"] for _ in first}
    assert rescinded == {o["id"]["value"] for o in first}    # Master::offerTimeout, ticker-driven
    assert httpx.get(cluster.master_url + "/master/flags", timeout=10).json()["flags"]["offer_timeout"] == "0.3secs"
    again = cluster.allocate_now()                           # back in the pool, no refuse filter
    assert offered_agents(again) == sorted(cluster.agents)


def test_kill_relays_policy_and_kill_of_unknown_task_reconciles(cluster, subs):
    sub = subscribe(cluster, subs, info=framework_info(capabilities=("MULTI_ROLE",)))
    offer = sub.event("OFFERS")["offers"]["offers"][0]
    sub.call(launch_call(offer, [command_task(offer, "k")]))
    sub.update("k", "TASK_RUNNING")
    policy = {"grace_period": {"nanoseconds": 1000}}
    sub.call({"type": "KILL", "kill": {"task_id": {"value": "k"}, "kill_policy": policy}})
    sub.update("k", "TASK_KILLED")
    agent = cluster.agents[offer["agent_id"]["value"]]
    assert agent.killed == [(sub.framework_id, "k", policy)]
    sub.call({"type": "KILL", "kill": {"task_id": {"value": "ghost"}, "agent_id": offer["agent_id"]}})
    lost = sub.update("ghost")
    assert (lost["state"], lost["reason"], lost["message"]) == ("TASK_LOST", "REASON_RECONCILIATION", "Reconciliation: Task is unknown to the agent")


def test_reconcile_explicit_and_implicit(cluster, subs):
    sub = subscribe(cluster, subs)
    offer = sub.event("OFFERS")["offers"]["offers"][0]
    sub.call(launch_call(offer, [command_task(offer, "r")]))
    sub.update("r", "TASK_RUNNING")
    sub.call({"type": "RECONCILE", "reconcile": {"tasks": []}})
    implicit = sub.wait_for(lambda e: e["type"] == "UPDATE" and e["update"]["status"].get("reason") == "REASON_RECONCILIATION")["update"]["status"]
    assert (implicit["task_id"]["value"], implicit["state"], implicit["message"]) == ("r", "TASK_RUNNING", "Reconciliation: Latest task state")
    assert "uuid" not in implicit
    sub.call({"type": "RECONCILE", "reconcile": {"tasks": [
        {"task_id": {"value": "nope"}, "agent_id": offer["agent_id"]},
        {"task_id": {"value": "nowhere"}, "agent_id": {"value": "unknown-S9"}}]}})
    assert sub.update("nope")["state"] == "TASK_GONE"
    assert sub.update("nowhere")["state"] == "TASK_UNKNOWN"


def test_second_subscribe_fails_over_old_stream_and_keeps_tasks(cluster, subs):
    sub = subscribe(cluster, subs)
    offer = sub.event("OFFERS")["offers"]["offers"][0]
    sub.call(launch_call(offer, [command_task(offer, "keep")]))
    sub.update("keep", "TASK_RUNNING")
    second = subscribe(cluster, subs, framework_id=sub.framework_id)
    assert second.event("SUBSCRIBED")["subscribed"]["framework_id"]["value"] == sub.framework_id
    assert second.stream_id != sub.stream_id
    assert sub.event("ERROR")["error"]["message"] == "Framework failed over"
    sub.wait_ended()
    second.call({"type": "RECONCILE", "reconcile": {"tasks": []}})
    assert second.update("keep")["state"] == "TASK_RUNNING"


def test_dropped_stream_gives_403_then_failover_timeout_removes_framework(cluster, subs):
    # Long enough that the REVIVE below lands inside it on a loaded machine (0.5 s did not, once in a run
    # beside a benchmark), short enough to wait for.
    sub = subscribe(cluster, subs, info=framework_info(failover_timeout=5))
    offer = sub.event("OFFERS")["offers"]["offers"][0]
    sub.call(launch_call(offer, [command_task(offer, "doomed")]))
    sub.update("doomed", "TASK_RUNNING")
    cluster.drop_framework_stream(sub.framework_id)
    sub.wait_ended()
    r = sub.call({"type": "REVIVE"})
    assert (r.status_code, r.text) == (403, "Framework is not subscribed")
    agent = cluster.agents[offer["agent_id"]["value"]]
    import time
    deadline = time.monotonic() + 60
    while sub.framework_id not in agent.shutdowns and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sub.framework_id in agent.shutdowns
    again = subscribe(cluster, subs, framework_id=sub.framework_id)
    assert again.event("ERROR")["error"]["message"] == "Framework has been removed"
    done = httpx.get(cluster.master_url + "/master/frameworks", timeout=10).json()["completed_frameworks"][0]
    assert done["completed_tasks"][0]["state"] == "TASK_KILLED"


def test_teardown_closes_stream_and_refuses_resubscribe(cluster, subs):
    sub = subscribe(cluster, subs)
    sub.event("SUBSCRIBED")
    assert sub.call({"type": "TEARDOWN"}).status_code == 202
    sub.wait_ended()
    again = subscribe(cluster, subs, framework_id=sub.framework_id)
    assert again.event("ERROR")["error"]["message"] == "Framework has been removed"


@pytest.mark.parametrize("cluster", [{**ON_DEMAND, "agent_ping_timeout": 1.0}], indirect=True)
def test_agent_loss_sends_unreachable_or_lost_and_failure_then_gone_on_reconcile(cluster, subs):
    pa = subscribe(cluster, subs, info=framework_info("pa", roles=("a",)))
    legacy = subscribe(cluster, subs, info=framework_info("legacy", capabilities=(), roles=("b",)))
    pa.event("SUBSCRIBED")
    legacy.event("SUBSCRIBED")
    # The first round runs only now that both are subscribed, so DRF gives each framework one agent.
    offers = cluster.allocate_now()
    assert sorted(o["framework_id"]["value"] for o in offers) == sorted([pa.framework_id, legacy.framework_id])
    pa_offer = pa.event("OFFERS")["offers"]["offers"][0]
    legacy_offer = legacy.event("OFFERS")["offers"]["offers"][0]
    assert pa_offer["agent_id"] != legacy_offer["agent_id"]
    pa.call(launch_call(pa_offer, [command_task(pa_offer, "p")]))
    legacy.call(launch_call(legacy_offer, [command_task(legacy_offer, "l")]))
    pa.update("p", "TASK_RUNNING")
    legacy.update("l", "TASK_RUNNING")
    pa_agent = pa_offer["agent_id"]["value"]
    cluster.stop_agent(pa_agent)
    unreachable = pa.update("p", "TASK_UNREACHABLE")
    assert unreachable["reason"] == "REASON_AGENT_REMOVED" and "unreachable_time" in unreachable and "uuid" not in unreachable
    assert pa.event("FAILURE")["failure"]["agent_id"]["value"] == pa_agent
    assert legacy.event("FAILURE")["failure"]["agent_id"]["value"] == pa_agent
    slaves = httpx.get(cluster.master_url + "/master/slaves", timeout=10).json()["slaves"]
    assert pa_agent not in [s["id"] for s in slaves]
    cluster.stop_agent(legacy_offer["agent_id"]["value"])
    assert legacy.update("l", "TASK_LOST")["reason"] == "REASON_AGENT_REMOVED"
    pa.call({"type": "RECONCILE", "reconcile": {"tasks": [{"task_id": {"value": "p"}, "agent_id": {"value": pa_agent}}]}})
    assert pa.update("p", "TASK_UNREACHABLE")["message"] == "Reconciliation: Task is unreachable"
    cluster.start_agent(pa_agent)  # re-registers before it returns
    assert offered_agents(cluster.allocate_now()) == [pa_agent]  # back in the pool; the other agent is still down
    pa.call({"type": "RECONCILE", "reconcile": {"tasks": [{"task_id": {"value": "p"}, "agent_id": {"value": pa_agent}}]}})
    assert pa.update("p", "TASK_GONE")["message"] == "Reconciliation: Task is unknown to the agent"


def test_restart_master_new_id_streams_closed_resubscribe_keeps_tasks(cluster, subs):
    sub = subscribe(cluster, subs)
    offer = sub.event("OFFERS")["offers"]["offers"][0]
    sub.call(launch_call(offer, [command_task(offer, "survivor")]))
    sub.update("survivor", "TASK_RUNNING")
    old_id = cluster.master.id
    cluster.restart_master()
    sub.wait_ended()
    assert cluster.master.id != old_id
    again = subscribe(cluster, subs, framework_id=sub.framework_id)
    subscribed = again.event("SUBSCRIBED")["subscribed"]
    assert subscribed["master_info"]["id"] == cluster.master.id
    again.call({"type": "RECONCILE", "reconcile": {"tasks": []}})
    assert again.update("survivor")["state"] == "TASK_RUNNING"
    assert again.event("OFFERS")["offers"]["offers"][0]["id"]["value"].startswith(cluster.master.id)


def test_basic_auth(tmp_path, subs):
    with LocalCluster([StubSpec()], work_dir=tmp_path, agent_factory=StubAgent, credentials={"fw": "s3cret"},
                      allocation_interval=0.05) as c:
        r = httpx.post(c.master_url + "/api/v1/scheduler", json={"type": "SUBSCRIBE"}, timeout=10)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == 'Basic realm="mesos-master-scheduler"'
        r = httpx.post(c.master_url + "/api/v1/scheduler", json={"type": "SUBSCRIBE"}, auth=("fw", "wrong"), timeout=10)
        assert r.status_code == 401
        r = httpx.post(c.master_url + "/api/v1/scheduler", auth=("fw", "s3cret"), timeout=10, json={
            "type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info(principal="other")}})
        assert r.status_code == 400
        assert r.text == ("Failed to validate scheduler::Call: Authenticated principal 'fw' does not match "
                          "principal 'other' set in `FrameworkInfo`")
        sub = SchedulerClient(c.master_url, framework_info(), auth=("fw", "s3cret"))
        subs.append(sub)
        sub.event("OFFERS")
        fw = httpx.get(c.master_url + "/master/state", timeout=10).json()["frameworks"][0]
        assert fw["principal"] == "fw"
        assert "s3cret" not in httpx.get(c.master_url + "/master/state", timeout=10).text


def test_standby_redirects_and_503_without_leader(cluster):
    standby = cluster.add_standby_master()
    r = httpx.post(standby.url + "/api/v1/scheduler?x=1", json={"type": "SUBSCRIBE"}, timeout=10)
    assert r.status_code == 307
    assert r.headers["Location"] == f"//127.0.0.1:{cluster.master.port}/api/v1/scheduler?x=1"
    r = httpx.get(standby.url + "/redirect", timeout=10)
    assert (r.status_code, r.headers["Location"]) == (307, f"//127.0.0.1:{cluster.master.port}")
    r = httpx.get(cluster.master_url + "/redirect", timeout=10)
    assert r.headers["Location"] == f"//127.0.0.1:{cluster.master.port}"
    orphan = cluster.add_standby_master(leader_known=False)
    r = httpx.post(orphan.url + "/api/v1/scheduler", json={"type": "SUBSCRIBE"}, timeout=10)
    assert (r.status_code, r.text) == (503, "No leader elected")


def test_readonly_endpoints(cluster):
    state = httpx.get(cluster.master_url + "/state?jsonp=cb", timeout=10)
    assert state.text.startswith("cb(") and state.text.endswith(");")
    body = httpx.get(cluster.master_url + "/master/state", timeout=10).json()
    assert body["version"] == "1.11.0" and body["id"] == cluster.master.id
    assert body["leader"] == f"master@127.0.0.1:{cluster.master.port}"
    assert sorted(s["id"] for s in body["slaves"]) == sorted(cluster.agents)
    assert body["slaves"][0]["resources"]["ports"] == "[31000-32000]"
    summary = httpx.get(cluster.master_url + "/master/state-summary", timeout=10).json()
    assert len(summary["slaves"]) == 2 and summary["slaves"][0]["TASK_RUNNING"] == 0
    assert httpx.get(cluster.master_url + "/health", timeout=10).status_code == 200
    assert httpx.get(cluster.master_url + "/version", timeout=10).json()["version"] == "1.11.0"
    # Master::ReadOnlyHandler::tasks: a limit that is no number is the default, not a 400.
    assert httpx.get(cluster.master_url + "/master/tasks?limit=x", timeout=10).json() == {"tasks": []}
    # libprocess routing: a trailing slash and a longer path find the endpoint (Mesos CLI clients rely on it).
    for path in ("/master/frameworks/", "/master/frameworks/anything/else", "/frameworks/"):
        r = httpx.get(cluster.master_url + path, timeout=10)
        assert r.status_code == 200 and "frameworks" in r.json(), path
    assert httpx.get(cluster.master_url + "/master/state/", timeout=10).json()["id"] == cluster.master.id
    assert httpx.get(cluster.master_url + "/master/nothing", timeout=10).status_code == 404


def test_zookeeper_registration(tmp_path, zk_hosts):
    from kazoo.client import KazooClient

    path = f"/airflow-mesos-test/{uuid.uuid4().hex}"
    with LocalCluster([StubSpec()], work_dir=tmp_path, agent_factory=StubAgent, zk=f"zk://{zk_hosts}{path}") as c:
        zk = KazooClient(hosts=zk_hosts)
        zk.start(timeout=10)
        try:
            children = zk.get_children(path)
            assert len(children) == 1 and children[0].startswith("json.info_") and len(children[0]) == len("json.info_") + 10
            info = json.loads(zk.get(f"{path}/{children[0]}")[0])
            assert info == c.master.master_info()
            assert info["pid"] == f"master@127.0.0.1:{c.master.port}" and info["ip"] == 16777343
            c.restart_master()
            children = zk.get_children(path)
            assert len(children) == 1
            assert json.loads(zk.get(f"{path}/{children[0]}")[0])["id"] == c.master.id
        finally:
            zk.delete(path, recursive=True) if zk.exists(path) else None
            zk.stop()
            zk.close()
