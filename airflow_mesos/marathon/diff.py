"""Compare the group running in Marathon with a rendered one.

Pure.  ``GET /v2/groups/<id>`` returns more than was sent: bookkeeping fields
and defaults Marathon fills in.  Before comparing:

- dropped from the running side (Marathon bookkeeping): ``version``,
  ``versionInfo``, ``tasksStaged``, ``tasksRunning``, ``tasksHealthy``,
  ``tasksUnhealthy``, ``tasks``, ``deployments``, ``readinessCheckResults``,
  ``lastTaskFailure``, ``taskStats``, ``pods`` when empty, ``enforceRole``, ``role``;
  ``servicePort`` of port mappings/definitions when the rendered side has none
  (Marathon assigns it);
- filled into the rendered side where absent (Marathon v1.7 RAML defaults, see
  :data:`APP_DEFAULTS` and :data:`HEALTH_CHECK_DEFAULTS`);
- a key only on the running side whose value equals Marathon's default for it
  (or is empty) is ignored.

Environment values whose names look like secrets are shown as ``<redacted>``.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Literal

from airflow_mesos.marathon import paths
from airflow_mesos.marathon.validate import is_secret_name, pointer

IGNORED_APP_KEYS = frozenset({
    "version", "versionInfo", "tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy", "tasks",
    "deployments", "readinessCheckResults", "lastTaskFailure", "taskStats", "role",
})
IGNORED_GROUP_KEYS = frozenset({"version", "versionInfo", "enforceRole"})

APP_DEFAULTS: dict[str, Any] = {
    "cpus": 1, "mem": 128, "disk": 0, "gpus": 0, "instances": 1,
    "backoffSeconds": 1, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 3600,
    "requirePorts": False, "killSelection": "YOUNGEST_FIRST",
    "env": {}, "labels": {}, "secrets": {}, "constraints": [], "fetch": [], "uris": [],
    "dependencies": [], "healthChecks": [], "readinessChecks": [], "executor": "",
    "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
    "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
    "networks": [{"mode": "host"}],
}
HEALTH_CHECK_DEFAULTS: dict[str, Any] = {
    "gracePeriodSeconds": 300, "intervalSeconds": 60, "timeoutSeconds": 20,
    "maxConsecutiveFailures": 3, "delaySeconds": 15, "ipProtocol": "IPv4",
}
HTTP_HEALTH_CHECK_DEFAULTS: dict[str, Any] = {"path": "/", "portIndex": 0, "ignoreHttp1xx": False}
DOCKER_DEFAULTS: dict[str, Any] = {"forcePullImage": False, "privileged": False, "parameters": []}
CONTAINER_DEFAULTS: dict[str, Any] = {"volumes": [], "portMappings": []}
PORT_MAPPING_DEFAULTS: dict[str, Any] = {"protocol": "tcp", "labels": {}, "hostPort": 0}
EXTERNAL_DEFAULTS: dict[str, Any] = {"shared": False}


@dataclasses.dataclass(frozen=True)
class Change:
    """One difference; ``path`` is a JSON pointer inside the app (or group)."""

    kind: Literal["added", "removed", "changed"]
    where: str  # app id, or the group id for group-level fields
    path: str
    desired: Any = None
    running: Any = None

    def __str__(self) -> str:
        if self.kind == "added":
            return f"+ {self.where}{self.path}: {_show(self.desired)}"
        if self.kind == "removed":
            return f"- {self.where}{self.path}: {_show(self.running)}"
        return f"~ {self.where}{self.path}: {_show(self.running)} -> {_show(self.desired)}"


def _show(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def _with_defaults(value: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(defaults)
    merged.update(value)
    return merged


def normalise_app(app: dict[str, Any], group_id: str) -> dict[str, Any]:
    """An app with Marathon's defaults filled in and bookkeeping dropped (either side)."""
    result = {k: copy.deepcopy(v) for k, v in app.items() if k not in IGNORED_APP_KEYS}
    result["id"] = paths.canonical(str(app.get("id", "")), group_id)
    result = _with_defaults(result, APP_DEFAULTS)
    result["dependencies"] = sorted(paths.canonical(d, group_id) for d in result["dependencies"] if isinstance(d, str))
    checks = []
    for check in result.get("healthChecks") or []:
        check = _with_defaults(check, HEALTH_CHECK_DEFAULTS)
        if str(check.get("protocol", "HTTP")).endswith(("HTTP", "HTTPS")):
            check = _with_defaults(check, HTTP_HEALTH_CHECK_DEFAULTS)
        checks.append(check)
    result["healthChecks"] = checks
    container = result.get("container")
    if isinstance(container, dict):
        container = _with_defaults(container, CONTAINER_DEFAULTS)
        if isinstance(container.get("docker"), dict):
            container["docker"] = _with_defaults(container["docker"], DOCKER_DEFAULTS)
        container["portMappings"] = [_with_defaults(m, PORT_MAPPING_DEFAULTS) for m in container["portMappings"]]
        for volume in container["volumes"]:
            if isinstance(volume.get("external"), dict):
                volume["external"] = _with_defaults(volume["external"], EXTERNAL_DEFAULTS)
        result["container"] = container
    return result


def _strip_assigned_ports(running: dict[str, Any], desired: dict[str, Any]) -> None:
    """Drop ``servicePort`` values Marathon assigned where the rendered app asked for none."""
    def strip(run_list: Any, want_list: Any) -> None:
        if not isinstance(run_list, list):
            return
        want_list = want_list if isinstance(want_list, list) else []
        for index, item in enumerate(run_list):
            want = want_list[index] if index < len(want_list) and isinstance(want_list[index], dict) else {}
            if isinstance(item, dict) and "servicePort" not in want:
                item.pop("servicePort", None)

    strip((running.get("container") or {}).get("portMappings"), (desired.get("container") or {}).get("portMappings"))
    strip(running.get("portDefinitions"), desired.get("portDefinitions"))


def _redact(key: str, value: Any) -> Any:
    return "<redacted>" if isinstance(value, str) and is_secret_name(key) else value


def _compare(where: str, path: list[str | int], desired: Any, running: Any, out: list[Change],
             in_env: bool = False) -> None:
    if isinstance(desired, dict) and isinstance(running, dict):
        for key in desired:
            child_env = path == ["env"] or in_env
            if key not in running:
                out.append(Change("added", where, pointer(*path, key), _redact(key, desired[key]) if child_env else desired[key]))
            else:
                _compare(where, path + [key], desired[key], running[key], out, child_env)
        for key in running:
            if key not in desired and running[key] not in (None, "", [], {}):
                value = _redact(key, running[key]) if (path == ["env"] or in_env) else running[key]
                out.append(Change("removed", where, pointer(*path, key), running=value))
        return
    if isinstance(desired, list) and isinstance(running, list) and len(desired) == len(running):
        for index, (want, have) in enumerate(zip(desired, running, strict=True)):
            _compare(where, path + [index], want, have, out, in_env)
        return
    if desired != running:
        key = str(path[-1]) if path else ""
        if in_env:
            desired, running = _redact(key, desired), _redact(key, running)
        out.append(Change("changed", where, pointer(*path), desired, running))


def diff_groups(desired: dict[str, Any], running: dict[str, Any] | None) -> list[Change]:
    """Differences between the rendered group and the one Marathon returns (``None``: not deployed)."""
    group_id = paths.canonical(str(desired.get("id", "/")))
    desired_apps = _apps_by_id(desired, paths.parent(group_id))
    running_apps = _apps_by_id(running or {}, paths.parent(group_id))
    changes: list[Change] = []
    for app_id, (app, base) in desired_apps.items():
        if app_id not in running_apps:
            changes.append(Change("added", app_id, "", desired=app))
            continue
        have, have_base = running_apps[app_id]
        want_n = normalise_app(app, base)
        have_n = normalise_app(have, have_base)
        _strip_assigned_ports(have_n, want_n)
        _compare(app_id, [], want_n, have_n, changes)
    for app_id in running_apps:
        if app_id not in desired_apps:
            changes.append(Change("removed", app_id, "", running={"id": app_id}))
    want_deps = sorted(paths.canonical(d, group_id) for d in desired.get("dependencies") or [])
    have_deps = sorted(paths.canonical(d, group_id) for d in (running or {}).get("dependencies") or [])
    if running is not None and want_deps != have_deps:
        changes.append(Change("changed", group_id, "/dependencies", want_deps, have_deps))
    return changes


def _apps_by_id(group: dict[str, Any], parent_id: str) -> dict[str, tuple[dict[str, Any], str]]:
    found: dict[str, tuple[dict[str, Any], str]] = {}
    if not group:
        return found
    group_id = paths.canonical(str(group.get("id", "/")), parent_id)
    for app in group.get("apps") or []:
        if isinstance(app, dict):
            found[paths.canonical(str(app.get("id", "")), group_id)] = (app, group_id)
    for child in group.get("groups") or []:
        if isinstance(child, dict):
            found.update(_apps_by_id(child, group_id))
    return found


def format_diff(changes: list[Change]) -> str:
    if not changes:
        return "no differences"
    return "\n".join(str(change) for change in changes)
