"""Validation of scheduler and operator calls, FrameworkInfo and TaskInfo, with Mesos' messages.

Pure functions: each returns ``None`` when the input is valid, otherwise the
error message the Mesos master produces for it (``src/master/validation.cpp``,
``src/common/validation.cpp``, ``src/common/roles.cpp``).  They expect a call
that already went through :func:`airflow_mesos.local.proto.parse` (types and
required fields checked, as Mesos converts JSON to protobuf first).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Container

from airflow_mesos.local.allocator import InvalidResources, Resources

CAPABILITIES = (
    "UNKNOWN REVOCABLE_RESOURCES TASK_KILLING_STATE GPU_RESOURCES SHARED_RESOURCES PARTITION_AWARE MULTI_ROLE "
    "RESERVATION_REFINEMENT REGION_AWARE"
).split()

# Call field that must be present per call type (validation.cpp scheduler::call::validate).
_PAYLOAD = {
    "ACCEPT": "accept", "DECLINE": "decline", "ACCEPT_INVERSE_OFFERS": "accept_inverse_offers",
    "DECLINE_INVERSE_OFFERS": "decline_inverse_offers", "KILL": "kill", "SHUTDOWN": "shutdown",
    "ACKNOWLEDGE": "acknowledge", "ACKNOWLEDGE_OPERATION_STATUS": "acknowledge_operation_status",
    "RECONCILE": "reconcile", "RECONCILE_OPERATIONS": "reconcile_operations", "MESSAGE": "message",
    "REQUEST": "request", "UPDATE_FRAMEWORK": "update_framework",
}


def decode_uuid(value: object) -> bytes | None:
    """Base64 -> 16 bytes, or None."""
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 16 else None


def _id_value(message: object) -> str:
    return (message or {}).get("value", "") if isinstance(message, dict) else ""


def validate_call(call: dict, principal: str | None) -> str | None:
    """``validation::scheduler::call::validate`` (without the "Failed to validate" prefix)."""
    call_type = call.get("type")
    if call_type is None:
        return "Expecting 'type' to be present"
    if call_type == "SUBSCRIBE":
        if "subscribe" not in call:
            return "Expecting 'subscribe' to be present"
        info = call["subscribe"]["framework_info"]
        # Protobuf compares the ids by value, an unset one being "": an id in the FrameworkInfo without the
        # call's framework_id (or the other way round) differs too.
        if _id_value(call.get("framework_id")) != _id_value(info.get("id")):
            return "'framework_id' differs from 'subscribe.framework_info.id'"
        if principal is not None and "principal" in info and principal != info["principal"]:
            return (f"Authenticated principal '{principal}' does not match principal "
                    f"'{info['principal']}' set in `FrameworkInfo`")
        return None
    if "framework_id" not in call:
        return "Expecting 'framework_id' to be present"
    payload = _PAYLOAD.get(call_type)
    if payload and payload not in call:
        return f"Expecting '{payload}' to be present"
    if call_type == "ACKNOWLEDGE" and decode_uuid(call["acknowledge"].get("uuid")) is None:
        return "Not a valid UUID"
    if call_type == "UPDATE_FRAMEWORK" and \
            _id_value(call["framework_id"]) != _id_value(call["update_framework"]["framework_info"].get("id")):
        return "'framework_id' differs from 'update_framework.framework_info.id'"
    if call_type == "UNKNOWN":
        return "Expecting 'type' to be present"
    return None


# Payload that must be present per operator call type (validation::master::call::validate in
# src/master/validation.cpp, validation::agent::call::validate in src/slave/validation.cpp).
_OPERATOR_PAYLOADS = {
    "master": {name.upper(): name for name in (
        "get_metrics", "set_logging_level", "list_files", "read_file", "update_weights", "reserve_resources",
        "unreserve_resources", "create_volumes", "destroy_volumes", "grow_volume", "shrink_volume",
        "update_maintenance_schedule", "start_maintenance", "stop_maintenance", "drain_agent", "deactivate_agent",
        "reactivate_agent", "update_quota", "set_quota", "remove_quota", "teardown", "mark_agent_gone")},
    "agent": {name.upper(): name for name in (
        "get_metrics", "set_logging_level", "list_files", "read_file", "launch_nested_container",
        "wait_nested_container", "kill_nested_container", "remove_nested_container",
        "launch_nested_container_session", "attach_container_input", "attach_container_output", "launch_container",
        "wait_container", "kill_container", "remove_container", "add_resource_provider_config",
        "update_resource_provider_config", "remove_resource_provider_config", "mark_resource_provider_gone")},
}


def validate_operator_call(call: dict, api: str) -> str | None:
    """``validation::{master,agent}::call::validate`` (without the "Failed to validate" prefix).

    :param api: ``"master"`` or ``"agent"``.
    """
    call_type = call.get("type")
    if call_type is None:
        return "Expecting 'type' to be present"
    payload = _OPERATOR_PAYLOADS[api].get(call_type)
    if payload is not None and payload not in call:
        return f"Expecting '{payload}' to be present"
    if api == "master" and call_type in ("GROW_VOLUME", "SHRINK_VOLUME") and "agent_id" not in call[payload]:
        return "Expecting 'agent_id' to be present; only agent default resources are supported right now"
    return None


def validate_role(role: str) -> str | None:
    """``roles::validate`` of src/common/roles.cpp."""
    if role == "*":
        return None
    if role.startswith("/"):
        return f"Role '{role}' cannot start with a slash"
    if role.endswith("/"):
        return f"Role '{role}' cannot end with a slash"
    if "//" in role:
        return f"Role '{role}' cannot contain two adjacent slashes"
    components = [c for c in role.split("/") if c]
    if not components:
        return "Role names cannot be the empty string"
    for component in components:
        if component in (".", "..", "*"):
            return f"Role '{role}' cannot include '{component}' as a component"
        if component.startswith("-"):
            return f"Role component '{component}' is invalid because it starts with a dash"
        if any(ch in component for ch in "\b\f\n\r\t\v "):
            return f"Role component '{component}' is invalid because it contains backspace or whitespace"
    return None


def capabilities(info: dict) -> set[str]:
    return {c.get("type") for c in info.get("capabilities") or [] if isinstance(c, dict)}


def framework_roles(info: dict) -> list[str]:
    """The roles a framework subscribes with: MULTI_ROLE ``roles`` or the legacy ``role`` (default "*")."""
    if "MULTI_ROLE" in capabilities(info):
        return list(info.get("roles") or [])
    return [info.get("role", "*")]


def validate_framework_info(info: dict, suppressed_roles: list[str] | tuple[str, ...] = (),
                            removed_framework_ids: set[str] | frozenset[str] = frozenset()) -> str | None:
    """``Master::validateFramework`` (src/master/master.cpp 1.11.0), in its order: ``framework::validate``
    (roles, then the framework id with ``validateID``), the suppressed roles, a removed framework, the
    failover timeout.  (There is no ``--roles`` whitelist and root submissions are allowed here.)"""
    multi_role = "MULTI_ROLE" in capabilities(info)
    if multi_role and "role" in info:
        return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
    if not multi_role and info.get("roles"):
        return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
    if multi_role:
        roles = list(info.get("roles") or [])
        duplicates = sorted({r for r in roles if roles.count(r) > 1})
        if duplicates:
            return "'FrameworkInfo.roles' contains duplicate items: { " + ", ".join(duplicates) + " }"
        for role in roles:
            error = validate_role(str(role))
            if error:
                return f"'FrameworkInfo.roles' contains invalid role: {error}"
    else:
        error = validate_role(str(info.get("role", "*")))
        if error:
            return f"'FrameworkInfo.role' is not a valid role: {error}"
    framework_id = (info.get("id") or {}).get("value", "")
    if framework_id:
        error = validate_id(framework_id)  # validateFrameworkId: ids become directory names on agents
        if error:
            return error
    for role in suppressed_roles:
        if role not in framework_roles(info):
            return f"Suppressed role '{role}' is not contained in the list of roles"
    if framework_id and framework_id in removed_framework_ids:
        return "Framework has been removed"
    timeout = info.get("failover_timeout", 0.0)
    try:
        value = float(timeout)
        if value != value or value < 0 or value > 9.2e9:
            raise ValueError
    except (TypeError, ValueError):
        return f"The framework failover_timeout ({timeout}) is invalid"
    return None


def validate_framework_update(old: dict, new: dict) -> str | None:
    """``framework::validateUpdate``: principal, user and checkpoint cannot change."""
    if old.get("principal") != new.get("principal"):
        return "Changing framework's principal is not allowed."
    if old.get("user", "") != new.get("user", ""):
        return (f"Updating 'FrameworkInfo.user' is unsupported; attempted to update from '{old.get('user', '')}' "
                f"to '{new.get('user', '')}'")
    if bool(old.get("checkpoint", False)) != bool(new.get("checkpoint", False)):
        return (f"Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from "
                f"'{_stringify_bool(old.get('checkpoint', False))}' to '{_stringify_bool(new.get('checkpoint', False))}'")
    return None


def _stringify_bool(value: object) -> str:
    return "true" if value else "false"


def validate_id(value: str) -> str | None:
    """``common::validation::validateID``."""
    if not value:
        return "ID must not be empty"
    if len(value) > 255:
        return "ID must not be greater than 255 characters"
    if value in (".", ".."):
        return f"'{value}' is disallowed"
    if any(ord(ch) < 32 or ord(ch) == 127 or ch in "/\\" for ch in value):
        return f"'{value}' contains invalid characters"
    return None


_VOLUME_SOURCES = {
    "DOCKER_VOLUME": ("docker_volume", "'source.docker_volume' is not set for DOCKER_VOLUME volume"),
    "HOST_PATH": ("host_path", "'source.host_path' is not set for HOST_PATH volume"),
    "SANDBOX_PATH": ("sandbox_path", "'source.sandbox_path' is not set for SANDBOX_PATH volume"),
    "SECRET": ("secret", "'source.secret' is not set for SECRET volume"),
    "CSI_VOLUME": ("csi_volume", "'source.csi_volume' is not set for CSI volume"),
}


def validate_volume(volume: dict) -> str | None:
    """``common::validation::validateVolume`` (src/common/validation.cpp 1.11.0)."""
    if sum(1 for key in ("host_path", "image", "source") if key in volume) != 1:
        return "Only one of them should be set: 'host_path', 'image' and 'source'"
    source = volume.get("source")
    if source is not None:
        required = _VOLUME_SOURCES.get(source.get("type"))
        if required is None:
            return "'source.type' is unknown"
        field, message = required
        if field not in source:
            return message
        if field == "csi_volume" and "static_provisioning" not in source["csi_volume"]:
            return "'source.csi_volume.static_provisioning' is not set for CSI volume"
    return None


def validate_container_info(container: dict) -> str | None:
    """``common::validation::validateContainerInfo``: every volume, then a DOCKER container's DockerInfo."""
    for volume in container.get("volumes") or []:
        error = validate_volume(volume)
        if error is not None:
            return f"Invalid volume: {error}"
    if container.get("type") == "DOCKER":
        if "docker" not in container:
            return "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo"
        for parameter in container["docker"].get("parameters") or []:
            if parameter.get("key") == "name":
                return "Parameter in DockerInfo must not be 'name'"
    return None


def _grace_period_ns(task: dict) -> float:
    return float(((task.get("kill_policy") or {}).get("grace_period") or {}).get("nanoseconds", 0))


def validate_task(task: dict, *, agent_id: str, known_task_ids: Container[str], unreachable_task_ids: Container[str],
                  offered: Resources, framework_id: str = "", existing_executor: dict | None = None,
                  ) -> tuple[str | None, Resources]:
    """``task::validate`` for a LAUNCH operation; returns (error, the task's own resources).

    :param existing_executor: the ExecutorInfo of the executor of the task's executor id that the master
        knows on that agent (``Slave::hasExecutor``): the task must use a compatible one, and the executor's
        resources are not charged again (``validateExecutor``: ``total += executorResources`` only for a new
        executor).
    """
    task_id = task["task_id"]["value"]
    error = validate_id(task_id)
    if error:
        return f"Task has an invalid TaskID: {error}", Resources()
    if task_id in known_task_ids:
        return f"Task has duplicate ID: {task_id}", Resources()
    if task_id in unreachable_task_ids:
        return f"Task reuses the ID of an unreachable task: {task_id}", Resources()
    if task["agent_id"]["value"] != agent_id:
        return f"Task uses invalid agent {task['agent_id']['value']} while agent {agent_id} is expected", Resources()
    try:
        if _grace_period_ns(task) < 0:
            return "Task's 'kill_policy.grace_period' must be non-negative", Resources()
    except (TypeError, ValueError):
        return "Task's 'kill_policy.grace_period' must be non-negative", Resources()
    if int((task.get("max_completion_time") or {}).get("nanoseconds", 0)) < 0:
        return "Task's `max_completion_time` must be non-negative", Resources()
    if not task.get("resources"):
        return "Task uses no resources", Resources()
    try:
        resources = Resources.from_json(task["resources"], "resources")
    except InvalidResources as exc:
        return f"Task uses invalid resources: {exc}", Resources()
    for i, resource in enumerate(task["resources"]):
        role = resource.get("role", "*")
        if role != "*" or resource.get("reservation") or resource.get("reservations"):
            return f"Task uses invalid resources: resources[{i}] is reserved, and reservations are not supported here", resources
    if ("executor" in task) == ("command" in task):
        return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present", resources
    for variable in ((task.get("command") or {}).get("environment") or {}).get("variables") or []:
        if not isinstance(variable, dict) or "name" not in variable:
            return "Task's `CommandInfo` is invalid: Environment variable must have a 'name'", resources
        kind = variable.get("type", "VALUE")
        if kind == "VALUE" and "value" not in variable:
            return f"Task's `CommandInfo` is invalid: Environment variable '{variable['name']}' of type 'VALUE' must have a value set", resources
        if kind == "SECRET" and "secret" not in variable:
            return f"Task's `CommandInfo` is invalid: Environment variable '{variable['name']}' of type 'SECRET' must have a secret set", resources
    container = task.get("container")
    if isinstance(container, dict):
        error = validate_container_info(container)
        if error is not None:
            return f"Task's `ContainerInfo` is invalid: {error}", resources
    total_resources = resources
    if "executor" in task:
        executor = task["executor"]
        error = validate_task_executor(executor, framework_id=framework_id, existing=existing_executor)
        if error is not None:
            return error, resources
        if existing_executor is None:
            total_resources = resources + Resources.from_json(executor.get("resources") or [], "resources")
    if not offered.contains(total_resources):
        return (f"Total resources {total_resources} required by task and its executor is more than available "
                f"{offered}", resources)
    return None, resources


# ------------------------------------------------------------------------------------------------
# Executors (src/master/validation.cpp ``executor::internal``, src/common/validation.cpp)
# ------------------------------------------------------------------------------------------------


def _command_environment_error(command: dict) -> str | None:
    """``common::validation::validateCommandInfo``: each environment variable's value matches its type."""
    for variable in (command.get("environment") or {}).get("variables") or []:
        if not isinstance(variable, dict) or "name" not in variable:
            return "Environment variable must have a 'name'"
        kind = variable.get("type", "VALUE")
        if kind == "VALUE" and "value" not in variable:
            return f"Environment variable '{variable['name']}' of type 'VALUE' must have a value set"
        if kind == "SECRET" and "secret" not in variable:
            return f"Environment variable '{variable['name']}' of type 'SECRET' must have a secret set"
    return None


_COMPARED_EXECUTOR_FIELDS = ("type", "executor_id", "data", "resources", "command", "framework_id", "name", "source",
                             "container", "discovery")
"""What ``operator==(const ExecutorInfo&, const ExecutorInfo&)`` compares (src/common/type_utils.cpp 1.11.0):
not ``labels`` or ``shutdown_grace_period``."""


def executor_info_differences(existing: dict, new: dict) -> list[str]:
    """The ExecutorInfo fields in which ``new`` differs from ``existing``, as Mesos' ``operator==`` sees them:
    ``type`` set or not and its value, ``data``/``name``/``source`` with unset equal to empty, resources compared
    as resources (their order does not matter), the other messages as they are."""
    differing = []
    for name in _COMPARED_EXECUTOR_FIELDS:
        old_value, new_value = existing.get(name), new.get(name)
        if name in ("data", "name", "source"):
            old_value, new_value = old_value or "", new_value or ""
        elif name == "resources":
            try:
                if Resources.from_json(old_value or [], "resources") == Resources.from_json(new_value or [],
                                                                                           "resources"):
                    continue
            except InvalidResources:
                pass
        if old_value != new_value:
            differing.append(name)
    return differing


def validate_task_executor(executor: dict, *, framework_id: str, existing: dict | None) -> str | None:
    """``executor::internal::validate`` and the LAUNCH-specific part of ``task::internal::validateExecutor``
    (src/master/validation.cpp 1.11.0), in their order: type, executor id, shutdown grace period, CommandInfo,
    ContainerInfo; framework id, resources, compatibility with the ExecutorInfo of a running executor of
    that id (``existing``); then type CUSTOM and a command.

    Mesos' incompatibility message prints both ExecutorInfos in full; they hold the command's environment,
    where secrets may be, so this one names the fields that differ instead.
    """
    kind = executor.get("type", "UNKNOWN")
    if kind == "DEFAULT":
        if "command" in executor:
            return "'ExecutorInfo.command' must not be set for 'DEFAULT' executor"
        container = executor.get("container")
        if isinstance(container, dict):
            if container.get("type") != "MESOS":
                return "'ExecutorInfo.container.type' must be 'MESOS' for 'DEFAULT' executor"
            if (container.get("mesos") or {}).get("image"):
                return "'ExecutorInfo.container.mesos.image' must not be set for 'DEFAULT' executor"
    elif kind == "CUSTOM" and "command" not in executor:
        return "'ExecutorInfo.command' must be set for 'CUSTOM' executor"
    error = validate_id(executor["executor_id"]["value"])
    if error:
        return error
    nanos = (executor.get("shutdown_grace_period") or {}).get("nanoseconds")
    if nanos is not None and int(nanos) < 0:
        return "ExecutorInfo's 'shutdown_grace_period' must be non-negative"
    if isinstance(executor.get("command"), dict):
        error = _command_environment_error(executor["command"])
        if error:
            return f"Executor's `CommandInfo` is invalid: {error}"
    if isinstance(executor.get("container"), dict):
        error = validate_container_info(executor["container"])
        if error:
            return f"Executor's `ContainerInfo` is invalid: {error}"
    if "framework_id" not in executor:
        return "'ExecutorInfo.framework_id' must be set"
    if executor["framework_id"]["value"] != framework_id:
        return (f"ExecutorInfo has an invalid FrameworkID (Actual: {executor['framework_id']['value']} vs "
                f"Expected: {framework_id})")
    try:
        Resources.from_json(executor.get("resources") or [], "resources")
    except InvalidResources as exc:
        return f"Executor uses invalid resources: {exc}"
    if existing is not None:
        differing = executor_info_differences(existing, executor)
        if differing:
            return ("ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID "
                    f"'{executor['executor_id']['value']}' (fields that differ: {', '.join(differing)}; "
                    "their values are not shown, they may hold secrets)")
    if "type" in executor and kind != "CUSTOM":
        return "'ExecutorInfo.type' must be 'CUSTOM'"
    if "command" not in executor:
        return "'ExecutorInfo.command' must be set"
    return None


# ------------------------------------------------------------------------------------------------
# Executor calls to an agent (``common::validation::validateExecutorCall``, src/common/validation.cpp 1.11.0)
# ------------------------------------------------------------------------------------------------


def _valid_uuid_bytes(value: object) -> bool:
    """stout's ``UUID::fromBytes``: 16 bytes of a known UUID version."""
    raw = decode_uuid(value)
    return raw is not None and 1 <= (raw[6] >> 4) <= 5


def validate_executor_call(call: dict) -> str | None:
    """The checks of ``validateExecutorCall`` on a parsed v1 executor Call (without "Failed to validate")."""
    call_type = call.get("type")
    if call_type is None:
        return "Expecting 'type' to be present"
    if "executor_id" not in call:
        return "Expecting 'executor_id' to be present"
    if "framework_id" not in call:
        return "Expecting 'framework_id' to be present"
    executor_id = call["executor_id"]["value"]
    framework_id = call["framework_id"]["value"]
    if call_type == "SUBSCRIBE" and "subscribe" not in call:
        return "Expecting 'subscribe' to be present"
    if call_type == "MESSAGE" and "message" not in call:
        return "Expecting 'message' to be present"
    if call_type == "UPDATE":
        if "update" not in call:
            return "Expecting 'update' to be present"
        status = call["update"]["status"]
        if "uuid" not in status:
            return "Expecting 'uuid' to be present"
        if not _valid_uuid_bytes(status["uuid"]):
            return "Not a valid UUID"
        if "executor_id" in status and status["executor_id"]["value"] != executor_id:
            return (f"ExecutorID in Call: {executor_id} does not match ExecutorID in TaskStatus: "
                    f"{status['executor_id']['value']}")
        if status.get("source") != "SOURCE_EXECUTOR":
            return (f"Received Call from executor {executor_id} of framework {framework_id} with invalid source, "
                    "expecting 'SOURCE_EXECUTOR'")
        if status["state"] == "TASK_STAGING":
            return f"Received TASK_STAGING from executor {executor_id} of framework {framework_id} which is not allowed"
    return None
