"""Agent events parsed and executor calls built, in the v1 JSON form."""

from __future__ import annotations

import json

import pytest

from airflow_mesos.warm import protocol as p
from airflow_mesos.warm.forkserver import FrameReader, _HEADER


def test_events_of_every_type():
    assert p.parse_event(json.dumps({"type": "SUBSCRIBED", "subscribed": {
        "framework_info": {"capabilities": [{"type": "TASK_KILLING_STATE"}]}, "agent_info": {"hostname": "h"},
        "container_id": {"value": "c"}}})) == p.SubscribedEvent(frozenset({"TASK_KILLING_STATE"}), "h", "c", {})
    launch = p.parse_event({"type": "LAUNCH", "launch": {"task": {"task_id": {"value": "t"}, "data": "e30="}}})
    assert isinstance(launch, p.LaunchEvent) and launch.task_id == "t" and "e30=" not in repr(launch)
    assert p.parse_event({"type": "KILL", "kill": {"task_id": {"value": "t"}, "kill_policy": {
        "grace_period": {"nanoseconds": 2_500_000_000}}}}) == p.KillEvent("t", 2.5)
    assert p.parse_event({"type": "KILL", "kill": {"task_id": {"value": "t"}}}) == p.KillEvent("t", None)
    assert p.parse_event({"type": "ACKNOWLEDGED", "acknowledged": {"task_id": {"value": "t"}, "uuid": "dQ=="}}) \
        == p.AcknowledgedEvent("t", "dQ==")
    assert p.parse_event({"type": "SHUTDOWN"}) == p.ShutdownEvent()
    assert p.parse_event({"type": "MESSAGE", "message": {"data": "aGk="}}) == p.MessageEvent(b"hi")
    assert p.parse_event({"type": "ERROR", "error": {"message": "m"}}) == p.ErrorEvent("m")
    assert p.parse_event({"type": "HEARTBEAT"}) == p.HeartbeatEvent()
    assert p.parse_event({"type": "LAUNCH_GROUP", "launch_group": {"task_group": {"tasks": [
        {"task_id": {"value": "a"}}]}}}) == p.LaunchGroupEvent(("a",))
    assert p.parse_event({"type": "SOMETHING_NEW"}) == p.UnknownEvent("SOMETHING_NEW")


@pytest.mark.parametrize(("record", "words"), [
    (b"{nope", "not JSON"),
    ({"no": "type"}, "no 'type'"),
    ({"type": "LAUNCH"}, "launch must be an object"),
    ({"type": "KILL", "kill": {"task_id": {}}}, "kill.task_id.value"),
    ({"type": "ACKNOWLEDGED", "acknowledged": {"task_id": {"value": "t"}}}, "acknowledged.uuid"),
])
def test_malformed_events_name_the_field(record, words):
    with pytest.raises(p.MalformedAgentEvent, match=words):
        p.parse_event(record)


def test_calls():
    status = p.task_status(task_id="t", state="TASK_FAILED", uuid="dQ==", executor_id="ex", timestamp=1.5,
                           message="m", reason="REASON_X")
    assert p.update_call("fw", "ex", status) == {
        "type": "UPDATE", "framework_id": {"value": "fw"}, "executor_id": {"value": "ex"},
        "update": {"status": {"task_id": {"value": "t"}, "state": "TASK_FAILED", "source": "SOURCE_EXECUTOR",
                              "executor_id": {"value": "ex"}, "uuid": "dQ==", "timestamp": 1.5, "message": "m",
                              "reason": "REASON_X"}}}
    assert p.message_call("fw", "ex", b"hi")["message"] == {"data": "aGk="}
    assert p.heartbeat_call("fw", "ex") == {"type": "HEARTBEAT", "framework_id": {"value": "fw"},
                                            "executor_id": {"value": "ex"}}


def test_fork_server_frames_across_chunk_boundaries():
    frames = [{"op": "started", "task_id": "a", "pid": 1}, {"op": "exited", "task_id": "a", "exit_code": 0}]
    wire = b"".join(_HEADER.pack(len(b)) + b for b in (json.dumps(f).encode() for f in frames))
    reader = FrameReader()
    got = []
    for i in range(len(wire)):
        got += reader.feed(wire[i:i + 1])
    assert got == frames
