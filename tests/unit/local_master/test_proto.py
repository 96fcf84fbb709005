"""The Call protobuf checker: stout's JSON -> protobuf rules and messages, on malformed and valid calls."""

from __future__ import annotations

import base64
import math

import pytest

from airflow_mesos.local import proto
from airflow_mesos.local.proto import ProtoError

FID = {"value": "fw-1"}


def task(**extra) -> dict:
    info = {"name": "t", "task_id": {"value": "t1"}, "agent_id": {"value": "a1"},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}}],
            "command": {"value": "echo hi"}}
    info.update(extra)
    return info


def accept(*tasks: dict, **extra) -> dict:
    body = {"offer_ids": [{"value": "o1"}], "operations": [{"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}]}
    body.update(extra)
    return {"type": "ACCEPT", "framework_id": FID, "accept": body}


LAUNCH_PATH = "accept.operations[0].launch.task_infos[0]"


@pytest.mark.parametrize("call,message,path", [
    (accept(task(resources="abc")), "Not expecting a JSON string for field 'resources'", f"{LAUNCH_PATH}.resources"),
    ({"type": "KILL", "framework_id": FID, "kill": {"task_id": 5}},
     "Not expecting a JSON number for field 'task_id'", "kill.task_id"),
    ({"type": "KILL", "framework_id": FID, "kill": {"task_id": {"value": 5}}},
     "Not expecting a JSON number for field 'value'", "kill.task_id.value"),
    (accept(task(container="x")), "Not expecting a JSON string for field 'container'", f"{LAUNCH_PATH}.container"),
    (accept(task(resources=[{"name": "cpus", "type": "SCALAR", "scalar": {"value": "x"}}])),
     "Failed to parse 'x' as a JSON number for field 'value': syntax error at line 1 near: x",
     f"{LAUNCH_PATH}.resources[0].scalar.value"),
    (accept(task(name=True)), "Not expecting a JSON boolean for field 'name'", f"{LAUNCH_PATH}.name"),
    (accept(task(task_id=[{"value": "t1"}])), "Not expecting a JSON array for field 'task_id'",
     f"{LAUNCH_PATH}.task_id"),
    (accept(task(command={"shell": "yes"})),
     "Failed to parse 'yes' as a JSON boolean for field 'shell': syntax error at line 1 near: yes",
     f"{LAUNCH_PATH}.command.shell"),
    (accept(task(command={"shell": "1"})),
     "Failed to parse '1' as a JSON boolean for field 'shell': Unexpected JSON type parsed",
     f"{LAUNCH_PATH}.command.shell"),
    (accept(task(container={"type": "DOCKER", "docker": {"image": "i", "network": 1}})),
     "Not expecting a JSON number for field 'network'", f"{LAUNCH_PATH}.container.docker.network"),
    # ContainerInfo.type is required, so an unknown name is an error rather than dropped.
    (accept(task(container={"type": "RKT"})), "Failed to find enum for 'RKT'", f"{LAUNCH_PATH}.container.type"),
    (accept(task(kill_policy={"grace_period": {"nanoseconds": "soon"}})),
     "Failed to parse 'soon' as a JSON number for field 'nanoseconds': syntax error at line 1 near: soon",
     f"{LAUNCH_PATH}.kill_policy.grace_period.nanoseconds"),
    (accept(task(labels={"labels": [{"key": "k", "value": {"x": 1}}]})),
     "Not expecting a JSON object for field 'value'", f"{LAUNCH_PATH}.labels.labels[0].value"),
    ({"type": "ACKNOWLEDGE", "framework_id": FID,
      "acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": "not*base64"}},
     "Failed to base64 decode bytes field 'uuid': Invalid character '*'", "acknowledge.uuid"),
    ({"type": "SUBSCRIBE", "subscribe": "x"}, "Not expecting a JSON string for field 'subscribe'", "subscribe"),
    ({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n", "failover_timeout": {}}}},
     "Not expecting a JSON object for field 'failover_timeout'", "subscribe.framework_info.failover_timeout"),
    ({"type": 3}, "Not expecting a JSON number for field 'type'", "type"),
    ({"type": "DECLINE", "framework_id": FID, "decline": {"filters": {"refuse_seconds": [1]}}},
     "Not expecting a JSON array for field 'refuse_seconds'", "decline.filters.refuse_seconds"),
    ({"type": "RECONCILE", "framework_id": FID, "reconcile": {"tasks": ["t1"]}},
     "Not expecting a JSON string for field 'tasks'", "reconcile.tasks[0]"),
    ({"type": "REVIVE", "framework_id": FID, "revive": {"roles": [{"name": "r"}]}},
     "Not expecting a JSON object for field 'roles'", "revive.roles[0]"),
])
def test_wrong_json_types_are_refused_with_stouts_message_and_where(call, message, path):
    with pytest.raises(ProtoError) as caught:
        proto.check("Call", call)
    assert caught.value.message == message
    assert caught.value.path == path
    assert str(caught.value) == f"{message} (at '{path}')"


def test_first_error_is_in_sorted_key_order():
    # stout walks a JSON object as a std::map: 'accept' before 'type', 'command' before 'resources'.
    call = accept(task(command={"value": 1}, resources="x"), type=1)
    with pytest.raises(ProtoError, match="field 'value'"):
        proto.check("Call", call)
    with pytest.raises(ProtoError, match="field 'accept'"):
        proto.check("Call", {"type": 5, "accept": "x"})


@pytest.mark.parametrize("call,missing", [
    ({"subscribe": {}}, "subscribe.framework_info"),
    ({"subscribe": {"framework_info": {}}}, "subscribe.framework_info.user, subscribe.framework_info.name"),
    ({"type": "KILL", "framework_id": {}, "kill": {}}, "framework_id.value, kill.task_id"),
    ({"type": "ACKNOWLEDGE", "framework_id": FID, "acknowledge": {"task_id": {}}},
     "acknowledge.agent_id, acknowledge.uuid, acknowledge.task_id.value"),
    (accept({"task_id": {"value": "t"}, "resources": [{"name": "cpus"}], "container": {"docker": {}}}),
     ("accept.operations[0].launch.task_infos[0].name, accept.operations[0].launch.task_infos[0].agent_id, "
      "accept.operations[0].launch.task_infos[0].resources[0].type, "
      "accept.operations[0].launch.task_infos[0].container.type, "
      "accept.operations[0].launch.task_infos[0].container.docker.image")),
    ({"type": "RECONCILE", "framework_id": FID, "reconcile": {"tasks": [{"agent_id": {"value": "a"}}]}},
     "reconcile.tasks[0].task_id"),
    # null is "not set", so a required field given null is missing.
    ({"type": "KILL", "framework_id": FID, "kill": {"task_id": None}}, "kill.task_id"),
])
def test_missing_required_fields_are_listed_with_their_paths(call, missing):
    with pytest.raises(ProtoError) as caught:
        proto.check("Call", call)
    assert caught.value.message == f"Missing required fields: {missing}"
    assert caught.value.path == ""


def test_type_errors_win_over_missing_fields():
    with pytest.raises(ProtoError, match="Not expecting a JSON number for field 'value'"):
        proto.check("Call", {"type": "KILL", "framework_id": {"value": 1}, "kill": {}})


def test_conversions_stout_accepts_are_normalized():
    call = {
        "type": "ACCEPT", "framework_id": FID, "unknown_key": {"anything": [1]},
        "accept": {
            "offer_ids": {"value": "o1"},                       # one object for a repeated field
            "filters": {"refuse_seconds": "Infinity"},         # string "Infinity" for a double
            "operations": [[{"type": "LAUNCH", "launch": {"task_infos": [task(
                resources=[{"name": "cpus", "type": "SCALAR", "scalar": {"value": "0.5"}}, None],
                command={"value": "true", "shell": "false", "uris": None},
                kill_policy={"grace_period": {"nanoseconds": 2.9}},
                discovery={"visibility": "FRAMEWORK", "ports": {"ports": [{"number": "31000", "protocol": "tcp"}]}},
            )]}}]],
        },
    }
    parsed = proto.parse("Call", call)
    assert "unknown_key" not in parsed
    assert parsed["accept"]["offer_ids"] == [{"value": "o1"}]
    assert parsed["accept"]["filters"]["refuse_seconds"] == math.inf
    launched = parsed["accept"]["operations"][0]["launch"]["task_infos"][0]
    assert launched["resources"] == [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}}]
    assert launched["command"] == {"value": "true", "shell": False}
    assert launched["kill_policy"]["grace_period"]["nanoseconds"] == 2
    assert launched["discovery"]["ports"]["ports"][0]["number"] == 31000


def test_unknown_optional_enum_is_dropped_but_required_one_fails():
    assert proto.parse("Call", {"type": "BOGUS"}) == {}
    parsed = proto.parse("FrameworkInfo", {"user": "u", "name": "n",
                                           "capabilities": [{"type": "MULTI_ROLE"}, {"type": "TIME_TRAVEL"}]})
    assert parsed["capabilities"] == [{"type": "MULTI_ROLE"}, {}]
    with pytest.raises(ProtoError, match="Failed to find enum for 'FLOPPY'"):
        proto.check("Resource", {"name": "disk", "type": "FLOPPY"})


def test_bytes_are_decoded_leniently_and_reencoded():
    raw = bytes(range(16))
    spaced = " ".join(base64.b64encode(raw).decode())
    parsed = proto.parse("Call.Acknowledge", {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": spaced})
    assert base64.b64decode(parsed["uuid"]) == raw


def test_opaque_messages_must_be_objects_but_are_not_looked_into():
    parsed = proto.parse("TaskInfo", task(check={"type": 12, "whatever": [None]}))
    assert parsed["check"] == {"type": 12, "whatever": [None]}
    with pytest.raises(ProtoError, match="Not expecting a JSON string for field 'check'"):
        proto.check("TaskInfo", task(check="x"))


def test_map_fields_convert_their_values():
    parsed = proto.parse("TaskInfo", task(limits={"cpus": {"value": "2"}}))
    assert parsed["limits"] == {"cpus": {"value": 2.0}}
    with pytest.raises(ProtoError, match="Not expecting a JSON string for field 'value'"):
        proto.check("TaskInfo", task(limits={"cpus": "2"}))
    with pytest.raises(ProtoError, match=r"Missing required fields: limits\[0\]\.value\.value"):
        proto.check("TaskInfo", task(limits={"cpus": {}}))


def test_top_level_must_be_an_object():
    for value in ([], "x", 1, None):
        with pytest.raises(ProtoError, match="^Expecting a JSON object$"):
            proto.check("Call", value)


@pytest.mark.parametrize("body,reason", [
    ('{"a": NaN}', "is not JSON"),
    ('{"a": 1e999}', "Value out of range"),
    ("[" * 300 + "]" * 300, "nested deeper than 200"),
    ("[" * 5000 + "]" * 5000, "nested deeper than 200"),
    (b'{"a": "\xff"}', "codec"),
])
def test_json_bodies_mesos_cannot_parse_are_refused(body, reason):
    with pytest.raises(ValueError, match=reason):
        proto.parse_json_body(body)


def test_json_body_within_limits_parses():
    assert proto.parse_json_body(b'{"a": [1.5, "x"]}') == {"a": [1.5, "x"]}
    assert proto.parse_json_body("[" * 200 + "]" * 200) is not None


def test_the_depth_limit_counts_objects_and_arrays_alike_on_the_deepest_branch():
    # 200 levels in all, alternating objects and arrays, beside shallow siblings: parsed; one more: refused.
    body = '[1, [[]], ' + '{"a": [' * 99 + '{}' + ']}' * 99 + ', {"b": 2}]'
    assert proto._depth(proto.parse_json_body(body)) == 200
    with pytest.raises(ValueError, match="nested deeper than 200"):
        proto.parse_json_body("[" + body + "]")
    assert proto._depth({}) == 1 and proto._depth([[], {"a": []}]) == 3 and proto._depth(1) == 0


def test_table_is_consistent():
    for name, fields in proto.MESSAGES.items():
        numbers = [f.number for f in fields.values()]
        assert len(numbers) == len(set(numbers)), name
        for field in fields.values():
            if field.kind == "message":
                assert field.type in proto.MESSAGES
            if field.kind == "enum":
                assert field.type in proto.ENUMS
