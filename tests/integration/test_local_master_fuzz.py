"""Seeded fuzz of the embedded master's scheduler API over real HTTP: malformed calls never crash anything.

Valid calls of every type are mutated by replacing nested values with wrong-typed ones (and a few bodies are
not even JSON).  Like real Mesos, the master must answer each with 200/202/400/403 and a Mesos-style message,
never 5xx or a dropped connection; tasks that get through must end in a real Mesos state, and afterwards the
master, the agent and a fresh framework must still work.  Agents run in process mode (no containers).
"""

from __future__ import annotations

import copy
import json
import logging
import random
import threading
import time

import httpx
import pytest

from airflow_mesos.local import AgentSpec, LocalCluster
from tests.support.scheduler_client import (
    SchedulerClient,
    command_task,
    framework_info,
    launch_call,
)

pytestmark = pytest.mark.integration

SEED = 20240823
ROUNDS = 400
TASK_STATES = {"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_FINISHED", "TASK_FAILED",
               "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_UNREACHABLE", "TASK_GONE",
               "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"}
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE",
            "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"}
# Every 400 the master may give, in Mesos' words (src/master/http.cpp).
MESOS_400_PREFIXES = (
    "Failed to parse body into JSON: ", "Failed to convert JSON into Call protobuf: ",
    "Failed to validate scheduler::Call: ", "Framework cannot be found",
    "All non-subscribe calls should include the 'Mesos-Stream-Id' header", "The stream ID '",
    "Subscribe calls should not include the 'Mesos-Stream-Id' header",
)
WRONG_VALUES = ["x", "", "AAAA", "Infinity", "1e999", "-5", "true", "\u00ff", "*", 7, -1, 0, 2.5, 1e300, True,
                False, None, [], ["x"], [1], [[{}]], {}, {"x": 1}, {"value": 3}, {"value": "v"}, [None, "y"]]
RAW_BODIES = [b"", b"{", b"[]", b"null", b"42", b'"call"', b"{\"type\": NaN}", b"{\"type\": 1e999}",
              b"\xff\xfe", b"[" * 400 + b"]" * 400, b'{"type": "KILL",}', b'{"a": 1} trailing']


def _paths(value, prefix=()):
    """Every (path to a nested value) in a JSON document."""
    found = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append(prefix + (key,))
            found.extend(_paths(child, prefix + (key,)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append(prefix + (index,))
            found.extend(_paths(child, prefix + (index,)))
    return found


def mutate(body: dict, rng: random.Random) -> dict:
    """A copy of ``body`` with 1-3 nested values replaced by wrong-typed ones (or a stray key added)."""
    body = copy.deepcopy(body)
    for _ in range(rng.randint(1, 3)):
        paths = _paths(body)
        path = rng.choice(paths)
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        if rng.random() < 0.1 and isinstance(parent, dict):
            parent["unknown_" + str(rng.randint(0, 9))] = rng.choice(WRONG_VALUES)
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(WRONG_VALUES))
    return body


def templates(offer: dict, framework_id: str, task_id: str) -> list[dict]:
    """One valid body per call type, as a framework would send them."""
    agent_id = offer["agent_id"]
    fid = {"value": framework_id}
    task = command_task(offer, task_id, "true", cpus=0.1, mem=16.0,
                        container={"type": "MESOS"}, labels={"labels": [{"key": "k", "value": "v"}]},
                        kill_policy={"grace_period": {"nanoseconds": 1000000}},
                        discovery={"visibility": "FRAMEWORK", "ports": {"ports": [{"number": 80, "protocol": "tcp"}]}})
    task["command"].update({"shell": True, "environment": {"variables": [{"name": "A", "value": "b"}]}})
    return [
        {"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info("fuzz-sub", failover_timeout=0.0),
                                            "suppressed_roles": []}},
        {"framework_id": fid, **launch_call(offer, [task], filters={"refuse_seconds": 0.01})},
        {"type": "DECLINE", "framework_id": fid, "decline": {"offer_ids": [offer["id"]],
                                                            "filters": {"refuse_seconds": 0.01}}},
        {"type": "KILL", "framework_id": fid, "kill": {"task_id": {"value": task_id}, "agent_id": agent_id,
                                                      "kill_policy": {"grace_period": {"nanoseconds": 5}}}},
        {"type": "ACKNOWLEDGE", "framework_id": fid, "acknowledge": {
            "agent_id": agent_id, "task_id": {"value": task_id}, "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="}},
        {"type": "RECONCILE", "framework_id": fid, "reconcile": {"tasks": [
            {"task_id": {"value": task_id}, "agent_id": agent_id}]}},
        {"type": "REVIVE", "framework_id": fid, "revive": {"roles": ["test"]}},
        {"type": "SUPPRESS", "framework_id": fid, "suppress": {"roles": ["test"]}},
        {"type": "TEARDOWN", "framework_id": fid},
    ]


def post(client: httpx.Client, url: str, content: bytes, stream_id: str) -> tuple[int, str]:
    """POST one call; a SUBSCRIBE that succeeds streams, so only its status is read before closing."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if b'"SUBSCRIBE"' not in content:
        headers["Mesos-Stream-Id"] = stream_id
    with client.stream("POST", url, content=content, headers=headers) as response:
        if response.status_code == 200:
            return 200, ""
        return response.status_code, response.read().decode("utf-8", "replace")


def latest_offer(sub: SchedulerClient) -> dict:
    offers = [e for e in list(sub.events) if e.get("type") == "OFFERS"]
    return offers[-1]["offers"]["offers"][0]


def acknowledge_new_updates(sub: SchedulerClient, acked: set[str]) -> dict[str, str]:
    """Acknowledge every update not yet acknowledged, as a framework does; returns each task's latest state."""
    latest: dict[str, str] = {}
    for event in list(sub.events):
        if event.get("type") != "UPDATE":
            continue
        status = event["update"]["status"]
        latest[status["task_id"]["value"]] = status["state"]
        if "uuid" in status and status["uuid"] not in acked:
            acked.add(status["uuid"])
            assert sub.ack(status).status_code == 202
    return latest


@pytest.fixture
def cluster(tmp_path):
    with LocalCluster([AgentSpec(cpus=4, mem=4096)], work_dir=tmp_path, docker_client=None, heartbeat_interval=1.0,
                      allocation_interval=0.02, status_update_retry_interval=0.3) as c:
        yield c


@pytest.fixture
def thread_failures():
    """Exceptions that ended any thread (an agent or master thread dying) during the test."""
    failures: list[str] = []
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        failures.append(f"{args.thread.name if args.thread else '?'}: {args.exc_type.__name__}: {args.exc_value}")
        previous(args)

    threading.excepthook = hook
    yield failures
    threading.excepthook = previous


def test_malformed_calls_are_refused_like_mesos_and_nothing_breaks(cluster, thread_failures, caplog):
    caplog.set_level(logging.WARNING, logger="airflow_mesos")
    rng = random.Random(SEED)
    url = cluster.master_url + "/api/v1/scheduler"
    sub = SchedulerClient(cluster.master_url, framework_info("fuzz"))
    try:
        sub.event("OFFERS")
        codes: dict[int, int] = {}
        acked: set[str] = set()
        with httpx.Client(timeout=10) as client:
            for round_ in range(ROUNDS):
                # Templates use the newest offer and a new task id, so mutated launches often get through.
                bodies = templates(latest_offer(sub), sub.framework_id, f"fuzz-{round_}")
                if round_ % 40 == 0:
                    content = rng.choice(RAW_BODIES)
                else:
                    # ACCEPT is weighted up: its TaskInfo is the deepest and reaches the agent.
                    body = mutate(rng.choice(bodies + [bodies[1]] * 4), rng)
                    if body.get("type") == "TEARDOWN" and isinstance(body.get("framework_id"), dict) \
                            and body["framework_id"].get("value") == sub.framework_id:
                        continue  # still a valid TEARDOWN: it would end the fuzzing framework itself
                    content = json.dumps(body).encode()
                code, text = post(client, url, content, sub.stream_id)
                codes[code] = codes.get(code, 0) + 1
                assert code in (200, 202, 400, 403), (code, text, content[:300])
                if code == 400:
                    assert text.startswith(MESOS_400_PREFIXES), (text, content[:300])
                    assert len(text.split(": ", 1)[-1]) > 0
                if round_ % 10 == 0:
                    post(client, url, json.dumps(bodies[6]).encode(), sub.stream_id)  # REVIVE: fresh offers
                acknowledge_new_updates(sub, acked)
        assert codes.get(400, 0) > ROUNDS // 2 and codes.get(202, 0) > 0, codes
        assert not sub.ended, "the fuzzing framework's stream was closed"

        # Every task that reached anyone ends in a real Mesos state.
        deadline = time.monotonic() + 20
        while True:
            latest = acknowledge_new_updates(sub, acked)
            if all(state in TERMINAL for state in latest.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert set(latest.values()) <= TERMINAL, latest
        assert sum(1 for state in latest.values() if state in ("TASK_FINISHED", "TASK_FAILED")) >= 3, latest

        # The master, the agent and a fresh framework still work.
        state = httpx.get(cluster.master_url + "/master/state", timeout=10)
        assert state.status_code == 200 and state.json()["frameworks"]
        agent = next(iter(cluster.agents.values()))
        assert httpx.get(agent.url + "/state", timeout=10).status_code == 200
        # A well-formed TEARDOWN still works (and frees the offer the fuzzing framework holds).
        assert sub.call({"type": "TEARDOWN"}).status_code == 202
        sub.wait_ended()
        fresh = SchedulerClient(cluster.master_url, framework_info("after-fuzz"))
        try:
            fresh_offer = fresh.event("OFFERS")["offers"]["offers"][0]
            assert fresh.call(launch_call(fresh_offer, [command_task(fresh_offer, "after", "true")])).status_code == 202
            for state in ("TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"):
                assert fresh.ack(fresh.update("after", state, timeout=20)).status_code == 202
        finally:
            fresh.close()
    finally:
        sub.close()
    assert thread_failures == []
    assert not [r for r in caplog.records if "internal error" in r.getMessage()]


def test_agent_turns_an_unplannable_task_into_task_failed(cluster, thread_failures):
    """A TaskInfo the master would refuse, handed to the agent directly: TASK_FAILED, and the agent lives on."""
    sub = SchedulerClient(cluster.master_url, framework_info("direct"))
    try:
        offer = sub.event("OFFERS")["offers"]["offers"][0]
        agent = cluster.agents[offer["agent_id"]["value"]]
        info = {**framework_info("direct"), "id": {"value": sub.framework_id}}
        agent.launch(info, command_task(offer, "bad-container", "true", container="x"))
        status = sub.update("bad-container", "TASK_FAILED")
        assert status["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
        assert status["message"] == ("Failed to launch container: Malformed TaskInfo "
                                     "(AttributeError: 'str' object has no attribute 'get')")
        assert sub.call(launch_call(offer, [command_task(offer, "good", "true")])).status_code == 202
        for state in ("TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"):
            assert sub.ack(sub.update("good", state)).status_code == 202
    finally:
        sub.close()
    assert thread_failures == []


# ------------------------------------------------------------------------------------------------
# Header mutations, over raw sockets (HTTP clients refuse to send most of these)
# ------------------------------------------------------------------------------------------------

HEADER_ROUNDS = 150
ANSWERS = {200, 202, 400, 401, 403, 404, 405, 406, 413, 415}


def raw_exchange(url: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> int:
    """Send one request exactly as given and return the status of the answer (the connection must not just drop)."""
    import http.client
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        sock.sendall(head.encode("latin-1") + body)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()   # raises RemoteDisconnected if the server hangs up without an answer
        if response.status != 200 or response.getheader("Transfer-Encoding") != "chunked":
            response.read()
        return response.status


def chunked(body: bytes) -> bytes:
    return (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n") if body else b"0\r\n\r\n"


def mutate_headers(headers: dict[str, str], body: bytes, rng: random.Random) -> tuple[list[tuple[str, str]], bytes]:
    """1-2 header mutations of a valid request; the body is re-framed when the mutation is chunked encoding."""
    items = list(headers.items())
    for _ in range(rng.randint(1, 2)):
        kind = rng.choice(["length", "length", "duplicate-length", "type", "accept", "stream", "auth", "chunked",
                           "encoding", "host"])
        if kind == "length":
            value = rng.choice(["abc", "-1", "1e3", "+5", "0x10", "", " ", "12abc", str(max(len(body) - 1, 0)),
                                "99999999999999999999"])
            items = [(k, v) for k, v in items if k != "Content-Length"] + [("Content-Length", value)]
        elif kind == "duplicate-length":
            items.append(("Content-Length", str(len(body) + 3)))
        elif kind == "type":
            value = rng.choice(["application/json; charset=utf-8", "APPLICATION/JSON", "", "text/plain",
                                "application/x-protobuf", None])
            items = [(k, v) for k, v in items if k != "Content-Type"] + ([("Content-Type", value)] if value is not None else [])
        elif kind == "accept":
            value = rng.choice(["", "text/html", "application/x-protobuf", "*/*;q=0", "garbage;;q=", "application/*"])
            items = [(k, v) for k, v in items if k != "Accept"] + [("Accept", value)]
        elif kind == "stream":
            value = rng.choice(["", "x" * 1000, "\u00e9", None])
            items = [(k, v) for k, v in items if k != "Mesos-Stream-Id"] + ([("Mesos-Stream-Id", value)] if value is not None else [])
        elif kind == "auth":
            items.append(("Authorization", rng.choice(["Basic !!!", "Basic YQ==", "Bearer token", ""])))
        elif kind == "chunked":
            items = [(k, v) for k, v in items if k != "Content-Length"] + [("Transfer-Encoding", "chunked")]
            body = rng.choice([chunked(body), b"zz\r\n" + body + b"\r\n0\r\n\r\n"])
        elif kind == "encoding":
            items.append(("Transfer-Encoding", rng.choice(["gzip", "identity, chunked"])))
        else:
            items = [(k, v) for k, v in items if k != "Host"]
    return items, body


def test_header_mutations_are_answered_never_dropped_or_5xx(cluster, thread_failures, caplog):
    caplog.set_level(logging.WARNING, logger="airflow_mesos")
    rng = random.Random(SEED + 1)
    sub = SchedulerClient(cluster.master_url, framework_info("headers"))
    agent = next(iter(cluster.agents.values()))
    try:
        sub.event("OFFERS")
        bodies = templates(latest_offer(sub), sub.framework_id, "headers-task")
        targets = [
            (cluster.master_url, "/api/v1/scheduler", json.dumps(bodies[5]).encode()),   # RECONCILE
            (cluster.master_url, "/api/v1/scheduler", json.dumps(bodies[6]).encode()),   # REVIVE
            (cluster.master_url, "/api/v1/scheduler", json.dumps(bodies[0]).encode()),   # SUBSCRIBE
            (cluster.master_url, "/api/v1", b'{"type":"GET_HEALTH"}'),
            (agent.url, "/api/v1", b'{"type":"GET_HEALTH"}'),
        ]
        codes: dict[int, int] = {}
        for _ in range(HEADER_ROUNDS):
            url, path, body = rng.choice(targets)
            headers = {"Host": "mesos", "Content-Type": "application/json", "Accept": "application/json",
                       "Content-Length": str(len(body))}
            if b'"SUBSCRIBE"' not in body and path.endswith("scheduler"):
                headers["Mesos-Stream-Id"] = sub.stream_id
            items, framed = mutate_headers(headers, body, rng)
            code = raw_exchange(url, "POST", path, items, framed)
            codes[code] = codes.get(code, 0) + 1
            assert code in ANSWERS, (code, items)
        assert codes.get(400, 0) > HEADER_ROUNDS // 4 and (codes.get(202, 0) + codes.get(200, 0)) > 0, codes
        # What a malformed length is answered with, exactly.
        for url, path, body in targets[3:]:
            items = [("Host", "mesos"), ("Content-Type", "application/json"), ("Content-Length", "abc")]
            assert raw_exchange(url, "POST", path, items, body) == 400
        assert not sub.ended
        assert sub.call({"type": "REVIVE"}).status_code == 202
        assert httpx.get(cluster.master_url + "/master/state", timeout=10).status_code == 200
        assert httpx.get(agent.url + "/state", timeout=10).status_code == 200
    finally:
        sub.close()
    assert thread_failures == []
    assert not [r for r in caplog.records if "internal error" in r.getMessage() or "failed" in r.getMessage()]
