"""The scheduler's Mesos health verdict (pure), the endpoint over real HTTP, and the agents' capacity."""

from __future__ import annotations

import socket

import httpx

from airflow_mesos.executor.health import HealthServer, judge_health

BASE = dict(disconnect_reason=None, taken_over=None, last_loop=100.0, threshold=60.0, framework_id="F-1",
            master="http://m:5050")


def test_connected_and_looping_is_healthy():
    healthy, details = judge_health(now=100.0, connected=True, disconnected_since=None, **BASE)
    assert healthy and details["status"] == "healthy" and details["framework_id"] == "F-1"


def test_a_short_disconnect_is_still_healthy_a_long_one_is_not():
    base = {**BASE, "disconnect_reason": "connection refused", "last_loop": 170.0}
    assert judge_health(now=150.0, connected=False, disconnected_since=100.0, **base)[0]
    healthy, details = judge_health(now=170.0, connected=False, disconnected_since=100.0, **base)
    assert not healthy
    assert details["reason"] == "not subscribed to a Mesos master for 70 s (connection refused)"


def test_taken_over_is_unhealthy_with_the_reason():
    healthy, details = judge_health(now=100.0, connected=False, disconnected_since=99.0,
                                    **{**BASE, "taken_over": "Framework failed over"})
    assert not healthy and "another scheduler took the Mesos framework over" in details["reason"]


def test_a_stalled_scheduler_loop_is_unhealthy():
    healthy, details = judge_health(now=200.0, connected=True, disconnected_since=None, **BASE)
    assert not healthy and "has not called the executor for 100 s" in details["reason"]


def test_the_endpoint_answers_200_or_503_with_the_details():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = {"healthy": True}
    server = HealthServer(port, lambda: (state["healthy"], {"status": "x"}), host="127.0.0.1")
    server.start()
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        state["healthy"] = False
        answer = httpx.get(f"http://127.0.0.1:{port}/health")
        assert answer.status_code == 503 and answer.json() == {"status": "x"}
        assert httpx.get(f"http://127.0.0.1:{port}/nope").status_code == 404
    finally:
        server.stop()


def test_agents_as_offers_of_everything():
    from airflow_mesos.executor.executor import agents_as_offers

    offers = agents_as_offers({"slaves": [
        {"id": "S1", "hostname": "a1", "active": True, "resources": {"cpus": 4, "mem": 8192, "ports": "[31000-32000]"},
         "attributes": {"rack": "r1", "level": 2}},
        {"id": "S2", "hostname": "a2", "active": False, "resources": {"cpus": 8}},
    ]})
    assert [(o.agent_id, o.cpus, o.mem, o.attributes) for o in offers] == [("S1", 4.0, 8192.0, {"rack": "r1",
                                                                                                "level": 2.0})]
