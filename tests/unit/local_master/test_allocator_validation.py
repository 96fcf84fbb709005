"""Pure master logic: resource arithmetic, allocation fairness and filters, call/task validation."""

from __future__ import annotations

import base64
import uuid

import pytest

from airflow_mesos.local.allocator import (
    AgentSlot, FrameworkSlot, InvalidResources, RefuseFilter, Resources, allocate, refuse_seconds)
from airflow_mesos.local.validation import validate_call, validate_framework_info, validate_role, validate_task


def res(cpus=0.0, mem=0.0, ports=None):
    return Resources.build({"cpus": int(cpus * 1000), "mem": int(mem * 1000)}, {"ports": tuple(ports or ())})


def test_fixed_point_scalars_do_not_drift():
    total = Resources()
    for _ in range(10):
        total = total + res(cpus=0.1)
    assert total.contains(res(cpus=1.0)) and res(cpus=1.0).contains(total)


def test_ranges_subtract_and_contain():
    ports = res(ports=[(31000, 31010)])
    left = ports - res(ports=[(31005, 31005)])
    assert left.to_json()[0]["ranges"]["range"] == [{"begin": 31000, "end": 31004}, {"begin": 31006, "end": 31010}]
    assert not left.contains(res(ports=[(31005, 31005)]))
    assert left.to_state_model()["ports"] == "[31000-31004, 31006-31010]"


def test_bad_resources_name_the_entry():
    with pytest.raises(InvalidResources, match=r"r\[1\]: resource 'mem' of type SCALAR is malformed"):
        Resources.from_json([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}},
                             {"name": "mem", "type": "SCALAR"}], "r")


def test_drf_alternates_agents_between_frameworks_and_gpu_agents_need_capability():
    agents = [AgentSlot("a1", res(1, 100)), AgentSlot("a2", res(1, 100)), AgentSlot("g", res(1, 100), has_gpus=True)]
    frameworks = [FrameworkSlot("f1", ["r"]), FrameworkSlot("f2", ["r"])]
    grants = allocate(agents, frameworks, res(3, 300), now=0.0)
    by_agent = {g.agent_id: g.framework_id for g in grants}
    assert by_agent["a1"] != by_agent["a2"]
    assert "g" not in by_agent


def test_suppressed_roles_and_filters_withhold_offers_until_expiry():
    agent = AgentSlot("a1", res(1, 100))
    suppressed = FrameworkSlot("f1", ["r"], suppressed_roles={"r"})
    assert allocate([agent], [suppressed], res(1, 100), now=0.0) == []
    filtered = FrameworkSlot("f1", ["r"], filters=[RefuseFilter("a1", "r", res(1, 100), expires=10.0)])
    assert allocate([agent], [filtered], res(1, 100), now=5.0) == []
    assert allocate([agent], [filtered], res(1, 100), now=10.0)[0].role == "r"


@pytest.mark.parametrize("filters,expected", [(None, 5.0), ({}, 5.0), ({"refuse_seconds": -1}, 5.0),
                                              ({"refuse_seconds": 1e12}, 365 * 24 * 3600.0), ({"refuse_seconds": 0}, 0.0)])
def test_refuse_seconds(filters, expected):
    assert refuse_seconds(filters) == expected


@pytest.mark.parametrize("info,message", [
    ({"capabilities": [{"type": "MULTI_ROLE"}], "roles": ["a", "a"]}, "'FrameworkInfo.roles' contains duplicate items: { a }"),
    ({"roles": ["a"]}, "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"),
    ({"role": "/x"}, "'FrameworkInfo.role' is not a valid role: Role '/x' cannot start with a slash"),
    ({"failover_timeout": -1}, "The framework failover_timeout (-1) is invalid"),
    ({"role": "ok", "failover_timeout": 5}, None),
])
def test_framework_info_validation(info, message):
    assert validate_framework_info({"user": "u", "name": "n", **info}) == message


def test_role_validation():
    assert validate_role("*") is None
    assert validate_role("a/b") is None
    assert validate_role("a/-b") == "Role component '-b' is invalid because it starts with a dash"


def test_acknowledge_uuid_must_be_16_bytes():
    call = {"type": "ACKNOWLEDGE", "framework_id": {"value": "f"}, "acknowledge": {"uuid": base64.b64encode(b"x" * 15).decode()}}
    assert validate_call(call, None) == "Not a valid UUID"
    call["acknowledge"]["uuid"] = base64.b64encode(uuid.uuid4().bytes).decode()
    assert validate_call(call, None) is None


def test_task_validation_order_and_messages():
    offered = res(1, 100)
    task = {"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"},
            "resources": res(0.5, 10).to_json(), "command": {"value": "x"}}
    ok = dict(agent_id="a", known_task_ids=set(), unreachable_task_ids=set(), offered=offered)
    assert validate_task(task, **ok)[0] is None
    assert validate_task({**task, "task_id": {"value": "a/b"}}, **ok)[0] == "Task has an invalid TaskID: 'a/b' contains invalid characters"
    assert validate_task(task, **{**ok, "known_task_ids": {"t"}})[0] == "Task has duplicate ID: t"
    assert validate_task(task, **{**ok, "agent_id": "b"})[0] == "Task uses invalid agent a while agent b is expected"
    assert validate_task({**task, "resources": []}, **ok)[0] == "Task uses no resources"
    docker_name = {**task, "container": {"type": "DOCKER", "docker": {"image": "i", "parameters": [{"key": "name", "value": "x"}]}}}
    assert validate_task(docker_name, **ok)[0] == "Task's `ContainerInfo` is invalid: Parameter in DockerInfo must not be 'name'"


@pytest.mark.parametrize("call,error", [
    # scheduler::call::validate (src/master/validation.cpp 1.11.0) compares the ids by value, unset being "".
    ({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n", "id": {"value": "f"}}}},
     "'framework_id' differs from 'subscribe.framework_info.id'"),
    ({"type": "SUBSCRIBE", "framework_id": {"value": "f"}, "subscribe": {"framework_info": {"user": "u", "name": "n"}}},
     "'framework_id' differs from 'subscribe.framework_info.id'"),
    ({"type": "SUBSCRIBE", "framework_id": {"value": "f"},
      "subscribe": {"framework_info": {"user": "u", "name": "n", "id": {"value": "f"}}}}, None),
    ({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}, None),
    ({"type": "UPDATE_FRAMEWORK", "framework_id": {"value": "f"},
      "update_framework": {"framework_info": {"user": "u", "name": "n", "id": {"value": "g"}}}},
     "'framework_id' differs from 'update_framework.framework_info.id'"),
    ({"type": "UPDATE_FRAMEWORK", "framework_id": {"value": "f"},
      "update_framework": {"framework_info": {"user": "u", "name": "n"}}},
     "'framework_id' differs from 'update_framework.framework_info.id'"),
])
def test_framework_ids_of_subscribe_and_update_framework_must_match(call, error):
    assert validate_call(call, None) == error


VOLUME = {"container_path": "/v", "mode": "RW"}


@pytest.mark.parametrize("volume,error", [
    # common::validation::validateVolume (src/common/validation.cpp 1.11.0), called by validateContainerInfo.
    ({**VOLUME, "source": {"type": "DOCKER_VOLUME"}}, "'source.docker_volume' is not set for DOCKER_VOLUME volume"),
    ({**VOLUME, "source": {"type": "HOST_PATH"}}, "'source.host_path' is not set for HOST_PATH volume"),
    ({**VOLUME, "source": {"type": "SANDBOX_PATH"}}, "'source.sandbox_path' is not set for SANDBOX_PATH volume"),
    ({**VOLUME, "source": {"type": "SECRET"}}, "'source.secret' is not set for SECRET volume"),
    ({**VOLUME, "source": {"type": "CSI_VOLUME", "csi_volume": {}}},
     "'source.csi_volume.static_provisioning' is not set for CSI volume"),
    ({**VOLUME, "source": {}}, "'source.type' is unknown"),
    (VOLUME, "Only one of them should be set: 'host_path', 'image' and 'source'"),
    ({**VOLUME, "host_path": "/h", "source": {"type": "HOST_PATH", "host_path": {"path": "/h"}}},
     "Only one of them should be set: 'host_path', 'image' and 'source'"),
    ({**VOLUME, "source": {"type": "DOCKER_VOLUME", "docker_volume": {"name": "v"}}}, None),
    ({**VOLUME, "host_path": "/h"}, None),
])
def test_volumes_are_validated_at_accept(volume, error):
    task = {"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"}, "resources": res(0.5, 10).to_json(),
            "command": {"value": "x"}, "container": {"type": "MESOS", "volumes": [volume]}}
    found = validate_task(task, agent_id="a", known_task_ids=set(), unreachable_task_ids=set(), offered=res(1, 100))[0]
    assert found == (None if error is None else f"Task's `ContainerInfo` is invalid: Invalid volume: {error}")


def test_max_completion_time_must_be_non_negative():
    task = {"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"}, "resources": res(0.5, 10).to_json(),
            "command": {"value": "x"}, "max_completion_time": {"nanoseconds": -1}}
    assert validate_task(task, agent_id="a", known_task_ids=set(), unreachable_task_ids=set(),
                         offered=res(1, 100))[0] == "Task's `max_completion_time` must be non-negative"
