"""Validate a Marathon group body: Marathon's own JSON schema plus our semantic rules.

Pure: a dict in, a list of :class:`Problem` out; no network (the schema files
ship in ``airflow_mesos/marathon/schema``, see SOURCE.md there).

Rules (``Problem.rule``):

- ``schema``: Marathon v1.7.236 Group.json / AppDefinition.json (Draft 4).
- ``ids``: app ids resolve inside the group and are unique.
- ``dependencies``: every dependency (absolute or relative, resolved as Marathon
  does) names an app or group of this group, and there is no cycle.
- ``dns``: every Mesos-DNS name ``<label>.<framework>[.slave].<domain>`` (or its
  SRV form) in an env value belongs to an app of the group, in the group's domain.
- ``external-volume``: REX-Ray (dvdi) rules Marathon enforces, plus ours:
  instances <= 1, upgradeStrategy 0/0, DOCKER containers with only
  ``dvdi/driver`` in options and no size, one declaration per volume name.
- ``health``: every app has a health check.
- ``secrets``: no secret in plain: env vars named like a secret must use
  ``{"secret": ...}``; no ``user:password@`` in any URL; secret references point
  at declared secrets.
"""

from __future__ import annotations

import dataclasses
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Iterator, Literal

import jsonschema
import referencing
import referencing.jsonschema

from airflow_mesos.dns import DEFAULT_DOMAIN, DEFAULT_FRAMEWORK, app_dns_names, InvalidAppId
from airflow_mesos.marathon import paths

SCHEMA_BASE = "https://raw.githubusercontent.com/mesosphere/marathon/master/docs/docs/rest-api/public/api/v2/schema/"
Severity = Literal["error", "warning"]

# Env var names that hold a secret when given a literal value.
SECRET_NAME_RE = re.compile(r"PASSWORD|PASSWD|SECRET|KEY|TOKEN|_CONN(?![A-Z])|CREDENTIAL", re.IGNORECASE)
# Suffixes that make the value a reference (a command or a file path), not the secret itself.
REFERENCE_SUFFIXES = ("_CMD", "_FILE", "_PATH", "_URI_FILE")
URL_CREDENTIALS_RE = re.compile(r"\b([a-z][a-z0-9+.\-]*)://([^/\s:@]+):([^/\s@]*)@", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Problem:
    """One finding: where (a JSON pointer into the group), what, and how bad."""

    path: str
    message: str
    severity: Severity = "error"
    rule: str = "schema"

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        return f"{self.severity.upper():7} {self.path or '/'}: {self.message} [{self.rule}]"


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) from path parts."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


# ----------------------------------------------------------------------------- schema


def _load_schema(name: str) -> dict[str, Any]:
    text = resources.files("airflow_mesos.marathon").joinpath("schema", name).read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def group_validator() -> jsonschema.Draft4Validator:
    """A Draft 4 validator for Marathon's Group.json; AppDefinition.json is resolved locally."""
    group_schema = _load_schema("Group.json")
    app_schema = _load_schema("AppDefinition.json")
    draft4 = referencing.jsonschema.DRAFT4
    registry = referencing.Registry().with_resources(
        [
            (SCHEMA_BASE + "AppDefinition.json", draft4.create_resource(app_schema)),
            (SCHEMA_BASE + "Group.json", draft4.create_resource(group_schema)),
        ]
    )
    return jsonschema.Draft4Validator(group_schema, registry=registry)


def schema_problems(group: Any) -> list[Problem]:
    """Problems Marathon's JSON schema finds, most specific error first per location."""
    problems = []
    for error in sorted(group_validator().iter_errors(group), key=lambda e: list(map(str, e.absolute_path))):
        message = _schema_message(error)
        problems.append(Problem(pointer(*error.absolute_path), message, "error", "schema"))
    return problems


def _schema_message(error: jsonschema.ValidationError) -> str:
    # jsonschema's messages for "not"/"oneOf" repeat the whole instance; say what is wrong instead.
    if error.validator == "not":
        required = [c.get("required", [None])[0] for c in error.validator_value.get("allOf", []) if isinstance(c, dict)]
        if required and all(required):
            return f"{' and '.join(repr(r) for r in required)} are mutually exclusive (schema 'not')"
        return f"must not match {json.dumps(error.validator_value)[:200]} (schema 'not')"
    if error.validator in ("oneOf", "anyOf") and len(error.message) > 200:
        options = "; ".join(e.message[:120] for e in (error.context or [])[:4])
        return f"matches none of the allowed forms ({options})"
    message = error.message
    return message if len(message) <= 300 else message[:297] + "..."


# ----------------------------------------------------------------------------- walking


@dataclasses.dataclass(frozen=True)
class _App:
    path: str  # JSON pointer of the app object
    group_id: str  # absolute id of the enclosing group
    app_id: str  # absolute id
    body: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class _Group:
    path: str
    group_id: str
    body: dict[str, Any]


def _walk(group: dict[str, Any], path: str = "", parent_id: str = paths.ROOT) -> Iterator[_Group | _App]:
    raw_id = group.get("id") if isinstance(group.get("id"), str) else ""
    group_id = paths.canonical(raw_id, parent_id)
    yield _Group(path, group_id, group)
    apps = group.get("apps")
    for index, app in enumerate(apps if isinstance(apps, list) else []):
        if isinstance(app, dict) and isinstance(app.get("id"), str):
            yield _App(pointer_join(path, "apps", index), group_id, paths.canonical(app["id"], group_id), app)
    groups = group.get("groups")
    for index, child in enumerate(groups if isinstance(groups, list) else []):
        if isinstance(child, dict):
            yield from _walk(child, pointer_join(path, "groups", index), group_id)


def pointer_join(base: str, *parts: str | int) -> str:
    return base + pointer(*parts)


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside ``value`` with its JSON pointer."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, pointer_join(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, pointer_join(path, index))


# ----------------------------------------------------------------------------- semantic rules


def _id_problems(nodes: list[_Group | _App]) -> list[Problem]:
    problems = []
    seen: dict[str, str] = {}
    for node in nodes:
        if isinstance(node, _App):
            if node.app_id == node.group_id or paths.parent(node.app_id) != node.group_id:
                problems.append(
                    Problem(pointer_join(node.path, "id"),
                            f"app id {node.body['id']!r} resolves to {node.app_id}, which is not a child of "
                            f"its group {node.group_id} (Marathon: use relative ids)", "error", "ids")
                )
            if node.app_id in seen:
                problems.append(Problem(pointer_join(node.path, "id"),
                                        f"duplicate app id {node.app_id} (also at {seen[node.app_id]})", "error", "ids"))
            seen.setdefault(node.app_id, pointer_join(node.path, "id"))
    return problems


def _dependency_problems(nodes: list[_Group | _App]) -> list[Problem]:
    problems = []
    known = {n.app_id if isinstance(n, _App) else n.group_id for n in nodes}
    groups = {n.group_id for n in nodes if isinstance(n, _Group)}
    edges: dict[str, set[str]] = {}
    group_deps: dict[str, set[str]] = {}
    for node in nodes:
        deps = node.body.get("dependencies")
        if not isinstance(deps, list):
            continue
        own_id = node.app_id if isinstance(node, _App) else node.group_id
        base = node.group_id  # apps: enclosing group; groups: the group itself
        for index, dep in enumerate(deps):
            if not isinstance(dep, str):
                continue
            target = paths.canonical(dep, base)
            where = pointer_join(node.path, "dependencies", index)
            if target not in known:
                problems.append(Problem(where, f"dependency {dep!r} resolves to {target}, which is not an app or "
                                               "group of this group (Marathon would silently ignore it)",
                                        "error", "dependencies"))
                continue
            if target == own_id:
                problems.append(Problem(where, f"{own_id} depends on itself", "error", "dependencies"))
                continue
            (edges if isinstance(node, _App) else group_deps).setdefault(own_id, set()).add(target)
    # Expand group nodes to their apps so a cycle through a group dependency is found.
    apps_in = {g: {n.app_id for n in nodes if isinstance(n, _App) and (n.app_id + "/").startswith(g.rstrip("/") + "/")}
               for g in groups}
    graph: dict[str, set[str]] = {}
    for node in nodes:
        if not isinstance(node, _App):
            continue
        targets = set(edges.get(node.app_id, set()))
        for group_id, deps in group_deps.items():  # inherited from every enclosing group
            if node.app_id.startswith(group_id.rstrip("/") + "/"):
                targets |= deps
        expanded = set()
        for target in targets:
            expanded |= apps_in.get(target, {target})
        graph[node.app_id] = expanded - {node.app_id}
    cycle = _find_cycle(graph)
    if cycle:
        first = next(n for n in nodes if isinstance(n, _App) and n.app_id == cycle[0])
        problems.append(Problem(pointer_join(first.path, "dependencies"),
                                "dependency cycle: " + " -> ".join(cycle + [cycle[0]]), "error", "dependencies"))
    return problems


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _dns_problems(nodes: list[_Group | _App], domain: str, framework: str) -> list[Problem]:
    problems = []
    labels: dict[str, str] = {}
    for node in nodes:
        if isinstance(node, _App):
            try:
                labels[app_dns_names(node.app_id, domain=domain, framework=framework).label] = node.app_id
            except InvalidAppId:
                pass
    fw = re.escape(framework)
    name_re = re.compile(
        rf"(?<![a-z0-9\-.])(?:_(?P<srv>[a-z0-9\-]+)\._(?:tcp|udp)|(?P<a>[a-z0-9\-]+))\.{fw}\.(?:slave\.)?"
        rf"(?P<domain>[a-z0-9\-]+(?:\.[a-z0-9\-]+)*)\.?(?![a-z0-9\-])",
        re.IGNORECASE,
    )
    for node in nodes:
        if not isinstance(node, _App):
            continue
        env = node.body.get("env")
        if not isinstance(env, dict):
            continue
        for name, value in env.items():
            if not isinstance(value, str):
                continue
            for match in name_re.finditer(value):
                label = (match.group("srv") or match.group("a")).lower()
                where = pointer_join(node.path, "env", name)
                found_domain = match.group("domain").lower()
                if found_domain != domain.lower():
                    problems.append(Problem(where, f"Mesos-DNS name {match.group(0)!r} uses domain {found_domain!r}, "
                                                   f"the group's domain is {domain!r}", "error", "dns"))
                elif label not in labels:
                    known = ", ".join(sorted(labels)) or "none"
                    problems.append(Problem(where, f"Mesos-DNS name {match.group(0)!r} matches no app of this group "
                                                   f"(known labels: {known})", "error", "dns"))
    return problems


def _external_volume_problems(nodes: list[_Group | _App]) -> list[Problem]:
    problems = []
    declared: dict[str, str] = {}
    for node in nodes:
        if not isinstance(node, _App):
            continue
        app = node.body
        container = app.get("container") if isinstance(app.get("container"), dict) else {}
        volumes = container.get("volumes") if isinstance(container.get("volumes"), list) else []
        externals = [(i, v) for i, v in enumerate(volumes) if isinstance(v, dict) and isinstance(v.get("external"), dict)]
        if not externals:
            continue
        container_type = container.get("type", "DOCKER")
        instances = app.get("instances", 1)
        if isinstance(instances, int) and instances > 1:
            problems.append(Problem(pointer_join(node.path, "instances"),
                                    f"instances is {instances}; an app with an external (dvdi) volume is limited to 1",
                                    "error", "external-volume"))
        strategy = app.get("upgradeStrategy")
        if not isinstance(strategy, dict):
            problems.append(Problem(pointer_join(node.path, "upgradeStrategy"),
                                    "set upgradeStrategy {minimumHealthCapacity: 0, maximumOverCapacity: 0}: the "
                                    "volume attaches to one task, old and new must not overlap", "error", "external-volume"))
        else:
            if strategy.get("maximumOverCapacity", 1) != 0:
                problems.append(Problem(pointer_join(node.path, "upgradeStrategy", "maximumOverCapacity"),
                                        "must be 0 with an external volume (a second task cannot attach it)",
                                        "error", "external-volume"))
            if strategy.get("minimumHealthCapacity", 1) != 0:
                problems.append(Problem(pointer_join(node.path, "upgradeStrategy", "minimumHealthCapacity"),
                                        "should be 0 with an external volume: the old task must stop and release "
                                        "the volume before the new one starts", "warning", "external-volume"))
        for index, volume in externals:
            external = volume["external"]
            where = pointer_join(node.path, "container", "volumes", index, "external")
            if external.get("provider") != "dvdi":
                problems.append(Problem(pointer_join(where, "provider"),
                                        f"provider is {external.get('provider')!r}; Marathon supports only 'dvdi'",
                                        "error", "external-volume"))
            name = external.get("name")
            if not isinstance(name, str) or not name:
                problems.append(Problem(pointer_join(where, "name"), "external volume needs a non-empty name",
                                        "error", "external-volume"))
            elif not external.get("shared"):
                if name in declared:
                    problems.append(Problem(pointer_join(where, "name"),
                                            f"volume {name!r} is already declared at {declared[name]}; a dvdi volume "
                                            "may be used once in the whole group unless shared", "error", "external-volume"))
                declared.setdefault(name, pointer_join(where, "name"))
            options = external.get("options") if isinstance(external.get("options"), dict) else {}
            if not options.get("dvdi/driver"):
                problems.append(Problem(pointer_join(where, "options"), "options must set 'dvdi/driver' (e.g. rexray)",
                                        "error", "external-volume"))
            if container_type == "DOCKER":
                extra = sorted(k for k in options if k != "dvdi/driver")
                if extra:
                    problems.append(Problem(pointer_join(where, "options"),
                                            f"DOCKER containers accept only 'dvdi/driver' in options, found "
                                            f"{', '.join(extra)} (the Docker containerizer ignores driver options)",
                                            "error", "external-volume"))
                if "size" in external:
                    problems.append(Problem(pointer_join(where, "size"),
                                            "size must be unset with DOCKER containers; create the volume beforehand",
                                            "error", "external-volume"))
            elif volume.get("mode", "RW") != "RW":
                problems.append(Problem(pointer_join(node.path, "container", "volumes", index, "mode"),
                                        "MESOS containers need mode RW for a dvdi volume", "error", "external-volume"))
    return problems


def _health_problems(nodes: list[_Group | _App]) -> list[Problem]:
    return [
        Problem(pointer_join(n.path, "healthChecks"), f"{n.app_id} has no health check; Marathon would call it "
                                                       "healthy as soon as it runs and dependants would start early",
                "error", "health")
        for n in nodes
        if isinstance(n, _App) and not (isinstance(n.body.get("healthChecks"), list) and n.body["healthChecks"])
    ]


def is_secret_name(name: str) -> bool:
    """Whether an env var name looks like it holds a secret (and is not a reference to one)."""
    upper = name.upper()
    if upper.endswith(REFERENCE_SUFFIXES):
        return False
    return bool(SECRET_NAME_RE.search(upper))


def _secret_problems(nodes: list[_Group | _App]) -> list[Problem]:
    problems = []
    for node in nodes:
        if not isinstance(node, _App):
            continue
        app = node.body
        env = app.get("env") if isinstance(app.get("env"), dict) else {}
        declared = app.get("secrets") if isinstance(app.get("secrets"), dict) else {}
        for name, value in env.items():
            where = pointer_join(node.path, "env", name)
            if isinstance(value, str) and value and is_secret_name(name):
                problems.append(Problem(where, f"{name} looks like a secret but has a literal value; use "
                                               '{"secret": "<name>"} with a Marathon secret, or an env file',
                                        "error", "secrets"))
            if isinstance(value, dict) and isinstance(value.get("secret"), str) and value["secret"] not in declared:
                problems.append(Problem(where, f"refers to secret {value['secret']!r}, which is not declared in "
                                               f"{pointer_join(node.path, 'secrets')}", "error", "secrets"))
        for where, text in _strings(app, node.path):
            for match in URL_CREDENTIALS_RE.finditer(text):
                if match.group(3).startswith("$"):
                    continue  # a shell variable, resolved at run time inside the container
                problems.append(Problem(where, f"a {match.group(1)}:// URL carries a password in plain "
                                               f"(user {match.group(2)!r}); pass it as a secret", "error", "secrets"))
    return problems


def semantic_problems(group: dict[str, Any], *, domain: str = DEFAULT_DOMAIN,
                      framework: str = DEFAULT_FRAMEWORK) -> list[Problem]:
    """Our rules on top of the schema (see the module docstring)."""
    nodes = list(_walk(group))
    return (
        _id_problems(nodes)
        + _dependency_problems(nodes)
        + _dns_problems(nodes, domain, framework)
        + _external_volume_problems(nodes)
        + _health_problems(nodes)
        + _secret_problems(nodes)
    )


def validate_group(group: Any, *, domain: str = DEFAULT_DOMAIN, framework: str = DEFAULT_FRAMEWORK) -> list[Problem]:
    """All problems of a group body: schema first, then (if it is an object) the semantic rules."""
    problems = schema_problems(group)
    if isinstance(group, dict):
        problems += semantic_problems(group, domain=domain, framework=framework)
    return problems


def has_errors(problems: list[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)


def format_problems(problems: list[Problem]) -> str:
    """Human-readable report, one line per problem."""
    if not problems:
        return "OK: no problems found"
    errors = sum(p.severity == "error" for p in problems)
    lines = [str(p) for p in problems]
    lines.append(f"{errors} error(s), {len(problems) - errors} warning(s)")
    return "\n".join(lines)


def problems_json(problems: list[Problem]) -> str:
    return json.dumps({"valid": not has_errors(problems), "problems": [p.as_dict() for p in problems]}, indent=2)
